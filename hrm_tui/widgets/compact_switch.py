"""A one-line switch that reads as text: `[■ on ]` / `[  off]`.

Textual's Switch draws its state as a coloured slider only, which is hard to read on a monochrome or
16-colour terminal and invisible in a text capture. This keeps Switch's behaviour (enter/space/click
toggle it, it posts Switch.Changed) and writes the state in words.
"""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.widgets import Switch


class CompactSwitch(Switch):
    DEFAULT_CSS = """
    CompactSwitch {
        border: none;
        height: 1;
        width: 8;
        padding: 0;
        background: $surface;
        &:focus {
            border: none;
            text-style: reverse;
        }
        &.-on {
            color: $success;
            text-style: bold;
        }
        &.-on:focus {
            text-style: bold reverse;
        }
    }
    """

    def render(self) -> Text:
        return Text("[■ on ]" if self.value else "[  off]")

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return 7
