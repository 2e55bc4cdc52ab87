"""The replay opened from the app: enter on a monitor sample, p in the runs list (then n/p through the test
split), and a run without a checkpoint yet. Real runs (the session's finished tiny run), the real app, the
real worker that loads the checkpoint (hrm_tui/replay_opener.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from hrm_core.rundir.checkpoints import list_checkpoints
from hrm_tui.screens.monitor import MonitorScreen
from hrm_tui.screens.replay import ReplayScreen
from hrm_tui.screens.runs import RunsScreen
from hrm_tui.widgets.monitor.samples import SamplesPanel
from tests.tui_launch_helpers import async_test, make_app, notifications, wait_for

LOAD_S = 60  # loading a checkpoint on two shared CPUs


def copy_run(run: Path, tmp_path: Path) -> Path:
    """A copy beside its dataset's path as recorded (the run's config names the shared dataset)."""
    target = tmp_path / "runs" / run.name
    shutil.copytree(run, target)
    return target


async def samples_shown(pilot, app) -> SamplesPanel:
    panel = app.screen.query_one(SamplesPanel)
    await wait_for(pilot, lambda: panel.current_ref()[0] is not None and panel._events, 30, "the eval samples")
    return panel


@async_test
async def test_enter_on_a_sample_replays_it_at_the_newest_checkpoint(finished_tiny_run: Path, tmp_path: Path):
    run = copy_run(finished_tiny_run, tmp_path)
    newest_step = list_checkpoints(run)[-1][0]
    app = make_app(tmp_path, attach=[run])
    async with app.run_test(size=(120, 40)) as pilot:
        panel = await samples_shown(pilot, app)
        await pilot.press("5")
        assert "enter" in [binding.key for binding in panel.BINDINGS]
        # The selected sample is the page's first, highlighted while the panel has focus; down selects the next.
        await pilot.press("down")
        await pilot.pause()
        ref, _, _ = panel.current_ref()
        event = panel._events[ref.offset]
        assert panel.selected == 1 and len(event.samples) > 1
        chosen = event.samples[1]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReplayScreen), LOAD_S, "the replay")
        replay = app.screen.replay
        assert replay is not None and replay.step == newest_step
        assert replay.name.startswith(chosen.name) and f"eval at step {ref.step:,}" in replay.name
        assert np.array_equal(replay.trajectory.inputs, np.asarray(chosen.input))
        assert np.array_equal(replay.trajectory.labels, np.asarray(chosen.label))
        title = str(app.screen.query_one("#replay-title").render())
        assert f"step {newest_step:,}" in title and chosen.name in title
        await pilot.press("q")  # back to the monitor, not out of the app
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor again")
        assert app.return_code is None


@async_test
async def test_a_run_without_a_checkpoint_says_so_in_one_line(finished_tiny_run: Path, tmp_path: Path):
    run = copy_run(finished_tiny_run, tmp_path)
    for _, folder in list_checkpoints(run):
        shutil.rmtree(folder)
    app = make_app(tmp_path, attach=[run])
    async with app.run_test(size=(120, 40)) as pilot:
        await samples_shown(pilot, app)
        await pilot.press("5", "enter")
        await wait_for(pilot, lambda: any("no checkpoint yet" in n for n in notifications(app)), LOAD_S, "the note")
        [note] = [n for n in notifications(app) if "no checkpoint yet" in n]
        assert note.startswith(f"{run.name} has no checkpoint yet") and "\n" not in note
        assert isinstance(app.screen, MonitorScreen)


@async_test
async def test_p_in_the_runs_list_replays_the_test_split_and_n_p_step_through_it(finished_tiny_run: Path, tmp_path: Path):
    run = copy_run(finished_tiny_run, tmp_path)
    app = make_app(tmp_path, runs_root=run.parent, start_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.runs_screen.table.summaries, 20, "the runs")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, ReplayScreen), LOAD_S, "the replay")
        first = app.screen
        assert first.replay.source.test_index == 0 and first.replay.name.startswith("test example 1/")
        total = first.replay.test_examples
        assert total and total > 1
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is not first and isinstance(app.screen, ReplayScreen), LOAD_S, "example 2")
        assert app.screen.replay.name.startswith(f"test example 2/{total}")
        assert not np.array_equal(app.screen.trajectory.inputs, first.trajectory.inputs)
        second = app.screen
        await pilot.press("p")
        await wait_for(pilot, lambda: app.screen is not second, LOAD_S, "example 1 again")
        assert app.screen.replay.name.startswith(f"test example 1/{total}")
        await pilot.press("p")  # back past the first: the last example
        await wait_for(pilot, lambda: app.screen.replay.source.test_index == -1, LOAD_S, "the last example")
        assert app.screen.replay.name.startswith(f"test example {total}/{total}")
        await pilot.press("q")  # replaced, not stacked: q goes back to the runs list
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the runs list again")
