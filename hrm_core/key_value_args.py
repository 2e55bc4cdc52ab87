"""The `key=value` command lines of `python -m hrm_core.evaluate` and `python -m hrm_core.solve`.

Both take the original's style of arguments (`checkpoint=PATH save_outputs=[a,b]`), not flags; this reads one
argument and names the fix for a mistake, so that both commands answer a typo the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence


class KeyValueError(ValueError):
    """An argument that is not `key=value` with a known key; the message says what to type instead."""


def split_key_value(text: str, known: Sequence[str]) -> tuple[str, str]:
    """(key, value text) of one `key=value` argument whose key is one of `known`."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise KeyValueError(f"cannot read the argument {text!r}: arguments look like key=value, e.g. checkpoint=PATH")
    if key not in known:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; known keys: {', '.join(known)}"
        raise KeyValueError(f"unknown key {key!r} in {text!r}{hint}")
    return key, value
