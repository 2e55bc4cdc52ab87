"""A sweep, decided before anything starts: one `LaunchPlan` per run of the sweep (hrm-tui launch -m, the
form's sweep field).

The overrides are expanded by the trainer's own `expand_sweep` (hrm_core/config/sweep.py: Hydra's parser and
basic sweeper) and each run is named as the trainer names a sweep's runs (`member_names`: `<sweep>-<i>` in
`<sweep folder>/<i>`, under the runs root), so `hrm-tui launch -m` and `python -m hrm_core.pretrain -m` lay a
sweep out the same way. Every run's config is checked before any starts; a problem names the run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hrm_core.config.sweep import expand_sweep, given_value, member_names, sweep_name, without_keys
from hrm_core.rundir.sweeps import SweepMember
from hrm_tui.launch_plan import LaunchOptions, LaunchPlan, plan_launch


@dataclass(frozen=True)
class SweepProblem:
    """A run of the sweep that cannot start: which one, and the trainer's problems with it (forms.config_tree)."""

    index: int
    overrides: list[str]
    problems: list[Any]


class SweepRefused(Exception):
    def __init__(self, problem: SweepProblem):
        super().__init__(f"run {problem.index} of the sweep ({' '.join(problem.overrides)})")
        self.problem = problem


@dataclass
class SweepPlan:
    name: str
    plans: list[LaunchPlan]  # in the sweep's order (plans[i] is run i)

    @property
    def folder(self) -> Path:
        """Where the sweep's own files go (its driver's spec and log): the folder holding its first run."""
        return self.plans[0].run_dir.parent


def plan_sweep(overrides: Sequence[str], options: LaunchOptions, *, tree: Any, runs_root: Path, launch: Any,
               cwd: str | os.PathLike[str] | None = None, name: str | None = None) -> SweepPlan:
    """One plan per run. `tree` is the form's ConfigTree, `launch` the processes each run has (config_tree's
    `launch_of`). Raises ConfigError (the sweep cannot be read), SweepRefused (a run's config has problems)
    or LaunchError (the options)."""
    from hrm_core.config import resolve_run_names
    from hrm_tui.forms.config_tree import flatten

    runs = expand_sweep(overrides)
    name = name or sweep_name(overrides)
    plans = []
    for index, run in enumerate(runs):
        problems = tree.validate(run, launch=launch)
        if problems:
            raise SweepRefused(SweepProblem(index, run, problems))
        cfg = tree.compose(run)
        project = resolve_run_names(cfg)[0]
        names = member_names(overrides, name, index, project, runs_root=str(runs_root))
        run_name = names.get("run_name") or given_value(run, "run_name") or f"{name}-{index}"
        checkpoint_path = names.get("checkpoint_path") or given_value(run, "checkpoint_path") or ""
        # The run's names replace those given for the whole sweep (the sweep's name, its folder).
        plans.append(plan_launch(without_keys(run, names), options, names=(project, run_name, checkpoint_path), present=set(flatten(cfg)),
                                 cwd=cwd, config_dir=tree.user_dir, sweep=SweepMember(name, index, len(runs))))
    return SweepPlan(name, plans)


def sweep_total(runs: int, profile: Any) -> str:
    """What a sweep asks of the cluster before it is submitted: runs x GPUs (or nodes) x time limit, e.g.
    `4 runs x 2 GPUs x 1:00:00 = 8 GPU-hours`. `profile` is a ClusterProfile (hrm_tui/cluster/profile.py)."""
    if profile.gpus_per_node:
        amount, unit = profile.nodes * profile.gpus_per_node, "GPU"
    else:
        amount, unit = profile.nodes, "node"
    text = f"{runs} run{'s' if runs != 1 else ''} x {amount} {unit}{'s' if amount != 1 else ''}"
    seconds = slurm_time_seconds(profile.time_limit)
    if seconds is None:
        return f"{text} (no time limit given: the partition's default)"
    hours = runs * amount * seconds / 3600
    return f"{text} x {profile.time_limit} = {hours:.4g} {unit}-hours"


def slurm_time_seconds(text: str) -> int | None:
    """sbatch's --time in seconds: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
    days-hours:minutes, days-hours:minutes:seconds. None for an empty (or unreadable) limit."""
    text = text.strip()
    if not text:
        return None
    days, _, rest = text.rpartition("-") if "-" in text else ("0", "", text)
    try:
        parts = [int(p) for p in rest.split(":")]
        day_count = int(days)
    except ValueError:
        return None
    if "-" in text:  # after days: hours[:minutes[:seconds]]
        hours, minutes, seconds = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:  # minutes[:seconds]
        hours, minutes, seconds = 0, parts[0], (parts[1] if len(parts) > 1 else 0)
    return ((day_count * 24 + hours) * 60 + minutes) * 60 + seconds
