"""The curves panel: train and eval metrics against step, one small plot per chosen metric.

Keys (when focused): `c` choose metrics, `[` `]` page through them when they do not all fit, `s` smoothing,
`l` log y, `z` zoom (whole run / last N steps), `+` `-` zoom in and out, `e` train / eval / both,
`b` braille or block characters, `←` `→` a cursor (shift: ten times as far, Home / End the ends, escape
hides it).

Each plot draws train as the min..max envelope of the values under each column (or, when smoothed, the
smoothed mean) and eval as a line on top; with several runs each run has its own colour. The legend (the
title line) carries the latest and the best value of every curve, or with the cursor shown each curve's
value at the cursor's step, and names the smoothing, zoom and log state when they are not the default.
Plots fill every row: when the count does not divide evenly, a row with fewer plots gives each more width.
"""

from __future__ import annotations

import math
import threading
import time

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from hrm_core.rundir.metrics import NOT_PLOTTED, PLOTTED, Better, MetricSpec, metric_spec
from hrm_core.rundir.sanitize import safe_text
from hrm_tui.monitoring.metrics_store import CurvePoints, MetricHistory
from hrm_tui.monitoring.plot import BLOCK, BRAILLE, ENVELOPE, LINE, PlotSeries, compact_number, ema, render_plot
from hrm_tui.monitoring.run_model import EVAL, LOAD_STAGES, TRAIN, RunSnapshot
from hrm_tui.monitoring.settings import DEFAULT_CURVES
from hrm_tui.widgets.check_list import CheckList
from hrm_tui.widgets.monitor.panel import EVAL_COLOR, TRAIN_COLOR, MonitorPanel, RunView


# The metrics offered, in the metric table's order (hrm_core.rundir.metrics: titles and "best" directions).
CURVES = PLOTTED

SMOOTHING_LEVELS = (0.0, 0.6, 0.9, 0.99)
ZOOM_LEVELS = (None, 100_000, 10_000, 1_000)  # None: the whole run; else the last N steps
PHASES = ("both", TRAIN, EVAL)  # what the plots show: `e` cycles
MIN_PLOT_WIDTH = 44
MIN_PLOT_HEIGHT = 7


class MetricPicker(ModalScreen[list[str]]):
    """Chooses the metrics the curves panel shows."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("enter", "apply", "Apply", priority=True)]
    DEFAULT_CSS = """
    MetricPicker { align: center middle; }
    MetricPicker > Vertical { width: 50; height: auto; max-height: 90%; border: round $accent; background: $surface; }
    MetricPicker CheckList { height: auto; max-height: 20; }
    """

    def __init__(self, available: list[str], shown: list[str]):
        super().__init__()
        self.available = available
        self.shown = shown

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Metrics to plot (space toggles, enter applies)")
            # Metric names come from the run's log: shown as plain, sanitised text (a prompt string is markup).
            yield CheckList[str](*[(Text(safe_text(metric_spec(k).plot_title)), k, k in self.shown) for k in self.available])

    def action_apply(self) -> None:
        chosen = list(self.query_one(CheckList).selected)
        self.dismiss([k for k in self.available if k in chosen] or self.shown)

    def action_cancel(self) -> None:
        self.dismiss(self.shown)


class CurvesPanel(MonitorPanel):
    PANEL_ID = "curves"
    PANEL_TITLE = "Curves"
    PANEL_KEY = "1"

    BINDINGS = [
        Binding("c", "choose", "Metrics"),
        Binding("s", "smoothing", "Smooth"),
        Binding("l", "log_y", "Log y"),
        Binding("z", "zoom", "Zoom"),
        Binding("plus,equals_sign", "zoom_in", "Zoom in", show=False),
        Binding("minus", "zoom_out", "Zoom out", show=False),
        Binding("left_square_bracket", "page(-1)", "Previous metrics", show=False),
        Binding("right_square_bracket", "page(1)", "Next metrics", show=False),
        Binding("e", "phase", "Train/eval"),
        Binding("b", "cell_mode", "Braille/block", show=False),
        Binding("right", "cursor(1)", "Cursor →", show=False),
        Binding("left", "cursor(-1)", "Cursor ←", show=False),
        Binding("shift+right", "cursor(10)", "Cursor →→", show=False),
        Binding("shift+left", "cursor(-10)", "Cursor ←←", show=False),
        Binding("home", "cursor_to(0)", "Cursor to start", show=False),
        Binding("end", "cursor_to(1)", "Cursor to end", show=False),
        Binding("escape", "hide_cursor", "Hide cursor", show=False),
    ]

    def __init__(self, runs: list[RunView], *, shown: tuple[str, ...] = DEFAULT_CURVES, cell_mode: str = BRAILLE):
        super().__init__()
        self.runs = runs
        self.shown = list(shown)
        self.first_shown = 0  # paging: index of the first metric drawn
        self.smoothing = 0.0
        self.log_y = False
        self.zoom: int | None = None
        self.phase = "both"
        self.cell_mode = cell_mode
        self.cursor: float | None = None  # the step the cursor reads, or None when hidden
        self._plot_columns = 40  # cells across the latest plot drawn: one cursor move is one cell
        self._note = ""
        # Each run as the screen last handed it over (`show_run`), in the order of `runs`.
        self.snapshots = [RunSnapshot(view.run_dir) for view in runs]
        # perf_counter() of the first draw at each load stage (run_model.LOAD_STAGES): what the bench measures.
        self.first_drawn: dict[str, float] = {}
        # Set once the whole run (every eval included) has been drawn: loaders wait on it before starting
        # their CPU-heavy exact pass, so that first full picture is not slowed down by it.
        self.overview_drawn = threading.Event()

    def on_mount(self) -> None:
        self.call_after_refresh(self._note_drawn, self._stage())

    def show_run(self, index: int, snapshot: RunSnapshot) -> None:
        """New data of runs[index], from the screen: redraws, and notes when each load stage is on screen."""
        self.snapshots[index] = snapshot
        self._show_subtitle()
        self.refresh()
        self.call_after_refresh(self._note_drawn, self._stage())

    def _stage(self) -> str:
        return min((snapshot.loaded for snapshot in self.snapshots), key=LOAD_STAGES.index)

    def _note_drawn(self, stage: str) -> None:
        self.first_drawn.setdefault(stage, time.perf_counter())
        if LOAD_STAGES.index(stage) >= LOAD_STAGES.index("overview"):
            self.overview_drawn.set()

    def _show_subtitle(self) -> None:
        stage = self._stage()
        self.border_subtitle = self._note if stage in ("exact", "nothing") else "reading the rest of the log…"

    # -- actions -------------------------------------------------------------------------------------------

    def logged_metrics(self) -> list[str]:
        """The curves the runs have: the metric table's order first, then names it does not know. A metric
        no run logs (TRM with no_ACT_continue logs no q_continue_loss) is not offered; before any run has
        logged a metric, the table's curves are."""
        logged = {name for run in self.snapshots for name in run.metric_names() if name not in NOT_PLOTTED}
        if not logged:
            return list(CURVES)
        return [name for name in CURVES if name in logged] + sorted(logged - set(CURVES))

    def action_choose(self) -> None:
        available = self.logged_metrics()
        available += [name for name in self.shown if name not in available]  # what is shown stays choosable

        def chosen(keys: list[str] | None) -> None:
            if keys:
                self.shown, self.first_shown = keys, 0
                self.refresh()

        self.app.push_screen(MetricPicker(available, self.shown), chosen)

    def action_smoothing(self) -> None:
        self.smoothing = _next(SMOOTHING_LEVELS, self.smoothing)
        self._changed(f"smoothing {self.smoothing:g}")

    def action_log_y(self) -> None:
        self.log_y = not self.log_y
        self._changed("log y" if self.log_y else "linear y")

    def action_zoom(self) -> None:
        self.zoom = _next(ZOOM_LEVELS, self.zoom)
        self._changed(self._zoom_label())

    def action_zoom_in(self) -> None:
        span = self._span()
        self.zoom = max(16, (self.zoom or max(span, 32)) // 2)
        self._changed(self._zoom_label())

    def action_zoom_out(self) -> None:
        if self.zoom is not None:
            self.zoom = None if self.zoom * 2 >= self._span() else self.zoom * 2
        self._changed(self._zoom_label())

    def action_page(self, delta: int) -> None:
        if self.shown:
            self.first_shown = (self.first_shown + delta) % len(self.shown)
            self.refresh()

    def action_phase(self) -> None:
        self.phase = _next(PHASES, self.phase)
        self._changed(f"showing {self.phase}")

    def action_cell_mode(self) -> None:
        self.cell_mode = BLOCK if self.cell_mode == BRAILLE else BRAILLE
        self.refresh()

    def action_cursor(self, cells: int) -> None:
        """Moves the cursor by `cells` plot cells (placing it at the newest step first)."""
        x0, x1 = self.x_range()
        if self.cursor is None:
            self.cursor = x1
        else:
            per_cell = max((x1 - x0) / max(self._plot_columns - 1, 1), 1.0)
            self.cursor = min(max(self.cursor + cells * per_cell, x0), x1)
        self._changed(f"cursor at step {self.cursor:.0f}")

    def action_cursor_to(self, end: int) -> None:
        x0, x1 = self.x_range()
        self.cursor = x1 if end else x0
        self._changed(f"cursor at step {self.cursor:.0f}")

    def action_hide_cursor(self) -> None:
        self.cursor = None
        self._changed("cursor hidden")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "hide_cursor":  # escape: hides the cursor first; else it restores a maximised panel
            return self.cursor is not None
        return True

    def cursor_step(self) -> float | None:
        """The cursor's step, kept inside the steps shown (a zoom or a new step moves the range)."""
        if self.cursor is None:
            return None
        x0, x1 = self.x_range()
        return min(max(self.cursor, x0), x1)

    def state_label(self) -> str:
        """What the legend says about the view when it is not the default: smoothing, zoom, log y."""
        parts = []
        if self.smoothing > 0:
            parts.append(f"smooth {self.smoothing:g}")
        if self.zoom is not None:
            parts.append(f"last {compact_number(self.zoom)}")
        if self.log_y:
            parts.append("log")
        return " · ".join(parts)  # the phase shown needs no word: the legend lists only its curves

    def _changed(self, what: str) -> None:
        self._note = what  # shown under the panel: what the last key did
        self._show_subtitle()
        self.refresh()

    def _zoom_label(self) -> str:
        return "whole run" if self.zoom is None else f"last {compact_number(self.zoom)} steps"

    # -- drawing -------------------------------------------------------------------------------------------

    def _span(self) -> int:
        return max((run.latest_step for run in self.snapshots), default=0)

    def x_range(self) -> tuple[float, float]:
        newest = max(self._span(), 1)
        if self.zoom is None:
            return 0.0, float(newest)
        return float(max(0, newest - self.zoom)), float(newest)

    def layout_slots(self, width: int, height: int) -> tuple[int, int]:
        """(columns, rows) of plots that fit."""
        columns = max(1, min(len(self.shown), width // MIN_PLOT_WIDTH, 2))
        rows = max(1, height // MIN_PLOT_HEIGHT)
        return columns, rows

    def row_layout(self, width: int, height: int) -> list[int]:
        """How many plots each row holds: as even as possible, so that no row is left half empty (5 plots in
        rows of 2 are 2 + 2 + 1, the last one as wide as the row)."""
        columns, rows = self.layout_slots(width, height)
        count = min(len(self.shown), columns * rows)
        if count == 0:
            return []
        rows = math.ceil(count / columns)
        return _split(count, rows)

    def render(self) -> RenderableType:
        width, height = self.content_size
        if not any(run.latest_step >= 0 for run in self.snapshots):
            return Text("waiting for the first training step…", style="dim")
        per_row = self.row_layout(width, height)
        hidden_note = None
        if sum(per_row) < len(self.shown):  # the last line says what does not fit, and how to page to it
            height -= 1
            per_row = self.row_layout(width, height)
        count = sum(per_row)
        keys = [self.shown[(self.first_shown + i) % len(self.shown)] for i in range(count)]
        if count < len(self.shown):
            hidden_note = _hidden_note([k for k in self.shown if k not in keys], width)
        heights = _split(height, len(per_row))
        x_range = self.x_range()

        lines: list[Text] = []
        first = 0
        for row, in_row in enumerate(per_row):
            widths = _split(width - (in_row - 1), in_row)  # one blank column between plots
            blocks = [self._plot(key, widths[j], heights[row], x_range) for j, key in enumerate(keys[first:first + in_row])]
            first += in_row
            for i in range(heights[row]):
                line = Text()
                for j, block in enumerate(blocks):
                    cell = block[i] if i < len(block) else Text()
                    cell.truncate(widths[j], pad=True)
                    line.append_text(cell)
                    if j + 1 < len(blocks):
                        line.append(" ")
                lines.append(line)
        if hidden_note is not None:
            lines.append(hidden_note)
        return Group(*lines)

    def _plot(self, key: str, width: int, height: int, x_range: tuple[float, float]) -> list[Text]:
        spec = metric_spec(key)
        series: list[PlotSeries] = []
        title = Text(safe_text(spec.plot_title), style="bold")
        values: list[Text] = []
        compare = len(self.runs) > 1
        cursor = self.cursor_step()
        for view, run in zip(self.runs, self.snapshots):
            histories = []
            if self.phase in ("both", TRAIN):
                histories.append((TRAIN, "", run.history(TRAIN, "", key)))
            if self.phase in ("both", EVAL):
                histories += [(EVAL, s, run.history(EVAL, s, key)) for s in run.eval_sets()]
            for phase, set_name, history in histories:
                if history is None or history.empty:
                    continue
                color = view.color if compare else (TRAIN_COLOR if phase == TRAIN else EVAL_COLOR)
                points = history.points(*x_range)
                style = LINE if phase == EVAL or self.smoothing > 0 else ENVELOPE
                if style == LINE and self.smoothing > 0:
                    points = _smoothed(points, self.smoothing)
                series.append(PlotSeries(points, color, style))
                name = (view.label + " " if compare else "") + (phase if phase == TRAIN or set_name == "all" else f"eval/{set_name}")
                name = safe_text(name)  # run labels and set names come from the run directory
                values.append(_value_label(name, history, spec, color) if cursor is None
                              else _cursor_label(name, history, cursor, color))
        if not series:
            logged = any(key in run.metric_names() for run in self.snapshots)
            has_data = any(run.metric_names() for run in self.snapshots)
            what = "no data yet" if logged or not has_data else f"not logged by {'these runs' if compare else 'this run'}"
            return [title, Text(what, style="dim")]
        if cursor is not None:
            title.append(f" @{cursor:.0f}", style="bold reverse")
        state = self.state_label()
        header = _wrap_legend(title, ([Text(state, style="dim")] if state else []) + values, width)
        series.sort(key=lambda s: s.style == LINE)  # lines (eval) on top of envelopes
        self._plot_columns = max(width - 8, 1)  # about the plot's cells (the y labels take the rest)
        segments = {step for run in self.snapshots for step in run.segment_steps}  # requeued jobs' segments begin
        return [*header, *render_plot(series, width, height - len(header), x_range, log_y=self.log_y, mode=self.cell_mode,
                                      cursor_x=cursor, markers_x=sorted(segments))]


def _hidden_note(hidden: list[str], width: int) -> Text:
    """`+2 plots hidden (exact_accuracy, ACT steps): ] next, [ previous`, cut to the panel's width."""
    names = ", ".join(safe_text(metric_spec(key).plot_title) for key in hidden)
    plots = "plot" if len(hidden) == 1 else "plots"
    note = Text(f"+{len(hidden)} {plots} hidden ({names}): ] next, [ previous", style="dim", no_wrap=True)
    if note.cell_len > width:  # the count and the keys matter most: the names give way first
        note = Text(f"+{len(hidden)} {plots} hidden: ] next, [ previous", style="dim", no_wrap=True)
    note.truncate(width, overflow="ellipsis")
    return note


def _value_label(name: str, history: MetricHistory, spec: MetricSpec, color: str) -> Text:
    text = Text()
    text.append("● ", style=color)
    text.append(f"{name} {compact_number(history.latest_value)}")
    if spec.better is not Better.NEITHER:
        best = history.extremes.max_value if spec.better is Better.HIGHER else history.extremes.min_value
        if math.isfinite(best):
            text.append(f" best {compact_number(best)}", style="dim")
    return text


def _cursor_label(name: str, history: MetricHistory, step: float, color: str) -> Text:
    """A curve's value at the cursor: the newest logged point at or before its step (an eval curve: the
    newest eval by then), with that point's step when it is not the cursor's."""
    text = Text()
    text.append("● ", style=color)
    found = history.value_at(step)
    if found is None:
        text.append(f"{name} -")
        return text
    at, value = found
    text.append(f"{name} {compact_number(value)}")
    if round(at) != round(step):
        text.append(f" (@{at:.0f})", style="dim")
    return text


def _wrap_legend(title: Text, values: list[Text], width: int, max_lines: int = 3) -> list[Text]:
    """The name, then the latest/best values: on the name's line while they fit, wrapped onto more after."""
    lines = [title.copy()]
    for value in values:
        if len(lines[-1].plain) + 2 + len(value.plain) <= width:
            lines[-1].append("  ")
            lines[-1].append_text(value)
        elif len(lines) < max_lines:
            lines.append(value.copy())
        else:
            lines[-1].append(" …")
            break
    return lines


def _smoothed(points: CurvePoints, smoothing: float) -> CurvePoints:
    mean = ema(points.mean, smoothing)
    return CurvePoints(points.x, mean, mean, mean, points.nonfinite_x)


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _next(levels: tuple, current):
    try:
        return levels[(levels.index(current) + 1) % len(levels)]
    except ValueError:
        return levels[0]
