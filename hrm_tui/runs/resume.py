"""Resuming a run from the runs screen (`r`): a plan the user confirms, then a start that cannot hurt a live run.

A run directory may have been written by anyone, so nothing it records is allowed to choose code:

- **The interpreter and the package are the app's own.** The trainer runs as `sys.executable -P -m
  hrm_core.pretrain` (or torchrun from the same environment), with `PYTHONSAFEPATH=1` in its environment so
  that torchrun's workers get the same rule. Neither puts the working directory (or a script's folder) on
  `sys.path`, so a `hrm_core/` (or `torch/`) folder planted in the recorded working directory is never
  imported. Relative entries of an inherited PYTHONPATH are dropped for the same reason.
- **The recorded working directory is used for relative paths only** (a `data_path=data/...` override), and
  only when it is a plain directory: an absolute path that exists, with no symbolic link in it (it was
  recorded with `os.getcwd()`, which never returns one). A missing one falls back to the app's own
  working directory, and the confirmation says so; anything else is refused.
- **The recorded overrides stay overrides**: one that starts with `-` (an option such as `--config-dir`,
  which would load a config tree the file chooses) is refused, `checkpoint_path` is always this run
  directory, and `resume=auto` is added. The launch options (processes, GPUs, ...) are checked field by
  field; a field of the wrong type refuses the resume, naming it.

A run submitted to SLURM (it has `slurm.json`) is resubmitted, as a new job, through the profile recorded
there (the one it was submitted with): the confirmation shows the whole batch script, set-up lines included,
since they run as shell commands on the compute node. The script exports PYTHONSAFEPATH=1 like any resume.

`plan_resume` builds all of that without writing anything; `ResumePlan.describe()` is what the
confirmation shows (command, working directory, environment). `start_resume` then checks, before anything
is written, that the run is not alive: its status (summarize_run) is not running or stalled, nobody holds its
owner lock, and the process its launch.json names is gone. It holds the owner lock itself (briefly, without
writing a record) while it checks and writes the new launch.json, so a trainer starting at the same moment
cannot slip in between; the trainer it starts takes the lock for good once it runs.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hrm_core.rundir.files import LAUNCH_FILE, SLURM_FILE
from hrm_core.rundir.lock import LockState, describe_owner, lock_path, lock_state, read_owner
from hrm_core.rundir.reader import read_record
from hrm_core.rundir.records import LaunchRecord as LaunchFileRecord
from hrm_core.rundir.records import SlurmRecord
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.summary import process_matches, summarize_run
from hrm_tui.cluster.batch_script import batch_script
from hrm_tui.cluster.profile import ClusterProfile
from hrm_tui.cluster.submit import SubmittedJob, submit
from hrm_tui.forms.overrides import OverrideSyntaxError, format_value, single_line, split_override
from hrm_tui.launch_plan import LaunchError, LaunchOptions, LaunchPlan, display_argv, launch_env, trainer_argv
from hrm_tui.runs.launcher import LaunchRecord, recorded_config_dir, start

SAFE_PATH_ENV = {"PYTHONSAFEPATH": "1"}  # Python 3.11+: no working directory or script folder on sys.path
SAFE_PATH_FLAG = "-P"  # the same, for the interpreter started directly


class ResumeError(LaunchError):
    """A resume that must not go ahead, with a message for the user (strings in it are sanitised)."""


@dataclass
class ResumePlan:
    """A resume, decided but not started: what the confirmation shows and `start_resume` runs."""

    plan: LaunchPlan
    notes: list[str] = field(default_factory=list)  # facts the user should know (e.g. a fallback cwd)
    profile: ClusterProfile | None = None  # a SLURM run's: resubmitted with it (slurm.json)
    script: str = ""  # then the batch script that is submitted

    @property
    def run_dir(self) -> Path:
        return self.plan.run_dir

    def describe(self) -> str:
        """What will run, for the confirmation: the command, where, and the environment it sets."""
        env = " ".join(f"{k}={v}" for k, v in self.plan.env.items())
        if self.profile is not None:
            lines = [f"It submits a new SLURM job with sbatch, through the profile it was submitted with, from {self.plan.cwd}.",
                     "Its set-up lines run as shell commands on the compute node: read the script.", "",
                     *self.script.splitlines(), *self.notes]
            return safe_text("\n".join(lines), multiline=True)
        lines = [
            "It starts, detached:",
            f"  {single_line(display_argv(self.plan.argv))}",
            f"in {self.plan.cwd}",
            f"with {env} (the rest of the environment is this app's)",
            f"interpreter {self.plan.argv[0]}: -P / PYTHONSAFEPATH=1, so nothing is imported from the working directory",
            *self.notes,
        ]
        return safe_text("\n".join(lines), multiline=True)


def plan_resume(run_dir: str | os.PathLike[str], overrides: Sequence[str], *, cwd: str | os.PathLike[str] | None = None) -> ResumePlan:
    """The resume of `run_dir` with its recorded `overrides` (see the module docstring). Writes nothing.

    The launch options and the working directory come from the run's launch.json when it has one (a run
    started by hand has none: it resumes as one process from `cwd`, default the app's working directory).
    Raises ResumeError when the recorded facts cannot be used safely.
    """
    run_dir = Path(run_dir).absolute()
    record = read_record(run_dir / LAUNCH_FILE, LaunchFileRecord).record or LaunchFileRecord()
    options = _options(record.options)
    notes: list[str] = []
    work_dir = _working_dir(record.cwd, Path(cwd) if cwd is not None else Path(os.getcwd()), notes)
    full = _resume_overrides(overrides, run_dir)
    problems = options.problems()
    if problems:
        raise ResumeError("launch.json's options cannot be used: " + safe_text("; ".join(problems.values())))
    config_dir = _config_dir(run_dir)
    argv = _safe_interpreter(trainer_argv(full, options, config_dir=config_dir))
    env = {**launch_env(options), **SAFE_PATH_ENV, **_python_path()}
    profile = _recorded_profile(run_dir)
    if profile is not None:
        options = dataclasses.replace(options, slurm=profile)
    plan = LaunchPlan(argv=argv, env=env, run_dir=run_dir, overrides=full, options=options, cwd=work_dir, config_dir=config_dir)
    if profile is None:
        return ResumePlan(plan, notes)
    return ResumePlan(plan, notes, profile=profile, script=batch_script(plan, profile))


def _recorded_profile(run_dir: Path) -> ClusterProfile | None:
    """The profile a SLURM run was submitted with (slurm.json), checked field by field; None for other runs."""
    read = read_record(run_dir / SLURM_FILE, SlurmRecord)
    if read.record is None:
        if read.problems:
            raise ResumeError(safe_text(f"{SLURM_FILE} cannot be used: {'; '.join(read.problems)}"))
        return None
    if read.record.profile is None:
        raise ResumeError(f"{SLURM_FILE} records no profile to resubmit the run with: resume it with hrm-tui launch --slurm")
    try:
        profile = ClusterProfile.from_json(read.record.profile)
    except ValueError as error:
        raise ResumeError(safe_text(f"{SLURM_FILE}'s profile cannot be used: {error}")) from None
    problems = profile.problems()
    if problems:
        raise ResumeError(safe_text(f"{SLURM_FILE}'s profile cannot be used: " + "; ".join(
            f"{key}: {message}" for key, message in problems.items())))
    return profile


def start_resume(resume: ResumePlan) -> LaunchRecord | SubmittedJob:
    """Starts (or, for a SLURM run, submits) a planned resume, after checking (under the run's owner lock)
    that the run is not alive, nor waiting in the scheduler's queue."""
    run_dir = resume.run_dir
    summary = summarize_run(run_dir)
    if summary.is_active or summary.status is RunStatus.QUEUED:
        why = [summary.detail] if summary.detail else []
        if lock_state(run_dir) is LockState.HELD:
            why.append(f"its owner lock is held: {describe_owner(read_owner(run_dir))}")
        detail = f" ({'; '.join(why)})" if why else ""
        raise ResumeError(safe_text(f"{summary.name} is {summary.status}{detail}: stop it first"))
    with _held_lock(run_dir):
        record = read_record(run_dir / LAUNCH_FILE, LaunchFileRecord).record
        if record is not None and record.pid is not None and record.cmdline and process_matches(record.pid, record.create_time, record.cmdline):
            raise ResumeError(f"the process launch.json records (pid {record.pid}) is still running (a stopped run takes a "
                              "moment to exit): wait for it to end, or stop it")
        if resume.profile is not None:
            return submit(resume.plan, resume.profile, resume=True)
        return start(resume.plan, resume=True)


@contextmanager
def _held_lock(run_dir: Path) -> Iterator[None]:
    """The run directory's owner lock, held without a record while the resume checks and writes launch.json."""
    path = lock_path(run_dir)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as e:
        raise ResumeError(safe_text(f"cannot resume: {path} cannot be opened ({e.strerror or e})")) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResumeError(safe_text(f"the run directory is in use by a trainer ({describe_owner(read_owner(run_dir))})")) from None
        except OSError:
            pass  # a file system without locks: the status checks above are all there is
        yield
    finally:
        os.close(fd)  # releases the lock


def _options(data: dict | None) -> LaunchOptions:
    """launch.json's options as LaunchOptions; a field that does not fit refuses the resume, naming it."""
    try:
        return LaunchOptions.from_json(data)
    except ValueError as error:
        raise ResumeError(safe_text(f"launch.json's options cannot be used: {error}")) from None


def _config_dir(run_dir: Path) -> Path | None:
    """The `--config-dir` the run was started with (launch.json, or the trainer's command.json), which must
    still be a directory. It holds YAML configs only (Hydra composes them; nothing in them is imported or
    run), and the confirmation shows it as part of the command."""
    config_dir = recorded_config_dir(run_dir)
    if config_dir is not None and not config_dir.is_dir():
        raise ResumeError(safe_text(f"the run was started with --config-dir {config_dir}, which no longer exists"))
    return config_dir


def _working_dir(recorded: str | None, fallback: Path, notes: list[str]) -> Path:
    """The recorded working directory when it is a plain directory (see the module docstring)."""
    if recorded is None:
        return fallback
    path = Path(recorded)
    if not path.is_absolute():
        raise ResumeError(safe_text(f"launch.json records the working directory {recorded!r}, which is not an absolute path"))
    try:
        exists = os.path.lexists(path)
        plain = path.is_dir() and os.path.realpath(path) == os.path.normpath(path)
    except (OSError, ValueError):  # e.g. a NUL byte in the path
        raise ResumeError(safe_text(f"launch.json records an unusable working directory {recorded!r}")) from None
    if not exists:
        notes.append(f"its recorded working directory {recorded} is gone: relative paths resolve in {fallback}")
        return fallback
    if not plain:
        raise ResumeError(safe_text(f"launch.json records the working directory {recorded}, which is not a plain directory "
                                    "(a symbolic link, or not a directory): resume it by hand from where it ran"))
    return path


def _resume_overrides(overrides: Sequence[str], run_dir: Path) -> list[str]:
    """The recorded overrides, with checkpoint_path forced to this run directory and resume=auto."""
    keep = []
    for override in overrides:
        if override.startswith("-"):
            raise ResumeError(safe_text(f"the run recorded {override!r} among its overrides: an option, not an override; "
                                        "resume it by hand if it is meant"))
        try:
            key = split_override(override)[1]
        except OverrideSyntaxError as e:
            raise ResumeError(safe_text(f"the run's recorded overrides cannot be used: {e}")) from None
        if key not in ("checkpoint_path", "resume"):
            keep.append(override)
    return [*keep, f"++checkpoint_path={format_value(str(run_dir))}", "++resume=auto"]


def _safe_interpreter(argv: list[str]) -> list[str]:
    """argv with -P after this interpreter (when argv starts it; torchrun's script gets PYTHONSAFEPATH)."""
    if argv and argv[0] == sys.executable:
        return [argv[0], SAFE_PATH_FLAG, *argv[1:]]
    return argv


def _python_path() -> dict[str, str]:
    """PYTHONPATH without its relative entries (they would resolve in the working directory), when it has any."""
    value = os.environ.get("PYTHONPATH")
    if value is None:
        return {}
    entries = value.split(os.pathsep)
    absolute = [entry for entry in entries if entry and os.path.isabs(entry)]
    return {} if absolute == entries else {"PYTHONPATH": os.pathsep.join(absolute)}
