"""Complete lines of a file, by byte range: the one place that reads lines of a run directory's files.

`read_lines(path, start, end)` returns the newline-terminated lines of a byte range (`LineBlock`), read in
slices so that memory stays flat: a line longer than MAX_LINE_BYTES is dropped (and counted) rather than
held, and an unterminated last line is not read (a writer may be mid-line, or may have died mid-line:
docs/run-directory.md). The event reader (reader.py) decodes these blocks; `FileTail` follows a growing
file (a log) with them.

`FileTail` keeps a byte offset into one file. Each `read_lines()` returns the complete lines written since
the previous call, each with the offset where it starts, and keeps an unterminated last line back until its
newline arrives. It also notices when the file it follows is no longer the file it was reading:

- *truncation*: the file is now shorter than the offset (`> file` or a restarted writer);
- *replacement or rotation*: the path now names another file (a new inode), e.g. `logrotate` or a run
  directory deleted and recreated.

In both cases it starts again from the beginning of the current file and reports `restarted=True`, so that
whoever built state from the old lines can drop it.

Nothing here blocks or holds a file open between calls, so a monitor can follow a file that does not exist
yet, and a deleted run directory does not keep disk space alive.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

# A line longer than this without a newline is not a line a reader can use (events are a few KB, samples
# events at most a few hundred KB, log lines shorter still): it is dropped rather than buffered forever.
MAX_LINE_BYTES = 64 * 1024 * 1024
READ_SLICE_BYTES = 8 * 1024 * 1024  # bytes read at once: what a reader holds beyond the lines it returns
_MIN_SLICE_BYTES = 64 * 1024  # a small `max_bytes` (one line) still reads in slices of this size


@dataclass
class LineBlock:
    """The complete lines of a byte range, as `read_lines` found them."""

    # (file offset, bytes): runs of consecutive complete lines, each ending in b"\n"; bytes after a run's last
    # newline are not part of it (a slice is kept whole rather than copied: `split(b"\n")[:-1]` drops them).
    # More than one run only where a dropped over-long line lies between them.
    runs: list[tuple[int, bytes]] = field(default_factory=list)
    start: int = 0  # where the lines begin (with `align`: the first line start at or after the range's start)
    end: int = 0  # where the next read continues: past the last line consumed (read or dropped)
    oversized: int = 0  # lines dropped because they grew past MAX_LINE_BYTES
    pending: bytes = b""  # an unterminated last line (when asked to keep it), starting at `end`
    dropping: bool = False  # `end` is inside an over-long line: the next read skips to its newline
    size: int = 0  # the file's size when read

    def lines(self) -> list[tuple[int, bytes]]:
        """(offset, line without its newline) for every line, in file order."""
        found = []
        for offset, data in self.runs:
            for line in data.split(b"\n")[:-1]:
                found.append((offset, line))
                offset += len(line) + 1
        return found


def read_lines(path: str | os.PathLike[str], start: int = 0, end: int | None = None, *, max_bytes: int | None = None,
               align: bool = False, pending: bytes = b"", dropping: bool = False, keep_pending: bool = False) -> LineBlock:
    """The complete lines in [start, end) of a file (`end` None: up to its current size); never raises.

    - `max_bytes`: read no further slice once this many bytes were read and a line was (the block ends at the
      slice's last line; a line longer than that is read whole, up to MAX_LINE_BYTES). Continue from `end`.
    - `align`: `start` may be mid-line: reading begins at the first line that starts at or after it
      (the block's `start`).
    - `pending` / `dropping` / `keep_pending`: continuing an earlier read (FileTail): the bytes of an unterminated
      line already read (which start at `start`; reading resumes after them), whether `start` is inside an
      over-long line, and whether to return an unterminated last line in `pending` instead of leaving it unread.

    A missing or unreadable file, or anything that is not a regular file, reads as no lines.
    """
    # With `align`, a line starts at `start` when the byte before it is a newline: skip from there to one.
    first = start - 1 if align and start > 0 and not pending else start
    block = LineBlock(start=first, end=first)
    try:
        with open_regular(path) as f:
            block.size = os.fstat(f.fileno()).st_size
            stop = block.size if end is None else min(end, block.size)
            _read_into(block, f, first, stop, max_bytes, first < start or dropping, pending)
    except OSError:
        pass
    if block.end < start:  # nothing read from a range that starts at or past the end
        block.start = block.end = start
        block.dropping = dropping
    if not keep_pending and block.pending:
        block.pending = b""  # not read: the next read starts again at `end`
    return block


def _read_into(block: LineBlock, f: BinaryIO, start: int, stop: int, max_bytes: int | None, skipping: bool,
               pending: bytes) -> None:
    """The slice loop of `read_lines`. Invariant: `partial` holds the bytes of the current unterminated line,
    which starts at `block.end`; `position` is the next byte to read."""
    slice_bytes = min(READ_SLICE_BYTES, max(max_bytes, _MIN_SLICE_BYTES)) if max_bytes else READ_SLICE_BYTES
    partial, partial_size = ([pending], len(pending)) if pending else ([], 0)
    position = start + len(pending)
    f.seek(position)
    # With max_bytes: no slice after the one that reaches it, once a line was read.
    while position < stop and (max_bytes is None or position - start < max_bytes or not block.runs):
        chunk = f.read(min(slice_bytes, stop - position))
        if not chunk:
            break  # shorter than it was a moment ago: the next read notices
        base, position = position, position + len(chunk)
        first = 0
        if skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                block.end = position
                continue
            skipping, first = False, newline + 1
            block.end = base + first
            if not block.runs and not block.oversized:
                block.start = block.end  # the first line start (`align`)
        last = chunk.rfind(b"\n", first)
        if last < 0:
            partial.append(chunk[first:] if first else chunk)
            partial_size += len(chunk) - first
            if partial_size > MAX_LINE_BYTES:  # not a usable line: skip to its end, keeping none of it
                block.oversized += 1
                partial, partial_size, skipping = [], 0, True
                block.end = position
            continue
        if partial:
            partial.append(chunk[first : last + 1])
            block.runs.append((block.end, b"".join(partial)))
            partial, partial_size = [], 0
        else:
            block.runs.append((block.end, chunk[first:] if first else chunk))  # not copied when whole
        block.end = base + last + 1
        if last + 1 < len(chunk):
            partial, partial_size = [chunk[last + 1 :]], len(chunk) - last - 1
    block.dropping = skipping
    if skipping and not block.runs and not block.oversized:
        block.start = block.end  # no line starts in the range
    block.pending = b"".join(partial)


@dataclass
class TailRead:
    """What one `read_lines()` call found."""

    lines: list[bytes] = field(default_factory=list)  # complete lines, without their b"\n"
    offsets: list[int] = field(default_factory=list)  # the file offset of each line's first byte
    restarted: bool = False  # the file was truncated or replaced: earlier lines no longer describe it
    end_offset: int = 0  # the offset just past the last complete line returned
    oversized: int = 0  # lines dropped because they grew past MAX_LINE_BYTES without a newline


class FileTail:
    """Follows one file by offset. Not thread-safe: one reader (one worker) per instance. Never raises for
    anything the file system or the file's content does."""

    def __init__(self, path: str | os.PathLike[str], *, start_offset: int = 0, max_read_bytes: int = 32 * 1024 * 1024):
        self.path = Path(path)
        self.offset = start_offset  # where the next unread byte is (the pending partial line starts here)
        self.max_read_bytes = max_read_bytes  # at most this much per call, so a huge backlog is read in slices
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file being followed
        self._pending = b""  # bytes of an unterminated last line, starting at self.offset
        self._dropping = False  # self.offset is inside an over-long line: skip to its newline

    def read_lines(self) -> TailRead:
        """The complete lines appended since the last call (about `max_read_bytes` of them at most)."""
        block, restarted = self.read_block()
        result = TailRead(restarted=restarted, end_offset=self.offset, oversized=block.oversized)
        for offset, line in block.lines():
            result.lines.append(line)
            result.offsets.append(offset)
        return result

    def read_block(self) -> tuple[LineBlock, bool]:
        """`read_lines` as a LineBlock (for a reader that splits the lines itself), and whether it restarted."""
        restarted = False
        try:
            stat = self.path.stat()
        except OSError:
            return LineBlock(end=self.offset), restarted  # not there (yet, or any more): nothing new
        identity = (stat.st_dev, stat.st_ino)
        if (self._identity is not None and identity != self._identity) or stat.st_size < self.offset + len(self._pending):
            self.offset, self._pending, self._dropping, restarted = 0, b"", False, True
        self._identity = identity
        if stat.st_size <= self.offset + len(self._pending):
            return LineBlock(end=self.offset), restarted
        block = read_lines(self.path, self.offset, stat.st_size, max_bytes=self.max_read_bytes, pending=self._pending,
                           dropping=self._dropping, keep_pending=True)
        if block.size == 0:
            return LineBlock(end=self.offset), restarted  # unreadable just now: try again next time
        self.offset, self._pending, self._dropping = block.end, block.pending, block.dropping
        return block, restarted


def end_of_complete_lines(path: str | os.PathLike[str]) -> int:
    """The offset just past the file's last newline (0 when missing or without a complete line)."""
    try:
        with open_regular(path) as f:
            position = os.fstat(f.fileno()).st_size
            while position > 0:
                start = max(0, position - _MIN_SLICE_BYTES)
                f.seek(start)
                newline = f.read(position - start).rfind(b"\n")
                if newline >= 0:
                    return start + newline + 1
                position = start
    except OSError:
        pass
    return 0


def file_size(path: str | os.PathLike[str]) -> int:
    """The size of a regular file; 0 when missing, unreadable or not a regular file."""
    try:
        with open_regular(path) as f:
            return os.fstat(f.fileno()).st_size
    except OSError:
        return 0


def offset_of_last_lines(path: str | os.PathLike[str], max_bytes: int) -> int:
    """An offset at a line start within the last `max_bytes` of a file (0 for a smaller file).

    For logs: a monitor opened on a run that printed for a day shows the recent lines, not the whole file.
    """
    try:
        size = os.path.getsize(path)
        if size <= max_bytes:
            return 0
        with open_regular(path) as f:
            f.seek(size - max_bytes)
            chunk = f.read(max_bytes)
    except OSError:
        return 0
    newline = chunk.find(b"\n")
    return size if newline < 0 else size - max_bytes + newline + 1


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Opens a regular file for reading; OSError for anything else.

    A run directory may hold anything under a known name: a FIFO named events.jsonl would block a plain
    `open` forever, a link to a device would never end. Readers open files only through here.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat_module.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
