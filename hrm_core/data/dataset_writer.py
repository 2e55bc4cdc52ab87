"""Write a puzzle dataset (hrm_core/data/format.py) group by group, without holding it in memory.

    with DatasetWriter("data/sudoku-extreme-1k-aug-1000") as dataset:
        train = dataset.split("train", seq_len=81, puzzle_kind="sudoku")
        for group in groups:
            train.add_group(inputs, labels, puzzle_sizes=[1] * len(inputs), puzzle_identifiers=ids)
        train.finish(vocab_size=11, num_puzzle_identifiers=1)
        dataset.write_identifiers(["<blank>"])

Everything is written into a hidden temporary folder next to the output; leaving the `with` block
without an exception renames it into place (replacing an older build), and an exception deletes it. A
build that fails or is interrupted therefore never leaves a folder that looks complete. (A builder's command
line turns SIGINT/SIGTERM/SIGHUP into an exception, so a cancel ends here too: see interrupts.py.)

One build per output folder at a time: while it builds, the writer holds an exclusive lock (`flock`) on
`.<name>.build-lock` beside the output folder, and writes its pid, start time and command line into that
file, so a second builder (from another terminal, another hrm-tui, or by hand) refuses with
`BuildInProgressError` naming the first, and `build_in_progress(output_dir)` tells who builds. The kernel
drops the lock when the process ends, however it ends, and the file is removed when the build is done;
temporary folders left by a builder that was SIGKILLed are removed by the next build of the same folder.

The big arrays (`inputs`, `labels`) are streamed: rows are appended to the `.npy` file as they come, and
the header, written with room to spare, gets the final row count when the split is finished. The small
index arrays are kept in memory (a few bytes per puzzle).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import psutil

from hrm_core.data.format import BLANK_PUZZLE_NAME, IDENTIFIERS_FILE, DatasetMetadata, array_path
from hrm_core.data.interrupts import interrupts_held, raise_if_interrupted

# Every `.npy` header we write takes exactly this many bytes (a multiple of 64, as numpy aligns them), so
# the final shape can be written over the provisional one in place.
_NPY_HEADER_BYTES = 128
_NPY_MAGIC = b"\x93NUMPY\x01\x00"


class DatasetWriter:
    """A dataset folder under construction; see the module docstring."""

    def __init__(self, output_dir: str | Path, *, replace_existing: bool = True) -> None:
        self.output_dir = Path(output_dir)
        self.replace_existing = replace_existing
        self.temp_dir = self.output_dir.parent / f"{_temp_prefix(self.output_dir)}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock = BuildLock(self.output_dir)
        self._splits: list[SplitWriter] = []
        # True when the output already existed and `replace_existing` was False (another process won).
        self.kept_existing = False

    def __enter__(self) -> "DatasetWriter":
        self.output_dir.parent.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()  # BuildInProgressError when another build of this folder runs
        try:
            _remove_abandoned_temp_dirs(self.output_dir)
            self.temp_dir.mkdir()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            with interrupts_held():
                if exc_type is not None:
                    for split in self._splits:
                        split.close()
                    shutil.rmtree(self.temp_dir, ignore_errors=True)
                    return
                unfinished = [split.name for split in self._splits if not split.finished]
                if unfinished:
                    shutil.rmtree(self.temp_dir, ignore_errors=True)
                    raise RuntimeError(f"split(s) {', '.join(unfinished)} were never finished; nothing was written")
                self._move_into_place()
        finally:
            self._release()

    def _release(self) -> None:
        self._lock.release()

    def split(self, name: str, *, seq_len: int, set_name: str = "all", dtype: np.dtype | type = np.uint8, puzzle_kind: str | None = None, charset: str | None = None) -> "SplitWriter":
        """Start a split (`train` or `test`) holding one set, `all` as in the original's builders."""
        writer = SplitWriter(self.temp_dir / name, name=name, set_name=set_name, seq_len=seq_len, dtype=np.dtype(dtype), puzzle_kind=puzzle_kind, charset=charset)
        self._splits.append(writer)
        return writer

    def discard(self, split: "SplitWriter") -> None:
        """Drop a split that turned out empty: the dataset will not have that split folder."""
        split.close()
        shutil.rmtree(split.split_dir, ignore_errors=True)
        self._splits.remove(split)

    def write_identifiers(self, names: Sequence[str]) -> None:
        """identifiers.json: the name of each puzzle id; id 0 must be the blank puzzle."""
        if not names or names[0] != BLANK_PUZZLE_NAME:
            raise ValueError(f"identifiers must start with {BLANK_PUZZLE_NAME!r}")
        (self.temp_dir / IDENTIFIERS_FILE).write_text(json.dumps(list(names)))

    def _move_into_place(self) -> None:
        try:
            os.rename(self.temp_dir, self.output_dir)
            return
        except OSError:
            if not self.output_dir.exists():
                shutil.rmtree(self.temp_dir, ignore_errors=True)
                raise
        # The output exists already: a previous build, or a concurrent builder that finished first.
        if not self.replace_existing:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.kept_existing = True
            return
        retired = self.output_dir.parent / f".{self.output_dir.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(self.output_dir, retired)
        os.rename(self.temp_dir, self.output_dir)
        shutil.rmtree(retired, ignore_errors=True)


# --- one build per output folder ------------------------------------------------------------------------


class BuildInProgressError(RuntimeError):
    """Another process is building the same output folder; `holder` is what its lock file says about it."""

    def __init__(self, output_dir: Path, holder: BuildHolder) -> None:
        self.output_dir = output_dir
        self.holder = holder
        super().__init__(f"{output_dir} is being built by another process ({holder.describe()}); wait for it to "
                         "finish, or stop it (hrm-tui's build dialog can cancel it)")


@dataclass(frozen=True)
class BuildHolder:
    """Who holds a build lock: pid and start time (to check that the pid still is that process), command line."""

    pid: int | None
    create_time: float | None
    argv: tuple[str, ...]

    def describe(self) -> str:
        return f"pid {self.pid}" if self.pid is not None else "pid not known yet"

    def is_running(self) -> bool:
        """True when the recorded pid is alive and still the process that took the lock (pids are reused)."""
        if self.pid is None or self.create_time is None:
            return False
        try:
            process = psutil.Process(self.pid)
            return abs(process.create_time() - self.create_time) < 1.0 and process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


def build_lock_path(output_dir: str | Path) -> Path:
    output_dir = Path(output_dir)
    return output_dir.parent / f".{output_dir.name}.build-lock"


class BuildLock:
    """The exclusive lock a build of `output_dir` holds (an flock, dropped by the kernel if the process dies).

    Re-entrant within a process: a builder takes it for its whole run (generation included, see
    builder_cli.run_builder), and the DatasetWriter inside takes it again without blocking itself.
    """

    # lock path -> (fd, depth) for the locks this process holds
    _held: dict[Path, tuple[int, int]] = {}

    def __init__(self, output_dir: str | Path, *, wait: bool = False) -> None:
        self.output_dir = Path(output_dir)
        self.path = build_lock_path(self.output_dir).absolute()
        self.wait = wait
        self._fd: int | None = None

    def acquire(self) -> "BuildLock":
        if self._fd is not None:
            return self
        held = BuildLock._held.get(self.path)
        if held is not None:
            BuildLock._held[self.path] = (held[0], held[1] + 1)
            self._fd = held[0]
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise BuildInProgressError(self.output_dir, holder) from None
            except BaseException:
                os.close(fd)
                raise
            # The holder before us removes the file when it is done: a lock on a removed file locks nothing.
            if _same_inode(fd, self.path):
                break
            os.close(fd)
        me = psutil.Process()
        record = json.dumps({"pid": me.pid, "create_time": me.create_time(), "argv": [sys.executable, *sys.argv]})
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode("utf-8"), 0)
        self._fd = fd
        BuildLock._held[self.path] = (fd, 1)
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, depth = BuildLock._held.pop(self.path, (self._fd, 1))
        if depth > 1:
            BuildLock._held[self.path] = (fd, depth - 1)
            self._fd = None
            return
        try:
            os.unlink(self.path)  # removed while still locked: the next locker sees a fresh file (see acquire)
        except FileNotFoundError:
            pass
        os.close(self._fd)  # closing drops the lock
        self._fd = None

    def __enter__(self) -> "BuildLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def build_in_progress(output_dir: str | Path) -> BuildHolder | None:
    """The process building `output_dir` right now (from its lock), or None when no build holds the lock."""
    path = build_lock_path(output_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(fd)
    finally:
        os.close(fd)  # also drops the shared lock taken just to test
    return None


def _read_holder(fd: int) -> BuildHolder:
    try:
        data: Any = json.loads(os.pread(fd, 64 * 1024, 0) or b"{}")
    except (OSError, ValueError):
        data = {}  # the holder has not written its record yet, or the file is not ours
    if not isinstance(data, dict):
        data = {}
    pid, create_time, argv = data.get("pid"), data.get("create_time"), data.get("argv")
    return BuildHolder(
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        create_time=float(create_time) if isinstance(create_time, (int, float)) else None,
        argv=tuple(a for a in argv if isinstance(a, str)) if isinstance(argv, list) else (),
    )


def _same_inode(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _temp_prefix(output_dir: Path) -> str:
    return f".{output_dir.name}.building-"


def temp_dirs(output_dir: str | Path) -> list[Path]:
    """The temporary folders of builds of `output_dir` (only a running build's, unless one was SIGKILLed)."""
    output_dir = Path(output_dir)
    try:
        return sorted(p for p in output_dir.parent.glob(f"{_temp_prefix(output_dir)}*") if p.is_dir())
    except OSError:
        return []


def _remove_abandoned_temp_dirs(output_dir: Path) -> None:
    """Called with the lock held: any other build's temporary folder belongs to a builder that was killed."""
    for path in temp_dirs(output_dir):
        shutil.rmtree(path, ignore_errors=True)


class SplitWriter:
    """One split folder: streams `inputs`/`labels` and collects the index arrays."""

    def __init__(self, split_dir: Path, *, name: str, set_name: str, seq_len: int, dtype: np.dtype, puzzle_kind: str | None, charset: str | None) -> None:
        self.split_dir = split_dir
        self.name = name
        self.set_name = set_name
        self.seq_len = seq_len
        self.dtype = dtype
        self.puzzle_kind = puzzle_kind
        self.charset = charset
        self.finished = False
        split_dir.mkdir(parents=True)
        self._inputs = _StreamingNpy(array_path(split_dir, set_name, "inputs"), seq_len, dtype)
        self._labels = _StreamingNpy(array_path(split_dir, set_name, "labels"), seq_len, dtype)
        self._puzzle_identifiers: list[np.ndarray] = []
        self._puzzle_sizes: list[np.ndarray] = []
        self._group_sizes: list[np.ndarray] = []

    @property
    def num_examples(self) -> int:
        return self._inputs.rows

    def add_group(self, inputs: np.ndarray, labels: np.ndarray, *, puzzle_sizes: Sequence[int] | np.ndarray, puzzle_identifiers: Sequence[int] | np.ndarray) -> None:
        """Append one group: its examples (rows of `inputs`/`labels`, [examples, seq_len]) puzzle by puzzle.

        `puzzle_sizes[i]` is the number of examples of the group's i-th puzzle, whose id is
        `puzzle_identifiers[i]`; the sizes must add up to the number of rows.
        """
        self.add_groups(inputs, labels, puzzle_sizes=puzzle_sizes, puzzle_identifiers=puzzle_identifiers, group_sizes=[len(puzzle_sizes)])

    def add_groups(self, inputs: np.ndarray, labels: np.ndarray, *, puzzle_sizes: Sequence[int] | np.ndarray, puzzle_identifiers: Sequence[int] | np.ndarray, group_sizes: Sequence[int] | np.ndarray) -> None:
        """Append several groups at once; `group_sizes[g]` is the number of puzzles of group g.

        For sets of millions of one-puzzle groups (the full Sudoku set) this avoids a Python call per group.
        """
        raise_if_interrupted()  # a stop signal whose first raise was lost ends the build here (interrupts.py)
        sizes = np.asarray(puzzle_sizes, dtype=np.int64)
        identifiers = np.asarray(puzzle_identifiers, dtype=np.int32)
        groups = np.asarray(group_sizes, dtype=np.int64)
        if inputs.shape != labels.shape or inputs.ndim != 2 or inputs.shape[1] != self.seq_len:
            raise ValueError(f"inputs {inputs.shape} and labels {labels.shape} must both be [examples, {self.seq_len}]")
        if sizes.shape != identifiers.shape or int(sizes.sum()) != inputs.shape[0] or (sizes <= 0).any():
            raise ValueError("puzzle_sizes must be positive, one per puzzle identifier, and add up to the number of examples")
        if int(groups.sum()) != len(sizes) or (groups <= 0).any():
            raise ValueError("group_sizes must be positive and add up to the number of puzzles")
        self._inputs.append(inputs)
        self._labels.append(labels)
        self._puzzle_sizes.append(sizes)
        self._puzzle_identifiers.append(identifiers)
        self._group_sizes.append(groups)

    def finish(self, *, vocab_size: int, num_puzzle_identifiers: int, pad_id: int = 0, ignore_label_id: int | None = 0, blank_identifier_id: int = 0) -> DatasetMetadata:
        """Write the index arrays and dataset.json; the split is complete afterwards."""
        self._inputs.close()
        self._labels.close()
        sizes = np.concatenate(self._puzzle_sizes) if self._puzzle_sizes else np.zeros(0, np.int64)
        puzzle_indices = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
        group_sizes = np.concatenate(self._group_sizes) if self._group_sizes else np.zeros(0, np.int64)
        group_indices = np.concatenate([[0], np.cumsum(group_sizes)]).astype(np.int32)
        identifiers = np.concatenate(self._puzzle_identifiers) if self._puzzle_identifiers else np.zeros(0, np.int32)
        np.save(array_path(self.split_dir, self.set_name, "puzzle_identifiers"), identifiers.astype(np.int32))
        np.save(array_path(self.split_dir, self.set_name, "puzzle_indices"), puzzle_indices)
        np.save(array_path(self.split_dir, self.set_name, "group_indices"), group_indices)

        num_puzzles = len(identifiers)
        metadata = DatasetMetadata(
            pad_id=pad_id,
            ignore_label_id=ignore_label_id,
            blank_identifier_id=blank_identifier_id,
            vocab_size=vocab_size,
            seq_len=self.seq_len,
            num_puzzle_identifiers=num_puzzle_identifiers,
            total_groups=len(group_sizes),
            mean_puzzle_examples=self.num_examples / num_puzzles if num_puzzles else 0.0,
            sets=[self.set_name],
            total_puzzles=num_puzzles,
            puzzle_kind=self.puzzle_kind,
            charset=self.charset,
        )
        metadata.save(self.split_dir)
        self.finished = True
        return metadata

    def close(self) -> None:
        self._inputs.close()
        self._labels.close()


class _StreamingNpy:
    """A 2-D `.npy` file [rows, width] whose rows are appended; the header is fixed up on close."""

    def __init__(self, path: Path, width: int, dtype: np.dtype) -> None:
        self.path = path
        self.width = width
        self.dtype = dtype
        self.rows = 0
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(_npy_header(dtype, (0, width)))

    def append(self, rows: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self.rows += rows.shape[0]

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.seek(0)
        self._file.write(_npy_header(self.dtype, (self.rows, self.width)))
        self._file.close()


def _npy_header(dtype: np.dtype, shape: tuple[int, int]) -> bytes:
    """A version-1.0 `.npy` header of exactly _NPY_HEADER_BYTES bytes (numpy's format, padded with spaces)."""
    description = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
    body_length = _NPY_HEADER_BYTES - len(_NPY_MAGIC) - 2
    body = description.encode("latin1").ljust(body_length - 1) + b"\n"
    if len(body) != body_length:
        raise ValueError(f"shape {shape} does not fit a {_NPY_HEADER_BYTES}-byte .npy header")
    return _NPY_MAGIC + body_length.to_bytes(2, "little") + body
