"""The logs panel: the tails of the run's stdout.log and stderr.log, with search.

`o` switches between stdout, stderr and both; `/` opens the search box (case-insensitive; only matching
lines are shown, the match highlighted); `escape` in the box clears it. Lines arrive from the screen's
tailing worker through `add_lines`; the newest `MAX_LINES` per stream are kept.
"""

from __future__ import annotations

import re
from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, RichLog, Static

from hrm_core.rundir.sanitize import safe_log_line
from hrm_tui.widgets.monitor.panel import MonitorPanel

MAX_LINES = 2000
STREAMS = ("stdout", "stderr")
VIEWS = ("both", "stdout", "stderr")


class LogsPanel(MonitorPanel):
    PANEL_ID = "logs"
    PANEL_TITLE = "Logs"
    PANEL_KEY = "6"

    BINDINGS = [
        Binding("o", "cycle_stream", "stdout/stderr"),
        Binding("slash", "search", "Search"),
    ]
    DEFAULT_CSS = """
    LogsPanel { layout: vertical; }
    LogsPanel > #logs-header { height: 1; }
    LogsPanel > RichLog { height: 1fr; background: transparent; }
    LogsPanel > Input { height: 3; display: none; }
    LogsPanel.-searching > Input { display: block; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.view = "both"
        self.query_text = ""
        self._order: deque[tuple[str, str]] = deque()  # (stream, line) in arrival order, both streams

    def compose(self) -> ComposeResult:
        yield Static(id="logs-header")
        yield RichLog(max_lines=MAX_LINES * 2, wrap=False, auto_scroll=True, markup=False)
        yield Input(placeholder="search the logs (escape clears)")

    def on_mount(self) -> None:
        self._update_header()

    def add_lines(self, stream: str, raw_lines: list[str]) -> None:
        log = self.query_one(RichLog)
        for raw in raw_lines:
            line = safe_log_line(raw)
            self._order.append((stream, line))
            if self._visible(stream, line):
                log.write(self._styled(stream, line))
        while len(self._order) > MAX_LINES * len(STREAMS):
            self._order.popleft()
        self._update_header()

    def _visible(self, stream: str, line: str) -> bool:
        if self.view != "both" and stream != self.view:
            return False
        return not self.query_text or self.query_text.lower() in line.lower()

    def _styled(self, stream: str, line: str) -> Text:
        text = Text(line, style="red" if stream == "stderr" else "")
        if self.query_text:
            text.highlight_regex(f"(?i){re.escape(self.query_text)}", style="bold reverse")
        if self.view == "both" and stream == "stderr":
            text = Text("err ", style="dim red") + text
        return text

    def _rewrite(self) -> None:
        log = self.query_one(RichLog)
        log.clear()
        for stream, line in self._order:
            if self._visible(stream, line):
                log.write(self._styled(stream, line))
        self._update_header()

    def _update_header(self) -> None:
        counts = {s: sum(1 for st, _ in self._order if st == s) for s in STREAMS}
        header = Text()
        for view in VIEWS:
            header.append(f" {view} ", style="reverse" if view == self.view else "dim")
        header.append(f"  {counts['stdout']} out, {counts['stderr']} err lines", style="dim")
        if self.query_text:
            header.append(f"  search: {self.query_text!r}", style="bold")
        self.query_one("#logs-header", Static).update(header)

    def action_cycle_stream(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self._rewrite()

    def action_search(self) -> None:
        self.add_class("-searching")
        box = self.query_one(Input)
        box.value = self.query_text
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_text = event.value.strip()
        self._rewrite()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.remove_class("-searching")
        self.focus()

    def key_escape(self) -> None:
        if self.has_class("-searching"):
            self.query_one(Input).value = ""
            self.remove_class("-searching")
            self.focus()
