"""Starting a training run: the command line, its environment, and a detached process that outlives the app.

A run is started exactly as a user would start it by hand:

    python -m hrm_core.pretrain [--config-dir DIR] OVERRIDES...                 one process
    torchrun --standalone --nproc-per-node N -m hrm_core.pretrain OVERRIDES... several, one node
    torchrun --nnodes M --node-rank R --rdzv-backend static --rdzv-endpoint HOST:PORT
             --nproc-per-node N -m hrm_core.pretrain OVERRIDES...               several nodes

`--config-dir DIR` (the user's extra Hydra config folder, as given to `hrm-tui --config-dir`) is passed on
to the trainer, recorded in `launch.json`, and kept by resume and clone.

The command is an argv list and is never given to a shell, so a value such as `x; rm -rf ~` reaches the
trainer as one string. The launcher names the run itself (`project_name`, `run_name`, `checkpoint_path`
overrides) so that it knows the run directory before the process starts.

The process is started in a new session (`start_new_session=True`): it has no controlling terminal, so
closing the app, a dropped SSH connection or a crash of the app does not signal it. Its stdout and stderr
go to `stdout.log` / `stderr.log` in the run directory, and `launch.json` records what is needed to find the
process again later and to check that a pid still belongs to it (see runs/process_control.py):

    {"pid", "pgid", "create_time", "cmdline", "host", "argv", "env", "cwd", "time", "overrides", "options",
     "config_dir", "resume"}
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import psutil

from hrm_core.rundir.errors import RunDirError
from hrm_core.rundir.files import COMMAND_FILE, EVENTS_FILE, LAUNCH_FILE, STDERR_FILE, STDOUT_FILE
from hrm_core.rundir.index import register_run
from hrm_core.rundir.processes import TRAINER_MODULE
from hrm_core.rundir.reader import read_record
from hrm_core.rundir.records import CommandRecord
from hrm_core.rundir.records import LaunchRecord as LaunchFileRecord
from hrm_core.rundir.schema import Minimum, record_spec
from hrm_core.rundir.writer import write_json_record
from hrm_tui.forms.overrides import format_override, single_line, split_override

NAME_KEYS = ("project_name", "run_name", "checkpoint_path")
CONFIG_DIR_FLAG = "--config-dir"  # the trainer's flag (also `-cd`), as Hydra's


class LaunchError(Exception):
    """A launch that cannot go ahead, with a message for the user."""


@dataclass
class LaunchOptions:
    """How to run the trainer, as opposed to what to train (the overrides)."""

    nproc_per_node: int = 1
    gpus: tuple[int, ...] | None = None  # CUDA_VISIBLE_DEVICES; None leaves the environment's value alone
    omp_num_threads: int | None = None  # OMP_NUM_THREADS; None leaves it alone (torchrun then sets 1)
    compile: bool = True  # False sets DISABLE_COMPILE=1, which the trainer honours like the original
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str = ""  # HOST:PORT of node 0; required with nnodes > 1

    def problems(self) -> dict[str, str]:
        """Field name -> what is wrong with it. Empty when the options are usable."""
        out = {}
        if self.nproc_per_node < 1:
            out["nproc_per_node"] = "processes per node must be at least 1"
        if self.omp_num_threads is not None and self.omp_num_threads < 1:
            out["omp_num_threads"] = "OMP_NUM_THREADS must be at least 1 (or empty to leave it unset)"
        if self.nnodes < 1:
            out["nnodes"] = "the number of nodes must be at least 1"
        if not 0 <= self.node_rank < max(self.nnodes, 1):
            out["node_rank"] = f"node rank must be between 0 and {self.nnodes - 1}"
        if self.nnodes > 1:
            host, sep, port = self.rdzv_endpoint.rpartition(":")
            if not sep or not host or not port.isdigit():
                out["rdzv_endpoint"] = "multi-node needs the rendezvous endpoint of node 0 as HOST:PORT"
        if self.gpus is not None and self.nproc_per_node > len(self.gpus) > 0:
            out["gpus"] = f"{self.nproc_per_node} processes per node but only {len(self.gpus)} GPU(s) chosen"
        return out

    @property
    def uses_torchrun(self) -> bool:
        return self.nproc_per_node > 1 or self.nnodes > 1

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["gpus"] = list(self.gpus) if self.gpus is not None else None
        return data

    @classmethod
    def from_json(cls, data: Any) -> LaunchOptions:
        """The options as `launch.json` records them (`to_json`). The file comes from a run directory, so each
        field is checked (`_RecordedOptions`): one that does not fit raises ValueError naming every such field,
        instead of surfacing later as a crash."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError(f"options is a {type(data).__name__}, not an object")
        record, problems = record_spec(_RecordedOptions).build_lenient(dict(data))
        if problems or record is None:
            raise ValueError(f"options: {'; '.join(problems) or 'unusable'}")
        values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        values["gpus"] = tuple(values["gpus"]) if values["gpus"] is not None else None
        return cls(**values)


@dataclass(kw_only=True, slots=True)
class _RecordedOptions:
    """launch.json's `options` as the checker reads them (hrm_core.rundir.schema): LaunchOptions' fields, each
    with its type and bounds. The one check of recorded options (clone and resume both use `from_json`)."""

    nproc_per_node: Annotated[int, Minimum(1)] = 1
    gpus: list[Annotated[int, Minimum(0)]] | None = None
    omp_num_threads: Annotated[int, Minimum(1)] | None = None
    compile: bool = True
    nnodes: Annotated[int, Minimum(1)] = 1
    node_rank: Annotated[int, Minimum(0)] = 0
    rdzv_endpoint: str = ""


@dataclass
class LaunchPlan:
    """Everything about a launch, decided before anything starts."""

    argv: list[str]
    env: dict[str, str]  # only the variables the launcher sets; the rest of the environment is inherited
    run_dir: Path
    overrides: list[str]  # every override passed to the trainer, the run's names included
    options: LaunchOptions
    cwd: Path
    other_nodes: list[tuple[int, list[str]]] = field(default_factory=list)  # (node rank, argv) for multi-node
    config_dir: Path | None = None  # the extra Hydra config folder passed as --config-dir, if any

    def command_line(self, argv: Sequence[str] | None = None) -> str:
        """The command as one line for a POSIX shell, environment assignments first."""
        env = [f"{k}={v}" for k, v in self.env.items()]
        return single_line([*env, *display_argv(self.argv if argv is None else argv)])


@dataclass
class LaunchRecord:
    """What `launch.json` holds about a started run."""

    pid: int
    pgid: int
    create_time: float
    run_dir: Path


def trainer_argv(
    overrides: Sequence[str],
    options: LaunchOptions,
    *,
    node_rank: int | None = None,
    config_dir: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The argv that starts the trainer with these overrides and options (never a shell string)."""
    trainer_args = ([CONFIG_DIR_FLAG, str(config_dir)] if config_dir is not None else []) + list(overrides)
    if not options.uses_torchrun:
        return [sys.executable, "-m", TRAINER_MODULE, *trainer_args]
    argv = torchrun_prefix()
    if options.nnodes > 1:
        rank = options.node_rank if node_rank is None else node_rank
        argv += [
            "--nnodes", str(options.nnodes),
            "--node-rank", str(rank),
            "--rdzv-backend", "static",
            "--rdzv-endpoint", options.rdzv_endpoint,
        ]  # fmt: skip
    else:
        argv += ["--standalone"]
    argv += ["--nproc-per-node", str(options.nproc_per_node), "-m", TRAINER_MODULE]
    return argv + trainer_args


def torchrun_prefix() -> list[str]:
    """`torchrun` from this interpreter's environment, so the trainer runs with the same packages."""
    beside = Path(sys.executable).with_name("torchrun")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    return [sys.executable, "-m", "torch.distributed.run"]


def launch_env(options: LaunchOptions) -> dict[str, str]:
    """The environment variables this launch sets (shown in the command panel; the rest is inherited)."""
    env = {"PYTHONUNBUFFERED": "1"}  # so stdout.log fills as the run goes, not in 8 KB blocks
    if options.gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in options.gpus)
    if options.omp_num_threads is not None:
        env["OMP_NUM_THREADS"] = str(options.omp_num_threads)
    if not options.compile:
        env["DISABLE_COMPILE"] = "1"
    return env


def display_argv(argv: Sequence[str]) -> list[str]:
    """argv with this interpreter and its torchrun written as `python` / `torchrun` when PATH finds those same
    files, so the panel shows what a user would type; otherwise the full paths."""
    shown = list(argv)
    for short in ("python", "python3", "torchrun"):
        found = shutil.which(short)
        if shown and found and _same_file(found, shown[0]):
            shown[0] = short
            break
    return shown


def with_run_names(overrides: Sequence[str], names: tuple[str, str, str], present: set[str]) -> list[str]:
    """`overrides` plus explicit project_name/run_name/checkpoint_path overrides for those not set already.

    `present` holds the keys the composed config has (the others need Hydra's `+key=`).
    """
    already = {split_override(o)[1] for o in overrides}
    out = list(overrides)
    for key, value in zip(NAME_KEYS, names):
        if key not in already:
            out.append(format_override(key, value, add=key not in present))
    return out


def plan_launch(
    overrides: Sequence[str],
    options: LaunchOptions,
    *,
    names: tuple[str, str, str],
    present: set[str],
    cwd: str | os.PathLike[str] | None = None,
    config_dir: str | os.PathLike[str] | None = None,
) -> LaunchPlan:
    """Decides argv, environment and run directory. `names` = (project_name, run_name, checkpoint_path);
    `config_dir`: the extra Hydra config folder the overrides were checked against (passed on to the trainer)."""
    problems = options.problems()
    if problems:
        raise LaunchError("; ".join(problems.values()))
    cwd = Path(cwd or os.getcwd())
    full = with_run_names(overrides, names, present)
    run_dir = Path(names[2])
    run_dir = run_dir if run_dir.is_absolute() else cwd / run_dir
    config_path = _absolute(config_dir, cwd)
    other_nodes = []
    if options.nnodes > 1:
        other_nodes = [
            (rank, trainer_argv(full, options, node_rank=rank, config_dir=config_path))
            for rank in range(options.nnodes)
            if rank != options.node_rank
        ]
    return LaunchPlan(
        argv=trainer_argv(full, options, config_dir=config_path),
        env=launch_env(options),
        run_dir=run_dir,
        overrides=full,
        options=options,
        cwd=cwd,
        other_nodes=other_nodes,
        config_dir=config_path,
    )


@dataclass(frozen=True)
class RunRecipe:
    """What cloning a run starts from: its overrides, and, when its `launch.json` says, the launch options and
    config folder it ran with. A run started by hand has no `launch.json`: `options` is None (its
    `--config-dir`, if any, still comes from the command line the trainer recorded)."""

    overrides: list[str]
    options: LaunchOptions | None
    config_dir: Path | None
    note: str = ""  # why the options are missing, for the user


def run_recipe(run_dir: str | os.PathLike[str], overrides: Sequence[str]) -> RunRecipe:
    """The recipe of the run in `run_dir` (whose overrides the caller has already read, see discovery)."""
    run_dir = Path(run_dir)
    record = read_record(run_dir / LAUNCH_FILE, LaunchFileRecord).record
    options, note = None, ""
    if record is None:
        note = "it has no launch.json (started by hand), so the launch options are the defaults"
    else:
        try:
            options = LaunchOptions.from_json(record.options)
        except ValueError as error:
            note = f"its launch.json is damaged ({error}), so the launch options are the defaults"
    return RunRecipe(list(overrides), options, recorded_config_dir(run_dir), note)


def recorded_config_dir(run_dir: str | os.PathLike[str]) -> Path | None:
    """The `--config-dir` a run was started with: `launch.json`'s `config_dir`, else the trainer's recorded
    command line (`command.json`, relative paths taken from its `cwd`). None when it had none."""
    run_dir = Path(run_dir)
    record = read_record(run_dir / LAUNCH_FILE, LaunchFileRecord).record
    if record is not None:
        return Path(record.config_dir) if record.config_dir else None
    command = read_record(run_dir / COMMAND_FILE, CommandRecord).record
    if command is None or command.argv is None:
        return None
    found = config_dir_from_argv(command.argv)
    return _absolute(found, Path(command.cwd) if command.cwd else run_dir) if found else None


def config_dir_from_argv(argv: Sequence[str]) -> str | None:
    """The value of the trainer's `--config-dir` / `-cd` in a recorded command line (the last one wins)."""
    found = None
    for i, item in enumerate(argv):
        for flag in (CONFIG_DIR_FLAG, "-cd"):
            if item == flag and i + 1 < len(argv):
                found = argv[i + 1]
            elif item.startswith(flag + "="):
                found = item[len(flag) + 1 :]
    return found


def start(plan: LaunchPlan, *, resume: bool = False) -> LaunchRecord:
    """Starts the planned run detached and writes its `launch.json`. Returns as soon as the process runs.

    Refuses to start a new run in a directory that already holds one (unless resuming it): the two would
    write into the same event log.
    """
    run_dir = plan.run_dir
    if not resume and ((run_dir / EVENTS_FILE).exists() or (run_dir / LAUNCH_FILE).exists()):
        raise LaunchError(f"{run_dir} already holds a run; choose another run_name or resume that run")
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **plan.env}
    with open(run_dir / STDOUT_FILE, "ab") as stdout, open(run_dir / STDERR_FILE, "ab") as stderr:
        try:
            process = subprocess.Popen(
                plan.argv,
                cwd=plan.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # own session and process group: immune to the terminal's SIGHUP
                close_fds=True,
            )
        except OSError as error:
            raise LaunchError(f"could not start {plan.argv[0]}: {error}") from None
    _CHILDREN.append(process)
    try:
        info = psutil.Process(process.pid)
        create_time, cmdline = info.create_time(), _cmdline_after_exec(info)
    except psutil.Error:  # it already exited: the record still says what was started
        create_time, cmdline = time.time(), list(plan.argv)
    record = LaunchFileRecord(
        pid=process.pid,
        pgid=process.pid,  # a new session's leader is also its process group's leader
        create_time=create_time,
        cmdline=cmdline,
        host=socket.gethostname(),
        argv=plan.argv,
        env=plan.env,
        cwd=str(plan.cwd),
        time=time.time(),
        overrides=plan.overrides,
        options=plan.options.to_json(),
        config_dir=str(plan.config_dir) if plan.config_dir is not None else None,
        resume=resume,
    )
    try:
        write_json_record(run_dir / LAUNCH_FILE, record)
    except RunDirError as error:
        raise LaunchError(f"started pid {process.pid}, but {error}") from None
    _register_in_index(Path(plan.cwd) / run_dir)
    return LaunchRecord(pid=process.pid, pgid=process.pid, create_time=create_time, run_dir=run_dir)


def _register_in_index(run_dir: Path) -> None:
    """Adds the run to the per-user index at once, so that it is listed from any folder even if its trainer
    fails before it registers itself (the trainer does, too). Best effort: the run is started either way."""
    try:
        register_run(run_dir)
    except (OSError, RunDirError):
        pass  # the trainer registers it again and warns on its stderr.log if the index cannot be written


def _cmdline_after_exec(info: psutil.Process, timeout_s: float = 2.0) -> list[str]:
    """The new process's command line. Popen returns once the exec has begun, and for a moment after that
    the kernel may still show an empty command line: wait for the real one (the stop command checks it)."""
    deadline = time.monotonic() + timeout_s
    cmdline = info.cmdline()
    while not cmdline and time.monotonic() < deadline:
        time.sleep(0.01)
        cmdline = info.cmdline()
    return cmdline


def reap_children() -> None:
    """Collects runs started by this app that have exited, so they do not linger as zombies while it runs.

    (A run outlives the app either way; once the app exits, init adopts and reaps it.)
    """
    for process in list(_CHILDREN):
        if process.poll() is not None:
            _CHILDREN.remove(process)


# Runs started by this process, kept only to reap them (see reap_children).
_CHILDREN: list[subprocess.Popen[bytes]] = []


def _absolute(path: str | os.PathLike[str] | None, base: Path) -> Path | None:
    if path is None:
        return None
    path = Path(path).expanduser()
    return path if path.is_absolute() else base / path


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
