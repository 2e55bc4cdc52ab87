"""A corpus of hostile run directories (issue 10, items 1 and 2), and checks that nothing of it reaches a terminal.

`make_corpus(root)` writes one run directory per case under `root/<project>/`:

- `names`: escape sequences of every kind (OSC title/clipboard/hyperlink, `ESC c`, clear screen, 8-bit
  CSI/OSC, DCS, cursor moves, BEL/BS/NUL/DEL, CR) and Rich markup in the directory's own name, the run
  name, host and overrides, eval set names, sample names, metric names, the checkpoint path, the
  non-finite action, the error text of its `run_end`, and the lines of stdout.log / stderr.log;
- `bad_lines`: each bad line of the issue (and a few more), each followed by a good train event, so a reader
  that skips it shows the next step (`BAD_LINES`, `STEP_AFTER_BAD`);
- `end_error_int`: `{"type":"run_end","error":12345}` (made `hrm-tui attach` die);
- `launch_pid_abc`: a launch.json with `"pid": "abc"` (crashed `hrm-tui runs`);
- `nested_only`: an events.jsonl of one line of 100,000 `[` (crashed `hrm-tui runs`);
- `extremes`: times of 1e300 and -1e300, metrics of +-1e308, a step of 2**62, a progress time of -1e300;
- `over_limits`: 100 metrics, 40 eval sets, a halting histogram of 5,000 steps, a 200x200 puzzle;
- `not_regular`: events.jsonl is a FIFO (a plain open would block forever), launch.json a link to /dev/zero;

and, beside the project, a chain of 1,500 nested folders (a recursive walk exhausts the stack).

`PLANTED` are the sequences planted; `assert_no_planted(text)` checks a program's output holds none of them,
nor the text inside them (`PAYLOAD_MARKER`), nor any other terminal control a file could have put there.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

PAYLOAD_MARKER = "HRMPWN"  # text only ever inside a planted sequence: if it shows, a sequence got through

PLANTED: dict[str, str] = {
    "OSC 0 title (BEL)": f"\x1b]0;{PAYLOAD_MARKER}-title\x07",
    "OSC 2 title (ST)": f"\x1b]2;{PAYLOAD_MARKER}-title2\x1b\\",
    "OSC 52 clipboard": f"\x1b]52;c;{PAYLOAD_MARKER}clip\x07",
    "OSC 8 hyperlink": f"\x1b]8;;http://{PAYLOAD_MARKER}.example/\x1b\\",
    "ESC c reset": "\x1bc",
    "clear screen": "\x1b[2J\x1b[3J\x1b[H",
    "cursor up": "\x1b[5A",
    "8-bit CSI": "\x9b2J",
    "8-bit OSC": f"\x9d0;{PAYLOAD_MARKER}-c1\x9c",
    "DCS": f"\x1bP{PAYLOAD_MARKER}-dcs\x1b\\",
    "lone ESC": "\x1b",
    "BEL BS DEL": "\x07\x08\x7f",
    "CR": "\r",
}
MARKUP = "[red]not-markup[/red][link=http://example.org]x[/link]"  # must show as typed, never styled
MARKUP_IN_NAME = "[red]not-markup[reverse]x"  # the same, without the "/" a folder name cannot hold

# Everything at once, for strings in JSON and logs (NUL too); folder names cannot hold NUL or "/".
HOSTILE = "x" + "".join(PLANTED.values()) + "\x00" + MARKUP
HOSTILE_NAME = "run " + "".join(PLANTED[k] for k in ("OSC 0 title (BEL)", "ESC c reset", "clear screen", "8-bit CSI", "BEL BS DEL")) + MARKUP_IN_NAME

PROJECT = "hostile-project"

T0 = 1_735_725_600.0  # 2025-01-01 10:00 UTC


def _line(event: dict) -> bytes:
    return json.dumps({"v": 1, **event}).encode() + b"\n"


def train(step: int, time_: float | None = None, **metrics: float) -> dict:
    return {"type": "train", "time": T0 + step if time_ is None else time_, "step": step, "total_steps": 100,
            "metrics": {"lm_loss": 1.0 / (step + 1), "accuracy": 0.5, **metrics}}


# The bad lines of issue 10 (and more), in the order `bad_lines` writes them; after the i-th comes
# train step STEP_AFTER_BAD[i].
BAD_LINES: dict[str, bytes] = {
    "run_end error a number": _line({"type": "run_end", "time": T0, "step": 1, "status": "failed", "error": 12345}),
    "100,000 nested [": b"[" * 100_000 + b"\n",
    "train metrics a list": _line({"type": "train", "time": T0, "step": 3, "metrics": [1, 2]}),
    "halting counts 1e400": b'{"v":1,"type":"halting","time":1735725600,"step":4,"phase":"train","counts":[1e400]}\n',
    "step null": _line({"type": "train", "time": T0, "step": None, "metrics": {"lm_loss": 1.0}}),
    "eval metrics a string": _line({"type": "eval", "time": T0, "step": 6, "metrics": "nope"}),
    "samples a string": _line({"type": "samples", "time": T0, "step": 7, "samples": "y"}),
    "invalid UTF-8": b'{"type":"train","time":1,"step":8,"metrics":{"\xff\xfe":1}}\n',
    "not an object": b"[1, 2, 3]\n",
    "time null": _line({"type": "train", "time": None, "step": 10, "metrics": {"lm_loss": 1.0}}),
    "truncated JSON": b'{"type":"train","time":1,"step":11,"metr\n',
}
STEP_AFTER_BAD = [10 * (i + 1) for i in range(len(BAD_LINES))]


def write_bad_line_run(run_dir: Path) -> None:
    """run_start, then each bad line followed by a good train event (steps STEP_AFTER_BAD)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "events.jsonl", "wb") as f:
        f.write(_line({"type": "run_start", "time": T0, "total_steps": 200}))
        for bad, step in zip(BAD_LINES.values(), STEP_AFTER_BAD):
            f.write(bad)
            f.write(_line(train(step)))


def write_events(run_dir: Path, events: list[dict]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "events.jsonl", "ab") as f:
        for event in events:
            f.write(_line(event))


SUDOKU_4X4 = {"kind": "sudoku", "grid_shape": [4, 4], "vocab_offset": 1, "pad_id": 0, "vocab_size": 6, "seq_len": 16}


def write_names_run(run_dir: Path) -> None:
    """Escapes and markup in every string a run directory holds (the run ends failed, with a traceback)."""
    sample = {"name": HOSTILE, "puzzle_id": 1, "input": [1] * 16, "label": [2] * 16, "prediction": [2] * 16,
              "q_halt": 1.5, "q_halt_prob": 0.8, "steps": 3, "exact": True}
    write_events(run_dir, [
        {"type": "run_start", "time": T0, "total_steps": 100, "run_name": HOSTILE, "project_name": HOSTILE,
         "host": HOSTILE, "overrides": [f"+experiment={HOSTILE}", f"run_name={HOSTILE}"], "halt_max_steps": 4,
         "puzzle": SUDOKU_4X4, "argv": [HOSTILE], "notes": [HOSTILE]},
        *[train(step) for step in range(1, 21)],
        {"type": "train", "time": T0 + 21, "step": 21, "metrics": {"lm_loss": 0.1, HOSTILE: 1.0}},
        {"type": "eval", "time": T0 + 21, "step": 21, "set": HOSTILE, "metrics": {"exact_accuracy": 0.5, "lm_loss": 0.2, HOSTILE: 2.0}},
        {"type": "halting", "time": T0 + 21, "step": 21, "phase": "eval", "set": HOSTILE, "counts": [1, 2, 3, 4]},
        {"type": "halting", "time": T0 + 21, "step": 21, "phase": "train", "counts": [4, 3, 2, 1]},
        {"type": "samples", "time": T0 + 21, "step": 21, "set": HOSTILE, "puzzle": SUDOKU_4X4, "samples": [sample, sample]},
        {"type": "checkpoint", "time": T0 + 22, "step": 21, "path": f"/tmp/{HOSTILE}/step_21"},
        {"type": "nonfinite", "time": T0 + 22, "step": 21, "metrics": {HOSTILE: "nan", "lm_loss": "inf"}, "action": HOSTILE},
        {"type": "arc_score", "time": T0 + 22, "step": 21, "set": HOSTILE, "pass_at": {"1": 0.5}},
        {"type": "run_end", "time": T0 + 23, "step": 21, "status": "failed",
         "error": f"Traceback (most recent call last):\n  File {HOSTILE}\nRuntimeError: {HOSTILE}"},
    ])
    lines = [f"step {i}: {HOSTILE}" for i in range(5)] + [f"progress {HOSTILE}\r{HOSTILE} 100%"]
    (run_dir / "stdout.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (run_dir / "stderr.log").write_text(f"warning: {HOSTILE}\nRuntimeError: {HOSTILE}\n", encoding="utf-8")


def make_corpus(root: Path) -> dict[str, Path]:
    """Writes the corpus (see the module docstring); returns case name -> run directory."""
    project = root / PROJECT
    runs: dict[str, Path] = {}

    runs["names"] = project / HOSTILE_NAME
    write_names_run(runs["names"])

    runs["bad_lines"] = project / "bad-lines"
    write_bad_line_run(runs["bad_lines"])

    runs["end_error_int"] = project / "end-error-int"
    write_events(runs["end_error_int"], [{"type": "run_start", "time": T0, "total_steps": 10}, train(1), train(2)])
    with open(runs["end_error_int"] / "events.jsonl", "ab") as f:
        f.write(BAD_LINES["run_end error a number"])

    runs["launch_pid_abc"] = project / "launch-pid-abc"
    runs["launch_pid_abc"].mkdir(parents=True)
    (runs["launch_pid_abc"] / "launch.json").write_text(json.dumps({"pid": "abc", "create_time": "x", "cwd": 5, "overrides": [HOSTILE]}))

    runs["nested_only"] = project / "nested-only"
    runs["nested_only"].mkdir(parents=True)
    (runs["nested_only"] / "events.jsonl").write_bytes(BAD_LINES["100,000 nested ["])

    runs["extremes"] = project / "extremes"
    write_events(runs["extremes"], [
        {"type": "run_start", "time": 1e300, "total_steps": 2**62, "pid": 2**62},
        {"type": "train", "time": -1e300, "step": 1, "metrics": {"lm_loss": 1e308, "accuracy": -1e308}},
        {"type": "train", "time": 1e300, "step": 2, "metrics": {"lm_loss": -1e308, "accuracy": 1e308}},
        {"type": "train", "time": 1e300, "step": 2**62, "metrics": {"lm_loss": 5e-324, "accuracy": 1e308}, "eta_s": 1e300},
        {"type": "eval", "time": 1e300, "step": 2**62, "metrics": {"exact_accuracy": 1e308, "lm_loss": -1e308}},
        {"type": "heartbeat", "time": 1e300, "step": 2**62, "progress_time": -1e300, "stall_after_s": 1e300},
        {"type": "checkpoint", "time": -1e300, "step": 2**62, "path": "x", "seconds": 1e300},
    ])

    runs["over_limits"] = project / "over-limits"
    grid = 200 * 200
    write_events(runs["over_limits"], [
        {"type": "run_start", "time": T0, "total_steps": 100, "puzzle": {"kind": "generic", "grid_shape": [200, 200]}},
        {"type": "train", "time": T0 + 1, "step": 1, "metrics": {f"metric_{i}": float(i) for i in range(100)}},
        *[{"type": "eval", "time": T0 + 2, "step": 2, "set": f"set_{i}", "metrics": {"exact_accuracy": 0.1}} for i in range(40)],
        {"type": "halting", "time": T0 + 3, "step": 3, "phase": "train", "counts": [1] * 5000},
        {"type": "samples", "time": T0 + 4, "step": 4, "samples": [{"name": "big", "input": [1] * grid, "label": [1] * grid}]},
    ])

    runs["not_regular"] = project / "not-regular"
    runs["not_regular"].mkdir(parents=True)
    os.mkfifo(runs["not_regular"] / "events.jsonl")
    (runs["not_regular"] / "launch.json").symlink_to("/dev/zero")

    deep = root / "deep"
    deep.mkdir()
    for _ in range(1500):  # one level at a time: Path.mkdir(parents=True) itself recurses
        deep = deep / "d"
        os.mkdir(deep)
    return runs


def remove_deep_chain(root: Path) -> None:
    """Removes the nested chain bottom-up (shutil.rmtree, and so pytest's cleanup, recurses and would fail)."""
    deep = root / "deep"
    chain = [deep]
    while (chain[-1] / "d").is_dir():
        chain.append(chain[-1] / "d")
    for folder in reversed(chain):
        os.rmdir(folder)


# -- checks --------------------------------------------------------------------------------------------------

# Controls a file could plant that output must never hold (C0 but tab and newline, DEL, C1); the app's own
# rendering sequences are checked apart (in a pseudo-terminal only the planted sequences are looked for).
_FORBIDDEN = {chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))}


def assert_no_planted(text: str, where: str = "output") -> None:
    """`text` (printed or rendered, decoded) holds no terminal control and nothing from inside a planted
    sequence: what is left of a planted string is its printable text, and U+FFFD where controls were."""
    assert PAYLOAD_MARKER not in text, f"{where} shows text from inside a planted escape sequence"
    bad = sorted({repr(ch) for ch in text if ch in _FORBIDDEN and ch != "\r"})
    assert not bad, f"{where} holds control characters {', '.join(bad)}"


def assert_no_planted_bytes(data: bytes, where: str = "terminal output") -> None:
    """For the raw bytes an app wrote to a terminal: none of the planted sequences, no title or clipboard
    sequence at all (the app never sets either), no reset, and nothing from inside a planted sequence.

    Textual's own OSC 22 (the mouse pointer's shape, `ESC ] 22 ; default BEL`) is the one string sequence
    the app writes; it is taken out first, so its BEL does not count as a planted one."""
    data = re.sub(rb"\x1b\]22;[a-z-]*\x07", b"", data)
    for name, sequence in PLANTED.items():
        if name in ("lone ESC", "CR", "BEL BS DEL", "cursor up", "clear screen"):
            continue  # also the app's own vocabulary (it moves the cursor, clears, rings no bell): see below
        encoded = sequence.encode("utf-8")
        assert encoded not in data, f"{where} holds the planted {name} sequence"
    for sequence, what in ((b"\x1b]0;", "a title"), (b"\x1b]1;", "an icon title"), (b"\x1b]2;", "a title"),
                           (b"\x1b]52;", "a clipboard write"), (b"\x1bc", "a terminal reset"), (b"\x07", "a bell"),
                           (b"\x1bP", "a DCS string"), (b"\xc2\x9b", "an 8-bit CSI"), (b"\xc2\x9d", "an 8-bit OSC"),
                           (b"\x1b]8;", "a hyperlink (markup read from a file)")):
        assert sequence not in data, f"{where} holds {what} ({sequence!r})"
    assert PAYLOAD_MARKER.encode() not in data, f"{where} shows text from inside a planted escape sequence"


def screen_text(app) -> str:
    """The text an app's current screen sends to the terminal (every segment but the control ones): what the
    Pilot tests check. Uses the same path as `App.export_screenshot`, as text."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system="truecolor",
                      record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)
