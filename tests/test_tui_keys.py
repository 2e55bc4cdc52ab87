"""Keys that follow nvitop, htop, k9s and lazygit: q closes or quits (and types in a text field), ? opens
the help, j/k/g/G move in lists and in the help, / filters the runs list, > < I sort it."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from hrm_tui.screens.help import HelpScreen
from hrm_tui.screens.monitor import MonitorScreen
from hrm_tui.screens.runs import RunsScreen
from tests.tui_launch_helpers import async_test, make_app, make_fixture_runs, settle, wait_for
from tests.tui_monitor_helpers import as_text


async def runs_list(pilot, app) -> RunsScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.runs_screen.table.summaries) == 6, 10, "the runs")
    return app.runs_screen


def names(screen: RunsScreen) -> list[str]:
    return [s.path.name.split()[-1] for s in screen.table.summaries]


def title(screen: RunsScreen) -> str:
    return as_text(screen.query_one("#runs-title").content)


@async_test
async def test_j_k_g_G_move_in_the_runs_list(tmp_path: Path):
    make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        table = (await runs_list(pilot, app)).table
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 5
        await pilot.press("g")
        assert table.cursor_row == 0


@async_test
async def test_slash_filters_the_runs_list_and_q_types_in_the_filter(tmp_path: Path):
    make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await runs_list(pilot, app)
        await pilot.press("slash", *"extreme")  # the stopped run's project folder
        assert isinstance(app.focused, Input)
        assert names(screen) == ["keen-lynx"]
        assert "1 of 6 shown" in title(screen)
        await pilot.press("q")  # q is a letter here, not quit
        assert app.is_running and app.focused.value == "extremeq" and names(screen) == []
        assert "No run matches the filter" in as_text(screen.query_one("#run-detail").content)
        await pilot.press("backspace", "enter")  # keeps the filter, back to the list
        assert app.focused is screen.table and names(screen) == ["keen-lynx"]
        await pilot.press("escape")  # clears it
        assert len(names(screen)) == 6 and "shown" not in title(screen)
        assert not screen.query_one("#runs-filter").display
        await pilot.press("q")  # from the list: quits
        await wait_for(pilot, lambda: not app.is_running, 10, "the app to exit")


@async_test
async def test_the_runs_list_sorts_by_a_chosen_column_and_says_so(tmp_path: Path):
    make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await runs_list(pilot, app)
        newest_first = names(screen)
        assert newest_first[0] == "swift-seal" and "sorted by Started ▼" in title(screen)
        await pilot.press("greater_than_sign")  # the next column: Name, A to Z
        assert names(screen) == sorted(newest_first)
        assert "sorted by Name ▲" in title(screen)
        assert as_text(screen.table.columns["Name"].label).strip() == "Name ▲"
        assert as_text(screen.table.columns["Started"].label).strip() == "Started"
        await pilot.press("I")  # reversed
        assert names(screen) == sorted(newest_first, reverse=True) and "sorted by Name ▼" in title(screen)
        await pilot.press("greater_than_sign", "greater_than_sign")  # Preset, then Status
        assert "sorted by Status ▲" in title(screen)
        statuses = [str(s.status) for s in screen.table.summaries]
        assert statuses == sorted(statuses, key=["running", "stalled", "failed", "lost", "stopped", "finished"].index)
        await pilot.press("less_than_sign", "less_than_sign", "less_than_sign")  # back to Started
        assert names(screen) == newest_first


@async_test
async def test_question_mark_opens_the_help_everywhere_and_j_G_g_scroll_it(tmp_path: Path):
    runs = make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, attach=[runs["finished"]])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), 10, "the help")
        scroll = app.screen.query_one("#help-scroll")
        await pilot.pause()
        await pilot.press("j", "j")
        assert scroll.scroll_y == 2
        await pilot.press("G")
        assert scroll.scroll_y == scroll.max_scroll_y > 2
        await pilot.press("g")
        assert scroll.scroll_y == 0
        await pilot.press("q")  # closes the help, not the app
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor again")
        await pilot.press("f3", "question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), 10, "the help over the runs list")
        text = "\n".join(as_text(static.content) for static in app.screen.query(".help-table"))
        for key, action in [("space", "Mark"), ("d", "Diff"), ("/", "Filter"), ("I", "Reverse the sort"), ("q", "Quit"), ("G", "Last")]:
            assert f"{key}  " in text and action in text, f"help lacks {key} {action}"
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


@async_test
async def test_q_types_in_a_text_field_of_the_launch_form(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        field = screen.query_one("#field-lr", Input)
        field.focus()
        await pilot.press("end", "q")
        assert app.is_running and field.value.endswith("q")


@async_test
async def test_q_on_a_form_with_edits_asks_before_quitting(tmp_path: Path):
    from hrm_tui.screens.confirm import ConfirmScreen

    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        field = screen.query_one("#field-lr", Input)
        field.focus()
        await pilot.press("ctrl+a", *"2e-3", "tab")
        await wait_for(pilot, lambda: screen.edit_count() == 1, 10, "the lr edit")
        screen.set_focus(None)  # q acts as a key, not as a letter typed into a field
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the question")
        assert "1 edit;" in as_text(app.screen.query_one(".dialog-body").render())
        await pilot.press("n")  # keep working
        await wait_for(pilot, lambda: app.screen is screen, 10, "the form again")
        assert app.is_running and screen.edit_count() == 1
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the question again")
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running, 10, "the app to quit")


@async_test
async def test_ctrl_q_asks_as_q_does_while_the_form_holds_edits(tmp_path: Path):
    """Issue 19.11: ctrl+q quit a form holding unlaunched edits without asking. It asks the same question,
    also from a text field (where q types a q) and from the runs list."""
    from hrm_tui.screens.confirm import ConfirmScreen

    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        field = screen.query_one("#field-lr", Input)
        field.focus()
        await pilot.press("ctrl+a", *"2e-3", "tab")
        await wait_for(pilot, lambda: screen.edit_count() == 1, 10, "the lr edit")
        field.focus()
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the question")
        assert "1 edit;" in as_text(app.screen.query_one(".dialog-body").render())
        await pilot.press("ctrl+q")  # asked once, not twice
        assert len(app.screen_stack) == 2
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, 10, "the form again")
        assert app.is_running and screen.edit_count() == 1
        await pilot.press("f3", "ctrl+q")  # from the runs list: the form's edits are still there to lose
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the question from the runs list")
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running, 10, "the app to quit")


@async_test
async def test_q_on_a_form_without_edits_quits_at_once(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        screen.set_focus(None)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, 10, "the app to quit")
