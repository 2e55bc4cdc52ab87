"""The launcher launches exactly what it shows (issue 11): focus follows the keys, one launch-options state
everywhere, an invalid value is shown as invalid and named when ctrl+l refuses, and the whole command can
be read from the keyboard at 80x24 and 160x48. Driven with Pilot through real key presses."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static, Switch

from hrm_tui.screens.launch import LaunchScreen
from hrm_tui.screens.launch_options import LaunchOptionsScreen
from hrm_tui.widgets.config_form import ConfigForm, FieldRow
from hrm_tui.widgets.launch_options import LaunchOptionsPanel
from hrm_tui.widgets.override_panel import OverridePanel
from tests.tui_launch_helpers import async_test, make_app, notifications, scroll_with_the_wheel, settle


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def focused_row(screen: LaunchScreen) -> FieldRow:
    row = screen._focused_row()
    assert row is not None, f"the focus is not on a field but on {screen.focused!r}"
    return row


def assert_focus_in_view(screen: LaunchScreen) -> FieldRow:
    row = focused_row(screen)
    assert screen.query_one("#form", ConfigForm).can_view_entire(row), f"{row.spec.key} has the focus but is off screen"
    return row


def panel_text(screen, selector: str) -> str:
    return str(screen.query_one(f"{selector} .panel-body", Static).render())


# --- focus follows the keys ---------------------------------------------------------------------------


@async_test
async def test_the_reported_keys_edit_the_field_on_screen(tmp_path: Path):
    """ctrl+f beta1, enter, esc, down, down, end, 7: the edit lands in the focused field, which is in view."""
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        await pilot.press("ctrl+f", *"beta1", "enter", "escape")
        await pilot.pause()
        assert focused_row(screen).spec.key == "beta1"
        for key in ("down", "down", "end"):
            await pilot.press(key)
            await pilot.pause()
            assert_focus_in_view(screen)
        assert focused_row(screen).spec.key == "weight_decay"  # beta1 -> beta2 -> weight_decay
        await pilot.press("7")
        await settle(pilot, screen)
        row = assert_focus_in_view(screen)
        assert screen.model.overrides() == ["+experiment=demo", "weight_decay=0.17"]  # typed at the end of 0.1
        assert row.editor.value == "0.17" and not any(o.startswith("beta1") for o in screen.model.overrides())


@async_test
async def test_page_home_end_and_selects_move_the_focus_not_just_the_view(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        form = screen.query_one("#form", ConfigForm)
        first, last = form.fields()[0], form.fields()[-1]
        first.focus()
        await pilot.pause()
        seen = []
        for _ in range(4):
            await pilot.press("pagedown")
            await pilot.pause()
            seen.append(assert_focus_in_view(screen).spec.key)
        assert len(set(seen)) == 4 and form.scroll_y > 0  # moved a page of fields each time, the view along
        await pilot.press("pageup")
        await pilot.pause()
        keys = [r.spec.key for r in form.rows.values()]
        assert keys.index(assert_focus_in_view(screen).spec.key) < keys.index(seen[3])  # a page back up

        await pilot.press("ctrl+end")
        await pilot.pause()
        assert screen.focused is last and assert_focus_in_view(screen)
        await pilot.press("ctrl+home")
        await pilot.pause()
        assert screen.focused is first and form.scroll_y == 0

        # On a switch and on a select, Home / End go to the first / last field; ↑ ↓ pass a select by.
        switch = form.row("ema").editor
        assert isinstance(switch, Switch)
        form.move_focus_to(switch)
        await pilot.press("end")
        await pilot.pause()
        assert screen.focused is last
        select = form.row("arch.loss.loss_type").editor
        assert isinstance(select, Select)
        form.move_focus_to(select)
        await pilot.pause()
        await pilot.press("down")
        await pilot.pause()
        assert not select.expanded and screen.focused is not select
        assert_focus_in_view(screen)
        # In a text field Home / End still move the text cursor.
        lr = form.row("lr").editor
        form.move_focus_to(lr)
        await pilot.press("home", "1")
        await settle(pilot, screen)
        assert screen.focused is lr and lr.value == "10.001"


@async_test
async def test_the_mouse_wheel_takes_the_focus_along_and_a_resize_keeps_it_in_view(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        form = screen.query_one("#form", ConfigForm)
        form.row("arch.hidden_size").editor.focus()
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.3)
        assert assert_focus_in_view(screen).spec.key == "arch.hidden_size"

        form.move_focus_to(form.fields()[0])
        await pilot.pause()
        await scroll_with_the_wheel(pilot, form, 12)
        await pilot.pause(0.3)
        assert form.scroll_y > 0
        row = assert_focus_in_view(screen)  # the first field scrolled away: the focus came along
        assert row.spec.key != "data_path"
        await pilot.press("9")  # typing goes where the user looks (focusing selects the text: 9 replaces it)
        await settle(pilot, screen)
        assert screen.model.is_edited(row.spec.key)


# --- one launch-options state --------------------------------------------------------------------------


async def set_dialog_options(pilot) -> None:
    """The reported case, typed in the ctrl+o dialog: processes 2, OMP 2, compile off, 2 nodes, rendezvous."""
    await pilot.press("ctrl+o")
    await pilot.pause()
    assert isinstance(pilot.app.screen, LaunchOptionsScreen)
    for key, text in (("#opt-nproc", "2"), ("#opt-omp", "2"), ("#opt-nnodes", "2")):
        pilot.app.screen.query_one(key, Input).focus()
        await pilot.press("ctrl+u", *text)
    pilot.app.screen.query_one("#opt-compile").focus()
    await pilot.press("space")
    await pilot.pause()
    pilot.app.screen.query_one("#opt-rdzv", Input).focus()
    await pilot.press(*"node0:29500")
    await pilot.pause()


def shown_options(panel: LaunchOptionsPanel) -> tuple:
    return (
        panel.query_one("#opt-nproc", Input).value,
        panel.query_one("#opt-omp", Input).value,
        panel.query_one("#opt-compile", Switch).value,
        panel.query_one("#opt-nnodes", Input).value,
        panel.query_one("#opt-rdzv", Input).value,
        panel.query_one("#opt-multinode").display,
    )


@async_test
async def test_the_dialog_the_pane_and_the_command_show_one_options_state(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        await set_dialog_options(pilot)
        expected = ("2", "2", False, "2", "node0:29500", True)
        assert shown_options(app.screen.query_one(LaunchOptionsPanel)) == expected
        assert app.screen.query_one("#dialog-panel", OverridePanel).preview == screen.preview  # the one preview
        await pilot.press("escape")
        await settle(pilot, screen)
        assert isinstance(app.screen, LaunchScreen)
        # The side pane (hidden at 80 columns) holds the same state, and the strip names it.
        assert shown_options(screen.query_one("#options", LaunchOptionsPanel)) == expected
        strip = panel_text(screen, "#panel-bottom")
        assert "Options   2 nodes (rendezvous node0:29500) · 2 processes/node · OMP threads 2 · compile off" in strip
        plan = screen.plan()
        command = plan.command_line()
        assert "OMP_NUM_THREADS=2 DISABLE_COMPILE=1" in command and "--rdzv-endpoint node0:29500" in command
        assert screen.query_one("#panel-bottom", OverridePanel).preview is screen.preview

        # Wide: the pane shows it; an edit there is what the dialog shows next time.
        await pilot.resize_terminal(160, 48)
        await pilot.pause(0.3)
        pane = screen.query_one("#options", LaunchOptionsPanel)
        assert shown_options(pane) == expected
        assert "--nnodes 2" in panel_text(screen, "#panel-side")
        assert screen.query_one("#panel-side", OverridePanel).preview is screen.preview
        pane.query_one("#opt-omp", Input).focus()
        await pilot.press("ctrl+u", "3")
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.3)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert shown_options(app.screen.query_one(LaunchOptionsPanel))[1] == "3"
        assert "OMP_NUM_THREADS=3" in panel_text(app.screen, "#dialog-panel").replace("\n", " ")
        await pilot.press("escape")
        assert screen.plan().env["OMP_NUM_THREADS"] == "3"


# --- an invalid value is shown as invalid ------------------------------------------------------------------


@async_test
async def test_an_invalid_field_shows_marked_and_ctrl_l_names_every_problem(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        form = screen.query_one("#form", ConfigForm)
        form.move_focus_to(form.row("lr").editor)
        await pilot.press("ctrl+u", *"abc")
        await settle(pilot, screen)
        preview = screen.preview
        assert "lr=abc" in preview.overrides and "lr=abc" in preview.marked  # as typed, not the last valid value
        assert "lr=abc" in preview.plan.argv and not preview.launchable
        assert preview.status.startswith("✗ lr: expected a number")
        strip = panel_text(screen, "#panel-bottom")
        assert "lr=abc✗" in strip and "lr=0.001" not in strip and "1e-3" not in strip

        form.move_focus_to(form.row("beta1").editor)
        await pilot.press("ctrl+u", *"x")
        await settle(pilot, screen)
        await pilot.press("ctrl+l")
        await pilot.pause(0.3)
        [message] = [m for m in notifications(app) if m.startswith("Not launched")]
        assert "✗ lr: expected a number" in message and "✗ beta1: expected a number" in message
        assert screen.focused is form.row("lr").editor  # the first field at fault
        assert not (tmp_path / "checkpoints").exists()
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert any(m.startswith("Not copied") for m in notifications(app))

        # Invalid text survives a change of preset, still marked.
        screen.query_one("#preset", Select).value = "sudoku_extreme_1k"
        await settle(pilot, screen)
        assert "lr=abc" in screen.preview.marked and form.row("lr").editor.value == "abc"
        assert form.row("lr").has_class("-error")

        # Fixed: the marks go, and the command carries the new value.
        form.move_focus_to(form.row("lr").editor)
        await pilot.press("ctrl+u", *"7e-5")
        form.move_focus_to(form.row("beta1").editor)
        await pilot.press("ctrl+u", *"0.8")
        await settle(pilot, screen)
        assert not screen.preview.marked and "lr=7e-5" in screen.plan().argv


@async_test
async def test_launch_options_that_do_not_read_leave_no_command_and_ctrl_l_says_so(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        screen.query_one("#opt-nproc", Input).focus()
        await pilot.press("ctrl+u")  # empty: not a number of processes
        screen.query_one("#opt-nnodes", Input).focus()
        await pilot.press("ctrl+u", "2")  # two nodes, no rendezvous endpoint
        await settle(pilot, screen)
        assert screen.preview.plan is None
        assert "✗ no command: Processes/node: '' is not a whole number" in panel_text(screen, "#panel-side")
        await pilot.press("ctrl+l")
        await pilot.pause(0.3)
        [message] = [m for m in notifications(app) if m.startswith("Not launched")]
        assert "Processes/node: '' is not a whole number" in message
        assert screen.focused is screen.query_one("#opt-nproc")


# --- the whole command can be read from the keyboard -------------------------------------------------------


async def long_command(pilot, screen) -> None:
    screen.set_options(screen.options_draft.with_text("nnodes", "2").with_text("rdzv_endpoint", "node0:29500").with_text("omp_num_threads", "8"))
    form = screen.query_one("#form", ConfigForm)
    for key, text in (("lr", "7e-5"), ("arch.hidden_size", "128"), ("run_name", "a long run name to wrap the line")):
        form.move_focus_to(form.row(key).editor)
        await pilot.press("ctrl+u", *text)
    await settle(pilot, screen)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@async_test
async def test_the_whole_command_is_reachable_by_keyboard(tmp_path: Path, size):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=size) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        await long_command(pilot, screen)
        field = screen.focused
        panel = screen._visible_panel()
        await pilot.press("ctrl+g")
        await pilot.pause(0.3)
        assert screen.focused is panel
        # Whatever does not fit scrolls with the keys, down to the last line (the other node's command).
        await pilot.press("end")
        await pilot.pause(0.3)
        assert panel.scroll_y == panel.max_scroll_y
        last_line = panel.query_one(".panel-body").region.bottom - 1
        assert panel.region.y <= last_line < panel.region.bottom  # the end of the text is on screen
        if panel.max_scroll_y:
            await pilot.press("home")
            await pilot.pause(0.3)
            assert panel.scroll_y == 0
        await pilot.press("escape")
        await pilot.pause()
        assert screen.focused is field


@async_test
async def test_the_options_dialog_command_scrolls_with_the_keys(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        await long_command(pilot, screen)
        await pilot.press("ctrl+o")
        await pilot.pause()
        dialog = app.screen
        panel = dialog.query_one("#dialog-panel", OverridePanel)
        assert panel.max_scroll_y > 0  # at 80x24 the dialog cannot show it all at once
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert dialog.focused is panel
        for _ in range(20):  # a page at a time, to the end
            before = panel.scroll_y
            await pilot.press("pagedown")
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            if panel.scroll_y == panel.max_scroll_y:
                break
            assert panel.scroll_y > before
        assert panel.scroll_y == panel.max_scroll_y
        assert "On node 1" in str(panel.query_one(".panel-body", Static).render())
        await pilot.press("escape")  # back to the options, then esc closes
        await pilot.pause()
        assert dialog.focused is dialog.query_one("#opt-nproc")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen)


@async_test
async def test_the_list_editor_moves_between_items_with_the_arrows(tmp_path: Path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        screen.query_one("#field-eval_save_outputs", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        editor = app.screen
        await pilot.press("ctrl+n", *"inputs", "ctrl+n", *"labels", "up")
        await pilot.pause()
        items = list(editor.query(".list-item").results(Input))
        assert editor.focused is items[0]
        await pilot.press("end", *"_x", "down", "end", *"_y", "ctrl+s")
        await settle(pilot, screen)
        assert screen.model.overrides() == ["+eval_save_outputs=[inputs_x,labels_y]"]
