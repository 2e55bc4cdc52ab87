"""The runs table: one row per run directory, newest first unless sorted otherwise.

    Name                         Preset   Status      Step          Progress     Started ▼         Last event
    ◆ HierarchicalRe… brave-otter demo    ● running   1200/5000     ███░░░  24%  2025-01-02 10:00  3s ago

The table shows the runs in the order it is given (the runs screen applies the user's `RunsView`, runs/view.py:
sort, filter, marks); the ◆ marks a run marked for comparing, and the column sorted by carries ▼ (descending)
or ▲. j/k/g/G move as in less and vim (`VIM_MOTION_BINDINGS`).

Text built here is `rich.text.Text`, never markup, so a run named `[bold]` shows as typed, and every string
from a run directory (its folder name, its preset) goes through `safe_text`, so no escape sequence in it
reaches the terminal. Status colours come from the app's theme (success / warning / error), which has light
and dark variants.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import RunSummary
from hrm_tui.runs.discovery import same_run
from hrm_tui.runs.cells import format_age, format_time, job_text  # noqa: F401 (re-exported: the table's cells)
from hrm_tui.runs.view import RunsView

STATUS_SYMBOLS = {RunStatus.RUNNING: "●", RunStatus.STALLED: "◌", RunStatus.FINISHED: "✓", RunStatus.FAILED: "✗",
                  RunStatus.STOPPED: "■", RunStatus.LOST: "?", RunStatus.MISSING: "∅",
                  RunStatus.QUEUED: "…"}
WIDE_COLUMNS = ("Name", "Preset", "Status", "Step", "Progress", "Started", "Last event")
# Under 120 columns step and progress share a column, and the start time moves to the detail line.
NARROW_COLUMNS = ("Name", "Preset", "Status", "Progress", "Last event")
JOB_COLUMN = "Job"  # a SLURM run's job: id, scheduler state, nodes or reason (runs/cells.py job_text)
JOB_WIDTH = 32
WIDE_FROM = 120
PROGRESS_CELLS = 8
MARK = "◆ "

# j/k/g/G as in less, vim, htop and lazygit (DataTable's own up/down/home/end stay).
VIM_MOTION_BINDINGS = [
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
    Binding("g", "scroll_top", "First", show=False),
    Binding("G", "scroll_bottom", "Last", show=False),
]

def progress_bar(fraction: float | None, cells: int = PROGRESS_CELLS) -> str:
    if fraction is None:
        return "-"
    filled = round(fraction * cells)
    return "█" * filled + "░" * (cells - filled) + f" {fraction * 100:3.0f}%"


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def truncate_left(text: str, width: int) -> str:
    """Keeps the end, where run names differ (`…ACTV1 brave-otter`)."""
    return text if len(text) <= width else "…" + text[len(text) - max(1, width - 1) :]


class RunsTable(DataTable[Text]):
    """Shows RunSummary rows in the order given; keeps the cursor on the same run across refreshes."""

    BINDINGS = VIM_MOTION_BINDINGS

    def __init__(self, *, clock: Callable[[], float] = time.time, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.summaries: list[RunSummary] = []
        self._marked: Collection[Path] = ()
        self._sorted: tuple[str, bool] = ("Started", True)

    def on_mount(self) -> None:
        self._layout: tuple[object, ...] = ()

    def on_resize(self) -> None:
        self.show_runs(self.summaries)

    @property
    def selected(self) -> RunSummary | None:
        if not self.summaries or self.cursor_row < 0 or self.cursor_row >= len(self.summaries):
            return None
        return self.summaries[self.cursor_row]

    def show_runs(self, summaries: list[RunSummary], *, select: Path | None = None, view: RunsView | None = None) -> None:
        """Shows `summaries` as they are ordered; `view` (when given) names the sort column and the marks."""
        keep = select or (self.selected.path if self.selected else None)
        self.summaries = summaries
        if view is not None:
            self._marked, self._sorted = view.marked, (view.sort, view.descending)
        wide = self.size.width >= WIDE_FROM
        columns = WIDE_COLUMNS if wide else NARROW_COLUMNS
        if any(summary.job_id for summary in summaries):  # a Job column only while SLURM runs are listed
            columns = (*columns, JOB_COLUMN)
        now = self.clock()
        sort, descending = self._sorted
        labels = [f"{column} {'▼' if descending else '▲'}" if column == sort else column for column in columns]
        # Each column as wide as its widest cell, measured here rather than left to DataTable, which sizes
        # auto-width columns on its next idle: a table drawn before that showed every column cut to its header.
        # The name takes what the others leave (each column has a cell of padding on both sides, and the
        # scroll bar its own): a fixed guess at their width cut the last header (`Last even`) at 120 columns.
        with_job = columns[-1] == JOB_COLUMN
        rows = [self._cells(summary, now, 0, wide, with_job) for summary in summaries]
        others = sum(max([len(label)] + [row[i].cell_len for row in rows]) for i, label in enumerate(labels) if i)
        room = self.size.width - others - 2 * self.cell_padding * len(columns) - self.styles.scrollbar_size_vertical
        name_width = max(12, room)
        rows = [self._cells(summary, now, name_width, wide, with_job) for summary in summaries]
        widths = [max([len(label)] + [row[i].cell_len for row in rows]) for i, label in enumerate(labels)]
        layout = (tuple(labels), tuple(widths))
        self.clear(columns=layout != self._layout)
        if layout != self._layout:
            self._layout = layout
            for column, label, width in zip(columns, labels, widths):
                self.add_column(label, width=width, key=column)
        for summary, cells in zip(summaries, rows):
            self.add_row(*cells, key=str(summary.path))
        if keep is not None:
            index = next((i for i, s in enumerate(summaries) if same_run(s.path, keep)), None)
            if index is not None:
                self.move_cursor(row=index, animate=False)

    def _cells(self, s: RunSummary, now: float, name_width: int, wide: bool, with_job: bool = False) -> list[Text]:
        cells = self._run_cells(s, now, name_width, wide)
        return [*cells, Text(truncate(job_text(s) or "-", JOB_WIDTH))] if with_job else cells

    def _run_cells(self, s: RunSummary, now: float, name_width: int, wide: bool) -> list[Text]:
        step = "-" if s.step is None else (f"{s.step}/{s.total_steps}" if s.total_steps else str(s.step))
        status = Text(f"{STATUS_SYMBOLS.get(s.status, ' ')} {s.status}", style=self._status_style(s.status))
        last = format_age(now - s.last_event_time) if s.last_event_time else "-"
        name = Text(MARK, style="bold") if s.path in self._marked else Text()
        # A sweep's run by its sweep and number (its folder is only the number): `grid #2 of 4`.
        shown_name = s.sweep.label() if s.sweep is not None else s.path.name
        name.append(truncate_left(safe_text(shown_name), name_width - len(name)))
        preset_name = safe_text(s.preset or "-")
        if wide:
            preset = Text(truncate(preset_name, 12))
            return [name, preset, status, Text(step), Text(progress_bar(s.progress)), Text(format_time(s.start_time)), Text(last)]
        percent = "" if s.progress is None else f" {s.progress * 100:.0f}%"
        return [name, Text(truncate(preset_name, 10)), status, Text(step + percent), Text(last)]

    def _status_style(self, status: str) -> str:
        theme = self.app.current_theme
        colour = {
            RunStatus.RUNNING: theme.success,
            RunStatus.STALLED: theme.warning,
            RunStatus.FINISHED: theme.primary,
            RunStatus.FAILED: theme.error,
            RunStatus.STOPPED: theme.warning,
            RunStatus.LOST: theme.error,
            RunStatus.QUEUED: theme.accent,
        }.get(status)
        return f"bold {colour}" if colour else "bold"
