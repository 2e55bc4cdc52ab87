"""Building a missing dataset from the launcher: show the builder's command, run it, follow it, cancel it.

    Dataset data/sudoku-extreme-1k-aug-1000 is missing
    python -m hrm_core.data.build_sudoku_dataset --output-dir ... --subsample-size 1000 --num-aug 1000
    ┌ log ──────────────────────────────────────────┐
    │ Generating train puzzles (rating >= 10): ...  │
    └───────────────────────────────────────────────┘
    building… (pid 4242)            [Build ^b] [Cancel build ^k] [Close esc]

One build per output folder at a time (runs/builds.py): the dialog checks for a running build of the folder
(from this app, another hrm-tui or a shell) when it opens and while it is open, follows that build's log
instead of starting another, and its cancel key stops whichever build it is. The builder runs detached, so
closing the dialog or the app leaves it running; opening the dialog again finds it.
"""

from __future__ import annotations

import subprocess

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Log, Static

from hrm_core.data.dataset_writer import BuildHolder, BuildInProgressError
from hrm_tui.forms.overrides import single_line
from hrm_tui.runs.builds import (
    CANCEL_GRACE_S,
    build_log_path,
    cancel_build,
    dataset_complete,
    log_tail_offset,
    read_log,
    running_build,
    start_build,
)
from hrm_tui.launch_plan import display_argv
from hrm_tui.widgets.key_footer import KeyFooter

POLL_S = 0.3


class DatasetBuildScreen(ModalScreen[bool]):
    """Dismisses with True once the dataset is complete, False otherwise."""

    BINDINGS = [
        Binding("escape,q", "close", "Close"),  # q types in the folder field
        Binding("ctrl+b", "build", "Build"),
        Binding("ctrl+k", "cancel_build", "Cancel build"),
    ]

    class CancelProgress(Message):
        """What the cancelling worker is doing now (signal sent, waiting, ...), in words."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class CancelEnded(Message):
        """The cancel is over: `outcome` says how the build ended (cancel_build's word)."""

        def __init__(self, outcome: str) -> None:
            super().__init__()
            self.outcome = outcome

    def __init__(self, data_path: str, argv: list[str], *, cancel_grace_s: float = CANCEL_GRACE_S) -> None:
        super().__init__()
        self.data_path = data_path
        self.argv = argv
        self.cancel_grace_s = cancel_grace_s  # how long a cancelled builder gets to clean up before SIGKILL
        self.log_path = build_log_path(data_path)
        self._process: subprocess.Popen[bytes] | None = None  # a builder this dialog started
        self._elsewhere: BuildHolder | None = None  # a builder someone else started, followed here
        self._cancelling = False
        self._offset = 0
        self._succeeded = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Static(f"Dataset {self.data_path} is missing", classes="dialog-title", markup=False)
            yield Static("It can be built with:", classes="dialog-hint")
            yield Static(single_line(display_argv(self.argv)), classes="dialog-body", markup=False)
            yield Static(f"Output also goes to {self.log_path}", classes="dialog-hint", markup=False)
            yield Log(id="build-log", max_lines=2000)
            yield Static("", id="build-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Build [ctrl+b]"), id="build", variant="primary", compact=True)
                yield Button(Text("Cancel build [ctrl+k]"), id="cancel", variant="error", compact=True)
                yield Button(Text("Close [esc]"), id="close", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self._check_elsewhere()
        if self._elsewhere is not None:
            self._offset = log_tail_offset(self.log_path)
        elif dataset_complete(self.data_path):
            self._succeeded = True
            self._set_status("✓ the dataset is there now (built meanwhile)")
        self._show_buttons()
        self.query_one("#close" if self._elsewhere else "#build", Button).focus()
        self.set_interval(POLL_S, self._poll)

    # --- state ---------------------------------------------------------------------------------------

    @property
    def building(self) -> bool:
        return self._process is not None or self._elsewhere is not None

    def _check_elsewhere(self) -> None:
        holder = running_build(self.data_path) if self._process is None else None
        if holder is not None:
            self._elsewhere = holder
            self._set_status(f"● a build of this folder is already running (pid {holder.pid}, started elsewhere): "
                             "following its log; ctrl+k cancels it")

    def _show_buttons(self) -> None:
        self.query_one("#build", Button).disabled = self.building or self._succeeded
        self.query_one("#cancel", Button).disabled = not self.building or self._cancelling
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "build":
            return not self.building and not self._succeeded
        if action == "cancel_build":
            return self.building and not self._cancelling
        return True

    def _set_status(self, text: str) -> None:
        self.query_one("#build-status", Static).update(Text(text))

    # --- building --------------------------------------------------------------------------------------

    def action_build(self) -> None:
        if self.building:
            return
        try:
            started = start_build(self.data_path, self.argv, display=display_argv(self.argv))
        except BuildInProgressError:
            self._check_elsewhere()  # someone started one a moment ago: follow it
            self._offset = log_tail_offset(self.log_path)
            self._show_buttons()
            return
        except OSError as error:
            self._set_status(f"✗ could not start the builder: {error}")
            return
        self._process, self._offset = started.process, started.log_offset
        self._set_status(f"● building… (pid {started.process.pid}; ctrl+k cancels, esc leaves it running)")
        self._show_buttons()

    def _poll(self) -> None:
        self._read_new_output()
        if self._process is not None:
            code = self._process.poll()
            if code is None or self._cancelling:
                return
            self._process = None
            self._finished(code)
        elif self._elsewhere is not None:
            if self._cancelling or running_build(self.data_path) is not None:
                return
            self._elsewhere = None
            self._finished(None)
        else:
            self._check_elsewhere()  # a build started elsewhere while the dialog is open
            if self._elsewhere is not None:
                self._offset = log_tail_offset(self.log_path)
                self._show_buttons()

    def _finished(self, code: int | None) -> None:
        self._read_new_output()
        self._succeeded = dataset_complete(self.data_path)
        if self._succeeded:
            status = "✓ built; the config is checked again when you close this"
        elif code is None:
            status = "✗ the other build ended without a complete dataset (see its log)"
        else:
            status = f"✗ the builder exited with code {code} (see the log above)"
        self._set_status(status)
        self._show_buttons()

    def _read_new_output(self) -> None:
        text, self._offset = read_log(self.log_path, self._offset)
        if text:
            self.query_one("#build-log", Log).write(text)

    # --- cancelling ------------------------------------------------------------------------------------

    def action_cancel_build(self) -> None:
        if not self.building or self._cancelling:
            return
        self._cancelling = True
        self._set_status("● cancelling…")
        self._show_buttons()
        self._cancel(self._process, self._elsewhere)

    @work(thread=True, group="cancel-build")
    def _cancel(self, process: subprocess.Popen[bytes] | None, holder: BuildHolder | None) -> None:
        def progress(message: str) -> None:
            self.post_message(self.CancelProgress(message))

        outcome = cancel_build(self.data_path, process=process, holder=holder, grace_s=self.cancel_grace_s, on_progress=progress)
        self.post_message(self.CancelEnded(outcome))

    def on_dataset_build_screen_cancel_progress(self, message: CancelProgress) -> None:
        self._set_status(f"● {message.text}")

    def on_dataset_build_screen_cancel_ended(self, message: CancelEnded) -> None:
        outcome = message.outcome
        self._read_new_output()
        self._process = self._elsewhere = None
        self._cancelling = False
        self._succeeded = dataset_complete(self.data_path)  # an older complete build is kept
        self._set_status(f"■ build {outcome}")
        self._show_buttons()

    # --- closing ---------------------------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(self._succeeded)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        {"build": self.action_build, "cancel": self.action_cancel_build}.get(event.button.id or "", self.action_close)()
