"""Faults with the real trainer on real file systems and processes (issue 10, items 5 and 6):

- a full disk (a 3 MB tmpfs) during a checkpoint and while writing events: a clear error naming the disk
  and the file, no half-written folder left, every events line whole, and resume=auto continues once space
  is freed;
- a read-only mount: pretrain (new run and resume) and evaluate refuse with exit 2, naming the path and the
  fix, without a traceback;
- a frozen rank under torchrun (SIGSTOP): summarize_run reports `stalled` within stall_after_s plus a few
  seconds, and `running` again once it continues; a stopped rank 0 (no heartbeats at all) too.

Mounting needs root (CI runs as root); where it is impossible the mount tests skip and say why.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hrm_core.rundir import events as ev
from hrm_core.rundir.checkpoints import list_checkpoints
from hrm_core.rundir.errors import RunDirError
from hrm_core.rundir.files import EVENTS_FILE
from hrm_core.rundir.reader import read_events
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import summarize_run
from hrm_core.rundir.writer import EventWriter
from tests.training_helpers import (
    events_of, fill_disk, mounted_tmpfs, pretrain_argv, remount_read_only, run_trainer, tiny_overrides,
    torchrun_argv, trainer_env,
)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _assert_every_line_whole(run_dir: Path, *, damaged_at_most: int) -> None:
    data = (run_dir / EVENTS_FILE).read_bytes()
    assert data.endswith(b"\n"), "events.jsonl ends mid-line"
    log = read_events(run_dir)
    assert sum(log.skipped.values()) <= damaged_at_most, dict(log.skipped)
    assert len(log) + sum(log.skipped.values()) == data.count(b"\n")


def test_a_full_disk_during_a_checkpoint(tiny_data, finished_tiny_run, tmp_path):
    checkpoint_size = _size(finished_tiny_run / "step_22")
    with mounted_tmpfs(tmp_path / "disk", "3M") as disk:
        run_dir = disk / "run"
        # Room for the first checkpoint and the events, not for a second checkpoint next to it.
        filler = fill_disk(disk, leave=int(1.5 * checkpoint_size))
        overrides = tiny_overrides(tiny_data, run_dir, "checkpoint_interval=10", "keep_last_checkpoints=1")
        result = run_trainer(pretrain_argv(overrides))
        assert result.returncode == 1, result.stderr[-3000:]
        assert "Traceback" not in result.stderr and "unexpected pos" not in result.stderr
        assert f"cannot write {run_dir / '.tmp_step_20'}" in result.stderr and "the disk is full" in result.stderr
        assert "the previous checkpoint, step_10, is intact" in result.stderr and "resume=auto" in result.stderr
        assert not list(run_dir.glob(".tmp_step_*")) and [s for s, _ in list_checkpoints(run_dir)] == [10]
        _assert_every_line_whole(run_dir, damaged_at_most=0)
        end = events_of(run_dir, ev.RunEnd)[-1]
        assert end.status == RunStatus.FAILED and end.step == 20 and "the disk is full" in end.error

        filler.unlink()  # space freed: the run continues from its last checkpoint
        resumed = run_trainer(pretrain_argv([*overrides, "resume=auto"]))
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert events_of(run_dir, ev.Resume)[-1].step == 10
        assert events_of(run_dir, ev.RunEnd)[-1].status == RunStatus.FINISHED
        _assert_every_line_whole(run_dir, damaged_at_most=0)


def test_a_full_disk_while_writing_events(tiny_data, tmp_path):
    with mounted_tmpfs(tmp_path / "disk", "3M") as disk:
        # The writer alone: a clear error, then the next event still starts a line of its own.
        writer = EventWriter(disk / "unit")
        filler = fill_disk(disk, leave=0)
        with pytest.raises(RunDirError) as full:
            for step in range(1, 100_000):
                writer.write(ev.Train(step=step, metrics={"lm_loss": 0.5}, lr=1e-3))
        assert f"cannot write {disk / 'unit' / EVENTS_FILE}: the disk is full" in str(full.value)
        filler.unlink()
        writer.write(ev.Heartbeat(step=10**6))
        writer.close()
        _assert_every_line_whole(disk / "unit", damaged_at_most=1)
        assert isinstance(read_events(disk / "unit").events[-1], ev.Heartbeat)

        # The trainer: fails with the same clear error; a later run on the freed disk writes whole lines.
        run_dir = disk / "run"
        filler = fill_disk(disk, leave=24 * 1024)  # the run files and a few steps: full before the first checkpoint
        result = run_trainer(pretrain_argv(tiny_overrides(tiny_data, run_dir)))
        assert result.returncode == 1, result.stderr[-3000:]
        assert f"cannot write {run_dir / EVENTS_FILE}: the disk is full" in result.stderr and "Traceback" not in result.stderr
        filler.unlink()
        again = run_trainer(pretrain_argv(tiny_overrides(tiny_data, run_dir, "resume=auto", epochs=2, eval_interval=2)))
        assert again.returncode == 0, again.stderr[-3000:]
        _assert_every_line_whole(run_dir, damaged_at_most=1)  # the line the full disk cut short, now terminated
        log = read_events(run_dir)
        assert len(log.of_type(ev.RunStart)) == 2  # the new run's start was not merged into the damaged line
        assert log.events[-1].status == RunStatus.FINISHED


def test_a_read_only_run_directory(tiny_data, finished_tiny_run, tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "3M") as mount:
        shutil.copytree(finished_tiny_run, mount / "run")
        remount_read_only(mount)
        run_dir = mount / "run"
        fresh = run_trainer(pretrain_argv(tiny_overrides(tiny_data, mount / "new")))
        resume = run_trainer(pretrain_argv([*tiny_overrides(tiny_data, run_dir, epochs=4, eval_interval=2), f"resume={run_dir}"]))
        evaluate = subprocess.run([sys.executable, "-m", "hrm_core.evaluate", f"checkpoint={run_dir}"], env=trainer_env(),
                                  capture_output=True, text=True, timeout=180)
        for result, path, fix in ((fresh, mount / "new", "choose a writable checkpoint_path"),
                                  (resume, run_dir / "run.lock", "copy it somewhere writable and resume the copy"),
                                  (evaluate, run_dir / "eval_step_22", "pass output_dir=DIR")):
            assert result.returncode == 2, result.stderr[-3000:]
            assert f"cannot write {path}" in result.stderr and "read-only file system" in result.stderr, result.stderr
            assert fix in result.stderr and "Traceback" not in result.stderr

        out = tmp_path / "results"
        elsewhere = subprocess.run([sys.executable, "-m", "hrm_core.evaluate", f"checkpoint={run_dir}", f"output_dir={out}",
                                    "save_outputs=[]"], env=trainer_env(), capture_output=True, text=True, timeout=180)
        assert elsewhere.returncode == 0, elsewhere.stderr[-3000:]
        assert (out / "eval_step_22" / "eval_results.json").is_file()


def _rank_processes(torchrun: psutil.Process) -> dict[int, psutil.Process]:
    ranks = {}
    for child in torchrun.children(recursive=True):
        try:
            rank = child.environ().get("RANK")
        except psutil.Error:
            continue
        if rank is not None and "hrm_core.pretrain" in " ".join(child.cmdline()):
            ranks[int(rank)] = child
    return ranks


def _wait_for_status(run_dir: Path, status: RunStatus, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if summarize_run(run_dir).status == status:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"not {status} after {timeout:.0f}s: {summarize_run(run_dir)}")


def test_a_frozen_rank_is_reported_stalled(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    stall_after_s = 4.0
    overrides = tiny_overrides(tiny_data, run_dir, f"stall_after_s={stall_after_s}", "heartbeat_interval_s=0.5", epochs=4000,
                               eval_interval=4000)
    process = subprocess.Popen(torchrun_argv(2, overrides), env=trainer_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    ranks: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 120
        while len(read_events(run_dir).of_type(ev.Train)) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _wait_for_status(run_dir, RunStatus.RUNNING, 30) >= 0
        ranks = _rank_processes(psutil.Process(process.pid))
        assert set(ranks) == {0, 1}, ranks

        ranks[1].send_signal(signal.SIGSTOP)  # rank 0 keeps beating, but waits for rank 1 at its next step
        took = _wait_for_status(run_dir, RunStatus.STALLED, stall_after_s + 30)
        assert took <= stall_after_s + 8, f"reported stalled {took:.1f}s after the stop"
        summary = summarize_run(run_dir)
        assert "no progress for" in summary.detail and "in train" in summary.detail
        assert summary.last_event_time > summary.last_progress_time  # the heartbeats went on

        ranks[1].send_signal(signal.SIGCONT)
        _wait_for_status(run_dir, RunStatus.RUNNING, 30)

        ranks[0].send_signal(signal.SIGSTOP)  # no heartbeats at all now, but the process (and its lock) is alive
        took = _wait_for_status(run_dir, RunStatus.STALLED, stall_after_s + 30)
        assert took <= stall_after_s + 8, f"reported stalled {took:.1f}s after the stop"
    finally:
        # torchrun starts each worker in a session of its own: signal every one of them, not only its group.
        try:
            everyone = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        except psutil.Error:
            everyone = []
        everyone += [p for p in ranks.values() if p not in everyone]
        for sig in (signal.SIGCONT, signal.SIGKILL):
            for proc in everyone:
                try:
                    proc.send_signal(sig)
                except psutil.Error:
                    pass
        process.wait(timeout=30)
        psutil.wait_procs(everyone, timeout=30)  # dead, and their descriptors (the lock) closed
    assert summarize_run(run_dir).status == RunStatus.LOST  # killed: no run_end, nobody holds the lock
