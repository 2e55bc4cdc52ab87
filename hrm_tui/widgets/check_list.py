"""A SelectionList whose boxes read `[x]` and `[ ]`.

Textual draws every box as the same `X`, selected or not, and tells them apart by colour alone: in a terminal
without colour, or in a text capture, every entry looks selected. Here the character says it.
"""

from __future__ import annotations

from typing import TypeVar

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import SelectionList
from textual.widgets.option_list import OptionDoesNotExist

SelectionType = TypeVar("SelectionType")
BOX_LEFT, BOX_RIGHT = "[", "]"
CHECKED, UNCHECKED = "x", " "


class CheckList(SelectionList[SelectionType]):
    def render_line(self, y: int) -> Strip:
        # SelectionList draws an entry's line as its box (three one-cell segments: side, mark, side), a blank
        # and the prompt.
        strip = super().render_line(y)
        segments = list(strip)
        try:
            option = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip  # past the last entry
        if len(segments) < 4:
            return strip
        left, inner, right = segments[:3]
        checked = option.value in self.selected
        # Same cells, same styles: only the characters change.
        box = [Segment(BOX_LEFT, left.style), Segment(CHECKED if checked else UNCHECKED, inner.style),
               Segment(BOX_RIGHT, right.style)]
        return Strip([*box, *segments[3:]], strip.cell_length)
