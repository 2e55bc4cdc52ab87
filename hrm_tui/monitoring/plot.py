"""Terminal plots: curves drawn with braille dots or half blocks, sparklines and bar rows.

A curve is first reduced to one value range per pixel column (`downsample_to_columns`), so the cost of
drawing depends on the plot's width, not on how many points the curve has. Two cell modes:

- `braille`: each character cell is a 2x4 grid of dots (U+2800..U+28FF), the finest a terminal offers;
- `block`: each cell is 1x2 half blocks (▀ ▄ █), for fonts without braille glyphs.

A cell shows one colour, so where curves cross the later series wins (callers draw eval after train, so
the sparse eval line stays visible).

Everything here is a pure function of its inputs and returns Rich `Text`, so it is cheap to test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.text import Text

from hrm_tui.monitoring.metrics_store import CurvePoints

BRAILLE = "braille"
BLOCK = "block"
CELL_MODES = (BRAILLE, BLOCK)

# Pixels per cell (columns, rows) and the bit of each pixel inside a cell.
_CELL_PIXELS = {BRAILLE: (2, 4), BLOCK: (1, 2)}
_BRAILLE_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]])
_BLOCK_BITS = np.array([[1], [2]])
_BLOCK_GLYPHS = (" ", "▀", "▄", "█")

SPARK_GLYPHS = "▁▂▃▄▅▆▇█"
NONFINITE_MARK = "!"
SEGMENT_MARK = "┊"  # where a session began (a requeued job's next segment): through the empty cells of its column
SEGMENT_STYLE = "yellow"

ENVELOPE = "envelope"  # min..max of the values under each column: shows noise and spikes
LINE = "line"  # the (smoothed) mean only


@dataclass
class PlotSeries:
    """One curve to draw: its points, colour and how to draw it."""

    points: CurvePoints
    color: str
    style: str = ENVELOPE


def compact_number(value: float, digits: int = 3) -> str:
    """A short label for an axis or a value: 0.123, 1.23e-05, 12.3k, 4.56M, nan."""
    if value is None or not math.isfinite(value):
        return "n/a" if value is None else str(value).lower()
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1e4:
        for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if magnitude >= scale:
                return f"{value / scale:.{digits}g}{suffix}"
    if magnitude >= 10 ** digits:
        return f"{value:.0f}"
    if magnitude < 1e-3:
        return f"{value:.{max(1, digits - 1)}e}"
    return f"{value:.{digits}g}"


def ema(values: np.ndarray, smoothing: float) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing); `smoothing` in [0, 1)."""
    if smoothing <= 0 or values.size == 0:
        return values
    out = np.empty_like(values)
    average, weight = 0.0, 0.0
    for i, v in enumerate(values.tolist()):
        average = smoothing * average + (1 - smoothing) * v
        weight = smoothing * weight + (1 - smoothing)
        out[i] = average / weight
    return out


def downsample_to_columns(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, x0: float, x1: float, columns: int):
    """Per pixel column: (lo, hi) of the points in it, NaN where none. Returns two float arrays [columns]."""
    col_lo = np.full(columns, np.inf)
    col_hi = np.full(columns, -np.inf)
    if x.size:
        span = max(x1 - x0, 1e-12)
        column = np.clip(((x - x0) / span * (columns - 1)).round().astype(np.int64), 0, columns - 1)
        np.minimum.at(col_lo, column, lo)
        np.maximum.at(col_hi, column, hi)
    empty = ~np.isfinite(col_lo)
    col_lo[empty] = np.nan
    col_hi[empty] = np.nan
    return col_lo, col_hi


def _column_ranges_to_mask(col_lo: np.ndarray, col_hi: np.ndarray, rows: int) -> np.ndarray:
    """Pixel rows (0 = top) per column -> bool mask [rows, columns], joining neighbours into a line.

    Empty columns between filled ones are interpolated, and each column's range is stretched to meet the
    previous column's middle, so a sparse curve (evals) and a steep one both draw as connected lines.
    """
    columns = col_lo.size
    mask = np.zeros((rows, columns), dtype=bool)
    filled = np.flatnonzero(np.isfinite(col_lo))
    if filled.size == 0:
        return mask
    span = np.arange(filled[0], filled[-1] + 1)
    lo = np.interp(span, filled, col_lo[filled])
    hi = np.interp(span, filled, col_hi[filled])
    middle = (lo + hi) / 2
    previous = np.concatenate([middle[:1], middle[:-1]])
    top = np.rint(np.minimum(lo, previous)).astype(np.int64)
    bottom = np.rint(np.maximum(hi, previous)).astype(np.int64)
    row = np.arange(rows)[:, None]
    mask[:, span] = (row >= top[None, :]) & (row <= bottom[None, :])
    return mask


def _value_to_row(values: np.ndarray, y_min: float, y_max: float, rows: int) -> np.ndarray:
    """Pixel row of each value (0 = y_max at the top). Computed on halves, so that a range as wide as the
    floats themselves (-1e308 to 1e308, which a log may hold) does not overflow to inf and NaN rows."""
    span = y_max / 2 - y_min / 2
    return np.clip((y_max / 2 - values / 2) / span * (rows - 1), 0, rows - 1)


def y_range(series: Sequence[PlotSeries], log_y: bool) -> tuple[float, float] | None:
    """The finite (log10 when `log_y`) range covering every series' drawn values, or None when empty."""
    lows, highs = [], []
    for s in series:
        lo, hi = _drawn_values(s, log_y)
        finite_lo, finite_hi = lo[np.isfinite(lo)], hi[np.isfinite(hi)]
        if finite_lo.size:
            lows.append(float(finite_lo.min()))
            highs.append(float(finite_hi.max()))
    if not lows:
        return None
    y_min, y_max = min(lows), max(highs)
    if y_max - y_min < 1e-12:
        pad = abs(y_max) * 0.05 or 0.5
        y_min, y_max = y_min - pad, y_max + pad
    return y_min, y_max


def _drawn_values(series: PlotSeries, log_y: bool) -> tuple[np.ndarray, np.ndarray]:
    p = series.points
    lo, hi = (p.mean, p.mean) if series.style == LINE else (p.lo, p.hi)
    if log_y:
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = np.where(lo > 0, np.log10(np.where(lo > 0, lo, 1)), np.nan)
            hi = np.where(hi > 0, np.log10(np.where(hi > 0, hi, 1)), np.nan)
    return lo, hi


def render_plot(
    series: Sequence[PlotSeries],
    width: int,
    height: int,
    x_range: tuple[float, float],
    *,
    log_y: bool = False,
    mode: str = BRAILLE,
    axis_color: str = "bright_black",
    cursor_x: float | None = None,
    markers_x: Sequence[float] = (),
) -> list[Text]:
    """Draws curves into `width` x `height` cells, axes and labels included. Returns `height` lines.

    The y axis labels take the left columns, the x axis (first and last step) the bottom line. Columns
    where a series had non-finite values get a red "!" on the top row. `cursor_x` (a step inside x_range)
    draws a vertical cursor line through the empty cells of its column and a `┴` on the x axis. Each of
    `markers_x` (steps where a session began) draws a dotted line `┊` through the empty cells of its column.
    """
    if mode not in CELL_MODES:
        raise ValueError(f"unknown plot mode {mode!r}; use one of {', '.join(CELL_MODES)}")
    height = max(height, 2)
    plot_rows = height - 1
    bounds = y_range(series, log_y)
    labels = _y_labels(bounds, plot_rows, log_y)
    label_width = max(len(s) for s in labels) if labels else 0
    plot_cols = max(width - label_width - 1, 1)
    cell_w, cell_h = _CELL_PIXELS[mode]
    px_cols, px_rows = plot_cols * cell_w, plot_rows * cell_h
    x0, x1 = x_range

    owner = np.full((plot_rows, plot_cols), -1, dtype=np.int64)
    cell_bits = np.zeros((plot_rows, plot_cols), dtype=np.int64)
    nonfinite_cols: set[int] = set()
    for index, s in enumerate(series):
        if s.points.nonfinite_x.size:
            cols = ((s.points.nonfinite_x - x0) / max(x1 - x0, 1e-12) * (plot_cols - 1)).round().astype(np.int64)
            nonfinite_cols.update(int(c) for c in cols if 0 <= c < plot_cols)
        if bounds is None or len(s.points) == 0:
            continue
        lo, hi = _drawn_values(s, log_y)
        keep = np.isfinite(lo) & np.isfinite(hi)
        if not keep.any():
            continue
        # Rows grow downwards: the high value is the top (smaller row).
        top = _value_to_row(hi[keep], *bounds, px_rows)
        bottom = _value_to_row(lo[keep], *bounds, px_rows)
        col_top, col_bottom = downsample_to_columns(s.points.x[keep], top, bottom, x0, x1, px_cols)
        mask = _column_ranges_to_mask(col_top, col_bottom, px_rows)
        bits = _cells_from_pixels(mask, mode, plot_rows, plot_cols)
        cell_bits |= bits
        owner[bits > 0] = index

    cursor_col = None
    if cursor_x is not None and x0 <= cursor_x <= x1:
        cursor_col = int(round((cursor_x - x0) / max(x1 - x0, 1e-12) * (plot_cols - 1)))
    marker_cols = {int(round((x - x0) / max(x1 - x0, 1e-12) * (plot_cols - 1))) for x in markers_x if x0 <= x <= x1}
    lines: list[Text] = []
    for row in range(plot_rows):
        line = Text(labels[row].rjust(label_width) + "┤" if labels[row] else " " * label_width + "│", style=axis_color)
        _append_cells(line, cell_bits[row], owner[row], series, mode, nonfinite_cols if row == 0 else set(), cursor_col,
                      marker_cols)
        lines.append(line)
    axis = _x_axis(x0, x1, label_width, plot_cols, axis_color)
    if cursor_col is not None and axis.plain[label_width + 1 + cursor_col] == "─":  # the step labels stay
        at = label_width + 1 + cursor_col
        axis = axis[:at] + Text("┴", style="bold") + axis[at + 1:]
    lines.append(axis)
    return lines


def _cells_from_pixels(mask: np.ndarray, mode: str, rows: int, cols: int) -> np.ndarray:
    cell_w, cell_h = _CELL_PIXELS[mode]
    weights = _BRAILLE_BITS if mode == BRAILLE else _BLOCK_BITS
    blocks = mask.reshape(rows, cell_h, cols, cell_w)
    return (blocks * weights[None, :, None, :]).sum(axis=(1, 3))


def _append_cells(line: Text, bits: np.ndarray, owner: np.ndarray, series: Sequence[PlotSeries], mode: str, marks: set[int],
                  cursor_col: int | None = None, marker_cols: set[int] | frozenset[int] = frozenset()) -> None:
    """Appends one row of cells, grouping runs of the same colour into one span."""
    run_chars: list[str] = []
    run_style: str | None = None

    def flush() -> None:
        if run_chars:
            line.append("".join(run_chars), style=run_style)
            run_chars.clear()

    for col, (b, o) in enumerate(zip(bits.tolist(), owner.tolist())):
        if col in marks:
            char, style = NONFINITE_MARK, "bold red"
        elif b == 0 and col == cursor_col:
            char, style = "│", "bold"
        elif b == 0 and col in marker_cols:
            char, style = SEGMENT_MARK, SEGMENT_STYLE
        elif b == 0:
            char, style = " ", None
        else:
            char = chr(0x2800 + b) if mode == BRAILLE else _BLOCK_GLYPHS[b]
            style = series[o].color
        if style != run_style:
            flush()
            run_style = style
        run_chars.append(char)
    flush()


def _y_labels(bounds: tuple[float, float] | None, rows: int, log_y: bool) -> list[str]:
    """Labels for the top, middle and bottom rows; empty strings elsewhere."""
    labels = [""] * rows
    if bounds is None:
        return labels
    y_min, y_max = bounds

    def show(v: float) -> str:
        return compact_number(10**v if log_y else v)

    labels[0] = show(y_max)
    if rows >= 2:
        labels[-1] = show(y_min)
    if rows >= 5:
        labels[(rows - 1) // 2] = show(y_max - (y_max - y_min) * ((rows - 1) // 2) / (rows - 1))
    return labels


def _x_axis(x0: float, x1: float, label_width: int, plot_cols: int, style: str) -> Text:
    left, right = compact_number(x0, 4), compact_number(x1, 4)
    gap = max(plot_cols - len(left) - len(right), 1)
    return Text(" " * label_width + "└" + left + "─" * gap + right, style=style)


def sparkline(values: Sequence[float], width: int, lo: float | None = None, hi: float | None = None) -> str:
    """The last `width` values as ▁..█ glyphs scaled to [lo, hi] (default: their own range); NaN is a space."""
    data = [v for v in list(values)[-width:]]
    finite = [v for v in data if v is not None and math.isfinite(v)]
    if not finite:
        return " " * len(data)
    low = min(finite) if lo is None else lo
    high = max(finite) if hi is None else hi
    span = high - low
    glyphs = []
    for v in data:
        if v is None or not math.isfinite(v):
            glyphs.append(" ")
            continue
        level = 0 if span <= 0 else int((min(max(v, low), high) - low) / span * (len(SPARK_GLYPHS) - 1) + 0.5)
        glyphs.append(SPARK_GLYPHS[level])
    return "".join(glyphs)


def bar_rows(counts: Sequence[float], rows: int) -> list[str]:
    """A vertical bar chart, one column per count, `rows` lines high, top line first (eighth-block steps)."""
    peak = max(counts, default=0)
    levels = [0 if peak <= 0 else round(c / peak * rows * 8) for c in counts]
    out = []
    for row in range(rows):
        floor = (rows - 1 - row) * 8  # eighths below this line
        out.append("".join("█" if lv >= floor + 8 else (" " if lv <= floor else SPARK_GLYPHS[lv - floor - 1]) for lv in levels))
    return out
