"""Editing a list value (e.g. `eval_save_outputs`, `evaluators`) one item per line.

Each item is read as Hydra reads a list element (`3` is a number, `inputs` a string); the result goes back
into the field as a Hydra list, `[inputs,labels]`.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from hrm_tui.forms.overrides import OverrideSyntaxError, format_value, parse_value
from hrm_tui.widgets.field_scroll import FieldScroll


class ListEditorScreen(ModalScreen[list[Any] | None]):
    """Dismisses with the new list, or None when cancelled."""

    BINDINGS = [
        Binding("ctrl+n", "add_item", "Add item"),
        Binding("ctrl+d", "remove_item", "Remove item"),
        Binding("ctrl+s", "save", "Save"),
        Binding("escape,q", "cancel", "Cancel"),  # q types in an item
    ]

    def __init__(self, key: str, items: list[Any]) -> None:
        super().__init__()
        self.key = key
        self.items = items

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Edit {self.key}", classes="dialog-title")
            yield Static("One item per line. ctrl+n adds, ctrl+d removes the focused item, ctrl+s saves.", classes="dialog-hint")
            with FieldScroll(id="list-items"):  # ↑ ↓ move between the items
                for item in self.items:
                    yield self._item_input(item)
            yield Static("", id="list-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text("Add [ctrl+n]"), id="add", compact=True)
                yield Button(Text("Save [ctrl+s]"), id="save", variant="primary", compact=True)
                yield Button(Text("Cancel [esc]"), id="cancel", compact=True)

    @staticmethod
    def _item_input(item: Any) -> Input:
        text = item if isinstance(item, str) else format_value(item)
        return Input(text, compact=True, classes="list-item")

    def on_mount(self) -> None:
        items = self.query(".list-item")
        (items.first() if items else self.query_one("#add", Button)).focus()

    def action_add_item(self) -> None:
        new = self._item_input("")
        self.query_one("#list-items").mount(new)
        new.focus()

    def action_remove_item(self) -> None:
        if isinstance(self.focused, Input) and self.focused.has_class("list-item"):
            self.focused.remove()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        values = []
        for number, item in enumerate(self.query(".list-item").results(Input), start=1):
            text = item.value.strip()
            if not text:
                continue  # an empty line is no item
            try:
                value = parse_value(text)
            except OverrideSyntaxError as error:
                self.query_one("#list-error", Static).update(f"✗ item {number}: {error}")
                item.focus()
                return
            values.append(value)
        self.dismiss(values)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        {"add": self.action_add_item, "save": self.action_save, "cancel": self.action_cancel}[event.button.id or "cancel"]()

    @on(Input.Submitted, ".list-item")
    def _submitted(self, event: Input.Submitted) -> None:
        self.action_add_item()
