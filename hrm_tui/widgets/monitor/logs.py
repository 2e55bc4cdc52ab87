"""The logs panel: the tails of the run's stdout.log and stderr.log, with search, wrap and follow.

Keys (when focused): `o` stdout / stderr / both; `/` search (case-insensitive; only matching lines are
shown, the match highlighted; `enter` keeps the filter, `escape` clears it, before it restores a maximised
panel); `w` wraps long lines or not (unwrapped, `←` `→` scroll sideways: a trainer's step line is wider
than the panel); `f` follows the newest lines or holds the view; `j` `k` `↑` `↓` PgUp PgDn move, `g` / Home
the oldest line, `G` / End the newest (and follow again). Moving up stops following.

Lines arrive from the screen's tailing worker through `add_lines`; the newest `MAX_LINES` per stream are kept.
The two files are merged in time order: each line the trainer wrote carries its time
(hrm_core.rundir.line_times, not shown here), a line without one (a traceback) takes the time of the line
before it in its own file, and equal times keep the order the lines were read in. Blank lines are skipped.
"""

from __future__ import annotations

import bisect
import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, RichLog, Static

from hrm_core.rundir.line_times import split_line_time
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
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("G,end", "end", "End", show=False),
        Binding("g,home", "home", "Top", show=False),
        Binding("j,down", "scroll_lines(1)", "Down", show=False),
        Binding("k,up", "scroll_lines(-1)", "Up", show=False),
        Binding("pagedown", "scroll_pages(1)", "Page down", show=False),
        Binding("pageup", "scroll_pages(-1)", "Page up", show=False),
        Binding("right", "scroll_columns(1)", "Scroll right", show=False),
        Binding("left", "scroll_columns(-1)", "Scroll left", show=False),
        Binding("escape", "clear_search", "Clear search", show=False),
    ]
    DEFAULT_CSS = """
    LogsPanel { layout: vertical; }
    LogsPanel > #logs-header { height: 1; }
    LogsPanel > RichLog { height: 1fr; background: transparent; scrollbar-size: 1 1; }
    LogsPanel > Input { height: 3; display: none; }
    LogsPanel.-searching > Input { display: block; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.view = "both"
        self.query_text = ""
        self.wrap = False  # unwrapped lines scroll sideways
        self.follow = True  # keep the newest line in view
        # (stream, line) of both streams in the order shown, and beside each its sort key (time, arrival number).
        self._order: list[tuple[str, str]] = []
        self._keys: list[tuple[float, int]] = []
        self._arrivals = 0
        self._stream_time = dict.fromkeys(STREAMS, 0.0)  # the newest line time read per stream
        self._wrapped_width = 0  # the width wrapped lines were laid out for

    def compose(self) -> ComposeResult:
        # The panel keeps the focus (its keys move the log), so the log itself takes none.
        log = RichLog(max_lines=MAX_LINES * 2, wrap=False, auto_scroll=True, markup=False, min_width=1)
        log.can_focus = False
        yield Static(id="logs-header")
        yield log
        yield Input(placeholder="search the logs (enter keeps the filter, escape clears it)")

    def on_mount(self) -> None:
        self._update_header()

    def on_resize(self) -> None:
        if self.wrap and self.log.scrollable_content_region.width != self._wrapped_width:
            self._rewrite()  # wrapped lines are laid out for one width

    @property
    def log(self) -> RichLog:
        return self.query_one(RichLog)

    def add_lines(self, stream: str, raw_lines: list[str]) -> None:
        inserted = False  # a line that goes before one already shown: the log is redrawn in order
        for raw in raw_lines:
            when, text = split_line_time(raw)
            line = safe_log_line(text)
            if not line.strip():
                continue
            when = self._stream_time[stream] if when is None else when
            self._stream_time[stream] = when
            self._arrivals += 1
            key = (when, self._arrivals)
            if self._keys and key < self._keys[-1]:
                at = bisect.bisect(self._keys, key)
                self._keys.insert(at, key)
                self._order.insert(at, (stream, line))
                inserted = True
            else:
                self._keys.append(key)
                self._order.append((stream, line))
                if not inserted and self._visible(stream, line):
                    self._write(stream, line)
        excess = len(self._order) - MAX_LINES * len(STREAMS)
        if excess > 0:
            del self._order[:excess], self._keys[:excess]
        if inserted:
            self._rewrite()
        else:
            self._update_header()

    def _write(self, stream: str, line: str) -> None:
        # Unwrapped, a line keeps its whole width (the log scrolls sideways); wrapped, it fits the panel.
        self.log.write(self._styled(stream, line), shrink=self.wrap, scroll_end=self.follow)

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
        log = self.log
        log.wrap = self.wrap
        self._wrapped_width = log.scrollable_content_region.width
        y = log.scroll_y
        log.clear()
        for stream, line in self._order:
            if self._visible(stream, line):
                self._write(stream, line)
        if self.follow:
            log.scroll_end(animate=False, immediate=False, x_axis=False)
        else:
            log.scroll_to(y=y, animate=False, immediate=False)
        self._update_header()

    def _update_header(self) -> None:
        counts = {s: sum(1 for st, _ in self._order if st == s) for s in STREAMS}
        header = Text()
        for view in VIEWS:
            header.append(f" {view} ", style="reverse" if view == self.view else "dim")
        header.append(f"  {counts['stdout']} out, {counts['stderr']} err", style="dim")
        header.append("  follow" if self.follow else "  held", style="dim" if self.follow else "bold")
        header.append("  wrap" if self.wrap else "  ←→", style="dim")
        if self.query_text:
            header.append(f"  search: {self.query_text!r}", style="bold")
        self.query_one("#logs-header", Static).update(header)

    # -- moving ----------------------------------------------------------------------------------------------

    def _set_follow(self, follow: bool) -> None:
        if follow != self.follow:
            self.follow = follow
            self._update_header()

    def action_toggle_follow(self) -> None:
        self._set_follow(not self.follow)
        if self.follow:
            self.log.scroll_end(animate=False, x_axis=False)

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self._rewrite()

    def action_end(self) -> None:
        self._set_follow(True)
        self.log.scroll_end(animate=False, x_axis=False)

    def action_home(self) -> None:
        self._set_follow(False)
        self.log.scroll_home(animate=False, x_axis=False)

    def action_scroll_lines(self, delta: int) -> None:
        self._scroll_by(delta)

    def action_scroll_pages(self, delta: int) -> None:
        self._scroll_by(delta * max(1, self.log.scrollable_content_region.height - 1))

    def _scroll_by(self, lines: int) -> None:
        log = self.log
        log.scroll_to(y=log.scroll_y + lines, animate=False, immediate=True)
        # Up holds the view; back down to the newest line follows again (as `less +F` does).
        self._set_follow(log.scroll_y >= log.max_scroll_y)

    def action_scroll_columns(self, direction: int) -> None:
        log = self.log
        log.scroll_to(x=log.scroll_x + direction * max(8, log.scrollable_content_region.width // 2), animate=False,
                      immediate=True)

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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_search":  # escape: clears a search first; else it restores a maximised panel
            return self.has_class("-searching") or bool(self.query_text)
        return True

    def action_clear_search(self) -> None:
        self.query_one(Input).value = ""
        self.query_text = ""
        self.remove_class("-searching")
        self.focus()
        self._rewrite()
