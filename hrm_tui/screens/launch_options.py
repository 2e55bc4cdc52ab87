"""Launch options and the full command panel as a dialog (ctrl+o), for terminals too narrow for the side pane.

The dialog owns no options: it edits the launch screen's one `LaunchOptionsDraft`. Every change is posted to
the launch screen as `LaunchOptionsEdited`; the launch screen keeps the draft, shows it in the side pane too,
and answers with `LaunchOptionsScreen.PreviewChanged`, carrying the new `CommandPreview`: the one the dialog
shows and ctrl+l launches. (A modal screen's messages do not reach the screen below it by bubbling, so the
dialog is given the screen it edits for, `owner`, and posts to it.) Closing the dialog therefore loses nothing
and leaves nothing behind: the form's strip and the side pane already show the same options.

    Launch options
    Processes/node [2      ]          ↑ ↓ between the options, tab to the command
    ...
    Command                           ctrl+g: to the command, ↑ ↓ PgUp PgDn scroll it, esc back
    ✓ ready to launch (ctrl+l)
    PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 torchrun --nnodes 2 ...
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Static

from hrm_tui.forms.command_preview import CommandPreview
from hrm_tui.forms.launch_options_draft import LaunchOptionsDraft
from hrm_tui.system.gpus import GpuScan
from hrm_tui.widgets.key_footer import KeyFooter
from hrm_tui.widgets.launch_options import LaunchOptionsEdited, LaunchOptionsPanel, first_editor
from hrm_tui.widgets.override_panel import OverridePanel


class LaunchOptionsScreen(ModalScreen[None]):
    """See the module docstring. Edits go to `owner` as LaunchOptionsEdited; it answers with PreviewChanged."""

    BINDINGS = [
        Binding("escape,ctrl+o,q", "close", "Close"),  # q types in a text option
        Binding("ctrl+g", "command", "Command"),
        Binding("down", "app.focus_next", "Next", show=False),  # past the last option: on to the command
        Binding("up", "app.focus_previous", "Previous", show=False),
    ]

    class PreviewChanged(Message):
        """To the dialog: the command the launch screen would now launch (after an edit, or a form change)."""

        bubble = False

        def __init__(self, preview: CommandPreview) -> None:
            super().__init__()
            self.preview = preview

    def __init__(
        self,
        draft: LaunchOptionsDraft,
        preview: CommandPreview,
        *,
        owner: Screen,
        gpu_scan: GpuScan | None = None,
    ) -> None:
        super().__init__()
        self._draft = draft
        self._preview = preview
        self._owner = owner
        self._gpu_scan = gpu_scan  # None: the options panel scans NVML itself
        self._last_option: Widget | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog", id="options-dialog"):
            yield Static("Launch options", classes="dialog-title")
            yield LaunchOptionsPanel(self._draft, gpu_scan=self._gpu_scan, id="dialog-options")
            yield Static("Command  (ctrl+g or tab: read it with ↑ ↓ PgUp PgDn; esc: back)", classes="pane-title")
            yield OverridePanel(full=True, id="dialog-panel")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._show_preview(self._preview)
        self.query_one(f"#{first_editor(self._draft)}").focus()

    def on_launch_options_screen_preview_changed(self, message: PreviewChanged) -> None:
        self._show_preview(message.preview)

    def _show_preview(self, preview: CommandPreview) -> None:
        self._preview = preview
        self.query_one("#dialog-panel", OverridePanel).show(preview)

    @on(LaunchOptionsEdited)
    def _edited(self, event: LaunchOptionsEdited) -> None:
        event.stop()
        self._draft = event.draft
        self._owner.post_message(LaunchOptionsEdited(event.draft))

    def on_descendant_focus(self, event: object) -> None:
        if self.focused is not None and self.query_one("#dialog-options") in self.focused.ancestors:
            self._last_option = self.focused

    def action_command(self) -> None:
        panel = self.query_one("#dialog-panel", OverridePanel)
        if self.focused is panel:
            self._back()
        else:
            panel.focus()

    @on(OverridePanel.BackRequested)
    def _back(self) -> None:
        (self._last_option or self.query_one(f"#{first_editor(self._draft)}")).focus()

    def action_close(self) -> None:
        self.dismiss(None)
