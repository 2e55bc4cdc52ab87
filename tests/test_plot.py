"""Terminal plots: braille/block cells, downsampling to the width, axes and markers."""

from __future__ import annotations

import numpy as np
import pytest

from hrm_tui.monitoring.metrics_store import CurvePoints, MetricHistory
from hrm_tui.monitoring.plot import (
    BLOCK,
    LINE,
    PlotSeries,
    bar_rows,
    compact_number,
    downsample_to_columns,
    ema,
    render_plot,
    sparkline,
)


def points(x, y) -> CurvePoints:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return CurvePoints(x, y, y, y, np.zeros(0))


def plot_cells(lines):
    """The plot area of rendered lines (no axis labels, no x axis)."""
    return [line.plain.split("┤", 1)[-1].split("│", 1)[-1] for line in lines[:-1]]


def test_flat_line_lights_the_expected_braille_dots():
    # y=1 on a range padded to [0.95, 1.05]; 2 cell rows = 8 dot rows, the value sits at dot row 3.5 -> 4:
    # the top dot row of the second cell row, both dot columns of every cell (bits 0x01 | 0x08 = "⠉").
    lines = render_plot([PlotSeries(points([0, 10], [1, 1]), "blue", LINE)], width=12, height=3, x_range=(0, 10))
    assert [line.plain for line in lines] == [
        "1.05┤       ",
        "0.95┤⠉⠉⠉⠉⠉⠉⠉",
        "    └0────10",
    ]
    assert lines[1].spans[-1].style == "blue"


def test_rising_line_goes_from_bottom_left_to_top_right():
    lines = render_plot([PlotSeries(points(np.arange(100), np.arange(100)), "blue", LINE)], 30, 9, (0, 99))
    cells = plot_cells(lines)
    assert cells[0].rstrip()[-1] != " "  # top row: the end of the line, at the right
    assert cells[0].strip() and cells[0].index(cells[0].strip()[0]) > len(cells[0]) // 2
    assert cells[-1][0] != " "  # bottom row starts at the left
    assert lines[0].plain.lstrip().startswith("99┤")  # y axis top label
    assert lines[-1].plain.strip().startswith("└0") and lines[-1].plain.rstrip().endswith("99")


def test_block_mode_uses_half_blocks():
    lines = render_plot([PlotSeries(points(np.arange(50), np.arange(50)), "blue", LINE)], 20, 6, (0, 49), mode=BLOCK)
    used = set("".join(plot_cells(lines))) - {" "}
    assert used and used <= {"▀", "▄", "█"}
    with pytest.raises(ValueError, match="unknown plot mode"):
        render_plot([], 10, 5, (0, 1), mode="ascii-art")


def test_a_million_points_downsample_to_the_width():
    history = MetricHistory()
    steps = np.arange(1_000_000)
    history.add(steps, np.sin(steps / 50_000.0))
    curve = history.points(0, 999_999)
    assert len(curve) <= 4096  # bounded, whatever the run's length
    lo, hi = downsample_to_columns(curve.x, curve.lo, curve.hi, 0, 999_999, 80)
    assert lo.shape == (80,) and np.isfinite(lo).all()
    assert hi.max() == pytest.approx(1.0, abs=1e-6) and lo.min() == pytest.approx(-1.0, abs=1e-6)
    lines = render_plot([PlotSeries(curve, "blue")], 80, 12, (0, 999_999))
    assert len(lines) == 12 and all(len(line.plain) == 80 for line in lines)


def test_nonfinite_values_are_marked_not_drawn():
    curve = CurvePoints(np.array([0.0, 5.0]), np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array([10.0]))
    lines = render_plot([PlotSeries(curve, "blue")], 20, 5, (0, 10))
    assert lines[0].plain.rstrip().endswith("!")


def test_log_axis_ignores_non_positive_values():
    lines = render_plot([PlotSeries(points([0, 1, 2, 3], [0.0, 1.0, 10.0, 100.0]), "blue", LINE)], 30, 6, (0, 3), log_y=True)
    assert lines[0].plain.startswith("100")
    assert lines[-2].plain.lstrip().startswith("1┤")


def test_helpers():
    assert compact_number(7200.5) == "7200"
    assert compact_number(12_345) == "12.3k"
    assert compact_number(0.000123) == "1.23e-04"
    assert compact_number(float("nan")) == "nan"
    assert sparkline([0, 50, 100, float("nan")], 4, 0, 100) == "▁▅█ "
    assert bar_rows([0, 4, 8], rows=1) == [" ▄█"]
    assert bar_rows([8, 16], rows=2) == [" █", "██"]
    smoothed = ema(np.array([0.0, 1.0, 1.0, 1.0]), 0.5)
    assert smoothed[0] == 0.0 and 0.5 < smoothed[-1] < 1.0  # debiased: starts at the first value


def test_segment_markers_draw_a_dotted_column_through_the_empty_cells():
    """Where a requeued job's next segment began: `┊` in the marker's column, never over the curve."""
    lines = render_plot([PlotSeries(points([0, 10], [1, 1]), "blue", LINE)], width=12, height=4, x_range=(0, 10),
                        markers_x=[5, 50])  # 50 is outside the range: not drawn
    cells = plot_cells(lines)
    columns = {i for row in cells for i, char in enumerate(row) if char == "┊"}
    assert columns == {round(5 / 10 * (len(cells[0]) - 1))}
    assert all(row[next(iter(columns))] in ("┊", "⠉", "⠒", "⠤", "⣀") for row in cells)  # the curve's cell wins
    assert render_plot([PlotSeries(points([0, 10], [1, 1]), "blue", LINE)], 12, 4, (0, 10))[0].plain.count("┊") == 0
