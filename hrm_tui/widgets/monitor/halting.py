"""The ACT halting panel: how many ACT steps sequences take before halting.

Top: bar charts of the newest training window's histogram and the newest eval's, over steps 1..halt_max_steps.
Below: a heatmap of the training histograms over the whole run: one column per step range, one row per
halting step (1 at the top); darker means a larger share of that column's sequences.
"""

from __future__ import annotations

import numpy as np
from rich.console import Group, RenderableType
from rich.text import Text

from hrm_tui.monitoring.plot import bar_rows, compact_number
from hrm_tui.monitoring.run_model import RunSnapshot
from hrm_tui.widgets.monitor.panel import EVAL_COLOR, TRAIN_COLOR, MonitorPanel

HEAT_GLYPHS = " ░▒▓█"


class HaltingPanel(MonitorPanel):
    PANEL_ID = "halting"
    PANEL_TITLE = "ACT halting"
    PANEL_KEY = "4"

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: RunSnapshot | None = None  # the run as the screen last handed it over

    def show_run(self, snapshot: RunSnapshot) -> None:
        """Redraws when a new histogram came with it (histograms arrive every N steps, not every event)."""
        redraw = self.snapshot is None or snapshot.halting_key() != self.snapshot.halting_key()
        self.snapshot = snapshot
        if redraw:
            self.refresh()

    def render(self) -> RenderableType:
        run = self.snapshot
        width, height = self.content_size
        train = run.halting_train if run is not None else None
        eval_sets = sorted(run.halting_eval) if run is not None else []
        evaluation = run.halting_eval[eval_sets[0]] if eval_sets else None
        if (train is None or train.empty) and (evaluation is None or evaluation.empty):
            return Text("no halting histogram yet", style="dim")
        train_counts, train_step, train_mean = list(train.latest_counts), train.latest_step, train.mean_steps()
        eval_counts = list(evaluation.latest_counts) if evaluation else []
        eval_step = evaluation.latest_step if evaluation else -1
        eval_mean = evaluation.mean_steps() if evaluation else None
        newest = max(run.latest_step, train.latest_step, 1)
        heat = train.columns(0, newest, max(1, width - 6)) if not train.empty else None

        bar_height = 3 if height >= 12 else (2 if height >= 8 else 1)
        lines = _side_by_side(
            _histogram_block(f"train @{compact_number(train_step)}", train_counts, train_mean, bar_height, TRAIN_COLOR),
            _histogram_block(f"eval @{compact_number(eval_step)}", eval_counts, eval_mean, bar_height, EVAL_COLOR),
        )
        heat_rows = height - len(lines) - 2
        if heat is not None and heat_rows >= 2:
            lines.append(Text(f"train halting steps over the run (0 → {compact_number(newest)})", style="dim"))
            lines += _heatmap(heat, heat_rows)
        return Group(*lines)


def _histogram_block(title: str, counts: list[int], mean: float | None, rows: int, color: str) -> list[Text]:
    if not counts:
        return [Text(title.split(" @")[0] + ": none yet", style="dim")]
    head = Text(title, style="bold")
    if mean is not None:
        head.append(f" mean {mean:.1f}", style="dim")
    block = [head]
    for row in bar_rows(counts, rows):
        block.append(Text(row, style=color))
    axis = "".join(str((i + 1) % 10) for i in range(len(counts)))
    block.append(Text(axis, style="dim"))
    return block


def _side_by_side(left: list[Text], right: list[Text]) -> list[Text]:
    width = max(len(t.plain) for t in left) + 3
    lines = []
    for i in range(max(len(left), len(right))):
        line = Text()
        if i < len(left):
            line.append_text(left[i])
        line.pad_right(width - len(line.plain))
        if i < len(right):
            line.append_text(right[i])
        lines.append(line)
    return lines


def _heatmap(columns: np.ndarray, rows: int) -> list[Text]:
    """columns: int [n_columns, max_steps] -> `rows` lines, halting steps binned into rows (step 1 on top)."""
    columns = _fill_gaps(columns)
    max_steps = columns.shape[1]
    rows = min(rows, max_steps)
    edges = np.linspace(0, max_steps, rows + 1).round().astype(int)
    binned = np.stack([columns[:, edges[r] : edges[r + 1]].sum(axis=1) for r in range(rows)])  # [rows, n_columns]
    totals = binned.sum(axis=0, keepdims=True)
    share = np.divide(binned, totals, out=np.zeros(binned.shape), where=totals > 0)
    level = np.where(binned > 0, np.clip(np.ceil(share * (len(HEAT_GLYPHS) - 1) * 1.5), 1, len(HEAT_GLYPHS) - 1), 0).astype(int)
    lines = []
    for r in range(rows):
        label = f"{edges[r] + 1:>2}" + ("+" if edges[r + 1] - edges[r] > 1 else " ")
        line = Text(label.ljust(5), style="dim")
        line.append("".join(HEAT_GLYPHS[v] for v in level[r]), style=TRAIN_COLOR)
        lines.append(line)
    return lines


def _fill_gaps(columns: np.ndarray) -> np.ndarray:
    """Columns between two histograms (histograms are logged every N steps) repeat the previous one."""
    filled = columns.copy()
    has_data = columns.sum(axis=1) > 0
    if not has_data.any():
        return filled
    last = int(np.flatnonzero(has_data)[0])
    for c in range(last + 1, int(np.flatnonzero(has_data)[-1])):
        if has_data[c]:
            last = c
        else:
            filled[c] = columns[last]
    return filled
