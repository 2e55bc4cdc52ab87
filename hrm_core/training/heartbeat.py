"""A background thread on rank 0 that writes a `heartbeat` event every `interval_s` seconds.

It beats through long evaluations and checkpoint writes, so a monitor can tell a busy run from a dead one,
and each beat carries the `ProgressClock`'s reading (phase, time of the last progress, effective
`stall_after_s`), so a monitor can also tell a busy run from a hung one: a frozen rank stops the progress
but not this thread (hrm_core.rundir.stall).

The step and epoch come from a callable (plain ints/floats written by the loop: reading them without a
lock is safe). A beat that cannot be written (a full disk) is dropped: the loop's own next write reports
the error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from hrm_core.rundir.errors import RunDirError
from hrm_core.rundir.events import Heartbeat as HeartbeatEvent
from hrm_core.rundir.stall import ProgressClock


class Heartbeat:
    def __init__(self, emit: Callable[[HeartbeatEvent], None], position: Callable[[], tuple[int, float]],
                 clock: ProgressClock, interval_s: float):
        self._emit = emit
        self._position = position  # () -> (step, epoch)
        self._clock = clock
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hrm-heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self._thread.start()
        return self

    def beat(self) -> HeartbeatEvent:
        step, epoch = self._position()
        phase, progress_time, stall_after_s = self._clock.reading()
        return HeartbeatEvent(step=step, epoch=epoch, phase=phase, progress_time=progress_time,
                              stall_after_s=stall_after_s, interval_s=self._interval_s)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._emit(self.beat())
            except RunDirError:
                pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
