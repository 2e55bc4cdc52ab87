"""`hrm-tui`: the command line.

    hrm-tui                               open the launch form (the demo preset, ready to launch on CPU)
    hrm-tui runs [--json] [--prune]       print the runs table (for scripts); --prune forgets missing runs
    hrm-tui launch +experiment=X k=v ...  validate and launch without the form
    hrm-tui launch --slurm [PROFILE] ...  ... or submit it to SLURM (docs/clusters.md)
    hrm-tui attach RUN [RUN ...]          open a run's monitor (more runs: their curves overlaid)
    hrm-tui --version                     print the versions of hrm and torch

User mistakes (a bad override, a missing dataset, an unknown run) print a message and exit with status 2,
never a traceback. A bug (an exception nothing handled, in the app or here) exits with status 1 and prints
one line naming the crash log that holds its traceback (hrm_tui.crash). Everything printed that may come
from a run directory (names, paths, details, messages quoting them) goes through `safe_text`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hrm_core.rundir.sanitize import safe_text
from hrm_tui.runs.discovery import MAX_DEPTH, MAX_SCAN_ENTRIES

if TYPE_CHECKING:  # the app and the config tree import Textual and Hydra: only when a command needs them
    from hrm_tui.cluster.profile import ClusterProfile
    from hrm_tui.forms.config_tree import ConfigTree
    from hrm_core.rundir.summary import RunSummary

EXIT_CRASH = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DESCRIPTION = """\
Start Hierarchical Reasoning Model training runs and follow them from the terminal.
Without a subcommand, opens the launch form on the demo preset: press ctrl+l to launch it.
Runs are started detached: they keep going after hrm-tui exits or the SSH connection drops."""

EPILOG = """\
examples:
  hrm-tui                                        open the form (demo preset)
  hrm-tui launch +experiment=demo                launch the demo without the form
  hrm-tui launch +experiment=sudoku_extreme_1k lr=7e-5 --nproc-per-node 8
  hrm-tui launch --slurm --nodes 2 --gpus-per-node 8 --nproc-per-node 8 --partition gpu --time 1-00:00:00 \
      --save-profile a100 +experiment=sudoku_extreme_1k   submit to SLURM, saving the choices as profile a100
  hrm-tui runs                                   list runs, newest first
  hrm-tui attach 'checkpoints/Demo-sudoku-4x4 ACT-torch/HierarchicalReasoningModel_ACTV1 brave-otter'
  hrm-tui attach brave-otter calm-heron          compare two runs (names as hrm-tui runs lists them)"""


# hrm-tui launch's SLURM flags that set one ClusterProfile field: (flag, type, metavar, help). The field is
# the flag's name (see _SLURM_FIELDS); --nproc-per-node is shared with local launches.
SLURM_FLAGS = (
    ("--nodes", int, "N", "nodes for the job (default: 1)"),
    ("--gpus-per-node", int, "G", "GPUs per node; 0 for CPU nodes (default: 0)"),
    ("--cpus-per-node", int, "N", "CPUs per node (sbatch --cpus-per-task; default: the cluster's)"),
    ("--mem", str, "SIZE", "memory per node, e.g. 64G (sbatch --mem)"),
    ("--partition", str, "P", "the partition (default: the cluster's)"),
    ("--account", str, "A", "the account to charge"),
    ("--qos", str, "Q", "the quality of service"),
    ("--time", str, "T", "the time limit, as sbatch --time takes it (e.g. 1-00:00:00, 90)"),
    ("--job-name", str, "NAME", "the job's name (default: the run's name)"),
)
_SLURM_FIELDS = {"nodes": "nodes", "gpus_per_node": "gpus_per_node", "cpus_per_node": "cpus_per_node",
                 "mem": "mem_per_node", "partition": "partition", "account": "account", "qos": "qos",
                 "time": "time_limit", "job_name": "job_name", "nproc_per_node": "nproc_per_node"}


def build_parser() -> argparse.ArgumentParser:
    # Shared flags are accepted before or after the subcommand; SUPPRESS keeps a subcommand's absent flag
    # from overwriting one given before it.
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--config-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="an extra Hydra config folder searched before the installed config/ tree (Hydra's --config-dir), "
        "e.g. with your own experiment/*.yaml presets",
    )
    shared.add_argument(
        "--runs-root",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="a folder scanned for runs (besides the per-user index of runs), and where new runs go, as "
        "<runs-root>/<project>/<run> (default: checkpoints)",
    )

    parser = argparse.ArgumentParser(
        prog="hrm-tui",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[shared],
    )
    parser.add_argument(
        "--version",
        action="version",
        version=version_text(),
        help="print the versions of hrm and torch, and exit",
    )
    parser.add_argument(
        "--theme",
        metavar="NAME",
        default=None,
        help="colour theme, e.g. textual-dark (default) or textual-light for light terminals; "
        "ctrl+p > 'theme' switches it in the app",
    )
    parser.add_argument(
        "--preset",
        metavar="NAME",
        default=None,
        help="the experiment preset the form opens with (default: demo; 'none' for the bare config)",
    )
    parser.add_argument(
        "--screen",
        choices=("form", "runs"),
        default="form",
        help="the screen to open: the launch form (default) or the runs list",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    runs = sub.add_parser(
        "runs",
        parents=[shared],
        help="print the runs table and exit",
        description="Print every run of this user on this machine, newest first: the runs in the per-user index "
        "($XDG_STATE_HOME/hrm/runs, default ~/.local/state/hrm/runs; every run adds itself when it starts, wherever "
        "its checkpoint_path is) and those found under the runs root (a scan of at most "
        f"{MAX_SCAN_ENTRIES:,} entries, {MAX_DEPTH} levels deep). Indexed runs whose folder has gone show as missing.",
    )
    runs.add_argument("--json", action="store_true", help="one JSON object per run instead of a table")
    runs.add_argument("--prune", action="store_true", help="remove the index entries of missing runs (their folder has "
                      "gone or holds no run any more), say which, and exit")

    launch = sub.add_parser(
        "launch",
        parents=[shared],
        help="validate and launch a run without the form",
        description="Validate the overrides exactly as the trainer does, then start the run detached and print "
        "its run directory. Overrides use Hydra's syntax, as for python -m hrm_core.pretrain.",
    )
    launch.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides, e.g. +experiment=demo lr=7e-5")
    launch.add_argument("--nproc-per-node", type=int, default=None, metavar="N", help="processes per node; more than 1 uses torchrun (default: 1, or the SLURM profile's)")
    launch.add_argument("--gpus", metavar="LIST", default=None, help="CUDA_VISIBLE_DEVICES for the run, e.g. 0,1 (default: leave as is)")
    launch.add_argument("--omp-num-threads", type=int, default=None, metavar="N", help="OMP_NUM_THREADS for the run (default: leave as is)")
    launch.add_argument("--no-compile", action="store_true", help="disable torch.compile (sets DISABLE_COMPILE=1)")
    launch.add_argument("--nnodes", type=int, default=1, metavar="N", help="number of nodes for multi-node torchrun (default: 1)")
    launch.add_argument("--rdzv-endpoint", default="", metavar="HOST:PORT", help="multi-node: the c10d rendezvous endpoint, a free port on one of the nodes")
    launch.add_argument("--dry-run", action="store_true", help="validate and print the command (with --slurm: the batch script) without starting it")
    launch.add_argument("-m", "--multirun", action="store_true",
                        help="a sweep, as with python -m hrm_core.pretrain -m: every combination of the sweep values "
                             "(lr=1e-3,2e-3 seed=range(3)) is one run, started one after another by a detached driver")
    slurm = launch.add_argument_group("SLURM", "submit the run as a SLURM job instead of starting it here "
                                      "(docs/clusters.md); each flag overrides the profile's value")
    slurm.add_argument("--slurm", nargs="?", const="", default=None, metavar="PROFILE",
                       help="submit to SLURM, starting from the saved cluster profile PROFILE if given")
    for flag, kind, metavar, text in SLURM_FLAGS:
        slurm.add_argument(flag, type=kind, default=None, metavar=metavar, help=text)
    slurm.add_argument("--sbatch-line", action="append", default=None, metavar="LINE",
                       help="an extra #SBATCH line, e.g. --constraint=a100 (repeatable; added to the profile's)")
    slurm.add_argument("--setup-line", action="append", default=None, metavar="LINE",
                       help="a shell line run before the trainer, e.g. 'module load cuda' (repeatable; added to the profile's)")
    slurm.add_argument("--save-profile", default=None, metavar="NAME",
                       help="save these SLURM choices as the cluster profile NAME (~/.config/hrm/clusters.toml)")

    attach = sub.add_parser(
        "attach",
        parents=[shared],
        help="open a run's monitor, or compare runs",
        description="Open the monitor of a run. With several runs, their curves are overlaid on the first's, "
        "a colour per run; d in the monitor shows the config keys in which they differ. q quits.",
    )
    attach.add_argument("runs", nargs="+", metavar="RUN", help="a run directory, or a run's name (or the end of it) under the runs root")

    solve = sub.add_parser("solve", parents=[shared], help="replay a checkpoint solving a puzzle, step by step",
                           description="Solve a puzzle with a checkpoint and replay every ACT step (docs/solve.md).")
    solve.add_argument("checkpoint", metavar="CHECKPOINT", help="what python -m hrm_core.solve takes as checkpoint=")
    solve.add_argument("puzzle", nargs="?", metavar="PUZZLE",
                       help="a Sudoku, Maze or ARC file (default: the first example of the dataset's test split)")
    return parser


def version_text() -> str:
    """`hrm <version>, torch <version>`, from the installed packages' metadata: importing torch to ask it
    would take seconds, and a bug report needs both."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    return f"hrm {installed('hrm')}, torch {installed('torch')}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config_dir = getattr(args, "config_dir", None)
    runs_root = Path(getattr(args, "runs_root", "checkpoints"))
    try:
        theme = check_theme(args.theme)
        if args.command == "runs":
            if args.prune:
                return _print_to_pipe(prune_runs)
            return _print_to_pipe(lambda: print_runs(runs_root, as_json=args.json))
        if args.command == "launch":
            return launch(args, config_dir, runs_root)
        if args.command == "solve":
            from hrm_tui.screens.replay import run_replay

            return run_replay(args.checkpoint, args.puzzle, theme=theme)
        tree = _load_tree(config_dir)
        if args.command == "attach":
            run_dirs = [resolve_run(run, runs_root) for run in args.runs]
            return run_app(tree, runs_root, theme=theme, attach=run_dirs)
        preset = check_preset(args.preset, tree)
        return run_app(tree, runs_root, theme=theme, preset=preset, start_mode="runs" if args.screen == "runs" else "launch")
    except UserError as error:
        print(f"hrm-tui: {safe_text(error, multiline=True)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - a bug: one line here, the traceback in the crash log
        from hrm_tui.crash import crash_line, write_crash_log

        print(crash_line(error, write_crash_log(error)), file=sys.stderr)
        return EXIT_CRASH


def _print_to_pipe(print_all: Callable[[], int]) -> int:
    """Runs `print_all`; a reader that leaves early (`hrm-tui runs | head -1`) ends it quietly, as it would
    end `ls` or `grep`, instead of with a BrokenPipeError traceback."""
    try:
        status = print_all()
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # Python flushes stdout again at exit and would complain a second time: point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0


class UserError(Exception):
    """A mistake on the command line: printed as one message, exit status 2."""


def _load_tree(config_dir: str | None) -> ConfigTree:
    from hrm_tui.forms.config_tree import ConfigTree

    try:
        return ConfigTree.load(config_dir)
    except FileNotFoundError as error:
        raise UserError(str(error)) from None


def check_theme(theme: str | None) -> str | None:
    """The --theme name if Textual has such a theme; a UserError listing the themes otherwise."""
    if theme is None:
        return None
    from textual.theme import BUILTIN_THEMES  # the app registers exactly these

    if theme not in BUILTIN_THEMES:
        raise UserError(f"unknown theme {theme!r}; choose one of: {', '.join(sorted(BUILTIN_THEMES))}")
    return theme


def check_preset(preset: str | None, tree: ConfigTree) -> str | None:
    """The preset the form opens with: --preset NAME (checked against the config tree), None for 'none'."""
    from hrm_tui.app import DEFAULT_PRESET

    if preset is None:
        return DEFAULT_PRESET
    if preset.lower() == "none":
        return None
    if preset not in tree.presets:
        where = f" (config/experiment/ and {tree.user_dir}/experiment/)" if tree.user_dir else " (config/experiment/)"
        choices = ", ".join([*tree.presets, "none"])
        raise UserError(f"unknown preset {preset!r}{where}; choose one of: {choices}")
    return preset


def run_app(tree: ConfigTree, runs_root: Path, *, theme: str | None = None, **kwargs: Any) -> int:
    from hrm_tui.app import HrmTuiApp
    from hrm_tui.context import AppContext
    from hrm_tui.crash import crash_line

    app = HrmTuiApp(AppContext(config_tree=tree, runs_root=runs_root), theme=theme, **kwargs)
    app.run()
    if app.crash_error is not None:  # the traceback is in the crash log, not on the screen
        print(crash_line(app.crash_error, app.crash_log), file=sys.stderr)
        return EXIT_CRASH
    return app.return_code or 0


# --- hrm-tui runs ------------------------------------------------------------------------------------------


def print_runs(runs_root: Path, *, as_json: bool = False, out: TextIO | None = None) -> int:
    """The runs table (or one JSON object per run), then what the user must know about the search (a scan
    cut short, missing runs) as `note:` lines: after the table, or on stderr with --json. Every string from
    a run directory or the index of runs is sanitised."""
    from hrm_tui.runs.discovery import list_all_runs
    from hrm_tui.runs.cells import format_age, format_time, job_text

    from hrm_core.rundir.sweeps import group_sweeps

    out = out or sys.stdout
    listing = list_all_runs(runs_root)
    runs = group_sweeps(listing.runs, lambda run: run.sweep)  # a sweep's runs together, in its order
    if as_json:
        for run in runs:
            print(json.dumps(_run_json(run)), file=out)
    elif not runs:
        print(f"no runs found: {listing.searched()}", file=out)
    else:
        now = time.time()
        header = ("NAME", "SWEEP", "PRESET", "STATUS", "STEP", "PROGRESS", "STARTED", "LAST EVENT", "DETAIL")
        rows = [
            (
                run.name,
                safe_text(run.sweep.label()) if run.sweep is not None else "-",  # (the column only shows with a sweep)
                safe_text(run.preset or "-"),
                run.status.value,
                "-" if run.step is None else (f"{run.step}/{run.total_steps}" if run.total_steps else str(run.step)),
                "-" if run.progress is None else f"{run.progress * 100:.0f}%",
                format_time(run.start_time),
                format_age(now - run.last_event_time) if run.last_event_time else "-",
                _detail(run),
            )
            for run in runs
        ]
        if not any(run.sweep is not None for run in runs):
            header, rows = _without_column(header, rows, 1)
        if any(run.job_id for run in runs):  # a JOB column only where SLURM runs are listed
            header = (*header, "JOB")
            rows = [(*row, job_text(run) or "-") for row, run in zip(rows, runs)]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip(), file=out)
    for note in listing.notes():  # after the table; on stderr when stdout is JSON for a script
        print(f"note: {note}", file=sys.stderr if as_json else out)
    return 0


def _without_column(header: tuple[str, ...], rows: list[tuple[str, ...]], column: int) -> tuple[tuple[str, ...], list]:
    def drop(row: tuple[str, ...]) -> tuple[str, ...]:
        return row[:column] + row[column + 1:]

    return drop(header), [drop(row) for row in rows]


def prune_runs(out: TextIO | None = None) -> int:
    """`hrm-tui runs --prune`: removes the index entries of missing runs and names them."""
    from hrm_core.rundir.index import index_dir, prune_index

    out = out or sys.stdout
    removed = prune_index()
    if not removed:
        print(safe_text(f"nothing to prune: every run in the index {index_dir()} is still there"), file=out)
        return 0
    print(f"removed {len(removed)} index entr{'y' if len(removed) == 1 else 'ies'} of missing runs:", file=out)
    for entry in removed:
        print(safe_text(f"  {entry.path}"), file=out)
    return 0


def _detail(run: RunSummary) -> str:
    """Why the status is what it is (a stalled run: since when and where), and any skipped lines."""
    parts = [run.detail] if run.detail else []
    if run.skipped_lines:
        parts.append(f"{run.skipped_lines} invalid line{'s' if run.skipped_lines != 1 else ''} skipped")
    return safe_text("; ".join(parts)) or "-"


def _run_json(run: RunSummary) -> dict[str, Any]:
    """One run for `hrm-tui runs --json`: every string sanitised (a path that held control characters shows
    them as U+FFFD and is no longer usable as a path), every number finite or null."""
    return {
        "path": safe_text(run.path),
        "name": run.name,
        "preset": safe_text(run.preset) if run.preset is not None else None,
        "status": run.status.value,
        "step": run.step,
        "total_steps": run.total_steps,
        "progress": run.progress,
        "start_time": _finite(run.start_time),
        "last_event_time": _finite(run.last_event_time),
        "last_progress_time": _finite(run.last_progress_time),
        "phase": run.phase.value if run.phase is not None else None,
        "stall_after_s": _finite(run.stall_after_s),
        "pid": run.pid,
        "host": safe_text(run.host) if run.host is not None else None,
        "detail": safe_text(run.detail),
        "error": run.error or None,  # a failed run's error with its traceback (already sanitised, multi-line)
        "failed_rank": run.failed_rank,
        "skipped_lines": run.skipped_lines,
        "overrides": [safe_text(o) for o in run.overrides],
        "sweep": safe_text(run.sweep.sweep) if run.sweep is not None else None,
        "sweep_index": run.sweep.index if run.sweep is not None else None,
        "sweep_size": run.sweep.size if run.sweep is not None else None,
        # A SLURM run's job as the scheduler sees it (null for runs started here); docs/clusters.md, "States".
        "job_id": safe_text(run.job_id) if run.job_id is not None else None,
        "scheduler_state": run.scheduler_state.value if run.scheduler_state is not None else None,
        "reason": run.reason or None,
        "expected_start": _finite(run.expected_start),
        "nodes": run.nodes or None,
        "scheduler_source": run.scheduler_source.value if run.scheduler_source is not None else None,
        # Time limits and preemption: the job's segments after the first, and whether the newest run_end
        # says the job was requeued (docs/clusters.md, "Time limits and preemption").
        "requeues": run.requeues,
        "requeue_pending": run.requeue_pending,
    }


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity (json.dumps would write invalid JSON): those become null."""
    return value if value is not None and math.isfinite(value) else None


# --- hrm-tui launch ----------------------------------------------------------------------------------------


def launch(args: argparse.Namespace, config_dir: str | None, runs_root: Path, out: TextIO | None = None) -> int:
    from hrm_tui.forms.config_tree import flatten, launch_of
    from hrm_tui.launch_plan import LaunchError, LaunchOptions, plan_launch
    from hrm_tui.runs.launcher import start

    out = out or sys.stdout
    profile = slurm_profile(args)
    tree = _load_tree(config_dir)
    try:
        gpus = tuple(int(g) for g in args.gpus.split(",") if g.strip()) if args.gpus is not None else None
    except ValueError:
        raise UserError(f"--gpus takes GPU indices separated by commas, e.g. 0,1 (got {args.gpus!r})") from None
    options = LaunchOptions(
        # A SLURM job's processes are the profile's; this plan only carries the overrides and names.
        nproc_per_node=(args.nproc_per_node if args.nproc_per_node is not None else 1) if profile is None else 1,
        gpus=gpus,
        omp_num_threads=args.omp_num_threads,
        compile=not args.no_compile,
        nnodes=args.nnodes,
        rdzv_endpoint=args.rdzv_endpoint,
        slurm=profile,  # recorded in launch.json: clone and resume keep the target
    )
    overrides = list(args.overrides)
    world = options if profile is None else LaunchOptions(nproc_per_node=profile.nproc_per_node, nnodes=profile.nodes)
    if args.multirun:
        return _launch_sweep(args, tree, options, runs_root, out, profile=profile, world=world)
    problems = tree.validate(overrides, launch=launch_of(world))
    if problems:
        raise UserError("not launched:\n" + _problem_lines(problems))
    cfg = tree.compose(overrides)
    names = _run_names(cfg, runs_root)
    try:
        plan = plan_launch(overrides, options, names=names, present=set(flatten(cfg)), config_dir=tree.user_dir)
    except LaunchError as error:
        raise UserError(str(error)) from None
    if profile is not None:
        return _submit(plan, profile, args, out)
    print(safe_text(plan.command_line()), file=out)
    for rank, argv in plan.other_nodes:
        print(safe_text(f"on node {rank}: {plan.command_line(argv)}"), file=out)
    if args.dry_run:
        return 0
    try:
        record = start(plan)
    except LaunchError as error:
        raise UserError(str(error)) from None
    print(safe_text(f"started pid {record.pid}; run directory: {record.run_dir}"), file=out)
    print(safe_text(f"follow it with: hrm-tui attach {_shell_quote(str(record.run_dir))}"), file=out)
    return 0


def _problem_lines(problems: Sequence[Any]) -> str:
    """The trainer's problems with a config (forms.config_tree.Problem), each with its hint and build command."""
    from hrm_tui.forms.overrides import single_line
    from hrm_tui.launch_plan import display_argv

    lines = []
    for problem in problems:
        lines.append(problem.message + (f"\n  hint: {problem.hint}" if problem.hint else ""))
        if problem.build_command:
            lines.append(f"  build it with: {single_line(display_argv(problem.build_command))}")
    return "\n".join(lines)


def _launch_sweep(args: argparse.Namespace, tree: Any, options: Any, runs_root: Path, out: TextIO, *,
                  profile: ClusterProfile | None, world: Any) -> int:
    """`hrm-tui launch -m`: every run's command (--dry-run: only those), then the sweep's driver started
    detached, which runs them one after another (hrm_tui/runs/sweep_driver.py); with --slurm, the sweep's
    total, then one job per run through the profile (--dry-run: each run's batch script)."""
    from hrm_core.config import ConfigError
    from hrm_tui.forms.config_tree import launch_of
    from hrm_tui.launch_plan import LaunchError
    from hrm_tui.runs.sweep_driver import log_path, start_sweep
    from hrm_tui.sweep_plan import SweepRefused, plan_sweep, sweep_total

    try:
        sweep = plan_sweep(args.overrides, options, tree=tree, runs_root=runs_root, launch=launch_of(world))
    except ConfigError as error:
        raise UserError(error.render()) from None
    except SweepRefused as error:
        raise UserError(f"not launched: {error}:\n{_problem_lines(error.problem.problems)}") from None
    except LaunchError as error:
        raise UserError(str(error)) from None
    count = len(sweep.plans)
    if profile is not None:
        print(safe_text(f"sweep {sweep.name!r}: {sweep_total(count, profile)}, one job per run, in {sweep.folder}"), file=out)
        for plan in sweep.plans:
            _submit(plan, profile, args, out)
        return 0
    print(safe_text(f"sweep {sweep.name!r}: {count} run{'s' if count != 1 else ''}, one after another, in {sweep.folder}"),
          file=out)
    for plan in sweep.plans:
        print(safe_text(plan.command_line()), file=out)
    if args.dry_run:
        return 0
    try:
        pid = start_sweep(sweep)
    except LaunchError as error:
        raise UserError(str(error)) from None
    print(safe_text(f"started the sweep's driver, pid {pid}; its log: {log_path(sweep)}"), file=out)
    print(safe_text(f"follow it with: hrm-tui runs --runs-root {_shell_quote(str(sweep.folder))}"), file=out)
    return 0


def slurm_profile(args: argparse.Namespace) -> ClusterProfile | None:
    """The cluster profile of `hrm-tui launch --slurm [PROFILE]`: the saved one (or the defaults), with each
    SLURM flag given replacing its field and the extra lines added to the profile's; None without --slurm.
    Saved under --save-profile's name when given."""
    import dataclasses

    from hrm_tui.cluster.profile import ClusterProfile, ProfileError, load_profile, save_profile

    given = [flag for flag, *_ in SLURM_FLAGS if getattr(args, flag[2:].replace("-", "_")) is not None]
    given += [flag for flag in ("--sbatch-line", "--setup-line", "--save-profile")
              if getattr(args, flag[2:].replace("-", "_")) is not None]
    if args.slurm is not None and "=" in args.slurm:
        # `--slurm lr=1e-3`: argparse gave the first override to --slurm's optional PROFILE (a profile's name
        # has no '='): it is an override.
        args.overrides.insert(0, args.slurm)
        args.slurm = ""
    if args.slurm is None:
        if given:
            raise UserError(f"{given[0]} is a SLURM setting: add --slurm [PROFILE] to submit the run to SLURM")
        return None
    local = [flag for flag, value in (("--nnodes", args.nnodes != 1), ("--rdzv-endpoint", bool(args.rdzv_endpoint)),
                                      ("--gpus", args.gpus is not None))
             if value]
    if local:
        raise UserError(f"{local[0]} is for runs started here; with --slurm use --nodes and --gpus-per-node")
    try:
        profile = load_profile(args.slurm) if args.slurm else ClusterProfile()
    except ProfileError as error:
        raise UserError(str(error)) from None
    changes: dict[str, Any] = {field: getattr(args, name) for name, field in _SLURM_FIELDS.items()
                               if getattr(args, name) is not None}
    changes["sbatch_lines"] = (*profile.sbatch_lines, *(args.sbatch_line or ()))
    changes["setup_lines"] = (*profile.setup_lines, *(args.setup_line or ()))
    if args.save_profile is not None:
        changes["name"] = args.save_profile
    profile = dataclasses.replace(profile, **changes)
    problems = profile.problems()
    if problems:
        flags = {field: "--" + name.replace("_", "-") for name, field in _SLURM_FIELDS.items()}
        flags |= {"sbatch_lines": "--sbatch-line", "setup_lines": "--setup-line", "name": "--save-profile"}
        raise UserError("not submitted:\n" + "\n".join(
            f"{flags.get(field, field)}: {message}" for field, message in problems.items()))
    if args.save_profile is not None:
        try:
            path = save_profile(profile)
        except (ProfileError, OSError) as error:
            raise UserError(str(error)) from None
        print(safe_text(f"saved cluster profile {profile.name!r} in {path}"), file=sys.stderr)
    return profile


def _submit(plan: Any, profile: ClusterProfile, args: argparse.Namespace, out: TextIO) -> int:
    """Prints the batch script (--dry-run: only that), or submits it and says where the run is."""
    from hrm_tui.cluster.batch_script import batch_script
    from hrm_tui.cluster.submit import submit
    from hrm_tui.launch_plan import LaunchError

    try:
        script = batch_script(plan, profile)
    except LaunchError as error:
        raise UserError(str(error)) from None
    if args.dry_run:
        print(safe_text(script, multiline=True), file=out, end="")
        return 0
    try:
        job = submit(plan, profile)
    except LaunchError as error:
        raise UserError(f"not submitted: {error}") from None
    cluster = f" on cluster {job.cluster}" if job.cluster else ""
    print(safe_text(f"submitted job {job.job_id}{cluster}; run directory: {job.run_dir}"), file=out)
    print(safe_text(f"batch script: {job.script}"), file=out)
    print(safe_text(f"follow it with: hrm-tui attach {_shell_quote(str(job.run_dir))}"), file=out)
    return 0


def _run_names(cfg: Any, runs_root: Path) -> tuple[str, str, str]:
    """The trainer's own naming (project from the dataset, run from the arch + a slug), under the runs root."""
    from hrm_core.config import resolve_run_names

    project, run, checkpoint_path = resolve_run_names(cfg)
    if not cfg.get("checkpoint_path"):
        checkpoint_path = str(runs_root / project / run)
    return project, run, checkpoint_path


def _shell_quote(text: str) -> str:
    from hrm_tui.forms.overrides import shell_quote

    return shell_quote(text)


# --- hrm-tui attach ----------------------------------------------------------------------------------------


def resolve_run(run: str, runs_root: Path) -> Path:
    """A run directory from a path, a name under the runs root, or a unique end of the path of a run under
    the runs root or in the index of runs."""
    from hrm_core.rundir.index import EntryState, entry_state, read_index
    from hrm_tui.runs.discovery import find_run_dirs

    folders = [candidate for candidate in (Path(run), runs_root / run) if _is_dir(candidate)]
    for folder in folders:
        if entry_state(folder) is EntryState.PRESENT:
            return folder
    if folders:  # a folder the user named that holds no run: say so, and point at the runs below it
        raise UserError(_holds_no_run(folders[0]))
    known = {os.path.abspath(d): d for d in find_run_dirs(runs_root)}
    for entry in read_index().entries:
        if entry_state(entry.path) is EntryState.PRESENT:
            known.setdefault(os.path.abspath(entry.path), entry.path)
    matches = [d for d in known.values() if d.name == run or d.as_posix().endswith(run)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UserError(f"no run '{run}' under {runs_root.absolute()} or in the index of runs (hrm-tui runs lists them)")
    listing = "\n  ".join(str(m) for m in sorted(matches))
    raise UserError(f"'{run}' matches several runs; give more of the name:\n  {listing}")


def _holds_no_run(folder: Path, shown: int = 5) -> str:
    """The message for `hrm-tui attach FOLDER` on a folder without a run: the runs below it, if any, and how
    to open one of them or list them all."""
    from hrm_core.rundir.files import EVENTS_FILE, LAUNCH_FILE
    from hrm_tui.runs.discovery import scan_runs_root

    message = f"{folder} holds no run (no {EVENTS_FILE} or {LAUNCH_FILE} in it)"
    below = scan_runs_root(folder).dirs
    if not below:
        return message
    listing = "\n  ".join(str(run_dir) for run_dir in below[:shown])
    more = f"\n  ... and {len(below) - shown} more" if len(below) > shown else ""
    return (f"{message}; {len(below)} run(s) lie below it:\n  {listing}{more}\n"
            f"open one with: hrm-tui attach {_shell_quote(str(below[0]))}\n"
            f"or list them with: hrm-tui runs --runs-root {_shell_quote(str(folder))}")


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte: not a run directory
        return False


if __name__ == "__main__":
    raise SystemExit(main())
