"""The launcher form's state, apart from any widget: the chosen groups, the user's edits, and what they mean.

The form shows the config composed for the chosen preset and arch. Each field's default is that composed
value; an edit is kept only while it differs from it. From this state come the two things the command
panel shows: the group overrides (`+experiment=demo`, `arch=...`) and the minimal key overrides
(`lr=7e-5 arch.hidden_size=256`), in the order the user made them.

A field whose text does not read as its type (`lr` = `abc`) is an *invalid edit*: it stays in the override
list as typed (`lr=abc`), in its place, and `invalid` says what is wrong with it, so the command panel can
show it marked instead of quietly keeping the last valid value. Such a list cannot be launched.

An edit of an `arch.*` key that the chosen architecture does not take (`arch.mlp_t` after switching from
trm to hrm_v1) is *set aside*: it leaves the overrides, and comes back when an architecture that takes the
key is chosen again. Such a key that the preset itself sets (a preset written for hrm_v1, with
arch=transformers_baseline chosen) is deleted with Hydra's `~arch.L_cycles`, listed after the group choices.

Text typed into a field is read by `parse_field_text`, which checks it against the field's type: ints must
be ints, floats numbers, lists Hydra lists; strings are taken literally (quoting is the formatter's job).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hrm_tui.forms.config_tree import (
    ANY, BOOL, DICT, FLOAT, INT, LIST, PRESET_GROUP, STR, ConfigTree, FieldSpec, foreign_arch_keys, schema_arch_keys,
)
from hrm_tui.forms.overrides import (
    Edit,
    OverrideSyntaxError,
    format_value,
    minimal_overrides,
    parse_overrides,
    parse_value,
    split_override,
    values_equal,
)

# Keys the launcher fills in itself for every run; cloning a run must not copy them (the clone is a new run).
RUN_IDENTITY_KEYS = ("project_name", "run_name", "checkpoint_path", "resume")


class FieldValueError(ValueError):
    """Text that is not a valid value for its field; the message is shown under the field."""


def parse_field_text(spec: FieldSpec, text: str) -> Any:
    """The value `text` stands for in this field, or FieldValueError saying what is expected."""
    stripped = text.strip()
    if stripped.startswith("${") and stripped.endswith("}"):
        return stripped  # an interpolation, for any kind of field; Hydra resolves it
    if spec.kind == STR:
        if text == "" and spec.optional:
            return None
        if spec.choices and text not in spec.choices:
            raise FieldValueError(f"must be one of: {', '.join(spec.choices)}")
        return text
    if stripped == "" or stripped == "null":
        if spec.optional:
            return None
        raise FieldValueError("a value is required")
    try:
        value = parse_value(stripped)
    except OverrideSyntaxError as error:
        raise FieldValueError(str(error)) from None
    expected = {
        INT: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer, e.g. 512"),
        FLOAT: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number, e.g. 1e-4"),
        BOOL: (lambda v: isinstance(v, bool), "true or false"),
        LIST: (lambda v: isinstance(v, list), "a list, e.g. [a, b]"),
        DICT: (lambda v: isinstance(v, dict), "a mapping, e.g. {a: 1}"),
        ANY: (lambda v: True, ""),
    }
    check, description = expected.get(spec.kind, expected[ANY])
    if not check(value):
        raise FieldValueError(f"expected {description}, got {stripped!r}")
    return value


def value_text(spec: FieldSpec, value: Any) -> str:
    """How a value is written in the field's text input (the inverse of parse_field_text)."""
    if value is None:
        return ""
    if spec.kind == STR and isinstance(value, str):
        return value
    return format_value(value)


@dataclass
class FormModel:
    """Chosen groups + edits over a composed config. Composing is the caller's job (it can be slow-ish)."""

    tree: ConfigTree
    choices: dict[str, str | None]  # group -> chosen option, e.g. {"experiment": "demo", "arch": "hrm_v1"}
    base: DictConfig  # the config composed from the group choices alone
    specs: list[FieldSpec]
    edits: dict[str, Edit]  # in the order the user made them; an invalid edit has the text, value None
    invalid: dict[str, str] = field(default_factory=dict)  # key -> what is wrong with its text
    # arch keys of another architecture: out of the overrides until an architecture that takes them is chosen
    set_aside: dict[str, Edit] = field(default_factory=dict)
    set_aside_invalid: set[str] = field(default_factory=set)  # those of them whose text did not read
    deleted: tuple[str, ...] = ()  # arch keys the preset sets and the chosen architecture does not take

    @classmethod
    def create(
        cls,
        tree: ConfigTree,
        choices: dict[str, str | None] | None = None,
        edits: dict[str, Edit] | None = None,
        invalid: Iterable[str] = (),
    ) -> FormModel:
        """The form for these group choices with these edits; `invalid` names the edits whose text did not
        read as a value (they are read again, against this config's fields)."""
        choices = dict(tree.default_choices, **(choices or {}))
        base = tree.compose(group_overrides(tree, choices))
        deleted = tuple(foreign_arch_keys(base))
        if deleted:
            base = tree.compose(group_overrides(tree, choices) + deletions(deleted))
        model = cls(tree, choices, base, tree.fields(base), {}, deleted=deleted)
        invalid = set(invalid)
        other_architectures = schema_arch_keys()
        for key, edit in (edits or {}).items():
            spec = model.specs_by_key.get(key)
            if spec is None and key in other_architectures:
                model.set_aside[key] = edit  # another architecture's key
                if key in invalid:
                    model.set_aside_invalid.add(key)
            elif key in invalid and spec is not None:
                try:
                    model.set(key, Edit(parse_field_text(spec, edit.text or ""), edit.text))
                except FieldValueError as error:
                    model.set_invalid(key, edit.text or "", str(error))
            elif key not in invalid:
                model.set(key, edit)
        return model

    # --- queries ---------------------------------------------------------------------------------------

    @property
    def specs_by_key(self) -> dict[str, FieldSpec]:
        return {spec.key: spec for spec in self.specs}

    def defaults(self) -> dict[str, Any]:
        return {spec.key: spec.default for spec in self.specs}

    def present_keys(self) -> set[str]:
        """Keys the composed config has; overriding any other key needs Hydra's `+key=`."""
        return {spec.key for spec in self.specs if spec.in_config}

    def value(self, key: str) -> Any:
        """The current value of a field: its edit, else its default (interpolations unresolved). A field whose
        text is invalid has no current value: this gives its default (for names and notes, never to launch)."""
        edit = self.edits.get(key)
        return edit.value if edit is not None and key not in self.invalid else self.specs_by_key[key].default

    def is_edited(self, key: str) -> bool:
        return key in self.edits

    def group_overrides(self) -> list[str]:
        """The group choices, then the deletions of the arch keys the chosen architecture does not take."""
        return group_overrides(self.tree, self.choices) + deletions(self.deleted)

    def field_overrides(self) -> list[str]:
        """The minimal `key=value` list against the defaults, in the order the user edited; an invalid field
        as typed (`lr=abc`, see `invalid`)."""
        defaults, present = self.defaults(), self.present_keys()
        out = []
        for key, edit in self.edits.items():
            if key in self.invalid:
                out.append(invalid_override(key, edit.text or "", add=key not in present))
            else:
                out.extend(minimal_overrides(defaults, {key: edit}, present=present))
        return out

    def overrides(self) -> list[str]:
        return self.group_overrides() + self.field_overrides()

    def invalid_overrides(self) -> dict[str, str]:
        """override item (as in `overrides()`) -> `key: what is wrong`, for the invalid fields."""
        present = self.present_keys()
        return {
            invalid_override(key, self.edits[key].text or "", add=key not in present): f"{key}: {message}"
            for key, message in self.invalid.items()
        }

    def resolved(self, key: str) -> Any:
        """The value of `key` after interpolation, with the current edits applied (None if it cannot resolve)."""
        cfg = copy.deepcopy(self.base)
        OmegaConf.set_struct(cfg, False)
        for edited_key, edit in self.edits.items():
            if edited_key in self.invalid:
                continue
            try:
                OmegaConf.update(cfg, edited_key, edit.value, force_add=True)
            except Exception:
                return None
        try:
            value = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
        except Exception:
            return None
        return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value

    # --- changes ---------------------------------------------------------------------------------------

    def set(self, key: str, edit: Edit) -> None:
        """Records an edit; an edit back to the default removes it (the field is no longer marked)."""
        self.invalid.pop(key, None)
        spec = self.specs_by_key.get(key)
        if spec is not None and values_equal(spec.default, edit.value):
            self.edits.pop(key, None)
        else:
            self.edits[key] = edit

    def set_invalid(self, key: str, text: str, message: str) -> None:
        """Records text that is not a valid value for `key`, and why (it keeps its place in the edit order)."""
        self.edits[key] = Edit(None, text)
        self.invalid[key] = message

    def reset(self, key: str) -> None:
        self.edits.pop(key, None)
        self.invalid.pop(key, None)

    def reset_all(self) -> None:
        self.edits.clear()
        self.invalid.clear()

    def all_edits(self) -> dict[str, Edit]:
        """The edits, then those set aside (to carry over to other group choices)."""
        return {**self.edits, **self.set_aside}

    def unknown_edit_keys(self) -> list[str]:
        return [key for key in self.edits if key not in self.specs_by_key]


def invalid_override(key: str, text: str, *, add: bool) -> str:
    """How an invalid field appears in the override list: as typed, `key=abc` (never launched)."""
    return f"{'+' if add else ''}{key}={text}"


def deletions(keys: Iterable[str]) -> list[str]:
    return [f"~{key}" for key in keys]


def group_overrides(tree: ConfigTree, choices: dict[str, str | None]) -> list[str]:
    """Group choices as overrides, the preset first (`+experiment=demo arch=...`)."""
    order = sorted(choices, key=lambda group: (group != PRESET_GROUP, group))
    return [o for o in (tree.group_override(group, choices[group]) for group in order) if o]


def split_run_overrides(tree: ConfigTree, overrides: Iterable[str]) -> tuple[dict[str, str | None], dict[str, Edit]]:
    """A run's override list back into (group choices, field edits), e.g. to clone it into the form.

    The run's own identity (names, checkpoint path, resume) is dropped: a clone is a new run.
    """
    choices: dict[str, str | None] = {}
    plain = []
    for override in overrides:
        prefix, key, value = split_override(override)
        if key in tree.groups and prefix != "~":
            choices[key] = value
        elif prefix == "~" and key.startswith("arch."):
            continue  # the form deletes another architecture's keys itself (FormModel.deleted)
        elif key not in RUN_IDENTITY_KEYS:
            plain.append(override)
    return choices, parse_overrides(plain)


__all__ = [
    "FieldValueError",
    "FormModel",
    "RUN_IDENTITY_KEYS",
    "group_overrides",
    "invalid_override",
    "parse_field_text",
    "split_run_overrides",
    "value_text",
]
