"""Dataset builds started from the launcher: one per output folder, followed through a log, cancellable.

    <data_path>.build.log      the builder's output, appended (a header line per build)
    .<name>.build-lock          held by the builder while it runs (hrm_core/data/dataset_writer.py)

A builder takes the output folder's build lock for its whole run, whoever started it (this app, another
hrm-tui, a shell), so `running_build(data_path)` finds any build of that folder. The app starts a builder
detached, in its own session (it keeps going if the app closes), with its output appended to the log:
two builders never truncate each other's log, and one that finds the folder locked exits at once saying who
holds it.

Cancelling sends SIGTERM: the builder's own handler stops it and removes its temporary folder
(hrm_core/data/interrupts.py). A builder that does not stop within `CANCEL_GRACE_S` is killed, and its
temporary folder is removed here, under the folder's lock. Signals go to the builder's process group when
it leads one (started by hrm-tui, or a shell job of its own), else to the builder alone; and only after
checking that the pid still belongs to the builder that took the lock (same start time).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from hrm_core.data.format import METADATA_FILE
from hrm_core.data.dataset_writer import BuildHolder, BuildInProgressError, BuildLock, build_in_progress, temp_dirs
from hrm_tui.forms.overrides import single_line

CANCEL_GRACE_S = 10.0
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # what a log line may not bring to the terminal


def build_log_path(data_path: str | os.PathLike[str]) -> Path:
    return Path(f"{str(data_path).rstrip('/')}.build.log")


def dataset_complete(data_path: str | os.PathLike[str]) -> bool:
    """Both splits are in place (what a finished build leaves; the trainer checks the rest)."""
    path = Path(data_path)
    return (path / "train" / METADATA_FILE).is_file() and (path / "test" / METADATA_FILE).is_file()


def running_build(data_path: str | os.PathLike[str]) -> BuildHolder | None:
    """The builder of `data_path` running now, whoever started it, or None."""
    holder = build_in_progress(data_path)
    return holder if holder is not None and holder.is_running() else None


@dataclass
class StartedBuild:
    process: subprocess.Popen[bytes]
    log_offset: int  # where this build's output starts in the log


def start_build(data_path: str | os.PathLike[str], argv: Sequence[str], *, display: Sequence[str] | None = None) -> StartedBuild:
    """Starts the builder detached, appending to the log. BuildInProgressError when one already runs."""
    holder = running_build(data_path)
    if holder is not None:
        raise BuildInProgressError(Path(data_path), holder)
    log_path = build_log_path(data_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        offset = log.tell()
        header = f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} hrm-tui: {single_line(display or argv)}\n"
        log.write(header.encode("utf-8"))
        log.flush()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the cancel key can stop all of it
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return StartedBuild(process, offset)


def read_log(log_path: Path, offset: int) -> tuple[str, int]:
    """The whole lines appended to the log since `offset`, made safe for the terminal, and the new offset."""
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            data = f.read(1024 * 1024)
    except OSError:
        return "", offset
    end = data.rfind(b"\n") + 1  # a partial last line waits for the next read
    if not end:
        return "", offset
    text = data[:end].decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text), offset + end


def log_tail_offset(log_path: Path, nbytes: int = 64 * 1024) -> int:
    """An offset near the end of the log (at a line start) to follow a build started elsewhere from."""
    try:
        size = log_path.stat().st_size
        with open(log_path, "rb") as f:
            f.seek(max(0, size - nbytes))
            data = f.read()
    except OSError:
        return 0
    start = size - len(data)
    if start == 0:
        return 0
    newline = data.find(b"\n")
    return start + newline + 1 if newline >= 0 else size


def cancel_build(
    data_path: str | os.PathLike[str],
    *,
    process: subprocess.Popen[bytes] | None = None,
    holder: BuildHolder | None = None,
    grace_s: float = CANCEL_GRACE_S,
    on_progress: Callable[[str], None] = lambda message: None,
) -> str:
    """Stops a build of `data_path` and makes sure its temporary folder is gone; returns what happened.

    `process`: the builder this app started (its pid cannot have been reused: it is our child, not yet
    reaped); otherwise `holder`, the lock's record of a builder started elsewhere, checked by start time.
    """
    if process is not None:
        if process.poll() is not None:
            return "the build had already ended"
        pid = process.pid

        def gone(timeout_s: float) -> bool:
            try:
                process.wait(timeout=timeout_s)  # through Popen, which keeps the exit status
                return True
            except subprocess.TimeoutExpired:
                return False
    elif holder is not None and holder.pid is not None and holder.is_running():
        pid = holder.pid

        def gone(timeout_s: float) -> bool:
            deadline = time.monotonic() + timeout_s
            while holder.is_running() and build_in_progress(data_path) is not None:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
            return True
    else:
        return "the build had already ended"
    group = _leads_its_group(pid)
    _signal(pid, signal.SIGTERM, group)
    on_progress(f"SIGTERM sent to the builder (pid {pid}); waiting up to {grace_s:.0f}s for it to clean up")
    if gone(grace_s):
        outcome = "cancelled"
    else:
        workers = _children(pid)  # e.g. a process pool's workers, which hold the lock too
        _signal(pid, signal.SIGKILL, group)
        for worker in workers:
            _signal(worker, signal.SIGKILL, False)
        gone(5.0)
        outcome = "killed (it did not stop within the grace period)"
    removed = remove_abandoned_temp_dirs(data_path)
    left = temp_dirs(data_path)
    if left:
        return f"{outcome}; could not remove {', '.join(str(p) for p in left)}"
    return f"{outcome}; its temporary folder is gone" + (" (removed here)" if removed else "")


def remove_abandoned_temp_dirs(data_path: str | os.PathLike[str]) -> int:
    """Removes temporary folders no builder owns (taking the folder's lock to be sure); returns how many."""
    try:
        with BuildLock(data_path):
            abandoned = temp_dirs(data_path)
            for path in abandoned:
                shutil.rmtree(path, ignore_errors=True)
            return len(abandoned)
    except BuildInProgressError:
        return 0  # a new build started meanwhile: its folder is its own


def _children(pid: int) -> list[int]:
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _leads_its_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False


def _signal(pid: int, signum: int, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


__all__ = [
    "CANCEL_GRACE_S",
    "StartedBuild",
    "build_log_path",
    "cancel_build",
    "dataset_complete",
    "log_tail_offset",
    "read_log",
    "remove_abandoned_temp_dirs",
    "running_build",
    "start_build",
]
