"""One build per dataset folder (the writer's build lock), and builds that stop cleanly on a signal: real
builder processes, real signals (hrm_core/data/dataset_writer.py, interrupts.py, builder_cli.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from hrm_core.data.format import array_path
from hrm_core.data.dataset_writer import BuildInProgressError, BuildLock, build_in_progress, build_lock_path, temp_dirs
from tests.build_helpers import stand_in_argv, wait_for_path
from tests.test_data_writer import write_small


@pytest.fixture()
def builders():
    """Builder processes a test started; any still running at the end are killed (by their group)."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start(argv: list[str], builders: list) -> subprocess.Popen:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    builders.append(process)
    return process


def test_a_second_build_of_the_same_folder_is_refused_and_sigterm_leaves_nothing(tmp_path: Path, builders):
    out = tmp_path / "d"
    write_small(out, rows=5)  # an older complete build, to be kept
    first = start(stand_in_argv(tmp_path, out), builders)
    wait_for_path(tmp_path / "d.ready")
    assert len(temp_dirs(out)) == 1

    holder = build_in_progress(out)
    assert holder is not None and holder.pid == first.pid and holder.is_running()
    assert str(out) in holder.argv  # the lock file names the builder's command line
    # In this process, and from another builder process: refused, naming the first.
    with pytest.raises(BuildInProgressError, match=f"pid {first.pid}"):
        write_small(out, rows=7)
    second = subprocess.run(stand_in_argv(tmp_path, out), capture_output=True, text=True, timeout=60)
    assert second.returncode == 2 and f"being built by another process (pid {first.pid})" in second.stderr
    assert "Traceback" not in second.stderr

    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=30)
    assert first.returncode == 128 + signal.SIGTERM and "interrupted (SIGTERM); nothing was written" in stderr
    assert temp_dirs(out) == [] and not build_lock_path(out).exists() and build_in_progress(out) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "d.ready", "stand_in_builder.py"]
    assert np.load(array_path(out / "train", "all", "inputs")).shape == (5, 4)  # the older build is intact


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
def test_ctrl_c_and_hangup_clean_up_too(tmp_path: Path, builders, signum):
    out = tmp_path / "d"
    process = start(stand_in_argv(tmp_path, out), builders)
    wait_for_path(tmp_path / "d.ready")
    process.send_signal(signum)
    process.communicate(timeout=30)
    assert process.returncode == 128 + signum
    assert not out.exists() and temp_dirs(out) == [] and build_in_progress(out) is None


def test_the_temporary_folder_of_a_killed_builder_goes_with_the_next_build(tmp_path: Path, builders):
    out = tmp_path / "d"
    process = start(stand_in_argv(tmp_path, out), builders)
    wait_for_path(tmp_path / "d.ready")
    os.killpg(process.pid, signal.SIGKILL)  # no handler runs: the folder stays
    process.wait()
    assert len(temp_dirs(out)) == 1
    assert build_in_progress(out) is None  # the kernel dropped the lock with the process
    write_small(out, rows=3)
    assert temp_dirs(out) == [] and np.load(array_path(out / "train", "all", "inputs")).shape == (3, 4)


def test_a_real_builder_stops_at_once_on_sigterm_while_its_workers_generate(tmp_path: Path, builders):
    """The Sudoku generator's process pool: a cancel must not wait for the queued puzzles."""
    out = tmp_path / "sudoku-extreme-1k-aug-10"
    argv = [sys.executable, "-m", "hrm_core.data.build_sudoku_dataset", "--output-dir", str(out), "--subsample-size", "1000", "--workers", "2"]
    process = start(argv, builders)
    deadline = time.monotonic() + 60
    while build_in_progress(out) is None:
        assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGTERM)  # the builder only, as `kill PID` from a shell would
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert not out.exists() and temp_dirs(out) == [] and build_in_progress(out) is None
    assert not running_with(out)  # no worker outlives it


def running_with(path: Path) -> list[psutil.Process]:
    """Live processes (zombies aside) whose command line names `path`."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] != psutil.STATUS_ZOMBIE and str(path) in " ".join(proc.info["cmdline"] or ()):
            found.append(proc)
    return found


def test_the_generator_workers_end_with_a_killed_builder(tmp_path: Path, builders):
    """SIGKILL of the builder alone (no cleanup can run): its pool's workers still go (PR_SET_PDEATHSIG)."""
    out = tmp_path / "sudoku-extreme-1k-aug-10"
    argv = [sys.executable, "-m", "hrm_core.data.build_sudoku_dataset", "--output-dir", str(out), "--subsample-size", "1000", "--workers", "2"]
    process = start(argv, builders)
    deadline = time.monotonic() + 60
    while len(psutil.Process(process.pid).children()) < 2:
        assert time.monotonic() < deadline and process.poll() is None, "the workers did not start"
        time.sleep(0.05)
    time.sleep(0.5)  # past their initializer
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while running_with(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running_with(out)


def test_the_lock_is_reentrant_within_a_process(tmp_path: Path):
    out = tmp_path / "d"
    with BuildLock(out):
        write_small(out, rows=2)  # the writer inside takes the same lock again without blocking itself
        holder = build_in_progress(out)
        assert holder is not None and holder.pid == os.getpid()  # as another process would see it
    assert build_in_progress(out) is None and not build_lock_path(out).exists()


def test_a_builder_called_in_process_leaves_the_signal_handlers_as_they_were(tmp_path: Path):
    from hrm_core.data.builder_cli import run_builder

    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    run_builder(lambda: write_small(tmp_path / "d", rows=2), output_dir=tmp_path / "d")
    assert {signum: signal.getsignal(signum) for signum in before} == before
    assert np.load(array_path(tmp_path / "d" / "train", "all", "inputs")).shape == (2, 4)


def test_a_stop_signal_during_a_fork_is_not_lost():
    """A raise from a signal handler inside os.fork's hooks would be swallowed by Python ("Exception ignored"):
    the signal is kept and raised at the builder's next progress step instead. The fork hooks are called by
    hand here; the Sudoku generator's pool forks its workers right at the start, when a cancel often comes."""
    from hrm_core.data import interrupts
    from hrm_core.data.builder_cli import progress

    with interrupts.catch_build_signals():
        interrupts._before_fork()  # as os.fork does before forking
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler has run, and raised nothing
        interrupts._after_fork()
        with pytest.raises(interrupts.BuildInterrupted) as raised:
            with progress("generating", 10) as advance:
                advance(1)
        assert raised.value.signum == signal.SIGTERM
    interrupts.raise_if_interrupted()  # outside a build: nothing pending, nothing raised
