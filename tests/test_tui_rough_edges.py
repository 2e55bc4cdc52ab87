"""The cockpit's rough edges (issue 19), each at the size where it showed: form fields squeezed at 120
columns, launch options that hid the environment, a metric chooser readable only in colour, ctrl+q quitting
a form with edits unasked, footers cut inside a binding. Driven with Pilot through the real app."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from hrm_tui.widgets.launch_options import LaunchOptionsPanel
from hrm_tui.widgets.monitor.curves import CurvesPanel
from hrm_tui.widgets.monitor.system import SystemPanel
from tests.hostile_rundirs import screen_text
from tests.tui_launch_helpers import async_test, make_app, settle
from tests.tui_monitor_helpers import MonitorHost, fast_settings, pilot_test
from tests.tui_monitor_helpers import wait_for as monitor_wait


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


# --- the monitor --------------------------------------------------------------------------------------


def write_sudoku_run(run_dir: Path) -> None:
    from hrm_tui.bench.synthetic_run import SyntheticRun, write_run

    write_run(run_dir, SyntheticRun(total_steps=600, eval_interval=200))


@pilot_test
async def test_curves_that_do_not_fit_are_named_with_the_key_to_page_to_them(tmp_path: Path):
    """Issue 19.6: at 120x36 two of the four default curves showed, and nothing said the others existed."""
    write_sudoku_run(tmp_path / "run")
    app = MonitorHost(tmp_path / "run", settings=fast_settings())
    async with app.run_test(size=(120, 36)) as pilot:
        await monitor_wait(pilot, lambda: app.monitor.loaded_stage() == "exact")
        curves = app.monitor.query_one(CurvesPanel)
        assert curves.row_layout(*curves.content_size) == [1, 1]
        text = screen_text(app)
        assert "+2 plots hidden" in text and "] next, [ previous" in text
        await pilot.press("1", "]", "]")
        await pilot.pause()
        assert "+2 plots hidden" in screen_text(app)
        await pilot.press("m")  # maximised, all four fit: no note
        await pilot.pause(0.2)
        assert "hidden" not in screen_text(app)


@pilot_test
async def test_the_metric_chooser_shows_selection_with_a_character(tmp_path: Path):
    """Issue 19.9: every entry read `X`, selected or not, told apart only by colour."""
    write_sudoku_run(tmp_path / "run")
    app = MonitorHost(tmp_path / "run", settings=fast_settings())
    async with app.run_test(size=(120, 36)) as pilot:
        await monitor_wait(pilot, lambda: app.monitor.loaded_stage() == "exact")
        await pilot.press("1", "c")
        await pilot.pause(0.2)
        entries = [line.strip(" │") for line in screen_text(app).splitlines() if "[x]" in line or "[ ]" in line]
        chosen = [entry for entry in entries if "[x]" in entry]
        assert len(chosen) == 4 and len(entries) > 4, entries
        assert any("lm_loss" in entry for entry in chosen)


@pilot_test
async def test_the_system_panel_never_breaks_a_field_and_waits_for_a_second_cpu_reading(tmp_path: Path):
    """Issue 19.7 and 19.12: at 120 columns `rss 355M (1↵process)` wrapped inside the field; the run's
    first CPU reading showed `cpu 0%`."""
    from hrm_tui.system.sysmon import HostStats, StaticSystemSampler, SystemSnapshot

    write_sudoku_run(tmp_path / "run")
    first = SystemSnapshot(gpus=[], gpu_message="no NVIDIA driver",
                           host=HostStats(cpu_pct=12.0, cpu_count=2, memory_used=3 * 1024**3, memory_total=8 * 1024**3,
                                          run_cpu_pct=None, run_rss=355 * 1024**2, run_processes=1))
    app = MonitorHost(tmp_path / "run", settings=fast_settings(system_sampler=StaticSystemSampler(first)))
    async with app.run_test(size=(120, 36)) as pilot:
        await monitor_wait(pilot, lambda: app.monitor.query_one(SystemPanel).snapshot is not None)
        # The reading is in; wait for the panel to have drawn it (a loaded machine is slow to get there).
        await monitor_wait(pilot, lambda: "rss " in screen_text(app), what="the run's rss drawn")
        text = screen_text(app)
        assert "rss 355M (1 process)" in text
        assert "cpu    … " in text and "cpu   0%" not in text


# --- cut-off text ---------------------------------------------------------------------------------------


async def assert_footer_keys_whole(pilot, app) -> None:
    from textual.widgets._footer import FooterKey

    from hrm_tui.widgets.key_footer import KeyFooter

    footer = app.screen.query_one(KeyFooter)
    await monitor_wait(pilot, lambda: bool(footer.query(FooterKey)), what="the footer's keys")
    await pilot.pause(0.3)
    keys = list(footer.query(FooterKey))
    shown = [key for key in keys if key.display]
    assert shown and len(shown) < len(keys), "the case needs keys that do not all fit"
    for key in shown:
        assert key.region.right <= footer.region.right, f"{key.description!r} is cut at the footer's edge"
    line = screen_text(app).splitlines()[-1].rstrip()
    assert line.endswith(shown[-1].description), line


@async_test
async def test_runs_table_headers_and_the_runs_footer_are_never_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Issue 19.7: the last header read `Last even` at 120 columns; the footer ended in `c Clo` at 80."""
    from tests.tui_launch_helpers import NOW, make_fixture_runs

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, start_mode="runs", clock=lambda: NOW)
    async with app.run_test(size=(120, 36)) as pilot:
        await monitor_wait(pilot, lambda: app.runs_screen is not None and app.runs_screen.all_runs)
        await pilot.pause(0.3)
        header = next(line for line in screen_text(app).splitlines() if line.lstrip().startswith("Name"))
        assert header.rstrip().endswith("Last event")
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.5)
        await assert_footer_keys_whole(pilot, app)


@async_test
async def test_the_monitors_footer_drops_whole_bindings_at_120_columns(tmp_path: Path):
    """Issue 19.7: the monitor's footer ended in `x Dis` at 120 columns."""
    write_sudoku_run(tmp_path / "run")
    app = make_app(tmp_path, attach=[tmp_path / "run"])
    async with app.run_test(size=(120, 36)) as pilot:
        await monitor_wait(pilot, lambda: app.screen.loaded_stage() == "exact")
        await pilot.pause(0.3)
        await assert_footer_keys_whole(pilot, app)
        assert "x Dis" not in screen_text(app).splitlines()[-1]


# --- the logs panel -------------------------------------------------------------------------------------


@pilot_test
async def test_the_logs_panel_merges_stdout_and_stderr_in_time_order(tmp_path: Path):
    """Issue 19.4: after a stop at step 819 and a resume, `err [hrm] SIGINT received…` showed between steps
    3370 and 3375 (stderr.log read after stdout.log), and stderr.log's leading blank line showed as `err`."""
    from hrm_core.rundir.line_times import stamp_line
    from hrm_tui.widgets.monitor.logs import LogsPanel

    run = tmp_path / "run"
    write_sudoku_run(run)
    t0 = 1_700_000_000.0
    steps = [*range(815, 820), *range(3370, 3376)]  # the stop after 819; the resumed session later
    (run / "stdout.log").write_text("".join(stamp_line(f"step {s}/4000", t0 + i) + "\n" for i, s in enumerate(steps)))
    (run / "stderr.log").write_text("\n" + stamp_line("[hrm] SIGINT received: stopping after this step", t0 + 4.5) + "\n"
                                    + "  a line without a time follows its own file's order\n")
    app = MonitorHost(run, settings=fast_settings())
    async with app.run_test(size=(120, 36)) as pilot:
        panel = app.monitor.query_one(LogsPanel)
        await monitor_wait(pilot, lambda: "11 out, 2 err" in str(panel.query_one("#logs-header").render()))
        await pilot.press("6", "m")
        await pilot.pause(0.3)
        shown = [line.strip(" │") for line in screen_text(app).splitlines()]
        start = next(i for i, line in enumerate(shown) if line.startswith("step 815/"))
        log = [line.rstrip() for line in shown[start:start + 13]]
        assert log[4:8] == ["step 819/4000", "err [hrm] SIGINT received: stopping after this step",
                            "err   a line without a time follows its own file's order", "step 3370/4000"]
        assert "2 err" in str(panel.query_one("#logs-header").render())  # the blank line is skipped
        assert not any(line == "err" for line in log)
