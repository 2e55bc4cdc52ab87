"""End to end with the real trainer: launch the demo preset from the form, see it in the runs screen, let it
finish after the app has exited; launch again, stop it from the runs screen, resume it, stop it again.

The demo preset is shrunk through the form itself (epochs, eval_interval) so a run takes seconds on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.css.query import NoMatches
from textual.widgets import Input

from hrm_tui.runs.process_control import find_run_process
from hrm_core.rundir.lock import LockState, lock_state
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import summarize_run
from hrm_tui.runs.discovery import same_run
from hrm_tui.screens.runs import RunsScreen
from tests.tui_launch_helpers import RUN_NAME, async_test, make_app, settle, stop_runs_left_running, wait_for

PROJECT = "Demo-sudoku-4x4 ACT-torch"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the demo dataset and the runs land in the test's folder


@pytest.fixture()
def stop_leftovers(tmp_path: Path):
    yield
    stop_runs_left_running(tmp_path / "checkpoints")


async def one_thread(pilot, screen) -> None:
    """OMP_NUM_THREADS=1 through the launch options: on a shared CI machine, idle-spinning OpenMP threads
    make the tiny demo model five times slower."""
    screen.query_one("#opt-omp", Input).value = "1"
    await settle(pilot, screen)
    assert screen.plan().env["OMP_NUM_THREADS"] == "1"


async def edit(pilot, screen, key: str, text: str) -> None:
    screen.query_one(f"#field-{key}", Input).focus()
    await pilot.press("ctrl+u", *text)
    await settle(pilot, screen)


def runs_screen_row(app, run_dir: Path):
    """The run's row in the runs screen; None until the screen has composed its table and listed the run."""
    try:
        table = app.runs_screen.table
    except NoMatches:  # pushed, not composed yet (a loaded machine is slow to get there)
        return None
    return next((s for s in table.summaries if same_run(s.path, run_dir)), None)


@async_test
async def test_demo_launches_detached_shows_in_runs_and_finishes_after_the_app_exits(tmp_path: Path, stop_leftovers):
    run_dir = tmp_path / "checkpoints" / PROJECT / RUN_NAME
    app = make_app(tmp_path, preset="demo", runs_root=Path("checkpoints"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        await edit(pilot, screen, "epochs", "1")
        await edit(pilot, screen, "eval_interval", "1")
        await one_thread(pilot, screen)
        assert screen.model.overrides() == ["+experiment=demo", "epochs=1", "eval_interval=1"]
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: (run_dir / "launch.json").exists(), 60, "the launch")
        # The app moves to the runs list with the new run selected (and opens its monitor on top).
        await wait_for(pilot, lambda: runs_screen_row(app, run_dir) is not None, 30, "the run in the runs screen")
        assert same_run(app.runs_screen.table.selected.path, run_dir)
        assert runs_screen_row(app, run_dir).preset == "demo"
        process = find_run_process(run_dir)
        assert process is not None
    # The app has exited; the run has not.
    assert process.alive()
    launch = json.loads((run_dir / "launch.json").read_text())
    assert launch["overrides"][:3] == ["+experiment=demo", "epochs=1", "eval_interval=1"]
    assert f"+checkpoint_path='checkpoints/{PROJECT}/{RUN_NAME}'" in launch["argv"]

    # A new app, opened on the runs screen, follows it to the end.
    app = make_app(tmp_path, runs_root=Path("checkpoints"), start_mode="runs")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and runs_screen_row(app, run_dir) is not None, 30, "the runs list")

        def finished() -> bool:
            app.runs_screen.action_refresh()
            row = runs_screen_row(app, run_dir)
            return row is not None and row.status != RunStatus.RUNNING

        await wait_for(pilot, finished, 240, "the demo run to finish")
        row = runs_screen_row(app, run_dir)
        assert row.status == RunStatus.FINISHED, (run_dir / "stderr.log").read_text()[-2000:]
        assert row.step == row.total_steps and row.progress == 1.0
    assert "run_end" in (run_dir / "events.jsonl").read_text()


@async_test
async def test_stop_from_the_runs_screen_gives_status_stopped_and_resume_continues(tmp_path: Path, stop_leftovers):
    run_dir = tmp_path / "checkpoints" / PROJECT / RUN_NAME
    app = make_app(tmp_path, preset="demo", runs_root=Path("checkpoints"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        await one_thread(pilot, screen)
        await pilot.press("ctrl+l")  # the full demo: it would run for minutes
        await wait_for(pilot, lambda: runs_screen_row(app, run_dir) is not None, 60, "the run in the runs screen")

        def training() -> bool:
            summary = summarize_run(run_dir)
            return summary.step is not None and summary.step >= 3

        await wait_for(pilot, training, 120, "the first training steps")
        while not isinstance(app.screen, RunsScreen):  # close the monitor opened after the launch
            app.pop_screen()
            await pilot.pause()
        app.runs_screen.action_refresh()
        await wait_for(pilot, lambda: runs_screen_row(app, run_dir).status == RunStatus.RUNNING, 10, "a refresh")
        await pilot.press("s")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ConfirmScreen"
        await pilot.press("y")

        def stopped() -> bool:
            app.runs_screen.action_refresh()
            row = runs_screen_row(app, run_dir)
            return row is not None and row.status != RunStatus.RUNNING

        await wait_for(pilot, stopped, 120, "the run to stop")
        assert runs_screen_row(app, run_dir).status == RunStatus.STOPPED
        events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
        assert events[-1]["type"] == "run_end" and events[-1]["status"] == "stopped"
        assert any(e["type"] == "checkpoint" for e in events)  # a graceful stop saves its state
        stopped_at = events[-1]["step"]

        # Resume: the same run continues from its checkpoint, in place, after a confirmation of what runs. The
        # trainer writes run_end before it exits and lets go of the run directory: until then resume is refused.
        await wait_for(pilot, lambda: lock_state(run_dir) is not LockState.HELD and find_run_process(run_dir) is None, 60,
                       "the stopped trainer to exit")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen", 30, "the resume confirmation")
        assert "-P -m hrm_core.pretrain" in app.screen._message
        await pilot.press("y")
        await wait_for(pilot, lambda: '"type":"resume"' in (run_dir / "events.jsonl").read_text(), 120, "the resume event")
        app.runs_screen.action_refresh()
        await wait_for(pilot, lambda: runs_screen_row(app, run_dir).status == RunStatus.RUNNING, 10, "a refresh")
        launch = json.loads((run_dir / "launch.json").read_text())
        assert launch["resume"] is True and launch["overrides"][-1] == "++resume=auto"
        await pilot.press("s", "y")
        await wait_for(pilot, stopped, 120, "the resumed run to stop")
        assert runs_screen_row(app, run_dir).status == RunStatus.STOPPED
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    resume = next(e for e in events if e["type"] == "resume")
    assert resume["step"] == stopped_at
    assert events[-1]["type"] == "run_end" and events[-1]["status"] == "stopped" and events[-1]["step"] >= stopped_at
