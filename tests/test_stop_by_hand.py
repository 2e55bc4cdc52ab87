"""Stopping runs that hrm-tui did not launch (no launch.json), and torchrun runs, for real.

The real trainer is started by hand (`python -m hrm_core.pretrain`, or torchrun with two processes) from
its own folder; the runs screen (found through the index of runs) or `stop_run` stops it: every process
ends, the run ends `stopped` with a checkpoint. Where stopping is impossible (another host, an older log
without the process start time, a command line that is not the run's) the runs screen says why before
asking anything.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hrm_core.rundir import events
from hrm_core.rundir.status import RunStatus
from hrm_core.training.checkpoint import latest_checkpoint
from hrm_tui.runs.launcher import start
from hrm_tui.runs.process_control import StopError, find_run_processes, stop_run
from hrm_tui.screens.confirm import ConfirmScreen
from hrm_tui.screens.runs import RunsScreen
from tests.test_tui_launch_process import signals_received, stand_in_plan, wait_for_file
from tests.training_helpers import events_of, pretrain_argv, tiny_overrides, torchrun_argv, trainer_env, write_tiny_dataset
from tests.tui_launch_helpers import async_test, make_app, notifications, wait_for, write_events

LONG = dict(epochs=3000, eval_interval=1500)  # far longer than any test waits: only a stop ends it


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny-puzzles")


@pytest.fixture
def processes_to_kill():
    """Every process a test started (and its children) is gone when the test ends, whatever happened."""
    started: list[psutil.Process] = []
    yield started
    for process in started:
        try:
            family = [process, *process.children(recursive=True)]
        except psutil.Error:
            continue
        for member in family:
            try:
                member.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(family, timeout=10)


def start_by_hand(argv: list[str], cwd: Path, started: list[psutil.Process]) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    with open(cwd / "out.log", "wb") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=trainer_env(), stdout=out, stderr=subprocess.STDOUT)
    started.append(psutil.Process(process.pid))
    return process


def wait_until_training(run_dir: Path, process: subprocess.Popen, log: Path, steps: int = 3) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if (run_dir / "events.jsonl").exists() and len(events_of(run_dir, events.Train)) >= steps:
            return
        assert process.poll() is None, f"the trainer exited ({process.returncode}):\n{log.read_text()[-3000:]}"
        time.sleep(0.1)
    raise AssertionError("the run never started training")


def assert_stopped_with_checkpoint(run_dir: Path, world_size: int = 1) -> None:
    end = events_of(run_dir, events.RunEnd)[-1]
    assert end.status == RunStatus.STOPPED
    checkpoint = Path(events_of(run_dir, events.Checkpoint)[-1].path)
    assert latest_checkpoint(run_dir) == checkpoint
    assert all((checkpoint / f"rank_{rank}.pt").is_file() for rank in range(world_size))


@async_test
async def test_a_hand_started_run_is_stopped_from_the_runs_screen(tiny_data: Path, tmp_path: Path, processes_to_kill):
    run_dir = tmp_path / "scratch" / "by-hand"
    process = start_by_hand(pretrain_argv(tiny_overrides(tiny_data, run_dir, **LONG)), tmp_path / "elsewhere", processes_to_kill)
    wait_until_training(run_dir, process, tmp_path / "elsewhere" / "out.log")
    start_event = events_of(run_dir, events.RunStart)[0]
    assert start_event.pid == process.pid and start_event.create_time == pytest.approx(psutil.Process(process.pid).create_time())

    app = make_app(tmp_path, start_mode="runs", stop_grace_s=90)  # its runs root holds nothing: the index has the run
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.table.row_count == 1, 20, "the run")
        screen = app.screen
        assert screen.table.selected.path == run_dir and screen.table.selected.status is RunStatus.RUNNING
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 20, "the stop confirmation")
        assert "the trainer, started by hand" in app.screen._message
        await pilot.press("y")
        await wait_for(pilot, lambda: process.poll() is not None, 120, "the trainer to exit")
        await wait_for(pilot, lambda: any("stopped gracefully (SIGINT)" in n for n in notifications(app)), 20, "the result")
    assert process.returncode == 0
    assert_stopped_with_checkpoint(run_dir)


def test_a_hand_started_torchrun_run_is_stopped_on_every_rank(tiny_data: Path, tmp_path: Path, processes_to_kill):
    run_dir = tmp_path / "scratch" / "torchrun-by-hand"
    process = start_by_hand(torchrun_argv(2, tiny_overrides(tiny_data, run_dir, **LONG)), tmp_path / "elsewhere", processes_to_kill)
    wait_until_training(run_dir, process, tmp_path / "elsewhere" / "out.log")
    found = find_run_processes(run_dir)
    assert found is not None and found.torchrun and not found.launched and found.root.pid == process.pid
    workers = found.workers()
    assert len(workers) == 2 and events_of(run_dir, events.RunStart)[0].pid in {w.pid for w in workers}
    # torchrun put each worker in a session of its own: a signal to torchrun's group would not reach them.
    assert all(os.getsid(w.pid) == w.pid != os.getsid(process.pid) for w in workers)
    assert stop_run(run_dir, grace_s=120) == "stopped gracefully (SIGINT)"
    assert process.wait(timeout=30) == 0
    assert not any(w.alive() for w in workers)
    assert_stopped_with_checkpoint(run_dir, world_size=2)


def test_torchrun_workers_that_ignore_every_signal_are_killed_too(tmp_path: Path, processes_to_kill):
    """A stop that leaves workers running would be a lie: SIGKILL reaches each worker's own session."""
    from hrm_tui.launch_plan import torchrun_prefix

    prefix = torchrun_prefix() + ["--standalone", "--nproc-per-node", "2"]
    record = start(stand_in_plan(tmp_path, "ignore-all", argv_prefix=prefix))
    processes_to_kill.append(psutil.Process(record.pid))
    wait_for_file(tmp_path / "ready-0", timeout_s=60)
    wait_for_file(tmp_path / "ready-1", timeout_s=60)
    found = find_run_processes(tmp_path / "run")
    workers = found.workers()
    assert found.launched and found.torchrun and len(workers) == 2
    progress: list[str] = []
    assert stop_run(tmp_path / "run", grace_s=1, kill_after_s=2, on_progress=progress.append) == "killed (SIGKILL)"
    assert not any(w.alive() for w in workers) and not found.root.alive()
    assert signals_received(tmp_path, "0")[0] == "SIGINT" and signals_received(tmp_path, "1")[0] == "SIGINT"
    assert any("SIGKILL" in line for line in progress)


def a_hand_started_log(run_dir: Path, **start: object) -> None:
    me = psutil.Process()
    fields = {"host": socket.gethostname(), "pid": me.pid, "create_time": me.create_time(),
              "argv": [sys.executable, "-m", "hrm_core.pretrain", f"checkpoint_path={run_dir}"]}
    fields.update(start)
    fields = {key: value for key, value in fields.items() if value is not None}  # None: left out
    write_events(run_dir, [{"type": "run_start", "time": time.time(), "total_steps": 10, **fields},
                           {"type": "heartbeat", "time": time.time() + 3600, "step": 1, "progress_time": time.time() + 3600}])


@pytest.mark.parametrize(("start", "why"), [
    ({"host": "gpu-far-away"}, "it runs on gpu-far-away, not on this host"),
    ({"create_time": None}, "not the process's start time"),
    ({}, "is not the one the run recorded"),  # this test process: same pid and start time, not the trainer
    ({"pid": None}, "records no trainer process"),
])
def test_why_a_hand_started_run_cannot_be_stopped(tmp_path: Path, start: dict, why: str):
    a_hand_started_log(tmp_path / "run", **start)
    with pytest.raises(StopError, match=why):
        find_run_processes(tmp_path / "run")


def test_a_hand_started_run_whose_pid_was_reused_is_not_running(tmp_path: Path):
    a_hand_started_log(tmp_path / "run", create_time=psutil.Process().create_time() - 1000)
    assert find_run_processes(tmp_path / "run") is None
    assert stop_run(tmp_path / "run") == "the run's process is not running"


@async_test
async def test_the_runs_screen_says_why_before_asking(tmp_path: Path):
    a_hand_started_log(tmp_path / "checkpoints" / "p" / "far", host="gpu-far-away")
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.table.row_count == 1, 20, "the run")
        await pilot.press("s")
        await wait_for(pilot, lambda: any("cannot be stopped from here" in n for n in notifications(app)), 20, "the reason")
        [message] = [n for n in notifications(app) if "cannot be stopped" in n]
        assert "it runs on gpu-far-away, not on this host" in message and "kill -INT" in message
        await pilot.pause(0.3)
        assert isinstance(app.screen, RunsScreen)  # nothing was asked


SETTING_UP = """
import fcntl, json, os, signal, socket, sys, time
run_dir = sys.argv[1].split("=", 1)[1]
os.makedirs(run_dir, exist_ok=True)
fd = os.open(os.path.join(run_dir, "run.lock"), os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "start_time": time.time(),
                         "argv": [sys.executable, "-m", "hrm_core.pretrain", *sys.argv[1:]]}).encode())
def stop(signum, frame):
    open(os.path.join(run_dir, "got-" + signal.Signals(signum).name), "w").close()
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
open(os.path.join(run_dir, "ready"), "w").close()
while True:
    time.sleep(0.05)
"""


def test_a_hand_started_run_still_setting_up_is_found_through_the_lock_it_holds(tmp_path: Path, processes_to_kill):
    """Before its run_start (loading data, compiling: up to half an hour), a trainer is known by the owner
    lock it holds. A stand-in `hrm_core.pretrain` (shadowing the real one from its working folder) takes the
    lock and records itself as the trainer does, and never gets further."""
    stand_in = tmp_path / "cwd" / "hrm_core"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text("")
    (stand_in / "pretrain.py").write_text(SETTING_UP)
    run_dir = tmp_path / "run"
    process = start_by_hand([sys.executable, "-m", "hrm_core.pretrain", f"checkpoint_path={run_dir}"], tmp_path / "cwd", processes_to_kill)
    deadline = time.monotonic() + 30
    while not (run_dir / "ready").exists():
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "cwd" / "out.log").read_text()
        time.sleep(0.05)
    found = find_run_processes(run_dir)
    assert found is not None and found.root.pid == process.pid and not found.torchrun and not found.launched
    assert stop_run(run_dir, grace_s=20) == "stopped gracefully (SIGINT)"
    assert process.wait(timeout=10) == 0 and (run_dir / "got-SIGINT").exists()
    # Once it is gone (the lock free), nothing names a process: it cannot be stopped, and says why.
    with pytest.raises(StopError, match="no live trainer holds its lock"):
        find_run_processes(run_dir)
