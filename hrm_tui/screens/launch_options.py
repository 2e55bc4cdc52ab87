"""Launch options and the full command panel as a dialog, for terminals too narrow for the side pane."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from hrm_tui.runs.launcher import LaunchOptions
from hrm_tui.widgets.key_footer import KeyFooter
from hrm_tui.widgets.launch_options import LaunchOptionsChanged, LaunchOptionsPanel
from hrm_tui.widgets.override_panel import OverridePanel, PanelContent


class LaunchOptionsScreen(ModalScreen[LaunchOptions | None]):
    """Dismisses with the edited options (escape or ctrl+o keeps them)."""

    BINDINGS = [Binding("escape,ctrl+o", "close", "Done")]

    def __init__(self, options: LaunchOptions, content_for: Callable[[LaunchOptions], PanelContent]) -> None:
        super().__init__()
        self.options = options
        self._content_for = content_for

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Static("Launch options", classes="dialog-title")
            with VerticalScroll():
                yield LaunchOptionsPanel(self.options, gpu_scan=self.app.gpu_scan, id="dialog-options")
                yield Static("Command", classes="pane-title")
                yield OverridePanel(full=True, id="dialog-panel")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#dialog-panel", OverridePanel).show(self._content_for(self.options))
        self.query_one("#opt-nproc").focus()

    @on(LaunchOptionsChanged)
    def _changed(self, event: LaunchOptionsChanged) -> None:
        event.stop()
        self.options = event.options
        self.query_one("#dialog-panel", OverridePanel).show(self._content_for(self.options))

    def action_close(self) -> None:
        self.dismiss(self.options)
