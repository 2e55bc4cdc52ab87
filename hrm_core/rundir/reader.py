"""The one reader of a run directory: the event log (by byte range, head, tail, whole, or followed live) and its records.

Nothing read from a file can raise out of these functions or stop them: a line that is not a valid event
is skipped and counted by reason, a file that cannot be read reads as empty, a record field that does not
fit is left out. This is what `hrm-tui runs`, the monitor and users' own tools use (docs/run-directory.md,
"Reading a run directory"):

    log = read_events("checkpoints/p/r")                 # EventLog: every valid event, in file order
    for event in log.of_type(Train): print(event.step, event.metrics["lm_loss"])
    log.skipped                                          # Counter: reason -> lines skipped

    part = read_range(path, start, end)                  # EventRange: the events of a byte range, with offsets
    part = read_range(path, end, max_bytes=1 << 20)      # ... about a megabyte of them; go on from part.end
    read_head(path), read_tail(path)                     # the first / last events: O(1) in the log's size

    follower = EventFollower("checkpoints/p/r")          # a live run: new events since the last poll
    while True:
        batch = follower.poll()                          # FollowBatch: events (with offsets), skipped, restarted
        ...

    read_record(path / LAUNCH_FILE, LaunchRecord)        # launch.json, command.json, the lock file

Every one of them reads lines through `hrm_core.rundir.tail.read_lines` (the complete lines of a byte range)
and decodes them in `_decode_block` (`decode_counted` for one line of your own). A last line without its newline is never read: the writer may be in the middle of it (or died there; the
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
from hrm_core.checking import FieldError, record_spec
from hrm_core.rundir.tail import FileTail, LineBlock, file_size, open_regular, read_lines

E = TypeVar("E", bound=Event)
R = TypeVar("R")

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


def decode_counted(line: bytes, skipped: Counter[str]) -> Event | None:
    """One line -> a checked event, or None: a rejected line is counted in `skipped` by reason; a blank line
    or an event type this version does not know is left out uncounted."""
    decoded = decode_line(line)
    if isinstance(decoded, Rejected):
        skipped[decoded.reason] += 1
        return None
    return decoded


def _decode_block(block: LineBlock, skipped: Counter[str], *, offsets: bool = True) -> list:
    """The valid events of a block of lines (as LoggedEvents with `offsets`, else bare events); the other
    lines counted in `skipped`. `decode_counted`, inlined: this loop runs for every line of a long log."""
    if block.oversized:
        skipped["line too long"] += block.oversized
    found: list = []
    append = found.append
    for offset, data in block.runs:
        for line in data.split(b"\n")[:-1]:
            decoded = decode_line(line)
            if isinstance(decoded, Rejected):
                skipped[decoded.reason] += 1
            elif decoded is not None:
                append(LoggedEvent(offset, len(line) + 1, decoded) if offsets else decoded)
            offset += len(line) + 1
    return found


# ---------------------------------------------------------------------------------------------------------
# By byte range


@dataclass
class EventRange:
    """The valid events of a byte range of a log (`read_range`), and what was skipped in it."""

    events: list[LoggedEvent] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> number of lines
    start: int = 0  # where its first line starts (with `align`, at or after the range's start)
    end: int = 0  # past the last line read (or skipped): where reading on continues
    size: int = 0  # the file's size when read (0 when missing or unreadable)

    def of_type(self, cls: type[E]) -> list[E]:
        return [item.event for item in self.events if isinstance(item.event, cls)]


def read_range(path: str | os.PathLike[str], start: int = 0, end: int | None = None, *, max_bytes: int | None = None,
               align: bool = False) -> EventRange:
    """The events of the complete lines in [start, end) of a log (or of a run directory's), never raising.

    `end` None: up to the file's current size. `max_bytes`: stop after about that many bytes of lines
    (a longer line is still read whole): call again from the result's `end` to go on. `align`: `start` may
    be mid-line: reading begins at the first line that starts at or after it. A line cut by `end` is not read.
    """
    block = read_lines(events_path(path), start, end, max_bytes=max_bytes, align=align)
    part = EventRange(start=block.start, end=block.end, size=block.size)
    part.events = _decode_block(block, part.skipped)
    return part


def read_event_at(path: str | os.PathLike[str], offset: int, length: int = 0) -> Event | Rejected | None:
    """The event whose line starts at `offset` (`length`: the line's length with its newline, when known),
    e.g. a `samples` event a reader indexed: a checked event, a Rejected saying why the line is not one, or
    None for an event type this version does not know."""
    block = read_lines(events_path(path), offset, offset + length if length > 0 else None, max_bytes=1)
    if block.oversized:
        return Rejected("line too long")
    lines = block.lines()
    if not lines or lines[0][0] != offset:
        return Rejected("no complete line there (the file changed)")
    return decode_line(lines[0][1])


HEAD_BYTES = 256 * 1024  # run_start sits here: the whole config and the puzzle description (a few KB)
TAIL_BYTES = 64 * 1024  # the newest step, heartbeat and run_end
MAX_TAIL_BYTES = 16 * 1024 * 1024  # the tail grows to this when its last line is longer than TAIL_BYTES


def read_head(path: str | os.PathLike[str], max_bytes: int = HEAD_BYTES) -> EventRange:
    """The events of the complete lines among the first `max_bytes` of a log."""
    return read_range(path, 0, max_bytes)


def read_tail(path: str | os.PathLike[str], max_bytes: int = TAIL_BYTES, *, not_before: int = 0,
              max_grow_bytes: int = MAX_TAIL_BYTES) -> EventRange:
    """The events of the complete lines among the last `max_bytes` of a log (none before offset `not_before`).

    The window grows (up to `max_grow_bytes`) until it holds a complete line, so one long last line (a
    `samples` event) does not hide the events before it.
    """
    want, size = max_bytes, file_size(events_path(path))
    while True:
        start = max(not_before, size - want)
        part = read_range(path, start, size, align=True)
        if part.events or sum(part.skipped.values()) or start <= not_before or want >= max_grow_bytes:
            return part
        want *= 4


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


_WHOLE_LOG_SLICE_BYTES = 8 * 1024 * 1024  # read_events holds one slice of the file at a time


def read_events(path: str | os.PathLike[str]) -> EventLog:
    """Every valid event of an `events.jsonl` (or of a run directory's), with the skipped lines counted.

    A missing or unreadable file gives an empty log. Event types this version does not know are left out.
    Read a slice at a time: what is held beyond the events is one slice.
    """
    log, path, position = EventLog(), events_path(path), 0
    while True:
        block = read_lines(path, position, max_bytes=_WHOLE_LOG_SLICE_BYTES)
        log.events += _decode_block(block, log.skipped, offsets=False)
        if block.end <= position or block.end >= block.size:
            return log
        position = block.end


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
        block, restarted = self.tail.read_block()
        batch = FollowBatch(restarted=restarted)
        if restarted:
            self.skipped.clear()
        batch.events = _decode_block(block, batch.skipped)
        self.skipped.update(batch.skipped)
        return batch


# ---------------------------------------------------------------------------------------------------------
# Head and tail: what a runs list needs, at a cost that does not grow with the log


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
    """The events of the first `head_bytes` and of the last `tail_bytes` of a log (`read_head`, `read_tail`)."""
    head = read_lines(events_path(path), 0, head_bytes)
    result = HeadAndTail(size=head.size)
    result.head = _decode_block(head, result.skipped, offsets=False)
    if head.size > head_bytes and tail_bytes > 0:
        tail = read_tail(path, tail_bytes, not_before=head.end)
        result.tail = [item.event for item in tail.events]
        result.skipped.update(tail.skipped)
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
