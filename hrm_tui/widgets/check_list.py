"""A SelectionList whose boxes read `[x]` and `[ ]`.

Textual draws every box as the same `X`, selected or not, and tells them apart by colour alone: in a terminal
without colour, or in a text capture, every entry looks selected. Here the character says it.
"""

from __future__ import annotations

from typing import TypeVar

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import SelectionList
from textual.widgets._toggle_button import ToggleButton

SelectionType = TypeVar("SelectionType")
BOX_LEFT, BOX_RIGHT = "[", "]"
CHECKED, UNCHECKED = "x", " "


class CheckList(SelectionList[SelectionType]):
    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        button = (ToggleButton.BUTTON_LEFT, ToggleButton.BUTTON_INNER, ToggleButton.BUTTON_RIGHT)
        if len(segments) < 3 or tuple(s.text for s in segments[:3]) != button:
            return strip  # not an entry's line (past the last entry)
        index = self.scroll_offset.y + y
        checked = self.get_option_at_index(index).value in self._selected
        left, inner, right = segments[:3]
        # Same cells, same styles: only the characters change.
        box = [Segment(BOX_LEFT, left.style), Segment(CHECKED if checked else UNCHECKED, inner.style),
               Segment(BOX_RIGHT, right.style)]
        return Strip([*box, *segments[3:]], strip.cell_length)
