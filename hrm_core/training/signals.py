"""Graceful stop on SIGINT / SIGTERM.

The first signal only sets a flag: the loop finishes the current step, agrees with the other ranks to stop
(they may see the signal a step apart), saves a checkpoint, writes `run_end` with status `stopped` and exits
0. A second signal exits at once (status 130 for SIGINT, 143 for SIGTERM), without cleanup.

torchrun forwards SIGINT/SIGTERM to its workers and, after a grace period, kills them; preemption on shared
clusters sends SIGTERM to the whole process group. Both reach this handler in every rank.

A copy of the first signal that arrives within `DUPLICATE_WINDOW_S` does not count as the second one: when a
cluster signals every process of a job, a worker gets the signal directly and once more forwarded by torchrun.
torchrun kills workers that have not exited `--shutdown-timeout` seconds (default 30) after forwarding;
raise it when checkpoints take longer to write.

Under SLURM the two signals mean different things (hrm_core/training/slurm_requeue.py): SIGTERM (the
time-limit warning, preemption) asks to continue in a requeued job, SIGINT (the cockpit's Stop) to stop for
good. `continue_later` and `stop_for_good` say which this process was asked; the loop makes the ranks agree.
Once the requeue has been asked for, SLURM ends the job with a SIGTERM of its own: `ignore_sigterm` keeps
that one from cutting the last event short.
"""

from __future__ import annotations

import os
import signal
import time
from types import FrameType

from hrm_core.rundir.line_times import stamp_line, writes_to_a_file

_HANDLED = (signal.SIGINT, signal.SIGTERM)
DUPLICATE_WINDOW_S = 2.0


class StopRequest:
    def __init__(self, *, requeue_on_sigterm: bool = False) -> None:
        self.requeue_on_sigterm = requeue_on_sigterm  # under SLURM: SIGTERM continues in a requeued job
        self.requested = False
        self.signal_name: str | None = None
        self._first_at = 0.0
        self._previous: dict[int, object] = {}
        self._stderr_is_a_file = False

    def install(self) -> "StopRequest":
        self._stderr_is_a_file = writes_to_a_file(2)  # decided here: a handler should do as little as it can
        for sig in _HANDLED:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            if time.monotonic() - self._first_at < DUPLICATE_WINDOW_S:
                return  # the same stop request delivered twice (directly and through torchrun)
            os._exit(128 + signum)  # second signal: leave now
        self.requested = True
        self._first_at = time.monotonic()
        self.signal_name = signal.Signals(signum).name
        # os.write, not print: a handler may interrupt a print of the main thread, and print is not reentrant.
        then = "; the SLURM job is then requeued" if self.continue_later else ""
        message = (f"[hrm] {self.signal_name} received: stopping after this step and saving a checkpoint{then} "
                   "(send it again to exit at once)")
        # On a terminal, a new line first ends a step line drawn in place; a log file gets no blank line, and
        # the line's time instead.
        message = stamp_line(message) if self._stderr_is_a_file else "\n" + message
        os.write(2, (message + "\n").encode())

    @property
    def continue_later(self) -> bool:
        """A SIGTERM under SLURM: the run goes on in a requeued job."""
        return self.requeue_on_sigterm and self.signal_name == "SIGTERM"

    @property
    def stop_for_good(self) -> bool:
        """A SIGINT: whatever else arrived, the run stops and is not requeued."""
        return self.signal_name == "SIGINT"

    def ignore_sigterm(self) -> None:
        """From now on SIGTERM is ignored (the job's end, after the requeue was asked for); SIGINT still exits."""
        if signal.SIGTERM in self._previous:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()
