"""Hydra command-line overrides: writing values in Hydra's override grammar, and the minimal override list.

The launcher never edits YAML files: everything the user changes in the form becomes a `key=value` override
on the trainer's command line, exactly what they would type by hand. Two rules make that safe:

- every value is written so that Hydra's parser reads back the very same value and type. A string that
  would parse as something else (`true`, `null`, `1e-4`), or that holds spaces or special characters
  (`x; rm -rf ~`), is quoted. Each formatted value is checked by parsing it back with Hydra's own parser;
- only keys whose value differs from the default appear (the *minimal* list), in the order the user edited
  them. A key that the composed config does not have gets Hydra's `+key=value` (append) form.

The overrides become separate argv items, never a shell string: see `launch_plan.py`.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hrm_core.config.override_text import quote_value as _quote

# Keys of override prefixes in Hydra's grammar: `+key` appends, `++key` forces, `~key` deletes.
_PREFIX_RE = re.compile(r"^(\+\+|\+|~)?")


class OverrideSyntaxError(ValueError):
    """A piece of text that Hydra's override grammar does not accept."""


@dataclass(frozen=True)
class Edit:
    """A value the user set for a key, and the text they typed for it (kept so `7e-5` stays `7e-5`)."""

    value: Any
    text: str | None = None


@lru_cache(maxsize=1)
def _parser() -> Any:
    # Imported lazily: building Hydra's ANTLR parser takes a moment and is not needed to import this module.
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def parse_value(text: str) -> Any:
    """Reads `text` the way Hydra reads the value of `key=<text>`: `1e-4` is a float, `[1,2]` a list, etc."""
    from hydra.errors import HydraException

    try:
        override = _parser().parse_override(f"key={text}")
    except HydraException as error:
        raise OverrideSyntaxError(f"{text!r} is not a valid Hydra value: {_first_line(str(error))}") from None
    value = override.value()
    if not _is_plain(value):
        # A sweep (`a,b`), range or function call: meaningful to Hydra's multirun, not to a single launch.
        raise OverrideSyntaxError(f"{text!r} is a Hydra sweep, not a single value; quote it if you mean a string")
    return value


def format_value(value: Any, text: str | None = None) -> str:
    """`value` in Hydra's override grammar. `text`, if given and read back as the same value, is kept as typed."""
    if text is not None and not isinstance(value, str):
        stripped = text.strip()
        try:
            if stripped and _same(parse_value(stripped), value):
                return stripped
        except OverrideSyntaxError:
            pass
    return _format(value)


def format_override(key: str, value: Any, *, text: str | None = None, add: bool = False) -> str:
    """`key=value` (or `+key=value` for a key the config does not have yet)."""
    return f"{'+' if add else ''}{key}={format_value(value, text)}"


def minimal_overrides(
    defaults: Mapping[str, Any], edits: Mapping[str, Edit], present: Container[str] | None = None
) -> list[str]:
    """The overrides that turn `defaults` into the edited config, in the order of `edits`.

    `defaults` maps dotted keys to their raw default values (an interpolation is its `${...}` string), so an
    untouched interpolation never shows up, and one the user retyped identically does not either.
    `present` holds the keys the composed config has (default: those of `defaults`); any other key is
    written `+key=value`, Hydra's form for adding a key.
    """
    present = defaults if present is None else present
    overrides = []
    for key, edit in edits.items():
        if key in defaults and _same(defaults[key], edit.value):
            continue
        overrides.append(format_override(key, edit.value, text=edit.text, add=key not in present))
    return overrides


def split_override(override: str) -> tuple[str, str, str]:
    """`"+arch.loss.loss_type=x"` -> `("+", "arch.loss.loss_type", "x")`."""
    prefix = _PREFIX_RE.match(override).group(0)  # type: ignore[union-attr]  # the pattern always matches
    key, sep, value = override[len(prefix) :].partition("=")
    if not sep and prefix != "~":
        raise OverrideSyntaxError(f"{override!r} is not an override: expected key=value")
    return prefix, key.strip(), value


def parse_overrides(overrides: Iterable[str]) -> dict[str, Edit]:
    """Turns `key=value` strings back into edits (e.g. to clone a run's config into the form)."""
    edits: dict[str, Edit] = {}
    for override in overrides:
        prefix, key, text = split_override(override)
        if prefix == "~":
            continue  # deletions cannot be expressed as a form value
        edits[key] = Edit(parse_value(text), text)
    return edits


def single_line(argv_or_overrides: Iterable[str]) -> str:
    """One line for a POSIX shell, each item quoted as needed: what the *copy* action puts on the clipboard."""
    return " ".join(shell_quote(item) for item in argv_or_overrides)


def shell_quote(item: str) -> str:
    """Quotes one argv item for a POSIX shell, readably: Hydra's single quotes go inside double quotes
    (`"run_name='a b'"`) rather than shlex's `'run_name='"'"'a b'"'"''`."""
    if item and _SHELL_SAFE.fullmatch(item):
        return item
    if "'" in item and not _DOUBLE_QUOTE_SPECIAL.search(item):
        return f'"{item}"'
    return shlex.quote(item)


_SHELL_SAFE = re.compile(r"[\w@%+=:,./-]+")
_DOUBLE_QUOTE_SPECIAL = re.compile(r'["\\$`!]')


# ----------------------------------------------------------------------------------------------------------


def _format(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _format_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_format(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_format_key(k)}:{_format(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write a {type(value).__name__} as a Hydra override value: {value!r}")


def _format_key(key: Any) -> str:
    text = str(key)
    if re.fullmatch(r"[A-Za-z_][\w\-]*", text):
        return text
    raise TypeError(f"dictionary key {text!r} cannot be written in Hydra's override grammar")


def _format_string(value: str) -> str:
    # Bare when Hydra reads it back unchanged and it has no whitespace (which would be trimmed, or would be
    # hard to read on a command line); otherwise single-quoted, falling back to double quotes.
    if value and not any(c.isspace() for c in value) and _reads_back(value, value):
        return value
    for quote in ("'", '"'):
        candidate = _quote(value, quote)
        if _reads_back(candidate, value):
            return candidate
    raise OverrideSyntaxError(f"cannot write {value!r} in Hydra's override grammar")


def _reads_back(text: str, expected: Any) -> bool:
    try:
        return _same(parse_value(text), expected)
    except OverrideSyntaxError:
        return False


def _same(a: Any, b: Any) -> bool:
    """Equal values of compatible types: `1 == 1.0`, but `True != 1` and `"1" != 1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return a is None and b is None


def values_equal(a: Any, b: Any) -> bool:
    """Public name of the comparison the minimal override list uses."""
    return _same(a, b)


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_is_plain(v) for v in value.values())
    return False


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
