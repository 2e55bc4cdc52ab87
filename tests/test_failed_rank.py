"""A failed torchrun run is known by the error of the rank that failed first, not by rank 0's consequence.

The real trainer under `torchrun --nproc-per-node 2` with rank 1 raising at step 5: rank 1 records its
error (failure_rank_1.json), rank 0 fails next in a collective ("Connection closed by peer") and records that
in run_end. `summarize_run`, `hrm-tui runs`, the runs screen and the monitor's alert all show rank 1's error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hrm_core.rundir import events
from hrm_core.rundir.failures import read_rank_failures, root_cause
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import summarize_run
from hrm_tui.widgets.monitor.alerts import AlertBanner
from tests.training_helpers import events_of, run_trainer, tiny_overrides, torchrun_argv, trainer_env, write_tiny_dataset
from tests.tui_launch_helpers import write_events, write_launch
from tests.tui_monitor_helpers import MonitorHost, as_text, fast_settings, pilot_test, wait_for

INJECTED = "RuntimeError: HRM_TEST_CRASH_AT_STEP: a crash injected at step 5"


@pytest.fixture(scope="module")
def rank_1_failed(tmp_path_factory) -> Path:
    """A real 2-process torchrun run whose rank 1 raised at step 5 (stderr captured as hrm-tui captures it)."""
    base = tmp_path_factory.mktemp("failed-rank")
    data = write_tiny_dataset(base / "data")
    run_dir = base / "run"
    run_dir.mkdir()
    with open(run_dir / "stderr.log", "wb") as stderr:
        result = subprocess.run(torchrun_argv(2, tiny_overrides(data, run_dir)), env=trainer_env(
            HRM_TEST_CRASH_AT_STEP="5", HRM_TEST_CRASH_RANK="1"), stdout=subprocess.DEVNULL, stderr=stderr, timeout=240)
    assert result.returncode != 0
    return run_dir


def test_the_failing_rank_records_its_error_and_is_the_root_cause(rank_1_failed: Path):
    end = events_of(rank_1_failed, events.RunEnd)[-1]
    assert end.status == RunStatus.FAILED and INJECTED not in end.error  # rank 0 saw only the consequence
    failures = read_rank_failures(rank_1_failed)
    assert failures[0].rank == 1 and INJECTED in failures[0].error and failures[0].step == 5
    assert all(f.pid and f.host and f.time for f in failures)
    summary = summarize_run(rank_1_failed)
    assert summary.status is RunStatus.FAILED and summary.failed_rank == 1
    assert summary.detail == f"rank 1: {INJECTED}"
    assert "Traceback (most recent call last)" in summary.error and INJECTED in summary.error


def test_hrm_tui_runs_shows_the_failing_rank(rank_1_failed: Path, tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "hrm_tui", "runs", "--runs-root", str(rank_1_failed.parent)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    [row] = [line for line in result.stdout.splitlines() if line.startswith("run ")]
    assert " failed " in row and row.endswith(f"rank 1: {INJECTED}")


@pilot_test
async def test_the_monitor_alert_shows_the_failing_rank(rank_1_failed: Path):
    app = MonitorHost(rank_1_failed, settings=fast_settings())
    async with app.run_test(size=(120, 40)) as pilot:
        banner = app.monitor.query_one(AlertBanner)
        await wait_for(pilot, lambda: any("rank 1" in a.title for a in banner.alerts), what="the failed-run alert")
        text = as_text(banner.render())
        assert f"Run failed on rank 1: {INJECTED}" in text
        assert "no error text" not in text


def test_a_failure_record_of_an_earlier_session_is_not_this_sessions_cause(tmp_path: Path):
    t0 = 1735725600.0
    (tmp_path / "failure_rank_1.json").write_text(json.dumps({"rank": 1, "time": t0 + 10, "step": 3, "error": "old: boom"}))
    write_events(tmp_path, [{"type": "run_start", "time": t0, "world_size": 2},
                            {"type": "run_end", "time": t0 + 11, "step": 3, "status": "failed", "error": "peer closed"},
                            {"type": "resume", "time": t0 + 100, "step": 3, "world_size": 2},
                            {"type": "run_end", "time": t0 + 200, "step": 9, "status": "failed", "error": "ValueError: new"}])
    summary = summarize_run(tmp_path)
    assert summary.detail == "ValueError: new" and summary.failed_rank is None
    # A record whose file name and rank disagree, or that is not a record, is left out.
    (tmp_path / "failure_rank_2.json").write_text(json.dumps({"rank": 5, "time": t0 + 150, "error": "x"}))
    (tmp_path / "failure_rank_3.json").write_bytes(b"\x1b[2J not json")
    assert root_cause(tmp_path, since=t0 + 100, run_end_error="ValueError: new").error == "ValueError: new"


def test_a_stopped_session_in_which_a_rank_failed_is_failed(tmp_path: Path):
    t0 = time.time() - 100
    write_events(tmp_path, [{"type": "run_start", "time": t0, "world_size": 2},
                            {"type": "run_end", "time": t0 + 20, "step": 7, "status": "stopped"}])
    (tmp_path / "failure_rank_1.json").write_text(json.dumps({"rank": 1, "time": t0 + 19, "error": "Trace\nOSError: \x1b]0;x\x07disk"}))
    summary = summarize_run(tmp_path)
    assert summary.status is RunStatus.FAILED and summary.detail == "rank 1: OSError: disk"


def test_a_torchrun_launch_that_died_before_it_started_names_the_rank_and_its_error(tmp_path: Path):
    """No events at all: the line that says why comes from stderr.log, past torchrun's own summary."""
    write_launch(tmp_path, pid=1, create_time=3.0, cmdline=["torchrun", "-m", "hrm_core.pretrain"], overrides=[], time_=time.time() - 60)
    (tmp_path / "stderr.log").write_text(
        "[rank1]: Traceback (most recent call last):\n[rank1]:   File \"x.py\", line 1\n"
        "[rank1]: ValueError: arch.hidden_size must divide by num_heads\n"
        "Traceback (most recent call last):\n  File \"torchrun\", line 8\n"
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n"
        "============================================================\nhrm_core.pretrain FAILED\n"
        "------------------------------------------------------------\n  rank      : 1 (local_rank: 1)\n"
        "============================================================\n")
    summary = summarize_run(tmp_path)
    assert summary.status is RunStatus.FAILED and summary.failed_rank == 1
    assert summary.detail == "rank 1: ValueError: arch.hidden_size must divide by num_heads"


@pytest.mark.parametrize("launch", [{"pid": "abc", "time": "soon"}, "not json {"])
def test_an_unusable_launch_record_says_what_is_wrong_with_it(tmp_path: Path, launch):
    (tmp_path / "launch.json").write_text(json.dumps(launch) if isinstance(launch, dict) else launch)
    summary = summarize_run(tmp_path)
    assert "exited before training started" not in summary.detail
    assert "launch.json is unusable (" in summary.detail
    if isinstance(launch, dict):
        assert "pid:" in summary.detail and "time:" in summary.detail


def test_an_alert_without_error_text_shows_the_line_stderr_gave():
    from hrm_tui.monitoring.alerts import AlertInputs, evaluate_alerts

    [alert] = evaluate_alerts(AlertInputs(status=RunStatus.FAILED, status_detail="rank 1: ValueError: bad \x1b[2Jvalue"))
    assert alert.title == "Run failed: rank 1: ValueError: bad value"
    [alert] = evaluate_alerts(AlertInputs(status=RunStatus.FAILED))
    assert alert.title == "Run failed (no error text: see stderr.log)"


@pilot_test
async def test_the_runs_screen_detail_shows_the_failing_rank(rank_1_failed: Path, tmp_path: Path):
    from textual.widgets import Static

    from hrm_tui.screens.runs import RunsScreen
    from tests.tui_launch_helpers import make_app

    app = make_app(tmp_path, start_mode="runs", runs_root=rank_1_failed.parent)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.table.row_count == 1, what="the run")
        detail = app.screen.query_one("#run-detail", Static)
        await wait_for(pilot, lambda: "rank 1" in as_text(detail.render()), what="the detail line")
        assert f"failed: rank 1: {INJECTED}" in as_text(detail.render())
