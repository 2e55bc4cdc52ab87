"""The config diff of compared runs: only the keys whose values differ, one column per run.

    Config diff: 3 keys differ between 2 runs
    Key                 brave-otter      calm-heron
    lr                  7e-05            0.0001
    run_name            HierarchicalR…   HierarchicalR…
    arch.hidden_size    512              256

Reached with `d` from the runs list (the marked runs) and from a monitor that compares runs. The configs
are read in a worker thread (monitoring/compare.py); every value is drawn as sanitised plain text. A run
whose config cannot be read is named with the reason, and the diff is of the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from hrm_core.rundir.sanitize import safe_text
from hrm_tui.monitoring.compare import DiffRow, RunConfig, config_diff, read_run_config, run_labels
from hrm_tui.widgets.key_footer import KeyFooter
from hrm_tui.widgets.runs_table import VIM_MOTION_BINDINGS, truncate

MIN_VALUE_WIDTH = 12  # a value is cut to fit the screen (a path, a list); the detail line shows it whole
MAX_KEY_WIDTH = 40


class DiffTable(DataTable[Text]):
    BINDINGS = VIM_MOTION_BINDINGS


class ConfigDiffScreen(Screen[None]):
    BINDINGS = [
        Binding("q,escape", "app.close", "Close"),
    ]

    class ConfigsRead(Message):
        """The runs' configs, read by the worker (one per run, in order; unreadable ones say why)."""

        def __init__(self, configs: list[RunConfig]) -> None:
            super().__init__()
            self.configs = configs

    def __init__(self, run_dirs: Sequence[Path]) -> None:
        super().__init__()
        self.run_dirs = [Path(d) for d in run_dirs]
        self.configs: list[RunConfig] | None = None  # once read (tests wait on it)
        self.rows: list[DiffRow] = []
        self._labels: list[str] = []  # of the runs whose config was read: the table's value columns

    def compose(self) -> ComposeResult:
        yield Static(Text("Config diff: reading the runs' configs…"), id="diff-title")
        yield DiffTable(cursor_type="row", zebra_stripes=True, id="diff-table")
        yield Static("", id="diff-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._read_configs()

    @work(thread=True, exclusive=True, group="config-diff")
    def _read_configs(self) -> None:
        self.post_message(self.ConfigsRead([read_run_config(d) for d in self.run_dirs]))

    def on_config_diff_screen_configs_read(self, message: ConfigsRead) -> None:
        self._show(message.configs)

    def _show(self, configs: list[RunConfig]) -> None:
        self.configs = configs
        labels = run_labels(self.run_dirs)
        readable = [(label, c) for label, c in zip(labels, configs) if c.values is not None]
        self.rows = rows = config_diff(configs)
        self._labels = [label for label, _ in readable]
        table = self.query_one("#diff-table", DiffTable)
        table.clear(columns=True)
        # The columns share the width: the keys as long as the longest, the values what is left (each column
        # has a cell of padding on both sides).
        key_width = min(MAX_KEY_WIDTH, max((len(r.key) for r in rows), default=3))
        width = max(MIN_VALUE_WIDTH, (self.size.width - key_width - 2 * (len(readable) + 1) - 1) // max(1, len(readable)))
        table.add_column("Key", key="key")
        for label, _ in readable:
            table.add_column(Text(truncate(safe_text(label), width)))
        for row in rows:
            cells = [Text(truncate(safe_text(row.key), key_width))]
            cells += [Text("(absent)", style="dim") if v is None else Text(truncate(safe_text(v), width)) for v in row.values]
            table.add_row(*cells, key=row.key)
        runs = f"{len(readable)} runs" if len(readable) != 1 else "1 run"
        title = Text(f"Config diff: {len(rows)} key{'s' if len(rows) != 1 else ''} differ between {runs}")
        if len(readable) >= 2 and not rows:
            title = Text(f"Config diff: the {runs} have the same config")
        for label, config in zip(labels, configs):
            if config.values is None:
                title.append(f"\n{safe_text(label)}: not compared, {safe_text(config.problem)}", style="bold")
        self.query_one("#diff-title", Static).update(title)
        self._show_detail()
        table.focus()

    def on_resize(self) -> None:
        if self.configs is not None:
            row = self.query_one("#diff-table", DiffTable).cursor_row
            self._show(self.configs)
            self.query_one("#diff-table", DiffTable).move_cursor(row=row, animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        """The highlighted key's values in full, one run a line (the table cuts long ones)."""
        table = self.query_one("#diff-table", DiffTable)
        detail = self.query_one("#diff-detail", Static)
        if not 0 <= table.cursor_row < len(self.rows):
            detail.update("")
            return
        row = self.rows[table.cursor_row]
        text = Text()
        text.append(safe_text(row.key), style="bold")
        for label, value in zip(self._labels, row.values):
            text.append(f"\n  {safe_text(label)}: ")
            text.append("(absent)" if value is None else safe_text(value))
        detail.update(text)
