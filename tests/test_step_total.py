"""The step total a run shows is the step it really ends at (issue 19 item 2).

The schedule's `total_steps` is the originals' estimate (epochs * groups * mean puzzle size / batch): a run
stops short of it, since each walk drops its incomplete batch. The trainer counts the real number from the
data and records it as `final_step` in run_start; the runs summary (runs table, `hrm-tui runs`) and the
monitor's progress bar show it, and a run written before the field shows its final step once finished.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hrm_core.rundir import events
from hrm_core.rundir.summary import summarize_run
from hrm_tui.widgets.monitor.progress import ProgressPanel
from tests.training_helpers import events_of, pretrain_argv, run_trainer, tiny_overrides, trainer_env, write_tiny_dataset
from tests.tui_monitor_helpers import MonitorHost, as_text, fast_settings, pilot_test, wait_for


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, str]:
    """A real tiny run to its end (~90 steps; its puzzles hold 1 to 3 examples, so the count replays the
    draws); returns its directory and stdout."""
    root = tmp_path_factory.mktemp("step-total")
    data = write_tiny_dataset(root / "tiny-puzzles")
    run_dir = root / "runs" / "project" / "run"
    result = run_trainer(pretrain_argv(tiny_overrides(data, run_dir)))
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result.stdout


@pytest.fixture()
def run_without_final_step(finished_run, tmp_path) -> Path:
    """The same run as an older trainer wrote it: its run_start has no final_step."""
    run_dir, _ = finished_run
    lines = []
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        event.pop("final_step", None)
        lines.append(json.dumps(event))
    old = tmp_path / "old-run"
    old.mkdir()
    (old / "events.jsonl").write_text("\n".join(lines) + "\n")
    return old


def test_the_run_start_records_the_step_the_run_ends_at(finished_run):
    run_dir, stdout = finished_run
    start = events_of(run_dir, events.RunStart)[0]
    trains = events_of(run_dir, events.Train)
    end = events_of(run_dir, events.RunEnd)[-1]
    assert end.status == "finished"
    assert start.final_step == end.step == trains[-1].step  # counted before the first step, true at the last
    assert start.final_step < start.total_steps  # the schedule keeps the originals' (higher) estimate
    assert trains[-1].total_steps == start.total_steps
    assert f"{start.final_step} steps (the schedule's estimate: {start.total_steps})" in stdout
    step_lines = [line for line in stdout.splitlines() if line.startswith("step ")]
    assert step_lines[-1].startswith(f"step {end.step}/{end.step} (100%)")


def test_the_runs_summary_and_hrm_tui_runs_show_the_true_total(finished_run):
    run_dir, _ = finished_run
    end = events_of(run_dir, events.RunEnd)[-1]
    summary = summarize_run(run_dir)
    assert (summary.step, summary.total_steps, summary.progress) == (end.step, end.step, 1.0)
    listed = subprocess.run([sys.executable, "-m", "hrm_tui", "runs", "--json", "--runs-root", str(run_dir.parents[1])],
                            capture_output=True, text=True, timeout=120, env=trainer_env())
    assert listed.returncode == 0, listed.stderr
    runs = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    assert [(run["step"], run["total_steps"]) for run in runs if Path(run["path"]) == run_dir] == [(end.step, end.step)]


def test_a_finished_run_without_the_count_shows_its_final_step_as_the_total(finished_run, run_without_final_step):
    run_dir, _ = finished_run
    end = events_of(run_dir, events.RunEnd)[-1]
    summary = summarize_run(run_without_final_step)
    assert (summary.step, summary.total_steps, summary.progress) == (end.step, end.step, 1.0)


@pytest.mark.parametrize("which", ["recorded", "older trainer"])
@pilot_test
async def test_the_progress_bar_of_a_finished_run_is_full(finished_run, run_without_final_step, which):
    run_dir, _ = finished_run
    end = events_of(run_dir, events.RunEnd)[-1]
    app = MonitorHost(run_dir if which == "recorded" else run_without_final_step, settings=fast_settings())
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.monitor
        panel = screen.query_one(ProgressPanel)
        await wait_for(pilot, lambda: screen.status == "finished", what="the finished status")
        await pilot.pause(0.2)
        head = as_text(panel.render(), width=panel.content_size.width).splitlines()[0]
        assert f"step {end.step:,} / {end.step:,}" in head, head
        assert "100%" in head and "█" in head and "░" not in head, head  # every cell of the bar filled
