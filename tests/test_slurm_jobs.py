"""SLURM runs on a real two-node cluster (tests/slurm_cluster.py, the `slurm_cluster` fixture): submitted with
`hrm-tui launch --slurm`, watched through the scheduler in `hrm-tui runs` and the runs screen, stopped
through scancel, and refused by sbatch with its own error. docs/clusters.md describes what is tested here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hrm_core.rundir.events import Eval, RunStart
from hrm_core.rundir.files import BATCH_SCRIPT_FILE, SLURM_FILE, STOP_REQUEST_FILE
from hrm_core.rundir.checkpoints import list_checkpoints
from hrm_core.rundir.scheduler import JobSource, JobState
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import summarize_run
from hrm_tui.cli import main as hrm_tui_main
from hrm_tui.screens.confirm import ConfirmScreen
from hrm_tui.screens.runs import RunsScreen
from tests.training_helpers import TINY_ARCH, events_of
from tests.tui_launch_helpers import async_test, make_app, wait_for

POLL_S = 0.2


def run_overrides(data: Path, run_dir: Path, *, epochs: int = 4, eval_interval: int = 2, extra: tuple[str, ...] = ()) -> list[str]:
    """The tiny run of tests/training_helpers.py (global batch 20: whole slices for 1, 2 or 5 processes),
    without torch.compile, one thread per process, a short stall limit."""
    return [f"data_path={data}", f"checkpoint_path={run_dir}", *TINY_ARCH, "global_batch_size=20", f"epochs={epochs}",
            f"eval_interval={eval_interval}", "lr=1e-3", "lr_warmup_steps=10", "log_interval=1", *extra]


def hrm_tui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", DISABLE_COMPILE="1")
    return subprocess.run([sys.executable, "-m", "hrm_tui", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def submit_in_process(args: list[str], cwd: Path, capsys: pytest.CaptureFixture[str] | None = None) -> int:
    """`hrm-tui launch ...` through the CLI's own entry point, in this process (cheaper than a subprocess)."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return hrm_tui_main(["launch", *args])
    finally:
        os.chdir(old)


def runs_json(cwd: Path) -> dict[str, dict]:
    result = hrm_tui("runs", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return {Path(run["path"]).name: run for run in map(json.loads, result.stdout.splitlines())}


def wait_until(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(POLL_S)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def job_id_of(run_dir: Path) -> str:
    return json.loads((run_dir / SLURM_FILE).read_text())["job_id"]


@pytest.fixture(autouse=True)
def no_compile(monkeypatch, tmp_path):
    monkeypatch.setenv("DISABLE_COMPILE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no test reads the user's cluster profiles


def test_a_two_node_run_goes_queued_running_finished(slurm_cluster, tiny_data: Path, tmp_path: Path):
    run_dir = tmp_path / "two-nodes"
    result = hrm_tui("launch", "--slurm", "--nodes", "2", "--nproc-per-node", "1", "--partition", "debug",
                     "--time", "10", "--sbatch-line=--hold", *run_overrides(tiny_data, run_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    job_id = job_id_of(run_dir)
    assert f"submitted job {job_id}" in result.stdout
    assert (run_dir / BATCH_SCRIPT_FILE).read_text().startswith("#!/bin/bash\n")

    held = runs_json(tmp_path)["two-nodes"]  # listed at once, queued with the scheduler's reason
    assert (held["status"], held["job_id"], held["scheduler_state"]) == ("queued", job_id, "queued")
    assert held["reason"] == "JobHeldUser" and held["scheduler_source"] == "squeue"
    table = hrm_tui("runs", cwd=tmp_path).stdout
    assert "JOB" in table.splitlines()[0] and f"{job_id} queued JobHeldUser (squeue)" in table

    slurm_cluster.run("scontrol", "release", job_id)
    running = wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.RUNNING and s.step and s, 120,
                         "the job to run and train")
    assert running.scheduler_state is JobState.RUNNING and running.nodes == "node[1-2]"
    finished = wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.FINISHED and s, 180, "the run to finish")
    assert finished.nodes == "node[1-2]" and finished.scheduler_state in (JobState.RUNNING, JobState.FINISHED)
    assert len(list(run_dir.glob("events.jsonl*"))) == 1
    starts = events_of(run_dir, RunStart)
    assert len(starts) == 1 and starts[0].world_size == 2
    done = wait_until(lambda: (run := runs_json(tmp_path)["two-nodes"])["scheduler_state"] == "finished" and run, 60,
                      "the job to end")
    assert (done["status"], done["nodes"], done["job_id"]) == ("finished", "node[1-2]", job_id)
    assert "[hrm] run finished" in (run_dir / "stdout.log").read_text()  # the job's output is in the run directory


@async_test
async def test_a_job_waiting_for_its_begin_time_is_queued_with_its_reason_and_stop_cancels_it(
        slurm_cluster, tiny_data: Path, tmp_path: Path):
    run_dir = tmp_path / "checkpoints" / "later"
    assert submit_in_process(["--slurm", "--sbatch-line=--begin=now+1hour",
                              *run_overrides(tiny_data, run_dir)], tmp_path) == 0
    job_id = job_id_of(run_dir)
    run = runs_json(tmp_path)["later"]
    assert (run["status"], run["scheduler_state"], run["reason"]) == ("queued", "queued", "BeginTime")
    assert 3000 < run["expected_start"] - time.time() < 3700  # the scheduler's estimate: in an hour

    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.table.row_count == 1, 30,
                       "the queued run in the list")
        screen = app.screen
        summary = screen.table.selected
        assert summary.status is RunStatus.QUEUED and summary.reason == "BeginTime"
        await pilot.pause()
        shown = str(screen.query_one("#run-detail").render())
        assert f"SLURM job {job_id} queued BeginTime (squeue)" in shown and "waiting (BeginTime)" in shown
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 20, "the stop confirmation")
        assert f"SLURM job {job_id}, queued" in app.screen._message
        await pilot.press("y")
        await wait_for(pilot, lambda: summarize_run(run_dir).status is RunStatus.STOPPED, 60, "the job to be cancelled")
    stopped = summarize_run(run_dir)
    assert stopped.scheduler_state is JobState.CANCELLED and (run_dir / STOP_REQUEST_FILE).exists()
    assert runs_json(tmp_path)["later"]["status"] == "stopped"


@async_test
async def test_stop_on_a_running_two_node_job_saves_a_checkpoint_and_ends_stopped(slurm_cluster, tiny_data: Path,
                                                                                  tmp_path: Path):
    run_dir = tmp_path / "checkpoints" / "long"
    assert submit_in_process(["--slurm", "--nodes", "2", *run_overrides(tiny_data, run_dir, epochs=400, eval_interval=40)],
                             tmp_path) == 0
    wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.RUNNING and (s.step or 0) >= 30, 180,
               "the job to train a few steps")
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.table.row_count == 1, 30,
                       "the running run in the list")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 20, "the stop confirmation")
        assert "its trainer gets SIGINT through scancel" in app.screen._message
        await pilot.press("y")
        await wait_for(pilot, lambda: summarize_run(run_dir).status is RunStatus.STOPPED, 120, "the run to stop")
    evals = [e.step for e in events_of(run_dir, Eval)]
    newest_checkpoint = list_checkpoints(run_dir)[-1][0]
    assert newest_checkpoint > max(evals, default=0)  # saved on the stop, after the last evaluation
    ends = [e for e in events_of(run_dir) if type(e).__name__ == "RunEnd"]
    assert [e.status for e in ends] == [RunStatus.STOPPED]
    wait_until(lambda: summarize_run(run_dir).scheduler_state not in (JobState.RUNNING, None), 60, "the job to end")
    assert summarize_run(run_dir).status is RunStatus.STOPPED


def test_a_sigstopped_trainer_is_stalled_and_a_killed_job_is_never_running(slurm_cluster, tiny_data: Path, tmp_path: Path):
    run_dir = tmp_path / "frozen"
    extra = ("stall_after_s=3", "heartbeat_interval_s=1")
    assert submit_in_process(["--slurm", *run_overrides(tiny_data, run_dir, epochs=400, eval_interval=400, extra=extra)],
                             tmp_path) == 0
    job_id = job_id_of(run_dir)
    wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.RUNNING and (s.step or 0) >= 5, 120,
               "the job to train")
    trainer = events_of(run_dir, RunStart)[0].pid
    os.kill(trainer, signal.SIGSTOP)  # the job stays RUNNING; its heartbeat stops
    try:
        stalled = wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.STALLED and s, 30, "stalled")
        assert stalled.scheduler_state is JobState.RUNNING and "no progress for" in stalled.detail
    finally:
        slurm_cluster.run("scancel", "--signal=KILL", job_id)
    ended = wait_until(lambda: (s := summarize_run(run_dir)).scheduler_state not in (JobState.RUNNING, None) and s, 60,
                       "the killed job to end")
    assert ended.status is RunStatus.FAILED and ended.scheduler_state in (JobState.CANCELLED, JobState.FAILED)
    assert f"job {job_id}" in ended.detail
    assert runs_json(tmp_path)["frozen"]["status"] == "failed"


@pytest.mark.parametrize(
    ("flags", "field", "said"),
    [
        (["--partition", "nope"], "partition", "invalid partition"),
        (["--nodes", "5"], "nodes", "More processors requested than permitted"),
        (["--time", "soon"], "time_limit", "Invalid --time specification"),
    ],
)
def test_sbatch_refusals_are_named_and_leave_no_run(slurm_cluster, tiny_data: Path, tmp_path: Path, capsys, flags,
                                                    field, said):
    run_dir = tmp_path / "refused" / "run"
    assert submit_in_process(["--slurm", *flags, *run_overrides(tiny_data, run_dir)], tmp_path) == 2
    err = capsys.readouterr().err
    assert f"sbatch refused the job (profile field {field})" in err and said in err and "Traceback" not in err
    assert not (tmp_path / "refused").exists()  # what the submission made is gone again
    assert runs_json(tmp_path) == {}
