"""The one reader of a run directory: the event log (whole, head and tail, or followed live) and its records.

Nothing read from a file can raise out of these functions or stop them: a line that is not a valid event
is skipped and counted by reason, a file that cannot be read reads as empty, a record field that does not
fit is left out. This is what `hrm-tui runs`, the monitor and users' own tools use (docs/run-directory.md,
"Reading a run directory"):

    log = read_events("checkpoints/p/r")                 # EventLog: every valid event, in file order
    for event in log.of_type(Train): print(event.step, event.metrics["lm_loss"])
    log.skipped                                          # Counter: reason -> lines skipped

    follower = EventFollower("checkpoints/p/r")          # a live run: new events since the last poll
    while True:
        batch = follower.poll()                          # FollowBatch: events (with offsets), skipped, restarted
        ...

    read_head_and_tail(path)                             # the first and last events only: O(1) in the log's size
    read_record(path / LAUNCH_FILE, LaunchRecord)        # launch.json, command.json, the lock file

A last line without its newline is never read: the writer may be in the middle of it (or died there; the
next writer terminates it, see writer.py).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from hrm_core.rundir.events import Event, Rejected, decode_line, parse_json_line
from hrm_core.rundir.files import EVENTS_FILE
from hrm_core.rundir.schema import FieldError, record_spec
from hrm_core.rundir.tail import MAX_LINE_BYTES, FileTail, open_regular

E = TypeVar("E", bound=Event)
R = TypeVar("R")

_READ_CHUNK = 8 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024  # launch.json and friends are a few KB


def events_path(path: str | os.PathLike[str]) -> Path:
    """`path` itself when it names a file, else the run directory's events.jsonl."""
    path = Path(path)
    return path / EVENTS_FILE if path.is_dir() else path


class LoggedEvent(NamedTuple):
    """An event and where its line is in the file (`length` includes the newline). A tuple: cheap to make
    for every line of a long log."""

    offset: int
    length: int
    event: Event


@dataclass
class EventLog:
    """Every valid event of a log, in file order, and what was skipped."""

    events: list[Event] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> number of lines

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def of_type(self, cls: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, cls)]

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def _complete_lines(data: bytes, base: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for each newline-terminated line of `data` (which starts at file offset `base`)."""
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            return
        yield base + start, data[start:end]
        start = end + 1


def _tally(decoded: Event | Rejected | None, skipped: Counter[str]) -> Event | None:
    if isinstance(decoded, Rejected):
        skipped[decoded.reason] += 1
        return None
    return decoded


def iter_logged_events(path: str | os.PathLike[str], skipped: Counter[str] | None = None) -> Iterator[LoggedEvent]:
    """Every valid event of the log with its offset, read in slices (memory stays flat for any size).

    Skipped lines are counted into `skipped` when given. Stops quietly if the file becomes unreadable.
    """
    skipped = Counter() if skipped is None else skipped
    for offset, line in _iter_complete_lines(path, skipped):
        decoded = decode_line(line)
        if isinstance(decoded, Rejected):
            skipped[decoded.reason] += 1
        elif decoded is not None:
            yield LoggedEvent(offset, len(line) + 1, decoded)


def _iter_complete_lines(path: str | os.PathLike[str], skipped: Counter[str]) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of every newline-terminated line, read in slices; an over-long line is counted in
    `skipped` and left out, an unterminated last line is not read."""
    try:
        with open_regular(events_path(path)) as f:
            carry, carry_offset = b"", 0  # an incomplete line and its file offset
            dropping = False  # inside a line longer than MAX_LINE_BYTES: skip to its end
            while True:
                chunk = f.read(_READ_CHUNK)
                if not chunk:
                    return  # `carry` is an unterminated last line: not read (see the module docstring)
                data, base = carry + chunk, carry_offset
                if dropping:
                    newline = data.find(b"\n")
                    if newline < 0:
                        carry, carry_offset = b"", base + len(data)
                        continue
                    data, base, dropping = data[newline + 1:], base + newline + 1, False
                cut = data.rfind(b"\n")
                if cut < 0:
                    if len(data) > MAX_LINE_BYTES:
                        skipped["line too long"] += 1
                        dropping, carry, carry_offset = True, b"", base + len(data)
                    else:
                        carry, carry_offset = data, base
                    continue
                yield from _complete_lines(data[: cut + 1], base)
                carry, carry_offset = data[cut + 1:], base + cut + 1
    except OSError:
        return


def read_events(path: str | os.PathLike[str]) -> EventLog:
    """Every valid event of an `events.jsonl` (or of a run directory's), with the skipped lines counted.

    A missing or unreadable file gives an empty log. Event types this version does not know are left out.
    """
    log = EventLog()
    append, skipped = log.events.append, log.skipped
    for _, line in _iter_complete_lines(path, skipped):
        decoded = decode_line(line)
        if isinstance(decoded, Rejected):
            skipped[decoded.reason] += 1
        elif decoded is not None:
            append(decoded)
    return log


# ---------------------------------------------------------------------------------------------------------
# Following a live log


@dataclass
class FollowBatch:
    """What one `EventFollower.poll()` found."""

    events: list[LoggedEvent] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # lines skipped in this batch, by reason
    restarted: bool = False  # the file was truncated or replaced: drop what was built from earlier events


class EventFollower:
    """The events appended to a log since the last poll. Never raises, never blocks on a slow writer.

    A bad line is skipped (and counted) and the next good one is returned: one damaged line never stops
    a follower. `skipped` accumulates the counts since the start (or the last restart).
    """

    def __init__(self, path: str | os.PathLike[str], *, start_offset: int = 0, max_read_bytes: int = 32 * 1024 * 1024):
        self.tail = FileTail(events_path(path), start_offset=start_offset, max_read_bytes=max_read_bytes)
        self.skipped: Counter[str] = Counter()

    @property
    def offset(self) -> int:
        return self.tail.offset

    def poll(self) -> FollowBatch:
        read = self.tail.read_lines()
        batch = FollowBatch(restarted=read.restarted)
        if read.restarted:
            self.skipped.clear()
        if read.oversized:
            batch.skipped["line too long"] += read.oversized
        for line, offset in zip(read.lines, read.offsets):
            event = _tally(decode_line(line), batch.skipped)
            if event is not None:
                batch.events.append(LoggedEvent(offset, len(line) + 1, event))
        self.skipped.update(batch.skipped)
        return batch


# ---------------------------------------------------------------------------------------------------------
# Head and tail: what a runs list needs, at a cost that does not grow with the log


HEAD_BYTES = 256 * 1024  # run_start sits here: the whole config and the puzzle description (a few KB)
TAIL_BYTES = 64 * 1024  # the newest step, heartbeat and run_end
MAX_TAIL_BYTES = 16 * 1024 * 1024  # the tail grows to this when its last line is longer than TAIL_BYTES


@dataclass
class HeadAndTail:
    head: list[Event] = field(default_factory=list)  # the events of the first HEAD_BYTES
    tail: list[Event] = field(default_factory=list)  # the last events (empty when the head covers the file)
    skipped: Counter[str] = field(default_factory=Counter)
    size: int = 0  # the file's size when read

    @property
    def newest(self) -> list[Event]:
        """The newest events in file order: the tail, or the head when the log is that short."""
        return self.tail or self.head


def read_head_and_tail(path: str | os.PathLike[str], *, head_bytes: int = HEAD_BYTES, tail_bytes: int = TAIL_BYTES) -> HeadAndTail:
    """The events of the first `head_bytes` and of the last `tail_bytes` of a log (grown up to
    MAX_TAIL_BYTES until it holds a complete event, so a long last `samples` line does not hide the rest)."""
    result = HeadAndTail()
    try:
        with open_regular(events_path(path)) as f:
            size = os.fstat(f.fileno()).st_size
            result.size = size
            head_data = f.read(head_bytes)
            for _, line in _complete_lines(head_data, 0):
                event = _tally(decode_line(line), result.skipped)
                if event is not None:
                    result.head.append(event)
            if size <= head_bytes or tail_bytes <= 0:
                return result
            want = tail_bytes
            while True:
                start = max(head_bytes, size - want)
                f.seek(start)
                data = f.read(size - start)
                lines = list(_complete_lines(data, start))
                if start > head_bytes and lines:
                    lines = lines[1:]  # the first piece probably starts mid-line
                if lines or start == head_bytes or want >= MAX_TAIL_BYTES:
                    break
                want *= 4
            for _, line in lines:
                event = _tally(decode_line(line), result.skipped)
                if event is not None:
                    result.tail.append(event)
    except OSError:
        pass
    return result


# ---------------------------------------------------------------------------------------------------------
# JSON records and text


@dataclass
class RecordRead(Generic[R]):
    """A record file read with `read_record`: the record (None if absent or unusable) and what was wrong."""

    record: R | None
    problems: list[str] = field(default_factory=list)  # e.g. ["pid: expected an integer"]


def read_record(path: str | os.PathLike[str], cls: type[R]) -> RecordRead[R]:
    """A small JSON file (launch.json, command.json, the lock file) as a `cls` record; never raises.

    Each field is checked on its own: one that does not fit is left out and named in `problems`.
    """
    try:
        with open_regular(path) as f:
            data = f.read(MAX_RECORD_BYTES + 1)
    except FileNotFoundError:
        return RecordRead(None)
    except OSError as e:
        return RecordRead(None, [f"unreadable: {e.strerror or type(e).__name__}"])
    if len(data) > MAX_RECORD_BYTES:
        return RecordRead(None, ["file too large"])
    if not data.strip():
        return RecordRead(None, ["empty"])
    try:
        obj: Any = parse_json_line(data)
    except FieldError as e:
        return RecordRead(None, [e.reason])
    if type(obj) is not dict:
        return RecordRead(None, ["not a JSON object"])
    try:
        record, problems = record_spec(cls).build_lenient(obj)
    except Exception:  # a checker bug must not escape a reader
        return RecordRead(None, ["unreadable"])
    return RecordRead(record, problems)


def read_text_tail(path: str | os.PathLike[str], max_bytes: int = 4096) -> str:
    """The last `max_bytes` of a text file (a log), decoded leniently; "" when missing or unreadable.

    Not sanitised: pass what you display through `hrm_core.rundir.sanitize.safe_text`.
    """
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - max_bytes))
            return f.read(max_bytes).decode("utf-8", errors="replace")
    except OSError:
        return ""
