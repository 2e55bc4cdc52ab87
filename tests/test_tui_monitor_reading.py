"""Reading a run in the monitor (issue 11, "Reading a run"; issue 12, item 4): the real app, real keys, and a
real TRM run from the trainer (no q_continue_loss: TRM's no_ACT_continue) or synthetic runs.

- logs: wrap or scroll sideways, follow or hold, j/k/g/G, escape clears a search before it restores;
- curves: a cursor readout of every series of every run, the view's state in the legend, every row used;
- samples: as many as fit, for every puzzle kind and size, still paging;
- a TRM run in every panel: no empty curve, no misleading default, no alert about the missing metric.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from textual.widgets import SelectionList

from hrm_core.data.format import DatasetMetadata
from hrm_core.rundir.events import PuzzleDescription, RunStart, Sample, Samples, Train
from hrm_core.rundir.files import STDOUT_FILE
from hrm_core.rundir.writer import EventWriter
from hrm_tui.bench.synthetic_run import PUZZLES, SyntheticRun, write_run
from hrm_tui.monitoring.run_model import TRAIN
from hrm_tui.widgets.monitor.alerts import AlertBanner
from hrm_tui.widgets.monitor.curves import CurvesPanel
from hrm_tui.widgets.monitor.halting import HaltingPanel
from hrm_tui.widgets.monitor.logs import LogsPanel
from hrm_tui.widgets.monitor.samples import SamplesPanel

from .test_tui_monitor_samples import ARC, MAZE, SUDOKU, arc_sample, maze_sample, sudoku_sample
from .training_helpers import TINY_ARCH, pretrain_argv, trainer_env, write_tiny_dataset
from .tui_monitor_helpers import MonitorHost, as_text, fast_settings, pilot_test, wait_for


@pytest.fixture(scope="module")
def trm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the real trainer with arch=trm (no_ACT_continue: true, TRM's default), its step lines
    in stdout.log as a launched run has them."""
    root = tmp_path_factory.mktemp("trm")
    data = write_tiny_dataset(root / "data")
    run_dir = root / "run"
    run_dir.mkdir()
    overrides = ["arch=trm", f"data_path={data}", f"checkpoint_path={run_dir}", *TINY_ARCH, "global_batch_size=8",
                 "epochs=20", "eval_interval=10", "lr=1e-3", "lr_warmup_steps=10", "log_interval=1"]
    with open(run_dir / STDOUT_FILE, "w") as stdout:
        done = subprocess.run(pretrain_argv(overrides), env=trainer_env(), stdout=stdout, stderr=subprocess.PIPE,
                              text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir


def _metrics_logged(run_dir: Path) -> set[str]:
    from .training_helpers import wire_events

    return {name for event in wire_events(run_dir, "train") for name in event["metrics"]}


# ---------------------------------------------------------------------------------------------------------
# A TRM run in every panel


@pilot_test
async def test_a_trm_run_without_q_continue_loss_in_every_panel(trm_run: Path, tmp_path: Path):
    assert "q_continue_loss" not in _metrics_logged(trm_run) and "q_halt_loss" in _metrics_logged(trm_run)
    settings = fast_settings(curves=("lm_loss", "q_halt_loss", "q_continue_loss", "exact_accuracy"))
    app = MonitorHost(trm_run, settings=settings)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.monitor
        await wait_for(pilot, lambda: screen.loaded_stage() == "exact" and screen.status == "finished", what="the run")
        curves = screen.query_one(CurvesPanel)
        offered = curves.logged_metrics()
        assert "q_continue_loss" not in offered and {"lm_loss", "q_halt_loss", "exact_accuracy", "lr"} <= set(offered)
        text = as_text(curves.render())
        assert "q_halt_loss  ● train" in text  # drawn, with its values
        assert "q_continue_loss" in text and text.count("not logged by this run") == 1 and "no data yet" not in text
        # The metric picker offers what the run logs (and what is shown, so it can be taken off).
        await pilot.press("1", "c")
        picker = app.screen.query_one(SelectionList)
        options = [picker.get_option_at_index(i).value for i in range(picker.option_count)]
        assert options[:len(offered)] == offered and "count" not in options
        picker.deselect("q_continue_loss")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert curves.shown == ["lm_loss", "q_halt_loss", "exact_accuracy"]
        await pilot.press("c")
        options = [app.screen.query_one(SelectionList).get_option_at_index(i).value
                   for i in range(app.screen.query_one(SelectionList).option_count)]
        assert "q_continue_loss" not in options
        await pilot.press("escape")
        # No alert: nothing about the missing metric, nothing else wrong with a healthy finished run.
        assert screen.query_one(AlertBanner).alerts == []
        # Halting, samples and progress read the run.
        assert "train @" in as_text(screen.query_one(HaltingPanel).render())
        samples = screen.query_one(SamplesPanel)
        await wait_for(pilot, lambda: samples._drawn is not None, what="the samples")
        header = as_text(samples.query_one("#samples-header").content)
        assert "eval 2/2" in header and "q_halt" in as_text(samples.query_one("#samples-body").content) + header
        progress = app.screen._compositor.render_strips()
        assert any("finished" in strip.text for strip in progress)

    # Overlaid with an HRM run, which logs q_continue_loss: offered, drawn for the HRM run alone.
    hrm = tmp_path / "hrm"
    write_run(hrm, SyntheticRun(total_steps=100, eval_interval=50))
    app = MonitorHost(trm_run, [hrm], settings=settings)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.monitor
        await wait_for(pilot, lambda: screen.loaded_stage() == "exact", what="both runs")
        curves = screen.query_one(CurvesPanel)
        assert "q_continue_loss" in curves.logged_metrics()
        lines = [line.strip() for line in as_text(curves.render()).splitlines()]
        legend = next(line for line in lines if line.startswith("q_continue_loss")).split("exact_accuracy")[0]
        assert "hrm train" in legend and "run train" not in legend


# ---------------------------------------------------------------------------------------------------------
# Logs


def visible_text(log) -> list[str]:
    """The log's lines as the panel shows them now: its scroll offsets applied, cut to its width."""
    region = log.scrollable_content_region
    x, y = int(log.scroll_x), int(log.scroll_y)
    return [strip.text[x:x + region.width] for strip in log.lines[y:y + region.height]]


@pilot_test
async def test_logs_wrap_scroll_sideways_follow_and_move(trm_run: Path, tmp_path: Path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trm_run, run_dir)
    app = MonitorHost(run_dir, settings=fast_settings())
    async with app.run_test(size=(160, 48)) as pilot:
        logs = app.monitor.query_one(LogsPanel)
        await wait_for(pilot, lambda: len(logs._order) > 50, what="the step lines")
        await pilot.press("6")
        log = logs.log
        width = log.scrollable_content_region.width
        step_lines = [line for _, line in logs._order if line.startswith("step ")]
        assert max(len(line) for line in step_lines) > width  # at 160 columns a step line is wider than the panel
        await pilot.pause(0.2)
        shown = visible_text(log)
        assert any(line.startswith("step ") for line in shown) and not any("exact" in line for line in shown)

        # Unwrapped: → scrolls sideways until acc and exact show.
        await pilot.press("right")
        await pilot.pause(0.1)
        assert log.scroll_x > 0 and any("acc" in line and "exact" in line for line in visible_text(log))
        for _ in range(6):
            await pilot.press("right")
        assert log.scroll_x == log.max_scroll_x  # as far as the widest line goes
        for _ in range(6):
            await pilot.press("left")
        assert log.scroll_x == 0

        # Wrapped: every line fits the panel, and the end of each step line is on screen.
        await pilot.press("w")
        await pilot.pause(0.2)
        assert logs.wrap and log.virtual_size.width <= width
        assert any("exact" in line for line in visible_text(log))
        assert "wrap" in as_text(logs.query_one("#logs-header").content)
        await pilot.press("w")
        await pilot.pause(0.2)
        assert not logs.wrap and log.virtual_size.width > width

        # Following: the newest line is in view; moving up holds the view while lines arrive.
        assert logs.follow and log.scroll_y == log.max_scroll_y
        await pilot.press("k", "k", "k")
        held_at = log.scroll_y
        assert not logs.follow and held_at == log.max_scroll_y - 3
        assert "held" in as_text(logs.query_one("#logs-header").content)
        with open(run_dir / STDOUT_FILE, "a") as f:
            f.write("".join(f"appended line {i}\n" for i in range(30)))
        await wait_for(pilot, lambda: ("stdout", "appended line 29") in logs._order, what="appended lines")
        await pilot.pause(0.1)
        assert log.scroll_y == held_at
        await pilot.press("j")
        assert log.scroll_y == held_at + 1
        await pilot.press("G")  # the end, and following again
        await pilot.pause(0.1)
        assert logs.follow and log.scroll_y == log.max_scroll_y
        assert visible_text(log)[-1].startswith("appended line 29")
        await pilot.press("g")
        assert log.scroll_y == 0 and not logs.follow
        await pilot.press("f")  # follow again: to the end
        await pilot.pause(0.1)
        assert logs.follow and log.scroll_y == log.max_scroll_y


@pilot_test
async def test_escape_in_a_maximised_log_panel_clears_the_search_first(trm_run: Path):
    app = MonitorHost(trm_run, settings=fast_settings())
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.monitor
        logs = screen.query_one(LogsPanel)
        await wait_for(pilot, lambda: len(logs._order) > 50, what="the step lines")
        await pilot.press("6", "m", "slash", *"checkpoint", "enter")  # a kept filter: the box is closed
        assert screen.maximized is logs and logs.query_text == "checkpoint"
        assert all("checkpoint" in strip.text for strip in logs.log.lines)
        await pilot.press("escape")  # clears the filter, keeps the layout
        assert logs.query_text == "" and screen.maximized is logs
        assert len(logs.log.lines) == len(logs._order)
        await pilot.press("escape")  # then restores it
        assert screen.maximized is None
        # With the search box open, typed letters are the search, not the panel's keys (w, f, g, j, ...).
        await pilot.press("slash", *"wfgjkGo")
        assert logs.query_text == "wfgjkGo" and not logs.wrap and logs.follow and screen.maximized is None
        await pilot.press("escape")
        assert logs.query_text == "" and not logs.has_class("-searching")


# ---------------------------------------------------------------------------------------------------------
# Curves


@pilot_test
async def test_the_cursor_reads_every_series_of_every_run(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, SyntheticRun(total_steps=2000, eval_interval=500, seed=1))
    write_run(b, SyntheticRun(total_steps=1000, eval_interval=250, seed=2))
    app = MonitorHost(a, [b], settings=fast_settings(curves=("lm_loss",)))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.monitor
        await wait_for(pilot, lambda: screen.loaded_stage() == "exact", what="both runs")
        curves = screen.query_one(CurvesPanel)
        assert "@" not in as_text(curves.render()).splitlines()[0]  # no cursor: latest and best values
        await pilot.press("1", "left")  # the cursor appears at the newest step
        assert curves.cursor == 2000
        for _ in range(10):
            await pilot.press("left")
        step = curves.cursor
        assert 1500 < step < 2000
        text = as_text(curves.render())
        assert f"lm_loss @{step:.0f}" in text and "┴" in text
        for view in screen.views:
            history = view.model.history(TRAIN, "", "lm_loss")
            at, value = history.value_at(step)
            assert at <= step
        # Run b ended at step 1000: its values are those of its last point, marked with their step.
        b_train = screen.views[1].model.history(TRAIN, "", "lm_loss")
        assert b_train.value_at(step)[0] == 1000 and "b train" in text and "(@1000)" in text
        a_train = screen.views[0].model.history(TRAIN, "", "lm_loss")
        from hrm_tui.monitoring.plot import compact_number

        assert f"a train {compact_number(a_train.value_at(step)[1])}" in text
        await pilot.press("shift+left")
        assert curves.cursor < step
        await pilot.press("home")
        assert curves.cursor == 0
        await pilot.press("end")
        assert curves.cursor == 2000
        # escape hides the cursor first, then restores a maximised panel.
        await pilot.press("m", "escape")
        assert curves.cursor is None and screen.maximized is curves
        await pilot.press("escape")
        assert screen.maximized is None


@pilot_test
async def test_the_legend_names_smoothing_zoom_and_log_and_every_row_is_used(tmp_path: Path):
    write_run(tmp_path, SyntheticRun(total_steps=3000, eval_interval=500))
    five = ("lm_loss", "accuracy", "exact_accuracy", "steps", "q_halt_loss")
    app = MonitorHost(tmp_path, settings=fast_settings(curves=five))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.monitor
        await wait_for(pilot, lambda: screen.loaded_stage() == "exact", what="the run")
        curves = screen.query_one(CurvesPanel)
        width, height = curves.content_size
        assert curves.row_layout(width, height) == [2, 2, 1]
        lines = as_text(curves.render(), width=width).splitlines()
        # The fifth plot spans the whole row: its x axis runs to the panel's right edge.
        axis = [line for line in lines if line.lstrip().startswith("└")][-1]
        assert axis.rstrip().endswith("3000") and len(axis.rstrip()) >= width - 2
        assert lines[0].startswith("lm_loss  ● train") and "smooth" not in lines[0]
        await pilot.press("1", "s", "s", "z", "z", "l", "e")
        legend = as_text(curves.render(), width=width).splitlines()[:2]
        assert legend[0].startswith("lm_loss  smooth 0.9 · last 10k · log")
        assert "accuracy  smooth 0.9 · last 10k · log" in legend[0]
        assert "● train" in legend[1] and "● eval" not in legend[1]  # the values wrap; train only
        for count, expected in ((1, [1]), (3, [2, 1]), (4, [2, 2]), (6, [2, 2, 2])):
            curves.shown = list(five + ("lr",))[:count]
            assert curves.row_layout(width, height) == expected


# ---------------------------------------------------------------------------------------------------------
# Samples


def _write_kind_run(run_dir: Path, puzzle: dict, samples: list[dict]) -> None:
    with EventWriter(run_dir) as writer:
        writer.write(RunStart(total_steps=10, halt_max_steps=16, puzzle=PuzzleDescription(**puzzle)))
        writer.write(Train(step=10, epoch=1.0, total_steps=10, metrics={"lm_loss": 1.0}))
        writer.write(Samples(step=10, epoch=1.0, set="all", puzzle=PuzzleDescription(**puzzle),
                             samples=[Sample(**sample) for sample in samples]))


def _synthetic_samples(kind: str, count: int) -> list[dict]:
    run = SyntheticRun(kind=kind)
    out = []
    for i in range(count):
        sample = run.sample(100, i)
        out.append({f: getattr(sample, f) for f in ("name", "input", "label", "prediction", "q_halt", "q_halt_prob",
                                                     "steps", "exact")})
    return out


KINDS = {
    "sudoku 4x4": (SUDOKU, [{**sudoku_sample(), "name": f"s{i}"} for i in range(12)]),
    "sudoku 9x9": (PUZZLES["sudoku"], _synthetic_samples("sudoku", 6)),
    "arc 3x3": (ARC, [{**arc_sample(), "name": f"a{i}"} for i in range(12)]),
    "arc 30x30": (PUZZLES["arc"], _synthetic_samples("arc", 3)),
    "maze 4x5": (MAZE, [{**maze_sample(), "name": f"m{i}"} for i in range(12)]),
    "maze 30x30": (PUZZLES["maze"], _synthetic_samples("maze", 3)),
}


@pytest.mark.parametrize("kind", list(KINDS))
@pilot_test
async def test_as_many_samples_as_fit_for_every_kind_and_size(tmp_path: Path, kind: str):
    puzzle, samples = KINDS[kind]
    _write_kind_run(tmp_path, puzzle, samples)
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(160, 48)) as pilot:
        panel = app.monitor.query_one(SamplesPanel)
        await wait_for(pilot, lambda: panel._drawn is not None, what="the samples")
        for maximised in (False, True):
            if maximised:
                await pilot.press("5", "m")
                await wait_for(pilot, lambda: panel._drawn[-1] == panel._body_area(), what="the maximised draw")
                panel.sample_index = 0
                panel.update_view()
            width, height = panel._body_area()
            body = as_text(panel.query_one("#samples-body").content, width=400).splitlines()
            header = as_text(panel.query_one("#samples-header").content)
            if panel.per_page > 1:  # several: all of them inside the panel, none cut
                assert max(len(line.rstrip()) for line in body) <= width, kind
                assert len(body) <= height, kind
                assert f"samples 1-{panel.per_page} of {len(samples)}" in header
                names = [s["name"] for s in samples[:panel.per_page]]
                assert all(name in "\n".join(body) for name in names)
            else:
                assert f"sample 1/{len(samples)}" in header
            # Paging covers every sample once.
            seen = []
            panel.sample_index = 0
            while True:
                panel.update_view()
                text = as_text(panel.query_one("#samples-header").content) + as_text(panel.query_one("#samples-body").content, width=400)
                seen += [s["name"] for s in samples[panel.sample_index:panel.sample_index + panel.per_page] if s["name"] in text]
                if panel.sample_index + panel.per_page >= len(samples):
                    break
                before, page = panel.sample_index, panel.per_page
                await pilot.press("5", "right")
                assert panel.sample_index == before + page
            assert len(seen) == len(samples) or len({s["name"] for s in samples}) < len(samples)
            if kind == "sudoku 4x4":
                assert panel.per_page >= (6 if maximised else 2)
            if kind == "maze 30x30" and not maximised:  # two 60-column grids: one sample fills the panel
                assert panel.per_page == 1
