"""The owner lock (held, stale, released), the progress clock, and the statuses summarize_run derives from
the lock, the heartbeats' progress and the process table."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hrm_core.rundir import events as ev
from hrm_core.rundir.files import COMPLETE_MARKER, LAUNCH_FILE, LOCK_FILE, STDERR_FILE, STDOUT_FILE
from hrm_core.rundir.lock import LockHeld, LockState, acquire_lock, lock_state, read_owner
from hrm_core.rundir.stall import STALL_FLOOR_S, WARMUP_ALLOWANCE_S, ProgressClock
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import holds_run, summarize_run
from hrm_core.rundir.writer import EventWriter

HOLD_LOCK = """
import sys, time
from hrm_core.rundir.lock import acquire_lock
lock = acquire_lock(sys.argv[1], argv=["holder"])
print("locked", flush=True)
time.sleep(120)
"""


def hold_lock(run_dir: Path) -> subprocess.Popen:
    """A separate process that takes the run directory's lock and keeps it (as a trainer would)."""
    process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


@pytest.fixture()
def holder(tmp_path):
    processes = []

    def start(run_dir: Path) -> subprocess.Popen:
        processes.append(hold_lock(run_dir))
        return processes[-1]

    yield start
    for process in processes:
        process.kill()
        process.wait(timeout=10)


def test_a_held_lock_refuses_with_the_owner_and_a_dead_owner_never_blocks(tmp_path, holder):
    run_dir = tmp_path / "run"
    assert lock_state(run_dir) == LockState.ABSENT
    process = holder(run_dir)
    assert lock_state(run_dir) == LockState.HELD
    with pytest.raises(LockHeld) as refused:
        acquire_lock(run_dir, retry_s=0.2)
    assert f"pid {process.pid} on {socket.gethostname()}" in str(refused.value)
    assert refused.value.owner.argv == ["holder"]

    process.send_signal(signal.SIGKILL)  # died without releasing anything: only the stale record is left
    process.wait(timeout=10)
    assert read_owner(run_dir).pid == process.pid
    assert lock_state(run_dir) == LockState.FREE
    with acquire_lock(run_dir, argv=["me"]) as lock:
        assert lock.enforced and lock_state(run_dir) == LockState.HELD
        assert read_owner(run_dir).pid == os.getpid() and read_owner(run_dir).argv == ["me"]
    assert lock_state(run_dir) == LockState.FREE


def test_a_reader_testing_the_lock_never_makes_the_owner_fail(tmp_path):
    run_dir = tmp_path / "run"
    stop = time.monotonic() + 1.0
    with acquire_lock(run_dir):
        pass
    while time.monotonic() < stop:  # readers test it as fast as they can while the trainer takes it
        assert lock_state(run_dir) in (LockState.FREE, LockState.HELD)
        with acquire_lock(run_dir):
            assert lock_state(run_dir) == LockState.HELD


def test_the_progress_clock_follows_the_runs_own_pace():
    now = [100.0]
    clock = ProgressClock(clock=lambda: now[0])
    assert clock.reading() == (ev.Phase.SETUP, 100.0, WARMUP_ALLOWANCE_S)
    clock.enter(ev.Phase.TRAIN)
    now[0] += 600  # the first step compiles: a first stretch, not a gap
    clock.tick()
    assert clock.longest_gap_s == 0 and clock.stall_after_s() == STALL_FLOOR_S
    for _ in range(5):
        now[0] += 30
        clock.tick()
    assert clock.longest_gap_s == 30 and clock.stall_after_s() == 300  # 10 x the longest gap
    with clock.phase(ev.Phase.EVAL):
        assert clock.reading()[0] == ev.Phase.EVAL and clock.stall_after_s() == WARMUP_ALLOWANCE_S  # first eval
        now[0] += 100
        clock.tick()
    assert clock.current == ev.Phase.TRAIN and clock.stall_after_s() == 300
    assert ProgressClock(stall_after_s=7.0).stall_after_s() == 7.0  # the config key wins


def _live_run(run_dir: Path, *, progress_time: float, now: float, stall_after_s: float = 5.0) -> None:
    """A run whose process is alive (this test's), beating at `now` with its last progress at `progress_time`."""
    me = psutil.Process()
    run_dir.mkdir(parents=True)
    (run_dir / LAUNCH_FILE).write_text(json.dumps({"pid": me.pid, "create_time": me.create_time(), "cmdline": me.cmdline(),
                                                   "host": socket.gethostname(), "time": now - 100}))
    with EventWriter(run_dir) as writer:
        writer.write(ev.RunStart(time=now - 90, total_steps=100, host=socket.gethostname(), pid=me.pid))
        writer.write(ev.Train(time=progress_time, step=12, metrics={"lm_loss": 1.0}))
        writer.write(ev.Heartbeat(time=now - 1, step=12, phase=ev.Phase.TRAIN, progress_time=progress_time,
                                  stall_after_s=stall_after_s, interval_s=1.0))


def test_a_live_run_without_progress_is_stalled(tmp_path):
    now = time.time()
    _live_run(tmp_path / "moving", progress_time=now - 2, now=now)
    assert summarize_run(tmp_path / "moving", now=now).status == RunStatus.RUNNING

    _live_run(tmp_path / "frozen", progress_time=now - 60, now=now)
    summary = summarize_run(tmp_path / "frozen", now=now)
    assert summary.status == RunStatus.STALLED and summary.is_active
    assert summary.detail.startswith("no progress for 1m 00s (since ") and "in train at step 12" in summary.detail
    assert "stall_after_s=5" in summary.detail and summary.phase == ev.Phase.TRAIN and summary.step == 12


def test_the_lock_says_alive_or_gone(tmp_path, holder):
    now = time.time()
    run_dir = tmp_path / "by-hand"  # started by hand on another host's pid: only the lock can tell
    with EventWriter(run_dir) as writer:
        writer.write(ev.RunStart(time=now - 5000, total_steps=100, host="another-host", pid=4242))
        writer.write(ev.Heartbeat(time=now - 4000, step=3, progress_time=now - 4000, stall_after_s=10.0))
    process = holder(run_dir)
    held = summarize_run(run_dir, now=now)
    assert held.status == RunStatus.STALLED  # alive (the lock is held), no progress for an hour
    process.kill()
    process.wait(timeout=10)
    gone = summarize_run(run_dir, now=now)  # the lock is free and its last owner ran on this host
    assert gone.status == RunStatus.LOST


def test_a_run_is_going_again_while_a_newer_owner_holds_the_lock(tmp_path, holder):
    run_dir = tmp_path / "run"
    with EventWriter(run_dir) as writer:
        writer.write(ev.RunStart(time=time.time() - 100))
        writer.write(ev.RunEnd(time=time.time() - 50, step=5, status=RunStatus.STOPPED))
    assert summarize_run(run_dir).status == RunStatus.STOPPED
    holder(run_dir)  # a resume took the lock and has not logged its `resume` yet
    resuming = summarize_run(run_dir)
    assert resuming.status == RunStatus.RUNNING and resuming.detail == "resuming"


def test_what_holds_a_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in (LAUNCH_FILE, STDOUT_FILE, STDERR_FILE, LOCK_FILE):  # a launcher's files and a lock alone do not
        (run_dir / name).write_text("{}")
    (run_dir / "step_5").mkdir()  # an incomplete checkpoint does not either
    assert holds_run(run_dir) is None
    (run_dir / "step_5" / COMPLETE_MARKER).write_text("format 1\n")
    assert "1 checkpoint(s) (step_5)" in holds_run(run_dir)
    other = tmp_path / "other"
    with EventWriter(other) as writer:
        writer.write(ev.RunStart(time=1_700_000_000.0))
    assert holds_run(other).startswith("its events.jsonl records a run started ")
