"""The config form: one row per key of the composed config, grouped by section, with typed editors.

    Optimizer
    ● lr                 7e-5
      beta1              0.9
    arch
      puzzle_emb_ndim    ${.hidden_size}         = 512

Each row picks its editor from the field's kind: a switch for bools, a select for a closed set of choices,
a text input (checked against the field's type as you type) for everything else; a list field also opens a
list editor on Enter. A `●` marks an edited field. An interpolation shows as itself, with its resolved value
beside it, and stays an interpolation unless the user types something else.

The form does not own the state: every change is posted as `FieldEdited`, and the launch screen applies it
to its `FormModel` and tells rows what to show (`set_edited`, `set_note`, `set_problem`).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, Switch

from hrm_tui.forms.config_tree import BOOL, FieldSpec
from hrm_tui.forms.form_model import FieldValueError, parse_field_text, value_text
from hrm_tui.widgets.compact_switch import CompactSwitch
from hrm_tui.widgets.field_scroll import FieldScroll, FieldSelect

UNSET = "(unset)"


class FieldEdited(Message):
    """A field's editor changed. `error` is set (and `value` meaningless) when the text is not valid."""

    def __init__(self, key: str, value: Any, text: str | None, error: str | None) -> None:
        super().__init__()
        self.key = key
        self.value = value
        self.text = text
        self.error = error


class ListEditRequested(Message):
    """Enter in a list field: open the list editor for it."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class FieldValidator(Validator):
    """Checks a text input against its field's type as the user types (turns the input red when invalid)."""

    def __init__(self, spec: FieldSpec) -> None:
        super().__init__()
        self.spec = spec

    def validate(self, value: str) -> ValidationResult:
        try:
            parse_field_text(self.spec, value)
        except FieldValueError as error:
            return self.failure(str(error))
        return self.success()


class FieldRow(Vertical):
    """One key: label, editor, edited marker, note (resolved interpolation), and an error line below."""

    def __init__(self, spec: FieldSpec, value: Any, *, edited: bool, note: str = "", text: str | None = None) -> None:
        super().__init__(id=row_id(spec.key), classes="field-row")
        self.spec = spec
        self._initial_value = value
        self._initial_text = text  # as the user typed it, when the value came from their override
        self._initial_note = note
        self._local_error = ""  # from typing (wrong type)
        self._problem = ""  # from the trainer's validation
        self._shown_error = ""
        self.set_class(edited, "-edited")
        if spec.help:
            self.tooltip = f"{spec.key}: {spec.help}"

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-line"):
            yield Label(self._label_text(), classes="field-label")
            yield self._make_editor(self._initial_value)
            yield Static(self._initial_note, classes="field-note")
        # The error line is mounted the first time the field has an error: most rows never need one.

    def _make_editor(self, value: Any) -> Widget:
        spec = self.spec
        editor_id = editor_id_for(spec.key)
        if spec.kind == BOOL and spec.interpolation is None:
            return CompactSwitch(value=bool(value), id=editor_id, classes="field-editor field-switch")
        if spec.choices and spec.interpolation is None:
            options = [(choice, choice) for choice in spec.choices]
            return FieldSelect(
                options,
                value=value if value in spec.choices else Select.NULL,
                allow_blank=spec.optional,
                prompt=UNSET,
                compact=True,
                id=editor_id,
                classes="field-editor field-select",
            )
        return Input(
            value=self._initial_text if self._initial_text is not None else value_text(spec, value),
            placeholder="null" if spec.optional else "",
            validators=[FieldValidator(spec)],
            validate_on=["changed"],
            compact=True,
            id=editor_id,
            classes="field-editor field-input",
        )

    # --- what the screen tells the row ---------------------------------------------------------------

    def _label_text(self) -> str:
        # The edited mark sits in the label (one widget less per row keeps layout passes cheap).
        return f"{'●' if self.has_class('-edited') else ' '} {self.spec.name}"

    def set_edited(self, edited: bool) -> None:
        if edited != self.has_class("-edited"):
            self.set_class(edited, "-edited")
            self.query_one(".field-label", Label).update(self._label_text(), layout=False)

    def set_note(self, note: str) -> None:
        self.query_one(".field-note", Static).update(note, layout=False)  # fixed width: no layout needed

    def set_text_error(self, message: str) -> None:
        """Shows that the editor's text is not a valid value (e.g. kept so across a preset change)."""
        self._local_error = message
        self._show_error()

    def set_problem(self, message: str) -> None:
        self._problem = message
        self._show_error()

    def set_value(self, value: Any) -> None:
        """Puts a value into the editor (reset, clone); the editor's change event follows as usual."""
        editor = self.editor
        if isinstance(editor, Switch):
            editor.value = bool(value)
        elif isinstance(editor, Select):
            editor.value = value if value in (self.spec.choices or ()) else Select.NULL
        elif isinstance(editor, Input):
            editor.value = value_text(self.spec, value)

    @property
    def editor(self) -> Widget:
        return self.query_one(".field-editor")

    def _show_error(self) -> None:
        message = self._local_error or self._problem
        if message == self._shown_error:
            return  # unchanged: spare the layout pass a visible change would need
        self._shown_error = message
        errors = self.query(".field-error")
        if errors:
            errors.first(Static).update(Text(f"✗ {message}") if message else "")
        elif message:
            self.mount(Static(Text(f"✗ {message}"), classes="field-error"))
        self.set_class(bool(message), "-error")

    # --- editor events -> FieldEdited ----------------------------------------------------------------

    @on(Input.Changed, ".field-input")
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            value = parse_field_text(self.spec, event.value)
            self._local_error = ""
            self.post_message(FieldEdited(self.spec.key, value, event.value, None))
        except FieldValueError as error:
            self._local_error = str(error)
            self.post_message(FieldEdited(self.spec.key, None, event.value, str(error)))
        self._problem = ""  # the trainer's verdict was about the old value; a new one follows
        self._show_error()

    @on(Input.Submitted, ".field-input")
    def _input_submitted(self, event: Input.Submitted) -> None:
        if self.spec.kind == "list":
            event.stop()
            self.post_message(ListEditRequested(self.spec.key))

    @on(Switch.Changed, ".field-switch")
    def _switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        self.post_message(FieldEdited(self.spec.key, event.value, None, None))

    @on(Select.Changed, ".field-select")
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        value = None if event.value is Select.NULL else event.value
        self.post_message(FieldEdited(self.spec.key, value, value, None))


class SectionTitle(Static):
    """A section's heading in the form (`Optimizer`, `arch`, `arch.loss`)."""

    def __init__(self, section: str) -> None:
        super().__init__(section, classes="section-title", id=section_id(section))
        self.section = section


class ConfigForm(FieldScroll, can_focus=False):
    """The scrollable list of sections and field rows. Build it with `load`.

    The keys move the focus from field to field and the focused row stays in view (widgets/field_scroll.py).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rows: dict[str, FieldRow] = {}

    async def load(
        self,
        specs: list[FieldSpec],
        values: dict[str, Any],
        edited: set[str],
        notes: dict[str, str],
        texts: dict[str, str] | None = None,
    ) -> None:
        """Replaces every row (after the preset or arch changed). `texts`: how edited values were typed."""
        texts = texts or {}
        await self.remove_children()
        widgets: list[Widget] = []
        self._rows = {}
        section = None
        for spec in specs:
            if spec.section != section:
                section = spec.section
                widgets.append(SectionTitle(section))
            row = FieldRow(
                spec,
                values.get(spec.key, spec.default),
                edited=spec.key in edited,
                note=notes.get(spec.key, ""),
                text=texts.get(spec.key),
            )
            self._rows[spec.key] = row
            widgets.append(row)
        await self.mount_all(widgets)

    def row(self, key: str) -> FieldRow | None:
        return self._rows.get(key)

    @property
    def rows(self) -> dict[str, FieldRow]:
        return self._rows

    def filter(self, text: str) -> int:
        """Shows only rows whose key contains `text` (case-insensitive), and their section titles. Returns
        the number of rows shown."""
        needle = text.strip().lower()
        shown_sections: set[str] = set()
        shown = 0
        for key, row in self._rows.items():
            visible = not needle or needle in key.lower()
            row.display = visible
            if visible:
                shown += 1
                shown_sections.add(row.spec.section)
        for title in self.query(SectionTitle):
            title.display = title.section in shown_sections if needle else True
        return shown

    def show_problems(self, problems: dict[str, str]) -> None:
        for key, row in self._rows.items():
            row.set_problem(problems.get(key, ""))

    def focus_field(self, key: str) -> bool:
        row = self._rows.get(key)
        if row is None:
            return False
        row.display = True
        self.move_focus_to(row.editor)
        return True

    def scroll_target(self, field: Widget) -> Widget:
        """A field's whole row (label, editor and error line) must be in view, not only its editor."""
        node: Widget | None = field
        while node is not None and node is not self:
            if isinstance(node, FieldRow):
                return node
            node = node.parent if isinstance(node.parent, Widget) else None
        return field


def row_id(key: str) -> str:
    return "row-" + key.replace(".", "--")


def editor_id_for(key: str) -> str:
    return "field-" + key.replace(".", "--")


def section_id(section: str) -> str:
    return "section-" + "".join(c if c.isalnum() else "-" for c in section)
