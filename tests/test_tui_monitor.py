"""The monitor screen driven through Textual's Pilot, on run directories written while it watches."""

from __future__ import annotations

import json
import os

import psutil

from textual import events
from textual.widgets import RichLog, SelectionList

from hrm_core.rundir.events import Train
from hrm_core.rundir.writer import EventWriter
from hrm_tui.bench.synthetic_run import SyntheticRun, write_run
from hrm_tui.screens.monitor import MonitorScreen
from hrm_tui.widgets.monitor.alerts import AlertBanner
from hrm_tui.widgets.monitor.curves import CurvesPanel
from hrm_tui.widgets.monitor.logs import LogsPanel
from hrm_tui.widgets.monitor.progress import ProgressPanel
from hrm_tui.widgets.monitor.system import SystemPanel

from .tui_monitor_helpers import MonitorHost, as_text, emit, fast_settings, pilot_test, wait_for


@pilot_test
async def test_follows_a_run_while_it_is_written(tmp_path):
    run = SyntheticRun(total_steps=400, eval_interval=100, end_status=None)
    events = run.events()
    app = MonitorHost(tmp_path, settings=fast_settings(clock=lambda: run.time_at(400)))
    async with app.run_test(size=(160, 48)) as pilot:
        screen: MonitorScreen = app.monitor
        with EventWriter(tmp_path) as writer:
            for event in events:
                emit(writer, event)
                if isinstance(event, Train) and event.step == 150:
                    break
            await wait_for(pilot, lambda: screen.run.model.latest_train_step == 150, what="step 150")
            await pilot.pause(0.2)
            assert "step 150 / 400" in as_text(screen.query_one(ProgressPanel).render())

            for event in events:  # the rest of the run, while the screen is open
                emit(writer, event)
            await wait_for(pilot, lambda: screen.run.model.latest_train_step == 400, what="step 400")
        await wait_for(pilot, lambda: "step 400 / 400" in as_text(screen.query_one(ProgressPanel).render()), what="progress")
        curves = as_text(screen.query_one(CurvesPanel).render())
        assert "lm_loss" in curves and "└0" in curves and "400" in curves
        assert [step for step, _ in screen.run.model.eval_trend_points["all"]] == [100, 200, 300, 400]


@pilot_test
async def test_partial_line_and_truncated_file_do_not_break_it(tmp_path):
    write_run(tmp_path, SyntheticRun(total_steps=300, eval_interval=100, end_status=None))
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(120, 40)) as pilot:
        model = app.monitor.run.model
        await wait_for(pilot, lambda: model.latest_train_step == 300, what="the first run")
        with open(tmp_path / "events.jsonl", "a") as f:  # a writer that died mid-line
            f.write('{"v":1,"type":"train","step":301,"metrics":{"lm_lo')
        await pilot.pause(0.3)
        assert model.latest_train_step == 300

        # The log is truncated and a new, shorter run starts writing into it.
        write_run(tmp_path, SyntheticRun(total_steps=40, eval_interval=20, seed=1, end_status=None))
        await wait_for(pilot, lambda: model.latest_train_step == 40, what="the restarted log")
        await pilot.pause(0.2)
        assert "step 40 / 40" in as_text(app.monitor.query_one(ProgressPanel).render())
        assert [step for step, _ in model.eval_trend_points["all"]] == [20, 40]


@pilot_test
async def test_keyboard_focus_hide_maximise(tmp_path):
    write_run(tmp_path, SyntheticRun(total_steps=200, eval_interval=100))
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.monitor
        await wait_for(pilot, lambda: screen.loaded_stage() == "exact")
        await pilot.press("4")
        assert screen.focused is screen.panel("halting")
        await pilot.press("m")
        assert screen.maximized is screen.panel("halting")
        await pilot.press("m")
        assert screen.maximized is None
        await pilot.press("h")
        assert not screen.panel("halting").display
        await pilot.press("3", "h")
        assert not screen.panel("system").display
        await pilot.press("6", "h")
        assert not screen.query_one("#right").display  # its panels are all hidden: the column goes too
        await pilot.press("a")
        assert all(panel.display for panel in screen.panels)
        assert screen.query_one("#right").display


@pilot_test
async def test_curves_keys_change_the_plot(tmp_path):
    write_run(tmp_path, SyntheticRun(total_steps=3000, eval_interval=500))
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.monitor
        curves = screen.query_one(CurvesPanel)
        await wait_for(pilot, lambda: screen.loaded_stage() == "exact")
        await pilot.press("1", "z")
        assert curves.zoom == 100_000 and curves.x_range() == (0.0, 3000.0)  # the run is shorter than the zoom
        await pilot.press("z", "z")
        assert curves.x_range() == (2000.0, 3000.0)
        await pilot.press("l", "s")
        text = as_text(curves.render())
        assert "smooth 0.6 · last 1000 · log" in text and "└2000" in text  # the legend names the view's state
        await pilot.press("e")
        assert curves.phase == "train"
        assert "● eval" not in as_text(curves.render())

        await pilot.press("c")  # choose metrics: only lr
        picker = app.screen
        selection = picker.query_one(SelectionList)
        selection.deselect_all()
        selection.select("lr")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.screen is screen and curves.shown == ["lr"]
        assert as_text(curves.render()).startswith("lr")


@pilot_test
async def test_compare_overlays_runs_with_a_colour_each(tmp_path):
    first, second = tmp_path / "a" / "run", tmp_path / "b" / "run"
    write_run(first, SyntheticRun(total_steps=200, eval_interval=100))
    write_run(second, SyntheticRun(total_steps=300, eval_interval=100, seed=5))
    app = MonitorHost(first, [second], settings=fast_settings())
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.monitor
        await wait_for(pilot, lambda: screen.loaded_stage() == "exact")
        curves = screen.query_one(CurvesPanel)
        text = as_text(curves.render())
        assert "● a/run train" in text and "● b/run train" in text
        assert curves.x_range() == (0.0, 300.0)
        styles = {span.style for line in curves._plot("lm_loss", 70, 10, (0, 300)) for span in line.spans}
        assert {screen.views[0].color, screen.views[1].color} <= styles


@pilot_test
async def test_alert_banner_for_a_failed_run(tmp_path):
    write_run(tmp_path, SyntheticRun(total_steps=100, eval_interval=50, end_status="failed"))
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(120, 40)) as pilot:
        banner = app.monitor.query_one(AlertBanner)
        await wait_for(pilot, lambda: bool(banner.alerts), what="an alert")
        text = as_text(banner.render())
        assert "Run failed: RuntimeError: synthetic failure" in text
        assert 'File "pretrain.py", line 1' in text
        assert banner.has_class("-error") and banner.display
        await pilot.press("x")
        assert not banner.alerts and not banner.has_class("-shown")


@pilot_test
async def test_alert_banner_for_nonfinite_loss_and_a_stalled_run(tmp_path):
    run = SyntheticRun(total_steps=100, eval_interval=50, end_status=None)
    write_run(tmp_path, run)
    # The run's process is this test's process (alive), recorded as the launcher records it.
    me = psutil.Process(os.getpid())
    (tmp_path / "launch.json").write_text(json.dumps(
        {"pid": me.pid, "create_time": me.create_time(), "cmdline": me.cmdline()}))
    now = [run.time_at(100) + 10]
    app = MonitorHost(tmp_path, settings=fast_settings(clock=lambda: now[0]))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.monitor
        banner = screen.query_one(AlertBanner)
        await wait_for(pilot, lambda: screen.status == "running" and screen.run.model.loaded == "exact")
        await pilot.pause(0.2)
        assert banner.alerts == []

        now[0] += 3600  # an hour without a single event (and so without progress) from a live process
        await wait_for(pilot, lambda: [a.key for a in banner.alerts] == ["stalled"], what="stalled")
        assert "Run stalled: no progress for 1h 00m" in as_text(banner.render())
        assert screen.status == "stalled" and "stalled" in as_text(screen.query_one(ProgressPanel).render())

        with EventWriter(tmp_path) as writer:
            writer.write(Train(step=101, epoch=1.01, time=now[0], metrics={"lm_loss": float("inf"), "accuracy": 0.5}))
        await wait_for(pilot, lambda: "nonfinite" in [a.key for a in banner.alerts], what="nonfinite")
        assert "train lm_loss = inf at step 101" in as_text(banner.render())


@pilot_test
async def test_no_gpu_line_and_na_fields_in_the_system_panel(tmp_path):
    write_run(tmp_path, SyntheticRun(total_steps=50, eval_interval=50))
    # The real sampler: on a machine without NVIDIA driver it must say so in one line and go on.
    app = MonitorHost(tmp_path, settings=fast_settings(system_sampler=None))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.monitor
        await wait_for(pilot, lambda: screen.system_snapshots > 0)
        panel = screen.query_one(SystemPanel)
        text = as_text(panel.render())
        if panel.snapshot.gpus:
            assert "GPU0" in text
        else:
            assert panel.snapshot.gpu_message.split(";")[0] in text
        assert "host  cpu" in text

    # A GPU whose power limit NVML could not read: that one field is n/a, the others are shown.
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.monitor.system_snapshots > 0)
        text = as_text(app.monitor.query_one(SystemPanel).render())
        assert "power 612W/n/a" in text and "temp 64°C" in text and "util  97%" in text


@pilot_test
async def test_logs_tail_and_search(tmp_path):
    write_run(tmp_path, SyntheticRun(total_steps=100, eval_interval=50))
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.monitor
        logs = screen.query_one(LogsPanel)
        await wait_for(pilot, lambda: len(logs._order) > 10, what="log lines")
        with open(tmp_path / "stdout.log", "a") as f:
            f.write("progress 10%\rprogress 100%\nNEEDLE in the haystack\n")
        await wait_for(pilot, lambda: any("NEEDLE" in line for _, line in logs._order), what="appended lines")
        assert ("stdout", "progress 100%") in logs._order  # carriage-return rewrites resolved
        await pilot.press("6", "slash")
        await pilot.press(*"needle")
        assert logs.query_text == "needle"
        shown = [strip.text for strip in logs.query_one(RichLog).lines]
        assert shown == ["NEEDLE in the haystack"]
        await pilot.press("escape")
        assert logs.query_text == "" and len(logs.query_one(RichLog).lines) > 10


@pilot_test
async def test_a_panel_key_typed_ahead_acts_on_the_panel_just_chosen(tmp_path):
    """Over a slow link `5m` arrives in one read: `m` must maximise the samples panel that `5` chose, not
    the panel that had focus before (Widget.focus() only takes effect after the queued keys)."""
    write_run(tmp_path, SyntheticRun(total_steps=200, eval_interval=100))
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.monitor
        await wait_for(pilot, lambda: screen.loaded_stage() == "exact")
        assert screen.focused is screen.panel("curves")
        for key in ("5", "m"):  # both queued before either is handled
            app.post_message(events.Key(key, key))
        await wait_for(pilot, lambda: screen.maximized is not None, what="a panel maximised")
        assert screen.maximized is screen.panel("samples")


@pilot_test
async def test_progress_keeps_every_fact_in_80_columns_and_a_lost_run_has_no_eta(tmp_path):
    run = SyntheticRun(total_steps=1000, eval_interval=100, end_status=None)
    write_run(tmp_path, run, last_step=400)
    now = [run.time_at(400) + 5]
    app = MonitorHost(tmp_path, settings=fast_settings(clock=lambda: now[0]))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.monitor
        panel = screen.query_one(ProgressPanel)
        await wait_for(pilot, lambda: screen.run.model.latest_train_step == 400 and screen.status == "running", what="step 400")
        await pilot.pause(0.2)
        shown = as_text(panel.render(), width=panel.content_size.width)
        assert "…" not in shown, shown  # nothing cut off: long facts go to another line
        for fact in ("step 400 / 1,000", "epoch", "elapsed", "throughput", "ETA", "checkpoint", "last event"):
            assert fact in shown, f"{fact!r} not shown in\n{shown}"
        assert panel.outer_size.height == len(shown.rstrip("\n").splitlines()) + 2  # the box grew to hold them

        now[0] += 24 * 3600  # no event for a day and no pid to check: the run is lost, no time left to estimate
        await wait_for(pilot, lambda: screen.status == "lost", what="the lost status")
        await pilot.pause(0.1)
        assert "ETA" not in as_text(panel.render(), width=panel.content_size.width)
