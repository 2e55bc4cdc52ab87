"""When a run counts as stalled: alive, but no progress for longer than its `stall_after_s`.

*Progress* is an optimizer step, an evaluation batch, or a checkpoint file written. The trainer keeps a
`ProgressClock` (rank 0), and every heartbeat carries its reading: the phase, the time of the last
progress and the effective `stall_after_s`. Readers (hrm_core.rundir.summary) compare that time with now.

`stall_after_s` is the config key when set. Otherwise it follows the run's own pace:

- `STALL_FACTOR` times the longest gap between two progress points seen so far in the session, and at
  least `STALL_FLOOR_S`;
- the first stretch of each phase (setup up to the first optimizer step, the first evaluation batch, the
  first checkpoint file) may include torch.compile and warm-up, so it is neither counted as a gap nor
  held to that limit: it gets `WARMUP_ALLOWANCE_S`.

A log without heartbeat readings (an older trainer) is held to `WARMUP_ALLOWANCE_S` before its first
`train` event and to `STALL_FLOOR_S` after it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hrm_core.rundir.events import Phase

STALL_FACTOR = 10.0
STALL_FLOOR_S = 180.0
WARMUP_ALLOWANCE_S = 1800.0


class ProgressClock:
    """Rank 0's record of progress. The loop calls `tick()` at each progress point and wraps evaluation and
    checkpoint writes in `phase(...)`; the heartbeat thread reads `reading()`."""

    def __init__(self, stall_after_s: float | None = None, *, clock: Callable[[], float] = time.time):
        self.configured_s = stall_after_s
        self._clock = clock
        self._lock = threading.Lock()  # the heartbeat thread reads while the loop writes
        self.current = Phase.SETUP
        self.last_progress = clock()
        self.longest_gap_s = 0.0
        self._warm: set[Phase] = set()  # phases whose first stretch is over
        self._in_first_stretch = True

    def tick(self) -> None:
        """A progress point in the current phase."""
        with self._lock:
            self._mark()
            self._warm.add(self.current)
            self._in_first_stretch = False

    def enter(self, phase: Phase) -> None:
        """A phase begins (the previous one ended: that is progress too)."""
        with self._lock:
            self._mark()
            self.current = phase
            self._in_first_stretch = phase not in self._warm

    @contextmanager
    def phase(self, phase: Phase) -> Iterator[None]:
        """`with clock.phase(Phase.EVAL): ...`, back to the previous phase afterwards."""
        previous = self.current
        self.enter(phase)
        try:
            yield
        finally:
            self.enter(previous)

    def stall_after_s(self) -> float:
        with self._lock:
            return self._stall_after_s()

    def reading(self) -> tuple[Phase, float, float]:
        """(phase, time of the last progress, effective stall_after_s), consistent with each other."""
        with self._lock:
            return self.current, self.last_progress, self._stall_after_s()

    def _mark(self) -> None:
        now = self._clock()
        if not self._in_first_stretch:
            self.longest_gap_s = max(self.longest_gap_s, now - self.last_progress)
        self.last_progress = now

    def _stall_after_s(self) -> float:
        if self.configured_s is not None:
            return self.configured_s
        if self._in_first_stretch:
            return WARMUP_ALLOWANCE_S
        return max(STALL_FLOOR_S, STALL_FACTOR * self.longest_gap_s)
