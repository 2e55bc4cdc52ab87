"""Incremental tailing of a growing file: read only the bytes added since the last look.

`FileTail` keeps a byte offset into one file. Each `read_lines()` returns the complete lines written since
the previous call, each with the offset where it starts, and keeps an unterminated last line back until its
newline arrives (a writer may be mid-line, or may have died mid-line: docs/run-directory.md).

It also notices when the file it follows is no longer the file it was reading:

- *truncation*: the file is now shorter than the offset (`> file` or a restarted writer);
- *replacement or rotation*: the path now names another file (a new inode), e.g. `logrotate` or a run
  directory deleted and recreated.

In both cases it starts again from the beginning of the current file and reports `restarted=True`, so that
whoever built state from the old lines can drop it.

It never blocks and holds no file open between calls, so a monitor can follow a file that does not exist
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

    def read_lines(self) -> TailRead:
        """The complete lines appended since the last call (at most `max_read_bytes` of them)."""
        result = TailRead(end_offset=self.offset)
        try:
            stat = self.path.stat()
        except OSError:
            return result  # not there (yet, or any more): nothing new
        identity = (stat.st_dev, stat.st_ino)
        if self._identity is not None and identity != self._identity:
            self._restart(result)
        elif stat.st_size < self.offset + len(self._pending):
            self._restart(result)
        self._identity = identity

        start = self.offset + len(self._pending)
        if stat.st_size <= start:
            return result
        try:
            with open_regular(self.path) as f:
                f.seek(start)
                data = f.read(min(stat.st_size - start, self.max_read_bytes))
        except OSError:
            return result

        buffer = self._pending + data
        cut = buffer.rfind(b"\n")
        if cut < 0:
            if len(buffer) <= MAX_LINE_BYTES:
                self._pending = buffer
            else:
                self._pending = self._skip_pending(buffer)
                result.oversized += 1
                result.end_offset = self.offset
            return result
        complete, self._pending = buffer[: cut + 1], buffer[cut + 1 :]
        position = self.offset
        for line in complete.split(b"\n")[:-1]:
            result.lines.append(line)
            result.offsets.append(position)
            position += len(line) + 1
        self.offset = position
        result.end_offset = position
        return result

    def _restart(self, result: TailRead) -> None:
        self.offset = 0
        self._pending = b""
        result.restarted = True
        result.end_offset = 0

    def _skip_pending(self, buffer: bytes) -> bytes:
        """Gives up on an absurdly long unterminated line: its bytes are skipped, not kept."""
        self.offset += len(buffer)
        return b""


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
