"""The dataset builder dialog (ctrl+b in the launch form), with real builder processes: one build per folder,
whoever asks twice; a cancel key that stops the builder and leaves no temporary folder; the log stays
readable (the builders append, never truncate)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest
from textual.widgets import Input, Static

from hrm_core.data.dataset_writer import BuildInProgressError, build_in_progress, build_lock_path, temp_dirs
from hrm_tui.runs.builds import build_log_path, running_build, start_build
from hrm_tui.screens.dataset_build import DatasetBuildScreen
from tests.build_helpers import stand_in_argv
from tests.tui_launch_helpers import async_test, make_app, settle, wait_for

DATA = "data/sudoku-extreme-1k-aug-10"  # a known name: the form offers the real Sudoku builder for it


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture()
def no_leftover_builders(tmp_path: Path):
    """A failing test must not leave a builder running: kill (by its lock's record) whatever still builds."""
    yield
    for data_path in (tmp_path / DATA, tmp_path / "data" / "stuck"):
        holder = build_in_progress(data_path)
        if holder is not None and holder.is_running():
            os.killpg(holder.pid, signal.SIGKILL)


def status_of(dialog: DatasetBuildScreen) -> str:
    return str(dialog.query_one("#build-status", Static).render())


def headers(log: Path) -> int:
    """How many builds the log has seen (the app writes a header line before each)."""
    return sum(line.startswith("=== ") for line in log.read_text(errors="replace").splitlines())


@async_test
async def test_one_build_per_folder_and_the_cancel_key_stops_it(tmp_path: Path, no_leftover_builders):
    app = make_app(tmp_path, preset="sudoku_extreme_1k")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        screen.query_one("#field-data_path", Input).value = DATA
        await settle(pilot, screen)
        await pilot.press("ctrl+b")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, DatasetBuildScreen)
        await pilot.press("ctrl+b")  # build
        await wait_for(pilot, lambda: running_build(DATA) is not None, 60, "the builder to take its lock")
        builder = running_build(DATA)
        assert builder.pid == dialog._process.pid
        await pilot.press("ctrl+b")  # again: nothing new starts
        await pilot.pause(0.5)
        assert headers(build_log_path(DATA)) == 1 and dialog.check_action("build", ()) is False

        # Closed and opened again: the dialog finds the running build and follows it instead of starting one.
        await pilot.press("escape")
        await pilot.pause()
        assert psutil.pid_exists(builder.pid)  # esc leaves it running
        await pilot.press("ctrl+b")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, DatasetBuildScreen) and dialog._process is None
        assert "already running" in status_of(dialog) and f"pid {builder.pid}" in status_of(dialog)
        await pilot.press("ctrl+b")
        await pilot.pause(0.5)
        assert headers(build_log_path(DATA)) == 1
        # What a second hrm-tui would do: refused, naming the running builder.
        with pytest.raises(BuildInProgressError, match=f"pid {builder.pid}"):
            start_build(DATA, ["true"])

        await pilot.press("ctrl+k")  # cancel, although another dialog started it
        await wait_for(pilot, lambda: status_of(dialog).startswith("■ build cancelled"), 30, "the cancel")
        assert not psutil.pid_exists(builder.pid) or psutil.Process(builder.pid).status() == psutil.STATUS_ZOMBIE
        assert temp_dirs(DATA) == [] and not Path(DATA).exists() and not build_lock_path(DATA).exists()
        log = build_log_path(DATA).read_bytes()
        assert b"\x00" not in log and b"interrupted (SIGTERM); nothing was written" in log
        assert dialog.check_action("build", ()) is True  # and it can be built again


@async_test
async def test_a_builder_that_ignores_sigterm_is_killed_and_its_folder_removed(tmp_path: Path, no_leftover_builders):
    out = tmp_path / "data" / "stuck"
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app.launch_screen)
        dialog = DatasetBuildScreen(str(out), stand_in_argv(tmp_path, out, "ignore-term"), cancel_grace_s=1.0)
        app.push_screen(dialog)
        await pilot.pause()
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: (out.parent / "stuck.ready").exists(), 60, "the builder to start writing")
        assert len(temp_dirs(out)) == 1
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: status_of(dialog).startswith("■ build killed"), 30, "the kill")
        assert "removed here" in status_of(dialog)
        assert temp_dirs(out) == [] and not out.exists() and build_in_progress(out) is None
        # The log shows what the builder printed, and nothing it could not have.
        shown = "\n".join(str(line) for line in dialog.query_one("#build-log").lines)
        assert "writing" in shown
