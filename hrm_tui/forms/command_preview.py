"""What the command panels show and what ctrl+l launches: one `CommandPreview`, built from the form, the
launch options and the trainer's last verdict.

The preview holds the `LaunchPlan` whose command it displays, and the launch starts that plan, never one
rebuilt from the widgets: what is on screen is what runs. Nothing is hidden or quietly replaced:

- a field whose text is not a valid value (`lr` = `abc`) stays in the overrides and the command as typed,
  *marked*, and is listed in `problems`;
- launch options that do not read (`Processes/node` = `x`) or do not fit together (2 nodes, no rendezvous
  endpoint) leave the command unbuilt, and `not_built` says why;
- the trainer's own objections (an unknown key, a missing dataset) are listed in `problems` too.

A preview with problems cannot be launched; `problems` says why, one line per problem.

With the SLURM target the preview holds the whole batch script (`script`, hrm_tui/cluster/batch_script.py)
that ctrl+l submits with sbatch, instead of a command line: what is on screen is what is submitted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hrm_core.config.errors import ConfigError
from hrm_core.config.sweep import expand_sweep
from hrm_tui.forms.config_tree import Problem
from hrm_tui.forms.form_model import FormModel
from hrm_tui.forms.launch_options_draft import LaunchOptionsDraft
from hrm_tui.forms.overrides import single_line
from hrm_tui.cluster.batch_script import batch_script
from hrm_tui.launch_plan import LaunchError, LaunchPlan, display_argv, plan_launch
from hrm_tui.sweep_plan import sweep_total

READY = "✓ ready to launch (ctrl+l)"
CHECKING = "… checking"


@dataclass(frozen=True)
class CommandPreview:
    overrides: tuple[str, ...]  # the user's overrides, groups first; an invalid field as typed
    marked: dict[str, str] = field(default_factory=dict)  # override/argv item -> what is wrong with it
    env: tuple[str, ...] = ()  # NAME=value, the variables the launch sets
    argv: tuple[str, ...] = ()  # the command as displayed (`python`, `torchrun` when PATH finds those)
    other_nodes: tuple[tuple[int, tuple[str, ...]], ...] = ()  # (node number, displayed argv)
    not_built: str = ""  # why there is no command (launch options that do not read or fit), else ""
    options_summary: str = ""  # the launch options that differ from the defaults, in words
    problems: tuple[str, ...] = ()  # everything that stops a launch, one line each
    checking: bool = False  # the trainer's verdict on these overrides is not in yet
    plan: LaunchPlan | None = None  # what ctrl+l starts: the command shown above; None when not built
    script: str = ""  # the SLURM target's batch script (then `argv` is empty): what ctrl+l submits
    sweep: tuple[str, ...] = ()  # the sweep field's overrides: ctrl+l then starts one run per combination
    sweep_runs: int = 0  # how many runs the sweep expands into (hrm_core/config/sweep.py); 0 without a sweep

    @property
    def sweep_line(self) -> str:
        """`4 runs, one after another: lr=1e-3,2e-3 seed=range(2)` (with the SLURM target, the sweep's total:
        `4 runs x 2 GPUs x 1:00:00 = 8 GPU-hours, one SLURM job per run: ...`), or "" without a sweep."""
        if not self.sweep:
            return ""
        profile = self.plan.options.slurm if self.plan is not None else None
        if not self.sweep_runs:
            count = "not expanded"
        elif profile is not None:  # what the sweep asks of the cluster, before anything is submitted
            count = f"{sweep_total(self.sweep_runs, profile)}, one SLURM job per run"
        else:
            count = f"{self.sweep_runs} run{'s' if self.sweep_runs != 1 else ''}, one after another"
        return f"{count}: {single_line(self.sweep)}"

    @property
    def launchable(self) -> bool:
        return self.plan is not None and not self.problems

    @property
    def status(self) -> str:
        if self.problems:
            more = f"  (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            return f"✗ {self.problems[0]}{more}"
        if self.plan is None:
            return f"… {self.not_built}"  # not built yet, for no fault of the user's (the config is loading)
        return CHECKING if self.checking else READY

    def command_line(self, argv: Sequence[str] | None = None) -> str:
        return single_line([*self.env, *(self.argv if argv is None else argv)])


def loading_preview() -> CommandPreview:
    return CommandPreview(overrides=(), not_built="loading the config…")


def build_preview(
    model: FormModel,
    draft: LaunchOptionsDraft,
    *,
    names: tuple[str, str, str],
    config_dir: str | os.PathLike[str] | None,
    trainer_problems: Sequence[Problem] = (),
    checking: bool = False,
    cwd: str | os.PathLike[str] | None = None,
) -> CommandPreview:
    """The preview of launching `model`'s overrides with `draft`'s options. `names`: the run's (project_name,
    run_name, checkpoint_path); `trainer_problems`: the trainer's verdict on the current overrides."""
    overrides = model.overrides()
    marked = model.invalid_overrides()
    problems = [f"{message}" for message in marked.values()]
    options, option_problems = draft.parse()
    problems += option_problems.values()
    problems += [problem_line(p) for p in trainer_problems]
    sweep, sweep_problem = draft.sweep_overrides()
    sweep_runs = 0
    if sweep_problem is not None:
        problems.append(sweep_problem)
    elif sweep:
        try:  # the trainer's own expansion: the count is the number of runs ctrl+l starts
            sweep_runs = len(expand_sweep([*overrides, *sweep]))
        except ConfigError as error:
            problems.append(f"Sweep: {error.message}")
    common = dict(
        overrides=tuple(overrides),
        marked=marked,
        options_summary=draft.summary(),
        checking=checking and not problems,
        sweep=tuple(sweep),
        sweep_runs=sweep_runs,
    )
    if options is None:
        not_built = "no command: " + "; ".join(option_problems.values())
        return CommandPreview(**common, not_built=not_built, problems=tuple(problems))
    try:
        plan = plan_launch(overrides, options, names=names, present=model.present_keys(), cwd=cwd or Path.cwd(), config_dir=config_dir)
        script = batch_script(plan, options.slurm) if options.slurm is not None else ""
    except LaunchError as error:  # e.g. a run name Hydra's grammar cannot write
        return CommandPreview(**common, not_built=f"no command: {error}", problems=(*problems, str(error)))
    if script:
        return CommandPreview(**common, env=tuple(f"{name}={value}" for name, value in plan.env.items()),
                              problems=tuple(problems), plan=plan, script=script)
    return CommandPreview(
        **common,
        env=tuple(f"{name}={value}" for name, value in plan.env.items()),
        argv=tuple(display_argv(plan.argv)),
        other_nodes=tuple((rank, tuple(display_argv(argv))) for rank, argv in plan.other_nodes),
        problems=tuple(problems),
        plan=plan,
    )


def problem_line(problem: Problem) -> str:
    """One line for a trainer's problem, as the status line and ctrl+l's refusal say it."""
    where = f"{problem.key}: " if problem.key else ""
    extra = "  (ctrl+b builds it)" if problem.build_command else ""
    return f"{where}{problem.message}{extra}"
