"""One answer to "which process is this run's trainer?" (hrm_core.rundir.processes.find_trainer): the list of
runs (summarize_run) and Stop (find_run_processes, stop_run) agree, for a real hand-started process and for a
pid that another process has, because both ask find_trainer.

The hand-started trainer is a stand-in `hrm_core.pretrain` (shadowing the real one from its working folder,
as a user's `python -m hrm_core.pretrain` would be found) that records itself exactly as the trainer does:
the real owner lock and EventWriter, a run_start with its pid, process start time and command line, then a
heartbeat until SIGINT, when it writes run_end `stopped`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import hrm_core
from hrm_core.rundir.processes import TrainerSource, find_trainer
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import summarize_run
from hrm_tui.runs.process_control import StopError, find_run_processes, stop_run
from tests.tui_launch_helpers import write_events

STAND_IN = """
import os, signal, socket, sys, time
import psutil
from hrm_core.rundir import events as ev
from hrm_core.rundir.lock import acquire_lock
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.writer import EventWriter

run_dir = sys.argv[1].split("=", 1)[1]
argv = [sys.executable, "-m", "hrm_core.pretrain", *sys.argv[1:]]
lock = acquire_lock(run_dir, argv=argv)
stop = []
signal.signal(signal.SIGINT, lambda signum, frame: stop.append(signum))
with EventWriter(run_dir) as writer:
    writer.write(ev.RunStart(total_steps=100, host=socket.gethostname(), pid=os.getpid(),
                             create_time=psutil.Process().create_time(), argv=argv))
    open(os.path.join(run_dir, "ready"), "w").close()
    while not stop:
        writer.write(ev.Heartbeat(step=0, progress_time=time.time(), interval_s=0.2))
        time.sleep(0.2)
    writer.write(ev.RunEnd(step=0, status=RunStatus.STOPPED))
lock.release()
"""

TRAINER_ARGV = [sys.executable, "-m", "hrm_core.pretrain"]


@pytest.fixture
def started():
    """Every process a test starts is gone when it ends."""
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def start_stand_in(tmp_path: Path, run_dir: Path, started: list) -> subprocess.Popen:
    shadow = tmp_path / "cwd" / "hrm_core"
    shadow.mkdir(parents=True, exist_ok=True)
    # The shadow package holds only pretrain.py; every other hrm_core module is the real one.
    (shadow / "__init__.py").write_text(f"__path__.append({os.path.dirname(hrm_core.__file__)!r})\n")
    (shadow / "pretrain.py").write_text(STAND_IN)
    process = subprocess.Popen([sys.executable, "-m", "hrm_core.pretrain", f"checkpoint_path={run_dir}"], cwd=tmp_path / "cwd",
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    started.append(process)
    deadline = time.monotonic() + 60
    while not (run_dir / "ready").exists():
        assert process.poll() is None, process.stdout.read().decode()
        assert time.monotonic() < deadline, "the stand-in never started"
        time.sleep(0.05)
    return process


def stop_outcome(run_dir: Path) -> str:
    """What Stop finds: the pid it would signal, "not running", or "cannot tell: <why>"."""
    try:
        processes = find_run_processes(run_dir)
    except StopError as error:
        return f"cannot tell: {error}"
    return "not running" if processes is None else f"pid {processes.root.pid}"


def test_a_hand_started_run_is_alive_for_the_list_and_found_by_stop(tmp_path: Path, started):
    run_dir = tmp_path / "run"
    process = start_stand_in(tmp_path, run_dir, started)
    trainer = find_trainer(run_dir)
    assert trainer.alive is True and trainer.source is TrainerSource.START_EVENT and trainer.process.pid == process.pid
    assert summarize_run(run_dir).status is RunStatus.RUNNING
    assert stop_outcome(run_dir) == f"pid {process.pid}"

    assert stop_run(run_dir, grace_s=30) == "stopped gracefully (SIGINT)"
    assert process.wait(timeout=10) == 0
    assert summarize_run(run_dir).status is RunStatus.STOPPED
    assert find_trainer(run_dir).alive is False and stop_outcome(run_dir) == "not running"


def test_a_hand_started_run_killed_outright_is_gone_for_both(tmp_path: Path, started):
    run_dir = tmp_path / "run"
    process = start_stand_in(tmp_path, run_dir, started)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    # No run_end; the kernel released the lock; the recorded pid is gone.
    summary = summarize_run(run_dir)
    assert summary.status is RunStatus.LOST and find_trainer(run_dir).alive is False
    assert stop_outcome(run_dir) == "not running"


@pytest.fixture
def unrelated(started) -> psutil.Process:
    """A process that is not a trainer, started well before the run below (whose pid it will have)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    started.append(process)
    proc = psutil.Process(process.pid)
    while time.time() - proc.create_time() < 2.5:
        time.sleep(0.1)
    return proc


def a_log_naming(run_dir: Path, pid: int, *, heartbeat_age_s: float, **start: object) -> None:
    now = time.time()
    write_events(run_dir, [
        {"type": "run_start", "time": now - 1, "total_steps": 100, "host": socket.gethostname(), "pid": pid,
         "argv": [*TRAINER_ARGV, f"checkpoint_path={run_dir}"], **start},
        {"type": "heartbeat", "time": now - heartbeat_age_s, "step": 1, "progress_time": now - heartbeat_age_s},
    ])


def test_a_pid_reused_by_a_process_started_before_the_run_is_not_the_trainer_for_either(tmp_path: Path, unrelated):
    """The run recorded its trainer's start time (a second ago); the process with that pid now started earlier."""
    run_dir = tmp_path / "run"
    a_log_naming(run_dir, unrelated.pid, heartbeat_age_s=0, create_time=time.time() - 1)
    trainer = find_trainer(run_dir)
    assert trainer.alive is False and "another time" in trainer.reason
    summary = summarize_run(run_dir)  # beating a moment ago, but its process is gone: not alive
    assert summary.status is RunStatus.LOST and not summary.is_active
    assert stop_outcome(run_dir) == "not running"
    assert stop_run(run_dir) == "the run's process is not running"
    assert unrelated.is_running()  # nothing was signalled


def test_an_older_log_without_the_start_time_calls_no_process_alive(tmp_path: Path, unrelated):
    """Without the trainer's start time, a process that started before the run may be it or not: the list does
    not call the run alive by that pid (only by the log's age), and Stop says why it cannot tell."""
    run_dir = tmp_path / "run"
    a_log_naming(run_dir, unrelated.pid, heartbeat_age_s=3600)
    assert find_trainer(run_dir).alive is None
    summary = summarize_run(run_dir)
    assert summary.status is RunStatus.LOST and "cannot be checked" in summary.detail
    assert stop_outcome(run_dir).startswith("cannot tell: its start event records pid")
    assert unrelated.is_running()


def test_a_process_with_the_recorded_start_time_but_another_command_line_is_not_called_alive(tmp_path: Path, unrelated):
    run_dir = tmp_path / "run"
    a_log_naming(run_dir, unrelated.pid, heartbeat_age_s=3600, create_time=unrelated.create_time())
    assert find_trainer(run_dir).alive is None
    assert summarize_run(run_dir).status is RunStatus.LOST
    assert "is not the one the run recorded" in stop_outcome(run_dir)
    assert unrelated.is_running()
