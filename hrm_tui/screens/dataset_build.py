"""Building a missing dataset from the launcher: show the builder's command, run it, show its output.

The builder runs as a background process in its own session, writing to `<data_path>.build.log`, so it
keeps going if the app is closed (the log then says how it ended). The dialog tails that log.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Log, Static

from hrm_tui.runs.launcher import display_argv
from hrm_tui.forms.overrides import single_line

POLL_S = 0.3


class DatasetBuildScreen(ModalScreen[bool]):
    """Dismisses with True once the build succeeded, False otherwise."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("ctrl+b", "build", "Build")]

    def __init__(self, data_path: str, argv: list[str]) -> None:
        super().__init__()
        self.data_path = data_path
        self.argv = argv
        self.log_path = Path(f"{data_path.rstrip('/')}.build.log")
        self._process: subprocess.Popen[bytes] | None = None
        self._offset = 0
        self._succeeded = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Static(f"Dataset {self.data_path} is missing", classes="dialog-title")
            yield Static("It can be built with:", classes="dialog-hint")
            yield Static(single_line(display_argv(self.argv)), classes="dialog-body", markup=False)
            yield Static(f"Output also goes to {self.log_path}", classes="dialog-hint", markup=False)
            yield Log(id="build-log", max_lines=2000)
            yield Static("", id="build-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Build [ctrl+b]"), id="build", variant="primary", compact=True)
                yield Button(Text("Close [esc]"), id="close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#build", Button).focus()

    def action_build(self) -> None:
        if self._process is not None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            try:
                self._process = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            except OSError as error:
                self.query_one("#build-status", Static).update(f"✗ could not start the builder: {error}")
                return
        self.query_one("#build", Button).disabled = True
        self.query_one("#build-status", Static).update("building…")
        self.set_interval(POLL_S, self._poll)

    def _poll(self) -> None:
        self._read_new_output()
        if self._process is None or self._process.poll() is None:
            return
        code = self._process.returncode
        self._succeeded = code == 0
        status = "✓ built; the config is checked again" if code == 0 else f"✗ the builder exited with code {code}"
        self.query_one("#build-status", Static).update(status)
        self._process = None

    def _read_new_output(self) -> None:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        # Only whole lines: a partial last line waits for the next poll.
        end = data.rfind(b"\n") + 1
        if end:
            self._offset += end
            self.query_one("#build-log", Log).write(data[:end].decode("utf-8", errors="replace"))

    def action_close(self) -> None:
        self.dismiss(self._succeeded)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_build() if event.button.id == "build" else self.action_close()
