"""safe_text: every class of escape sequence and control character is removed or made visible, the text
around it survives, and what comes out can be printed to a terminal without acting on it."""

from __future__ import annotations

import pytest

from hrm_core.rundir.sanitize import REPLACEMENT, safe_log_line, safe_text

ESC = "\x1b"

CASES = {
    # name: (raw, expected single-line output)
    "SGR colour": (f"{ESC}[31mred{ESC}[0m text", "red text"),
    "clear screen and home": (f"a{ESC}[2J{ESC}[Hb", "ab"),
    "cursor moves with parameters": (f"a{ESC}[10;20Hb{ESC}[?25l", "ab"),
    "8-bit CSI": ("a\x9b2Jb", "ab"),
    "OSC title, BEL-terminated": (f"run{ESC}]0;pwned\x07name", "runname"),
    "OSC 52 clipboard write": (f"x{ESC}]52;c;cm0gLXJmIH4=\x07y", "xy"),
    "OSC title, ST-terminated": (f"x{ESC}]2;title{ESC}\\y", "xy"),
    "OSC hyperlink": (f"{ESC}]8;;http://evil{ESC}\\link{ESC}]8;;{ESC}\\", "link"),
    "8-bit OSC with 8-bit ST": ("x\x9d0;t\x9cy", "xy"),
    "unterminated OSC swallows the rest": (f"keep{ESC}]0;never ends", "keep"),
    "DCS string": (f"a{ESC}Pq#0;2;0;0;0{ESC}\\b", "ab"),
    "SOS string": (f"a{ESC}Xsecret{ESC}\\b", "ab"),
    "PM string": (f"a{ESC}^private{ESC}\\b", "ab"),
    "APC string": (f"a{ESC}_app{ESC}\\b", "ab"),
    "8-bit DCS": ("a\x90data\x9cb", "ab"),
    "ESC c terminal reset": (f"a{ESC}cb", "ab"),
    "ESC 7 and ESC 8": (f"a{ESC}7b{ESC}8", "ab"),
    "charset selection ESC ( B": (f"a{ESC}(Bb", "ab"),
    "lone ESC at the end": (f"end{ESC}", f"end{REPLACEMENT}"),
    "BEL": ("ding\x07dong", f"ding{REPLACEMENT}dong"),
    "backspace overwrite": ("abc\x08\x08XY", f"abc{REPLACEMENT}{REPLACEMENT}XY"),
    "carriage return overwrite": ("safe\rEVIL", f"safe{REPLACEMENT}EVIL"),
    "NUL": ("a\x00b", f"a{REPLACEMENT}b"),
    "DEL": ("a\x7fb", f"a{REPLACEMENT}b"),
    "other C0": ("a\x01\x1f\x0bb", f"a{REPLACEMENT * 3}b"),
    "other C1 (NEL, ST)": ("a\x85\x9cb", f"a{REPLACEMENT}{REPLACEMENT}b"),
    "bidi override": ("abc\u202edcba\u202c", f"abc{REPLACEMENT}dcba{REPLACEMENT}"),
    "bidi isolate": ("x\u2066y\u2069", f"x{REPLACEMENT}y{REPLACEMENT}"),
    "lone surrogate": ("a\udcffb", f"a{REPLACEMENT}b"),
    "line separator": ("a\u2028b", f"a{REPLACEMENT}b"),
    "newline in a name": ("line one\nline two", "line one line two"),
    "tab in a name": ("a\tb", "a b"),
    "printable unicode stays": ("Sudoku-extreme ✓ 数独 🧩 émoji 👩‍💻", "Sudoku-extreme ✓ 数独 🧩 émoji 👩‍💻"),
    "brackets and markup-like text stay": ("[bold]not markup[/bold] {x}", "[bold]not markup[/bold] {x}"),
}


def no_controls(text: str, allowed: str = "") -> bool:
    """Nothing a terminal acts on: no C0 or C1 control (but `allowed`), no DEL."""
    return all(c in allowed or not (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) for c in text)


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_every_escape_class(case):
    raw, expected = CASES[case]
    out = safe_text(raw)
    assert out == expected
    assert no_controls(out)
    assert safe_text(out) == out  # idempotent


def test_multiline_keeps_lines_and_tabs_but_nothing_else():
    error = f"Traceback (most recent call last):\r\n  File \"x.py\"\n\tRuntimeError: {ESC}]0;owned\x07boom{ESC}[2J\n"
    out = safe_text(error, multiline=True)
    assert out == 'Traceback (most recent call last):\n  File "x.py"\n\tRuntimeError: boom\n'
    assert no_controls(out, allowed="\n\t")
    assert safe_text("a\rb", multiline=True) == f"a{REPLACEMENT}b"  # a lone CR still would overwrite


def test_anything_becomes_text_and_plain_text_is_untouched():
    plain = "step 120/400 | loss 0.5"
    assert safe_text(plain) is plain  # the fast path: no copy
    assert safe_text(12345) == "12345" and safe_text(None) == "None"

    class Hostile:
        def __str__(self):
            raise RuntimeError("no")

    assert safe_text(Hostile()) == REPLACEMENT


def test_a_log_line_shows_what_a_terminal_would_show():
    assert safe_log_line("progress 10%\rprogress 50%\rprogress 100%   ") == "progress 100%"
    assert safe_log_line(f"{ESC}[32mok{ESC}[0m\r\r") == "ok"
    assert safe_log_line(f"loss 0.1{ESC}]0;title\x07{ESC}c") == "loss 0.1"
    assert safe_log_line("\r") == ""


def test_long_hostile_text_is_fast_and_bounded():
    import time

    raw = (f"{ESC}[31m" + "x" * 50 + f"{ESC}]52;c;" + "A" * 100 + "\x07" + "\x00") * 20_000  # ~4 MB
    started = time.perf_counter()
    out = safe_text(raw)
    assert time.perf_counter() - started < 2.0
    assert ESC not in out and out.count("x") == 50 * 20_000 and "A" not in out
