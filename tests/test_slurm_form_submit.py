"""The launch form's SLURM target against the real two-node test cluster (tests/slurm_cluster.py): a 2-node x
1-process tiny run submitted from the form (Pilot) goes queued -> running on both nodes -> stopped; resumed as
the runs screen resumes it, it is resubmitted through the profile it was submitted with, and goes queued ->
running -> finished."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Select, TextArea

from hrm_core.rundir.events import Resume, RunEnd, RunStart
from hrm_core.rundir.files import LAUNCH_FILE, SLURM_FILE
from hrm_core.rundir.scheduler import JobState
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import summarize_run
from hrm_tui.runs.discovery import same_run
from hrm_tui.runs.resume import plan_resume, start_resume
from hrm_tui.cluster.submit import SubmittedJob
from tests.training_helpers import events_of
from tests.tui_launch_helpers import RUN_NAME, async_test, make_app, settle, wait_for

PROJECT = "Tiny ACT-torch"  # named after the dataset folder, as the trainer names it


@pytest.fixture(autouse=True)
def one_thread_no_compile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISABLE_COMPILE", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def wait_until(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@async_test
async def test_a_two_node_run_submitted_from_the_form_goes_queued_running_finished(slurm_cluster, tiny_data: Path,
                                                                                   tmp_path: Path, monkeypatch):
    run_dir = tmp_path / "checkpoints" / PROJECT / RUN_NAME
    app = make_app(tmp_path, preset="demo", runs_root=Path("checkpoints"))
    async with app.run_test(size=(160, 60)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        # Every edit is checked by the trainer's config code in a worker: type them all, then let it settle once.
        for key, text in (("data_path", str(tiny_data)), ("global_batch_size", "8"), ("epochs", "4"),
                          ("eval_interval", "2"), ("log_interval", "1")):
            screen.query_one(f"#field-{key}", Input).value = text
        # The options are one draft the panel and the screen pass back and forth: one change at a time, as keys come.
        screen.query_one("#opt-omp", Input).value = "1"
        await pilot.pause()
        screen.query_one("#opt-target", Select).value = "slurm"
        await pilot.pause()
        for editor, text in (("#opt-slurm-nodes", "2"), ("#opt-slurm-partition", "debug"), ("#opt-slurm-time", "10")):
            screen.query_one(editor, Input).value = text
            await pilot.pause()
        screen.query_one("#opt-slurm-sbatch-lines", TextArea).insert("--hold")  # held at first: the test sees it queued
        await settle(pilot, screen, timeout_s=240)
        assert screen.preview.launchable, screen.preview.problems
        script = screen.preview.script
        assert "#SBATCH --nodes=2" in script and "#SBATCH --hold" in script and "--rdzv-backend c10d" in script

        # The first job pauses 3 s at step 10 (a window to see it running) and stops at step 20, as a stop would.
        for name, value in (("HRM_TEST_HOLD_AT_STEP", "10"), ("HRM_TEST_HOLD_S", "3"), ("HRM_TEST_STOP_AT_STEP", "20")):
            monkeypatch.setenv(name, value)  # sbatch exports the environment it is run in
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: (run_dir / SLURM_FILE).exists(), 60, "the submission")
        await wait_for(pilot, lambda: app.runs_screen is not None and any(
            same_run(s.path, run_dir) for s in app.runs_screen.table.summaries), 30, "the run in the runs list")
        row = next(s for s in app.runs_screen.table.summaries if same_run(s.path, run_dir))
        job_id = json.loads((run_dir / SLURM_FILE).read_text())["job_id"]
        assert (row.status, row.job_id, row.reason) == (RunStatus.QUEUED, job_id, "JobHeldUser")
        assert (run_dir / "job.sbatch").read_text() == script  # what was shown is what was submitted
    # The target is recorded with the options: clone and resume keep it.
    options = json.loads((run_dir / LAUNCH_FILE).read_text())["options"]
    assert options["slurm"]["nodes"] == 2 and options["slurm"]["partition"] == "debug"

    slurm_cluster.run("scontrol", "release", job_id)
    running = wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.RUNNING and s.step and s, 120,
                         "the job to run and train")
    assert running.scheduler_state is JobState.RUNNING and running.nodes == "node[1-2]"
    stopped = wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.STOPPED and s, 180,
                         "the run to stop at step 20")
    assert stopped.step == 20 and not stopped.requeue_pending
    [start] = events_of(run_dir, RunStart)
    assert (start.world_size, start.job_id, start.job_segment) == (2, job_id, 0)

    # Resumed as the runs screen resumes it: resubmitted through the profile it was submitted with, a new job.
    plan = plan_resume(run_dir, stopped.overrides)
    assert plan.profile is not None and plan.profile.nodes == 2 and "#SBATCH --hold" in plan.script
    assert "sbatch" in plan.describe() and "#SBATCH --nodes=2" in plan.describe()
    job = start_resume(plan)
    assert isinstance(job, SubmittedJob) and job.job_id != job_id
    assert json.loads((run_dir / SLURM_FILE).read_text())["job_id"] == job.job_id
    assert summarize_run(run_dir).status is RunStatus.QUEUED  # held, as the profile says
    slurm_cluster.run("scontrol", "release", job.job_id)
    wait_until(lambda: summarize_run(run_dir).status is RunStatus.RUNNING, 120, "the resubmitted job to run")
    finished = wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.FINISHED and s, 180,
                          "the run to finish")
    assert finished.nodes == "node[1-2]" and finished.job_id == job.job_id
    assert len(list(run_dir.glob("events.jsonl*"))) == 1 and len(events_of(run_dir, RunEnd)) == 2
    [resume] = events_of(run_dir, Resume)
    assert (resume.job_id, resume.world_size, resume.step) == (job.job_id, 2, 20)
