"""Making text from a run directory safe to display or print: `safe_text` and `safe_log_line`.

Anything in a run directory may have been written by someone else: a run name, an error text, a sample's
name, a checkpoint path, the directory's own name, a line of stdout.log. Printed raw, an escape sequence in
it would act on the reader's terminal: set its title, write the clipboard (OSC 52), clear or reset the
screen, move the cursor over what is already shown. So every such string passes through `safe_text` before
it is displayed or printed (the terminal UI, `hrm-tui runs`, the trainer's own console lines).

The rule (docs/run-directory.md, "Sanitising"):

1. Escape sequences are removed whole, parameters and payload included:
   - CSI: `ESC [` (or the 8-bit U+009B) ... final byte (colours, cursor moves, clear screen);
   - the string sequences OSC (`ESC ]`, U+009D: title, clipboard, hyperlinks), DCS (`ESC P`, U+0090),
     SOS (`ESC X`, U+0098), PM (`ESC ^`, U+009E) and APC (`ESC _`, U+009F), up to their terminator (BEL,
     `ESC \\` or U+009C); an unterminated one runs to the end of the text, as a terminal would swallow it;
   - every other escape: ESC, optional intermediate bytes (0x20-0x2F), one final byte (`ESC c` reset,
     `ESC 7`, `ESC ( B`, ...).
2. Printable text is kept as it is: letters, digits, punctuation, spaces, any printable Unicode (emoji
   with their joiners included).
3. Every other control character that is left, a lone ESC, BEL, backspace, NUL, a carriage return, DEL,
   any other C0 (U+0000-U+001F) or C1 (U+0080-U+009F) control, Unicode bidirectional overrides (which can
   make text read in another order than it is) and lone surrogates (undecodable bytes) is replaced by
   U+FFFD "�", so the reader sees that something was there.
4. Tab and newline: in `multiline=True` text (an error with its traceback) a newline (`\\n` or `\\r\\n`)
   keeps its line break and a tab stays a tab; in single-line text (names, paths, a log line: the
   default) both are shown as one space, so the text stays on one line.

`safe_log_line` is the same for a line of a captured stdout/stderr, after resolving carriage-return
rewrites the way a terminal shows them (a progress bar redrawn with `\\r` shows its last state).
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"

_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"  # CSI: parameters, intermediates, final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|\Z)"  # OSC, DCS, SOS, PM, APC strings
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]",  # any other escape: ESC c, ESC 7, ESC ( B, ...
    re.DOTALL,
)

# Bidirectional embedding/override/isolate controls: printable-looking text shown in another order.
_BIDI_CONTROLS = (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
_LINE_SEPARATORS = (0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)  # what str.splitlines also splits at


def _table(multiline: bool) -> dict[int, str]:
    table = {code: REPLACEMENT for code in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI_CONTROLS)}
    if multiline:
        table[ord("\n")] = "\n"
        table[ord("\t")] = "\t"
    else:
        table[ord("\n")] = " "
        table[ord("\t")] = " "
    return table


_SINGLE_LINE = _table(multiline=False)
_MULTILINE = _table(multiline=True)
_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_text(text: object, *, multiline: bool = False) -> str:
    """`text` (anything: it is made a `str` first) with escape sequences removed and controls made visible.

    See the module docstring for the exact rule. Never raises; idempotent; a plain printable string comes
    back unchanged (and fast: one C-level check).
    """
    if not isinstance(text, str):
        try:
            text = str(text)
        except Exception:  # a hostile __str__ cannot stop a display
            return REPLACEMENT
    if text.isprintable():
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    if multiline:
        text = text.replace("\r\n", "\n")
    text = text.translate(_MULTILINE if multiline else _SINGLE_LINE)
    if not text.isprintable():  # what is left: separators, format characters, surrogates
        for code in _LINE_SEPARATORS:
            text = text.replace(chr(code), "\n" if multiline and code in (0x2028, 0x2029) else REPLACEMENT)
        text = _SURROGATE.sub(REPLACEMENT, text)
    return text


def safe_log_line(raw: str) -> str:
    """One line of a captured stdout/stderr as a terminal would leave it, made safe (`safe_text`).

    Carriage returns rewrite the line from its start: the last non-blank segment is what a terminal shows
    (a progress bar's latest state). Trailing whitespace is dropped.
    """
    if "\r" in raw:
        segments = [segment for segment in raw.split("\r") if segment.strip()]
        raw = segments[-1] if segments else ""
    return safe_text(raw).rstrip()
