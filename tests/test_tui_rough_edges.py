"""The cockpit's rough edges (issue 19), each at the size where it showed: form fields squeezed at 120
columns, launch options that hid the environment, a metric chooser readable only in colour, ctrl+q quitting
a form with edits unasked, footers cut inside a binding. Driven with Pilot through the real app."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from hrm_tui.widgets.launch_options import LaunchOptionsPanel
from tests.hostile_rundirs import screen_text
from tests.tui_launch_helpers import async_test, make_app, settle


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def screen_line(app, holding: str) -> str:
    """The first row of the screen that holds `holding` (a label), as the terminal shows it."""
    return next(line for line in screen_text(app).splitlines() if holding in line)


@pytest.mark.parametrize("width", [120, 130])
@async_test
async def test_form_fields_show_their_value_whole_beside_the_side_pane(tmp_path: Path, width: int):
    """Issue 19.3: at 120 columns data_path showed `data/de` (8 cells) with 25 blank columns beside it."""
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(width, 36)) as pilot:
        await settle(pilot, app.launch_screen)
        editor = app.launch_screen.query_one("#field-data_path", Input)
        assert editor.size.width > len("data/demo-sudoku-4x4")
        assert "data_path               data/demo-sudoku-4x4 " in screen_line(app, "data_path")


@async_test
async def test_launch_options_show_what_the_environment_and_machine_make_of_them(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch):
    """Issue 19.10: with OMP_NUM_THREADS=1 exported the field read `unset`; torch.compile read `on` without
    CUDA, where compile=auto means off."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("DISABLE_COMPILE", raising=False)
    app = make_app(tmp_path, preset="demo")  # NO_GPU: the GPU scan found none
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app.launch_screen)
        assert "OMP threads     1 (from the environment)" in screen_line(app, "OMP threads")
        assert "[■ on ]  auto → off: no CUDA" in screen_line(app, "torch.compile")
        await pilot.press("ctrl+o")  # the dialog shows the same panel
        await pilot.pause()
        panel = app.screen.query_one(LaunchOptionsPanel)
        panel.query_one("#opt-compile").focus()
        await pilot.press("space")
        await pilot.pause()
        assert "[  off]  off (sets DISABLE_COMPILE=1)" in screen_line(app, "torch.compile")
    monkeypatch.delenv("OMP_NUM_THREADS")
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, app.launch_screen)
        assert "OMP threads     unset (one thread per core)" in screen_line(app, "OMP threads")
