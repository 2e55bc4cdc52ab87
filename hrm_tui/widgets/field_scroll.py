"""A scrolling column of fields where the keys move the focus, not just the view.

Textual's VerticalScroll scrolls on ↑ ↓ PgUp PgDn Home End and leaves the focus where it was: the focused
field could then be off screen while typing still edits it. Here:

- ↑ / ↓ focus the previous / next field; past the first or last one they go on to the screen (which moves
  the focus to the widgets around the column);
- PgUp / PgDn move the focus a page of fields (as many as fit on screen) up or down;
- Home / End (and ctrl+Home / ctrl+End) focus the first / last field; inside a text input Home / End keep
  moving the text cursor, as in any text field, and ctrl+Home / ctrl+End still jump;
- the field that gets the focus is scrolled into view (without animation, so it is visible at once), and
  stays in view when the terminal is resized;
- scrolling with the mouse wheel or the scrollbar moves the focus onto a field that is in view.

A field is any focusable widget inside the column, in Textual's focus order; a select keeps enter and space
for opening its list, and leaves ↑ ↓ to the column (see FieldSelect).
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.actions import SkipAction
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Select


class FieldSelect(Select[Any]):
    """A Select for a column of fields: enter / space open it; ↑ ↓ belong to the column around it."""

    BINDINGS = [
        Binding("enter,space", "show_overlay", "Show menu", show=False),
        Binding("up,down", "pass_to_column", show=False),
    ]

    def action_pass_to_column(self) -> None:
        raise SkipAction()


class FieldScroll(VerticalScroll, can_focus=False):
    """See the module docstring."""

    BINDINGS = [
        Binding("down", "next_field", "Next field", show=False),
        Binding("up", "previous_field", "Previous field", show=False),
        Binding("pagedown", "page_fields(1)", "Page down", show=False),
        Binding("pageup", "page_fields(-1)", "Page up", show=False),
        Binding("home,ctrl+home", "edge_field(-1)", "First field", show=False),
        Binding("end,ctrl+end", "edge_field(1)", "Last field", show=False),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pointer_scrolled = False  # the view moved under the mouse: bring the focus into it
        self._moved_focus_to: Widget | None = None

    # --- which widgets are fields ----------------------------------------------------------------------

    def fields(self) -> list[Widget]:
        """The focusable widgets inside the column, in focus order (hidden ones are not in it)."""
        return [w for w in self.screen.focus_chain if self in w.ancestors]

    def scroll_target(self, field: Widget) -> Widget:
        """What must be in view for `field` to count as visible (a subclass may widen it, e.g. to its row)."""
        return field

    def _focused_field(self) -> Widget | None:
        focused = self.screen.focused
        return focused if focused is not None and self in focused.ancestors else None

    # --- keys ----------------------------------------------------------------------------------------

    def action_next_field(self) -> None:
        self._step(1)

    def action_previous_field(self) -> None:
        self._step(-1)

    def _step(self, direction: int) -> None:
        fields, focused = self.fields(), self._focused_field()
        if focused is None or focused not in fields:
            raise SkipAction()
        index = fields.index(focused) + direction
        if not 0 <= index < len(fields):
            raise SkipAction()  # past the ends: the screen moves the focus out of the column
        self.move_focus_to(fields[index])

    def action_page_fields(self, direction: int) -> None:
        fields, focused = self.fields(), self._focused_field()
        if focused is None or focused not in fields:
            raise SkipAction()
        page = max(1, sum(1 for f in fields if self._in_view(f)) - 1)
        index = min(max(fields.index(focused) + direction * page, 0), len(fields) - 1)
        self.move_focus_to(fields[index])

    def action_edge_field(self, direction: int) -> None:
        fields = self.fields()
        if not fields or self._focused_field() is None:
            raise SkipAction()
        self.move_focus_to(fields[-1] if direction > 0 else fields[0])

    def move_focus_to(self, field: Widget) -> None:
        """Focuses `field` and scrolls it into view at once."""
        self._pointer_scrolled = False
        self._moved_focus_to = field
        field.focus(scroll_visible=False)
        fields = self.fields()
        if fields and field is fields[0]:
            self.scroll_home(animate=False)  # the first field: show whatever heads the column too
        else:
            self.scroll_to_widget(self.scroll_target(field), animate=False)

    # --- the focused field stays in view -----------------------------------------------------------------

    def _in_view(self, field: Widget) -> bool:
        return self.can_view_entire(self.scroll_target(field))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if event.widget is not self._moved_focus_to:
            self._pointer_scrolled = False  # focus moved by tab, a click or the app: Textual scrolls to it
        self._moved_focus_to = None

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._keep_focused_in_view)

    def _keep_focused_in_view(self) -> None:
        focused = self._focused_field()
        if focused is not None and not self._in_view(focused):
            self.scroll_to_widget(self.scroll_target(focused), animate=False)

    # Pointer scrolling (wheel, scrollbar): these run besides Widget's own handlers, which do the scrolling.
    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._scrolled_by_pointer()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._scrolled_by_pointer()

    def on_scroll_to(self, message: Any) -> None:
        self._scrolled_by_pointer()

    def on_scroll_up(self, message: Any) -> None:
        self._scrolled_by_pointer()

    def on_scroll_down(self, message: Any) -> None:
        self._scrolled_by_pointer()

    def _scrolled_by_pointer(self) -> None:
        self._pointer_scrolled = True
        self.call_after_refresh(self._focus_into_view)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._pointer_scrolled:  # an animated page scroll moves over several frames: follow each
            self.call_after_refresh(self._focus_into_view)

    def _focus_into_view(self) -> None:
        focused = self._focused_field()
        if not self._pointer_scrolled or focused is None or self._in_view(focused):
            return
        fields = self.fields()
        visible = [f for f in fields if self._in_view(f)]
        if not visible or focused not in fields:
            return
        above = fields.index(focused) < fields.index(visible[0])  # the view moved down past it
        field = visible[0] if above else visible[-1]  # the nearest field still in view
        self._moved_focus_to = field
        field.focus(scroll_visible=False)
