"""The live command panel: the minimal override list, the same overrides as one copyable line, the exact
command that will run, and (multi-node) the command for the other nodes.

Two layouts: `full` for the side pane and the options dialog (the list one override per line), and
compact for the bottom strip of a narrow terminal (the single line and the command only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static


@dataclass(frozen=True)
class PanelContent:
    overrides: list[str]  # the user's minimal overrides (groups first)
    overrides_line: str  # the same, shell-quoted on one line
    command: str  # the full command line, environment assignments first
    other_nodes: list[tuple[int, str]] = field(default_factory=list)  # (node rank, command line)
    status: str = ""  # validation verdict, e.g. "✓ valid" or "✗ lr: expected a number"
    ok: bool = True


class OverridePanel(VerticalScroll, can_focus=True):
    """Shows a PanelContent. Focusable so it can scroll from the keyboard; its text can be selected with the
    mouse, and ctrl+y (on the launch screen) copies the command."""

    def __init__(self, *, full: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.full = full
        self.set_class(full, "-full")

    def compose(self) -> ComposeResult:
        yield Static("", classes="panel-status")
        yield Static("", classes="panel-body")

    def show(self, content: PanelContent) -> None:
        text = Text()
        if self.full:
            text.append(f"Overrides ({len(content.overrides)})\n", style="bold")
            for override in content.overrides or ["(none: the preset as it is)"]:
                text.append(f"  {override}\n")
            text.append("\nAs one line\n", style="bold")
            text.append(f"  {content.overrides_line or '(none)'}\n")
            text.append("\nCommand\n", style="bold")
            text.append(f"  {content.command}\n")
            for rank, command in content.other_nodes:
                text.append(f"\nOn node {rank}\n", style="bold")
                text.append(f"  {command}\n")
        else:
            text.append("Overrides ", style="bold")
            text.append(f"{content.overrides_line or '(none)'}\n")
            text.append("Command   ", style="bold")
            text.append(f"{content.command}\n")
            for rank, command in content.other_nodes:
                text.append(f"Node {rank}    ", style="bold")
                text.append(f"{command}\n")
        text.rstrip()
        self.query_one(".panel-status", Static).update(Text(content.status))
        self.query_one(".panel-body", Static).update(text)
        self.set_class(not content.ok, "-problem")
