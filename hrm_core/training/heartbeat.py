"""A background thread on rank 0 that writes a `heartbeat` event every `interval_s` seconds.

It beats through long evaluations and checkpoint writes, so a monitor can tell a busy run from a hung or
dead one. It reads the position from a callable (step and epoch are plain ints/floats written by the loop,
so reading them without a lock is safe).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from hrm_core.events import HEARTBEAT


class Heartbeat:
    def __init__(self, emit: Callable[..., None], position: Callable[[], dict[str, Any]], interval_s: float):
        self._emit = emit
        self._position = position
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hrm-heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._emit(HEARTBEAT, **self._position())

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
