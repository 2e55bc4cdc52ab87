"""Starting a training run: a detached process that outlives the app, from a `LaunchPlan` (launch_plan.py:
the command line, its environment and the run directory, decided before anything starts).

A run is started exactly as a user would start it by hand (the commands are in launch_plan.py).

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

import os
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from hrm_core.rundir.errors import RunDirError
from hrm_core.rundir.files import COMMAND_FILE, EVENTS_FILE, LAUNCH_FILE, STDERR_FILE, STDOUT_FILE
from hrm_core.rundir.index import register_run
from hrm_core.rundir.reader import read_record
from hrm_core.rundir.records import CommandRecord
from hrm_core.rundir.records import LaunchRecord as LaunchFileRecord
from hrm_core.rundir.writer import write_json_record
from hrm_tui.launch_plan import CONFIG_DIR_FLAG, LaunchError, LaunchOptions, LaunchPlan, resolve_path

@dataclass
class LaunchRecord:
    """What `launch.json` holds about a started run."""

    pid: int
    pgid: int
    create_time: float
    run_dir: Path


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
    return resolve_path(found, Path(command.cwd) if command.cwd else run_dir) if found else None


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
