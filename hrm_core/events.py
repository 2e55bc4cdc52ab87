"""The run directory's event log: `events.jsonl`.

One JSON object per line, appended by rank 0 only. Every object carries `v` (schema version), `type` and
`time` (Unix seconds). The types and their fields are documented in docs/run-directory.md, which is the
contract between the trainer, the terminal UI and users' own tools.

Writers append a whole line with one `write` call and flush it, so a reader sees either nothing or a
complete line, except when the writer dies mid-write: readers therefore ignore a last line that has no
trailing newline, and skip lines that do not parse.

Non-finite floats (a diverged loss) are written as the strings "nan", "inf" and "-inf", which keeps every
line strict JSON; `float(value)` turns them back into numbers.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
EVENTS_FILE = "events.jsonl"

# Every event type the trainer writes. Readers must ignore types they do not know (forward compatibility).
RUN_START = "run_start"
RESUME = "resume"
TRAIN = "train"
EVAL = "eval"
HALTING = "halting"
SAMPLES = "samples"
CHECKPOINT = "checkpoint"
HEARTBEAT = "heartbeat"
NONFINITE = "nonfinite"
ARC_SCORE = "arc_score"
RUN_END = "run_end"

EVENT_TYPES = (RUN_START, RESUME, TRAIN, EVAL, HALTING, SAMPLES, CHECKPOINT, HEARTBEAT, NONFINITE, ARC_SCORE, RUN_END)

# Run-end statuses. A run with no run_end whose process is gone is shown as "lost" by readers.
FINISHED = "finished"
FAILED = "failed"
STOPPED = "stopped"


def to_jsonable(value: Any) -> Any:
    """Converts tensors, numpy values and non-finite floats into plain JSON values."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    tolist = getattr(value, "tolist", None)  # torch.Tensor, numpy arrays and numpy scalars
    if tolist is not None:
        return to_jsonable(tolist())
    return str(value)


class EventWriter:
    """Appends events to `<run_dir>/events.jsonl`. Cheap enough to call every training step."""

    def __init__(self, run_dir: str | os.PathLike[str]):
        self.path = Path(run_dir) / EVENTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def emit(self, event_type: str, **fields: Any) -> dict[str, Any]:
        event = {"v": SCHEMA_VERSION, "type": event_type, "time": time.time(), **fields}
        line = json.dumps(to_jsonable(event), separators=(",", ":"), allow_nan=False)
        self._file.write(line + "\n")
        self._file.flush()
        return event

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_line(line: str | bytes) -> dict[str, Any] | None:
    """Parses one complete line; returns None for blank, malformed or non-object lines."""
    try:
        event = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return event if isinstance(event, dict) and "type" in event else None


def read_events(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yields every complete, well-formed event of an `events.jsonl` file (or of a run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / EVENTS_FILE
    if not path.exists():
        return
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # a writer is (or was) mid-line
            event = parse_line(raw)
            if event is not None:
                yield event
