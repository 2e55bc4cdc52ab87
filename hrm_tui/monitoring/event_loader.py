"""Reads a run's `events.jsonl` into a `RunModel`: fast for a day-long log, then live.

Parsing a million JSON lines in Python takes seconds, and the monitor must show a finished run's whole
curves within one. So a large log is read in three stages (`model.loaded` names the one reached), each
leaving the model drawable:

1. **sampled** (`open`, tens of milliseconds): the head (run_start), the newest `tail_bytes` parsed exactly
   (latest step, recent curves, the last evals and samples), and `overview_samples` train lines picked at
   evenly spaced offsets through the middle. Curves span the whole run at once; their middle is a sample.
2. **overview** (`open`, one pass of a C regex over the memory-mapped file): every event that is not
   `train` or `heartbeat` (eval, halting, samples, checkpoints, lifecycle) is found and applied exactly.
   `samples` events are only indexed (offset, step, set) and read when the user pages to them.
3. **exact** (`refine`, called slice by slice between polls): every train line of the part that was
   sampled is parsed, the whole-run summaries are rebuilt exactly and swapped in when done.

A small log (under `exact_below_bytes`) is simply parsed whole. After opening, `follow` reads only the bytes
appended since the last call (hrm_core.rundir.reader.EventFollower), and starts over when the file is
truncated or replaced.

Lines are read by byte range through hrm_core.rundir.reader (`read_range`, `EventFollower`,
`read_event_at`), and each is decoded and checked by `decode_counted`: a line that is not a valid event
is skipped and counted by reason, and the next one is read; nothing in the file can make the loader raise
or stop following. What this module adds is only its loading policy: which ranges to read when, the train
lines it samples and the rare events it finds by a scan over memory maps. Valid events reach the model typed (the payload classes of hrm_core.rundir.events).
The count of skipped lines (`skipped`, mirrored into `model.skipped` for the monitor to show) is exact for
a small log and for the part of a large one read line by line (head, tail, everything followed); for the
middle of a large log it counts what the sampled and overview stages looked at until the exact pass, which
checks every line of it, replaces that part of the count with its own.

Everything here blocks on file reads: call it from a background worker, never from the UI thread.

One limit of the memory maps the first two stages read through: a file truncated while one of its windows
is mapped (tens of milliseconds, only while a large log is opened) makes touching the lost pages a SIGBUS,
which no Python code can catch. A log that shrinks otherwise (truncated, replaced) is handled: the
follower notices and the loader starts over.
"""

from __future__ import annotations

import json
import mmap
import os
import re
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path

from hrm_core.rundir.events import EVENT_TYPES, Heartbeat, Rejected, Samples, Train
from hrm_core.rundir.files import EVENTS_FILE
from hrm_core.rundir.reader import EventFollower, EventRange, LoggedEvent, decode_counted, read_event_at, read_range
from hrm_core.rundir.tail import end_of_complete_lines, open_regular, read_lines
from hrm_tui.monitoring.metrics_store import DEFAULT_BUCKETS, BucketedHistory, MinMaxTracker
from hrm_tui.monitoring.run_model import MISSING, TRAIN, RunModel, SampleRef, TrainBatch, TrainColumns

# Events that are neither `train` nor `heartbeat`: few per run, but each one matters (an eval, a checkpoint).
_RARE_NAMES = "|".join(re.escape(name) for name in EVENT_TYPES if name not in (Train.TYPE, Heartbeat.TYPE))
_RARE_TYPES = re.compile(rb'"type"\s*:\s*"(' + _RARE_NAMES.encode() + rb')"')
_SAMPLES = Samples.TYPE.encode()
_TRAIN_MARK = b'"' + Train.TYPE.encode() + b'"'  # cheap pre-filter: a train line holds this
_STEP_FIELD = re.compile(rb'"step"\s*:\s*(\d+)')
_SET_FIELD = re.compile(rb'"set"\s*:\s*"((?:[^"\\]|\\.)*)"')
_CHUNK = 16 * 1024 * 1024  # bytes mapped at once by the rare-event scan
_SAMPLE_WINDOW = 32 * 1024 * 1024  # bytes mapped at once while sampling train lines
_MAX_SAMPLED_LINE = 8192  # a sampled line longer than this (not a train line) is skipped
_HEAD_BYTES = 1024 * 1024


class ExactPass:
    """Stage 3: re-reads [0, end), rebuilds every train curve's whole-run summary exactly, and checks every
    other line of that range too, so that `skipped` is the exact count of invalid lines in it."""

    def __init__(self, path: Path, end: int, buckets: int):
        self.path = path
        self.skipped: Counter[str] = Counter()
        self.position = 0
        self.end = end
        self.buckets: dict[str, BucketedHistory] = {}
        self.extremes: dict[str, MinMaxTracker] = {}
        self._bucket_count = buckets
        self._columns = TrainColumns()  # its own names: what it learns is swapped in whole when it is done

    @property
    def done(self) -> bool:
        return self.position >= self.end

    def add(self, batch: TrainBatch, into_buckets: dict[str, BucketedHistory], into_extremes: dict[str, MinMaxTracker]) -> None:
        for metric, values in batch.columns.items():
            present = values != MISSING
            steps, values = batch.steps[present], values[present]
            into_buckets.setdefault(metric, BucketedHistory(self._bucket_count)).add(steps, values)
            into_extremes.setdefault(metric, MinMaxTracker()).add(steps, values)

    def step(self, max_bytes: int) -> None:
        """Parses the next slice of about `max_bytes` (ending on a line boundary; one longer line is read
        whole, so a long samples line does not end the pass early)."""
        part = read_range(self.path, self.position, self.end, max_bytes=max_bytes)
        self.skipped.update(part.skipped)
        if part.end <= self.position:  # gone, replaced or cut short: the follower notices and starts over
            self.position = self.end
            return
        self.position = part.end
        self.add(self._columns.batch(part.of_type(Train)), self.buckets, self.extremes)


class EventLoader:
    """Feeds one run directory's events into a RunModel (see the module docstring for the stages)."""

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        model: RunModel,
        *,
        exact_below_bytes: int = 16 * 1024 * 1024,
        overview_samples: int = 4096,
        tail_bytes: int = 2 * 1024 * 1024,
        scan_window_bytes: int = _CHUNK,
        buckets: int = DEFAULT_BUCKETS,
    ):
        self.path = Path(run_dir) / EVENTS_FILE
        self.model = model
        self.exact_below_bytes = exact_below_bytes
        self.overview_samples = overview_samples
        self.tail_bytes = tail_bytes
        self.scan_window_bytes = scan_window_bytes  # bytes mapped at once by the rare-event scan
        self.buckets = buckets
        # Lines that are not valid events, by reason: in the part a large log's exact pass re-reads
        # (provisional until it is done), and in the rest (the newest part and everything followed).
        self._skipped_early: Counter[str] = Counter()
        self._skipped_late: Counter[str] = Counter()
        self.follower = EventFollower(self.path)
        self._exact: ExactPass | None = None
        # While the exact pass runs, train points after its range are also kept here, exactly, to be merged in.
        self._after_exact: dict[str, BucketedHistory] = {}
        self._after_exact_extremes: dict[str, MinMaxTracker] = {}

    @property
    def refining(self) -> bool:
        return self._exact is not None

    @property
    def skipped(self) -> Counter[str]:
        """Lines of the log that are not valid events, by reason (see the module docstring)."""
        return self._skipped_early + self._skipped_late

    # -- stage 1 and 2 -------------------------------------------------------------------------------------

    def open(self, on_stage: Callable[[str], None] | None = None) -> None:
        """Loads what is there now, calling `on_stage(stage)` as `model.loaded` advances (see LOAD_STAGES)."""
        notify = on_stage or (lambda stage: None)
        end = end_of_complete_lines(self.path)
        if end <= self.exact_below_bytes:
            self.follower = EventFollower(self.path)
            self.follow()
            self._set_loaded("exact")
            notify("exact")
            return

        head_end = self._apply_range(0, min(_HEAD_BYTES, end), self._skipped_early).end
        # The newest tail_bytes, from a line start; read after the sampled middle, so steps arrive in order.
        tail_start = read_lines(self.path, max(head_end, end - self.tail_bytes), end, align=True, max_bytes=1).start
        self._exact = ExactPass(self.path, tail_start, self.buckets)
        self._after_exact, self._after_exact_extremes = {}, {}
        self._sample_train_lines(head_end, tail_start)
        self._apply_range(tail_start, end, self._skipped_late)
        self.follower = EventFollower(self.path, start_offset=end)
        self._set_loaded("sampled")
        notify("sampled")

        self._scan_rare_events(head_end, tail_start)
        self._set_loaded("overview")
        notify("overview")

    def _apply_range(self, start: int, end: int, skipped: Counter[str]) -> EventRange:
        """Applies every complete line in [start, end), counting the invalid ones in `skipped`."""
        part = read_range(self.path, start, end)
        skipped.update(part.skipped)
        self._apply_events(part.events)
        return part

    def _sample_train_lines(self, start: int, end: int) -> None:
        """Train lines at `overview_samples` evenly spaced offsets in [start, end).

        Read through memory maps: slicing one never releases the GIL, whereas thousands of small `read`
        calls would each wait up to a thread switch interval to get it back while the UI thread is busy.
        The file is mapped a window at a time (and for random access, so the kernel does not map pages
        around each touched one), so the mapped pages never count much towards the process's memory.
        """
        if end <= start:
            return
        positions = deque(start + (end - start) * k // self.overview_samples for k in range(self.overview_samples))
        events = []
        try:
            with open_regular(self.path) as f:
                window_start = start - start % mmap.ALLOCATIONGRANULARITY
                while window_start < end and positions:
                    window_end = min(window_start + _SAMPLE_WINDOW, end)
                    length = min(window_end + _MAX_SAMPLED_LINE, end) - window_start
                    with mmap.mmap(f.fileno(), length, offset=window_start, access=mmap.ACCESS_READ) as view:
                        if hasattr(mmap, "MADV_RANDOM"):
                            view.madvise(mmap.MADV_RANDOM)
                        while positions and positions[0] < window_end:
                            line = _line_after(view, positions.popleft() - window_start)
                            if line is not None and _TRAIN_MARK in line:
                                event = decode_counted(line, self._skipped_early)
                                if isinstance(event, Train):
                                    events.append(event)
                    window_start = window_end
        except (OSError, ValueError):  # gone, or shorter than it was a moment ago: the follower starts over
            pass
        self.model.apply_train_events(events)

    def _scan_rare_events(self, start: int, end: int) -> None:
        """Applies every rare event in [start, end): a C regex over the file, mapped a window at a time."""
        try:
            with open_regular(self.path) as f:
                window_start = start - start % mmap.ALLOCATIONGRANULARITY
                scan_from = start  # the first byte not scanned yet (always a line start)
                while scan_from < end:
                    window_end = min(window_start + self.scan_window_bytes, end)
                    with mmap.mmap(f.fileno(), window_end - window_start, offset=window_start, access=mmap.ACCESS_READ) as view:
                        # Only whole lines: scan up to the window's last newline; the rest goes with the next window.
                        last_newline = view.rfind(b"\n", scan_from - window_start)
                        if last_newline < 0:  # one line longer than a window (a large samples event)
                            scan_from = self._scan_long_line(scan_from, end)
                        else:
                            self._apply_rare_in(view, scan_from - window_start, last_newline + 1, window_start)
                            scan_from = window_start + last_newline + 1
                    window_start = scan_from - scan_from % mmap.ALLOCATIONGRANULARITY
        except (OSError, ValueError):  # gone, or shorter than it was a moment ago: the follower starts over
            pass

    def _scan_long_line(self, start: int, end: int) -> int:
        """Scans the one line at `start` that is longer than a window (read whole, up to MAX_LINE_BYTES: a
        longer one is dropped); returns the offset after it."""
        block = read_lines(self.path, start, end, max_bytes=1)
        for offset, data in block.runs:
            self._apply_rare_in(data, 0, data.rfind(b"\n") + 1, offset)  # a run's bytes after its last newline are not its
        return block.end if block.end > start else end

    def _apply_rare_in(self, data: bytes | mmap.mmap, begin: int, limit: int, base: int) -> None:
        """Applies the rare events of the complete lines in data[begin:limit]; `base` is data's file offset."""
        last_line_start = -1
        for match in _RARE_TYPES.finditer(data, begin, limit):
            line_start = data.rfind(b"\n", 0, match.start()) + 1
            if line_start == last_line_start:
                continue
            last_line_start = line_start
            line_end = data.find(b"\n", match.end())
            line = data[line_start:line_end]
            if match.group(1) == _SAMPLES:
                self._index_samples_line(line, base + line_start)
                continue
            event = decode_counted(line, self._skipped_early)
            if event is not None and not isinstance(event, Train):
                self.model.apply(event, base + line_start, len(line) + 1)

    def _index_samples_line(self, line: bytes, offset: int) -> None:
        """Records where a samples event is without parsing its (possibly large) body. The line is checked
        when it is read (read_samples_event: an invalid one is then dropped from the index) and by the exact
        pass, which counts it if it is not valid."""
        step, set_match = _STEP_FIELD.search(line), _SET_FIELD.search(line)
        try:
            step_value = int(step.group(1)) if step else -1
            set_name = json.loads(b'"' + set_match.group(1) + b'"') if set_match else "all"
        except ValueError:  # a step of thousands of digits, an invalid escape: not a usable samples line
            return
        if isinstance(set_name, str):
            self.model.index_sample_ref(SampleRef(offset, len(line) + 1, step_value, set_name))

    # -- stage 3 -----------------------------------------------------------------------------------------

    def refine(self, max_bytes: int = 4 * 1024 * 1024) -> bool:
        """Runs one slice of the exact pass; True when this call finished it (curves are now exact)."""
        exact = self._exact
        if exact is None:
            return False
        exact.step(max_bytes)
        if not exact.done:
            return False
        with self.model.lock:
            for metric, buckets in exact.buckets.items():
                extremes = exact.extremes[metric]
                if metric in self._after_exact:
                    buckets.merge(self._after_exact[metric])
                    extremes.merge(self._after_exact_extremes[metric])
                self.model.store.history((TRAIN, "", metric)).replace_whole_run(buckets, extremes)
            self._skipped_early = exact.skipped  # the exact count of the range it re-read
            self.model.set_skipped(self.skipped)
            self.model.loaded = "exact"
            self.model.version += 1
        self._exact = None
        self._after_exact, self._after_exact_extremes = {}, {}
        return True

    # -- following ---------------------------------------------------------------------------------------

    def follow(self) -> bool:
        """Applies the lines appended since the last call; True when anything changed."""
        batch = self.follower.poll()
        if batch.restarted:
            self.model.reset()
            self._skipped_early.clear()
            self._skipped_late.clear()
            self._exact = None
            self.open()
            return True
        if batch.skipped:
            self._skipped_late.update(batch.skipped)
            self.model.set_skipped(self.skipped)
        if not batch.events:
            return bool(batch.skipped)
        self._apply_events(batch.events)
        return True

    def _apply_events(self, logged: list[LoggedEvent]) -> None:
        train = []
        for item in logged:
            if isinstance(item.event, Train):
                train.append(item.event)
            else:
                self.model.apply(item.event, item.offset, item.length)
        batch = self.model.apply_train_events(train)
        if self._exact is not None and len(batch):
            self._exact.add(batch, self._after_exact, self._after_exact_extremes)

    def _set_loaded(self, stage: str) -> None:
        with self.model.lock:
            self.model.skipped = self.skipped
            self.model.loaded = stage
            self.model.version += 1


def read_samples_event(run_dir: str | os.PathLike[str], ref: SampleRef) -> Samples | Rejected:
    """Reads one indexed samples event (blocking: call from a worker); a Rejected when the line at `ref` is
    not a valid samples event (any more: the file may have been replaced)."""
    event = read_event_at(Path(run_dir) / EVENTS_FILE, ref.offset, ref.length)
    if isinstance(event, Samples):
        return event
    return event if isinstance(event, Rejected) else Rejected("not a samples event")


def _line_after(view: mmap.mmap, position: int) -> bytes | None:
    """The first complete line starting after `position` (which may be mid-line), if short enough."""
    first = view.find(b"\n", position, position + _MAX_SAMPLED_LINE)
    if first < 0:
        return None
    second = view.find(b"\n", first + 1, first + 1 + _MAX_SAMPLED_LINE)
    return None if second < 0 else view[first + 1 : second]
