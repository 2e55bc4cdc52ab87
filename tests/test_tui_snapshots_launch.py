"""Snapshots of the launcher's screens at 80x24 and 160x48 (pytest-textual-snapshot).

Everything that could change between runs is fixed: the working directory (a tmp folder, so paths are
relative), the clock, the time zone, the next run's name, the GPU scan, and the runs root's content.
Update after an intended change with `pytest tests/test_tui_snapshots_launch.py --snapshot-update`, and
look at the SVGs before committing them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from hrm_tui.screens.runs import RunsScreen
from tests.tui_launch_helpers import NOW, make_app, make_fixture_runs, settle, wait_for

SIZES = [(80, 24), (160, 48)]


@pytest.fixture(autouse=True)
def fixed_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    # `python` on PATH is this interpreter, so the command panel shows `python -m ...` on every machine.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TZ", "UTC")
    # The launch options show what the run inherits from the environment: the same on every machine.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("DISABLE_COMPILE", raising=False)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def launch_app(tmp_path: Path, **kwargs):
    return make_app(tmp_path, preset="demo", runs_root=Path("checkpoints"), clock=lambda: NOW, **kwargs)


def runs_app(tmp_path: Path):
    make_fixture_runs(tmp_path / "checkpoints")
    return make_app(tmp_path, runs_root=Path("checkpoints"), clock=lambda: NOW, start_mode="runs")


def steady_cursors(app) -> None:
    """A blinking cursor is on or off depending on when the screenshot is taken: keep it on."""
    for field in app.screen.query(Input):
        field.cursor_blink = False


async def form_ready(pilot) -> None:
    await settle(pilot, pilot.app.launch_screen)
    steady_cursors(pilot.app)


async def runs_ready(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.runs_screen.table.summaries) == 6, 20, "the runs")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_launch_form(snap_compare, tmp_path: Path, size):
    """The form on the demo preset, ready to launch."""
    assert snap_compare(launch_app(tmp_path), terminal_size=size, run_before=form_ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_launch_form_with_edits_and_an_error(snap_compare, tmp_path: Path, size):
    """lr edited, arch.hidden_size edited (puzzle_emb_ndim follows), eval_interval rejected by the trainer."""

    async def edit(pilot) -> None:
        screen = pilot.app.launch_screen
        await settle(pilot, screen)
        for key, text in (("lr", "7e-5"), ("arch--hidden_size", "128"), ("eval_interval", "7")):
            screen.query_one(f"#field-{key}", Input).focus()
            await pilot.press("ctrl+u", *text)
            await settle(pilot, screen)
        screen.query_one("#form").scroll_home(animate=False)
        screen.query_one("#field-eval_interval", Input).focus()
        await settle(pilot, screen)
        steady_cursors(pilot.app)

    assert snap_compare(launch_app(tmp_path), terminal_size=size, run_before=edit)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_screen(snap_compare, tmp_path: Path, size):
    """Every status: running, lost, stopped, failed (twice), finished, newest first."""
    assert snap_compare(runs_app(tmp_path), terminal_size=size, run_before=runs_ready)


def test_stop_confirmation(snap_compare, tmp_path: Path):
    async def ask_to_stop(pilot) -> None:
        await runs_ready(pilot)
        await pilot.press("s")
        # The run's processes are found and verified off the UI thread before the question is asked.
        from hrm_tui.screens.confirm import ConfirmScreen

        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), 10, "the stop confirmation")
        await pilot.pause()

    assert snap_compare(runs_app(tmp_path), terminal_size=(80, 24), run_before=ask_to_stop)


def test_help_screen(snap_compare, tmp_path: Path):
    async def open_help(pilot) -> None:
        await form_ready(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(launch_app(tmp_path), terminal_size=(80, 24), run_before=open_help)


def test_launch_options_dialog(snap_compare, tmp_path: Path):
    """At 80 columns the launch options and the full command panel open as a dialog (ctrl+o)."""

    async def open_options(pilot) -> None:
        await form_ready(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        steady_cursors(pilot.app)
        await pilot.pause()

    assert snap_compare(launch_app(tmp_path), terminal_size=(80, 24), run_before=open_options)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_an_invalid_value_is_marked_in_the_command(snap_compare, tmp_path: Path, size):
    """lr reads `abc`: the command shows `lr=abc✗`, marked, and the status says what is wrong."""

    async def type_abc(pilot) -> None:
        screen = pilot.app.launch_screen
        await settle(pilot, screen)
        screen.query_one("#field-lr", Input).focus()
        await pilot.press("ctrl+u", *"abc")
        await settle(pilot, screen)
        steady_cursors(pilot.app)

    assert snap_compare(launch_app(tmp_path), terminal_size=size, run_before=type_abc)


def test_the_focused_command_strip_shows_the_whole_command(snap_compare, tmp_path: Path):
    """ctrl+g at 80x24: the strip grows and takes the focus, so the whole command can be read."""

    async def focus_command(pilot) -> None:
        await form_ready(pilot)
        await pilot.press("ctrl+g")
        await pilot.pause()

    assert snap_compare(launch_app(tmp_path), terminal_size=(80, 24), run_before=focus_command)
