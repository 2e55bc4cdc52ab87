"""The live command panel: the status, the minimal override list, the same overrides as one copyable line,
the exact command that will run (with the SLURM target: the whole batch script that will be submitted), and
(multi-node) the command for the other nodes; the compact strip also
names the launch options that differ from the defaults, since the options themselves are not on screen. It shows a `CommandPreview` (forms/command_preview.py), the very one ctrl+l
launches.

Two layouts: `full` for the side pane and the options dialog (the list one override per line), and
compact for the bottom strip of a narrow terminal (one line each). Either way the whole command can be read
from the keyboard: the panel takes focus (tab, or ctrl+g from the form), scrolls with ↑ ↓ PgUp PgDn Home
End, the bottom strip grows while it has focus, and esc goes back to the field you came from.

Items that stop a launch (a field whose text is not a valid value) are marked where they appear, in the
theme's error colour and with a `✗`, so a terminal without colour shows them too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from hrm_core.rundir.files import BATCH_SCRIPT_FILE
from hrm_tui.forms.command_preview import CommandPreview
from hrm_tui.forms.overrides import shell_quote

MARKED_STYLE = "bold $text-error on $error-muted"
HEADING_STYLE = "bold"


class OverridePanel(VerticalScroll, can_focus=True):
    """Shows a CommandPreview; see the module docstring."""

    BINDINGS = [Binding("escape", "back", "Back to the fields")]

    class BackRequested(Message):
        """esc in the panel: focus the field the user came from."""

    def __init__(self, *, full: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.full = full
        self.set_class(full, "-full")
        self.set_class(not full, "-compact")
        self.preview: CommandPreview | None = None

    def compose(self) -> ComposeResult:
        yield Static("", classes="panel-status")
        yield Static("", classes="panel-body")

    def action_back(self) -> None:
        self.post_message(self.BackRequested())

    def show(self, preview: CommandPreview) -> None:
        if preview == self.preview:
            return
        self.preview = preview
        parts: list[Content | str | tuple[str, str]] = []
        if self.full:
            parts += self._full(preview)
        else:
            parts += self._compact(preview)
        self.query_one(".panel-status", Static).update(Content(preview.status))
        self.query_one(".panel-body", Static).update(Content.assemble(*parts).rstrip())
        self.set_class(bool(preview.problems), "-problem")

    # --- layouts -------------------------------------------------------------------------------------

    def _full(self, preview: CommandPreview) -> list[Content | str | tuple[str, str]]:
        parts: list[Content | str | tuple[str, str]] = [(f"Overrides ({len(preview.overrides)})\n", HEADING_STYLE)]
        for override in preview.overrides or ("(none: the preset as it is)",):
            parts += ["  ", *self._item(override, preview), "\n"]
            if override in preview.marked:
                parts += ["    ", (f"✗ {preview.marked[override]}", "$text-error"), "\n"]
        parts += ["\n", ("As one line\n", HEADING_STYLE), "  ", *self._line(preview.overrides, preview, "(none)"), "\n"]
        # (No options summary here: the full panel sits under the launch options themselves.)
        if preview.script:
            return parts + ["\n", *self._script(preview)]
        parts += ["\n", ("Command\n", HEADING_STYLE), "  ", *self._command(preview), "\n"]
        for rank, argv in preview.other_nodes:
            parts += ["\n", (f"On node {rank}\n", HEADING_STYLE), "  ", *self._line([*preview.env, *argv], preview), "\n"]
        if preview.sweep:  # the command above is the sweep's base; each run adds its combination
            parts += ["\n", ("Sweep\n", HEADING_STYLE), "  ", preview.sweep_line, "\n"]
        return parts

    def _compact(self, preview: CommandPreview) -> list[Content | str | tuple[str, str]]:
        parts: list[Content | str | tuple[str, str]] = [("Overrides ", HEADING_STYLE), *self._line(preview.overrides, preview, "(none)"), "\n"]
        if preview.options_summary:
            parts += [("Options   ", HEADING_STYLE), preview.options_summary, "\n"]
        if preview.script:
            return parts + self._script(preview)
        parts += [("Command   ", HEADING_STYLE), *self._command(preview), "\n"]
        for rank, argv in preview.other_nodes:
            parts += [(f"Node {rank}    ", HEADING_STYLE), *self._line([*preview.env, *argv], preview), "\n"]
        if preview.sweep:
            parts += [("Sweep     ", HEADING_STYLE), preview.sweep_line, "\n"]
        return parts

    # --- pieces --------------------------------------------------------------------------------------

    def _command(self, preview: CommandPreview) -> list[Content | str | tuple[str, str]]:
        if not preview.argv:
            if not preview.problems:  # not built yet (the config is loading): no fault to mark
                return [(preview.not_built, "$text-muted")]
            return [(f"✗ {preview.not_built}", "$text-error")]
        return self._line([*preview.env, *preview.argv], preview)

    @staticmethod
    def _script(preview: CommandPreview) -> list[Content | str | tuple[str, str]]:
        """The SLURM target's batch script, every line of it, as sbatch will get it."""
        where = preview.plan.run_dir / BATCH_SCRIPT_FILE if preview.plan is not None else BATCH_SCRIPT_FILE
        parts: list[Content | str | tuple[str, str]] = [(f"Batch script  (ctrl+l: sbatch {where})\n", HEADING_STYLE)]
        for line in preview.script.splitlines():
            parts += ["  ", line, "\n"]
        return parts

    def _line(self, items: Iterable[str], preview: CommandPreview, empty: str = "") -> list[Content | str | tuple[str, str]]:
        parts: list[Content | str | tuple[str, str]] = []
        for item in items:
            if parts:
                parts.append(" ")
            parts += self._item(shell_quote(item), preview, key=item)
        return parts or [empty]

    @staticmethod
    def _item(text: str, preview: CommandPreview, *, key: str | None = None) -> list[str | tuple[str, str]]:
        if (text if key is None else key) in preview.marked:
            return [(text, MARKED_STYLE), ("✗", "bold $text-error")]
        return [text]
