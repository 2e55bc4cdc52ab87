"""Writing a string into Hydra's override grammar, for the code that builds overrides: the launch form
(hrm_tui/forms/overrides.py, which decides when a value needs quotes) and the names a sweep gives its runs
(hrm_core/config/sweep.py)."""

from __future__ import annotations


def quote_value(value: str, quote: str = "'") -> str:
    """`value` inside Hydra quotes (`'` or `"`), read back by Hydra as exactly `value`."""
    # Inside Hydra quotes, a backslash is literal except in a run of backslashes just before a quote
    # character or the closing quote: those runs are doubled, and the quote itself is escaped.
    out = []
    i = 0
    while i < len(value):
        if value[i] == "\\":
            j = i
            while j < len(value) and value[j] == "\\":
                j += 1
            run = value[i:j]
            at_quote_or_end = j == len(value) or value[j] == quote
            out.append(run * 2 if at_quote_or_end else run)
            i = j
        elif value[i] == quote:
            out.append("\\" + quote)
            i += 1
        else:
            out.append(value[i])
            i += 1
    return quote + "".join(out) + quote
