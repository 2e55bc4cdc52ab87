"""Moving between the app's screens: leaving the monitor returns to where the user came from."""

from __future__ import annotations

import re
from pathlib import Path

from hrm_tui.messages import RunLaunched
from hrm_tui.screens.help import HelpScreen
from hrm_tui.screens.monitor import MonitorScreen
from hrm_tui.screens.runs import RunsScreen
from tests.tui_launch_helpers import async_test, make_app, make_fixture_runs, wait_for
from tests.tui_monitor_helpers import as_text


@async_test
async def test_q_in_a_monitor_opened_from_the_runs_list_goes_back_to_the_list(tmp_path: Path):
    runs = make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the runs screen")
        app.post_message(RunLaunched(runs["finished"]))
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the runs screen again")
        assert app.is_running


@async_test
async def test_q_in_an_attached_monitor_quits(tmp_path: Path):
    """hrm-tui attach: the monitor is the app's only screen, as the docs say, so q quits (not a runs list)."""
    runs = make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, attach=[runs["finished"]])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        assert app.screen.run_dir == runs["finished"]
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, 10, "the app to exit")


@async_test
async def test_f3_from_an_attached_monitor_opens_the_runs_list_where_q_quits(tmp_path: Path):
    runs = make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, attach=[runs["finished"]])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the runs screen")
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, 10, "the app to exit")


@async_test
async def test_f3_from_a_monitor_opened_from_the_runs_list_goes_back_to_it(tmp_path: Path):
    """F3 used to show the monitor again (the runs mode was already current)."""
    make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the runs screen")
        await wait_for(pilot, lambda: len(app.runs_screen.table.summaries) == 6, 10, "the runs")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        await pilot.press("f3")
        await wait_for(pilot, lambda: app.screen is app.runs_screen, 10, "the runs screen again")
        assert len(app.screen_stack) == 1 and app.is_running


@async_test
async def test_the_help_screen_lists_the_monitor_keys_as_the_footer_writes_them(tmp_path: Path):
    runs = make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, attach=[runs["finished"]])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), 10, "the help screen")
        text = "\n".join(as_text(static.content) for static in app.screen.query(".help-table"))
        for section, key, action in [
            ("Monitor", "m", "Max/restore"),
            ("Monitor", "esc", "Restore a maximised panel"),
            ("Monitor, curves panel (1)", "l", "Log y"),
            ("Monitor, samples panel (5)", "[", "Prev eval"),
            ("Monitor, logs panel (6)", "/", "Search"),
            ("Launch form", "^l", "Launch"),
        ]:
            assert section in text, f"help has no section {section!r}"
            assert re.search(rf"^ +{re.escape(key)} +{re.escape(action)}", text, re.M), f"help lacks {key} {action}"
        assert "left_square_bracket" not in text
        await pilot.press("escape")
        assert isinstance(app.screen, MonitorScreen)


@async_test
async def test_the_footer_puts_close_help_and_quit_first_so_80_columns_never_cut_them(tmp_path: Path):
    from hrm_tui.widgets.key_footer import KeyFooter, action_name

    runs = make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, attach=[runs["finished"]])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        await pilot.press("1")  # the curves panel, whose own keys come first in Textual's footer
        await pilot.pause()
        footer = app.screen.query_one(KeyFooter)
        actions = [action_name(getattr(key, "action", "")) for key in footer.children]
        assert actions[:3] == ["close", "help", "quit"]
        assert "choose" in actions  # the panel's keys follow
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the runs screen")
        await pilot.pause()
        actions = [action_name(getattr(key, "action", "")) for key in app.screen.query_one(KeyFooter).children]
        assert actions[:3] == ["close", "help", "quit"]  # q quits from the runs list
