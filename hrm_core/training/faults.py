"""Fault injection for tests: the `HRM_TEST_*` environment variables (docs/training.md, "Test hooks").

Tests of stopping, resuming, crashes and half-written checkpoints need a fault at an exact step of a real
trainer subprocess. The environment is read once, when the trainer starts (`FaultPlan.from_environment`),
into this typed plan; the step loop compares the step with precomputed numbers and never reads the
environment. In a real run every field is None and no check fires.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

NONFINITE_AT_STEP_ENV = "HRM_TEST_NONFINITE_AT_STEP"  # the loss of this step is made NaN
STOP_AT_STEP_ENV = "HRM_TEST_STOP_AT_STEP"  # as if SIGTERM arrived during this step
HOLD_AT_STEP_ENV = "HRM_TEST_HOLD_AT_STEP"  # this step waits until a stop is requested (a signal is coming)
HOLD_SECONDS_ENV = "HRM_TEST_HOLD_S"  # how long at most (default 120 s)
CRASH_AT_STEP_ENV = "HRM_TEST_CRASH_AT_STEP"  # an exception is raised in this step
CRASH_RANK_ENV = "HRM_TEST_CRASH_RANK"  # with CRASH_AT_STEP_ENV: only this rank raises (default: every rank)
CHECKPOINT_PAUSE_AT_STEP_ENV = "HRM_TEST_CHECKPOINT_PAUSE_AT_STEP"  # sleep while this step's checkpoint is half written
CHECKPOINT_PAUSE_SECONDS_ENV = "HRM_TEST_CHECKPOINT_PAUSE_S"  # how long (default 60 s)
# The pause ends early once this file exists: a test done with the window says so, instead of both sides
# guessing how long a loaded machine needs.
CHECKPOINT_PAUSE_UNTIL_ENV = "HRM_TEST_CHECKPOINT_PAUSE_UNTIL"

DEFAULT_CHECKPOINT_PAUSE_S = 60.0
DEFAULT_HOLD_S = 120.0


def _read_seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    try:
        return float(text) if text else default
    except ValueError:
        raise FaultPlanError(f"{name}={text!r} is not a number of seconds; unset it") from None


class FaultPlanError(ValueError):
    """An `HRM_TEST_*` variable with a value that is not a number; the message names it."""


def _read_int(environ: Mapping[str, str], name: str) -> int | None:
    text = environ.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise FaultPlanError(f"{name}={text!r} is not a whole number (a step or a rank); unset it") from None


@dataclass(frozen=True)
class FaultPlan:
    """The faults one rank injects; None fields inject nothing."""

    nonfinite_at_step: int | None = None
    stop_at_step: int | None = None
    crash_at_step: int | None = None  # already narrowed to this rank by HRM_TEST_CRASH_RANK
    checkpoint_pause_at_step: int | None = None
    checkpoint_pause_s: float = DEFAULT_CHECKPOINT_PAUSE_S
    checkpoint_pause_until: str | None = None  # a file whose appearance ends the pause
    hold_at_step: int | None = None
    hold_s: float = DEFAULT_HOLD_S

    @classmethod
    def from_environment(cls, rank: int, environ: Mapping[str, str] | None = None) -> FaultPlan:
        environ = os.environ if environ is None else environ
        crash_rank = _read_int(environ, CRASH_RANK_ENV)
        return cls(
            nonfinite_at_step=_read_int(environ, NONFINITE_AT_STEP_ENV),
            stop_at_step=_read_int(environ, STOP_AT_STEP_ENV),
            crash_at_step=_read_int(environ, CRASH_AT_STEP_ENV) if crash_rank in (None, rank) else None,
            checkpoint_pause_at_step=_read_int(environ, CHECKPOINT_PAUSE_AT_STEP_ENV),
            checkpoint_pause_s=_read_seconds(environ, CHECKPOINT_PAUSE_SECONDS_ENV, DEFAULT_CHECKPOINT_PAUSE_S),
            checkpoint_pause_until=environ.get(CHECKPOINT_PAUSE_UNTIL_ENV) or None,
            hold_at_step=_read_int(environ, HOLD_AT_STEP_ENV),
            hold_s=_read_seconds(environ, HOLD_SECONDS_ENV, DEFAULT_HOLD_S),
        )

    @property
    def any_step_fault(self) -> bool:
        """Whether the step loop has anything to check (it skips `step_faults` otherwise)."""
        return any(step is not None for step in (self.nonfinite_at_step, self.stop_at_step, self.crash_at_step,
                                                 self.hold_at_step))

    def hold(self, released: Callable[[], bool]) -> None:
        """Called in step `hold_at_step`, before the ranks agree on a stop: waits until `released()` (a stop
        was requested) or `hold_s` passed. Tests of signals that come at a time the test does not choose
        (SLURM's time-limit warning) stop at this exact step, however late the signal is."""
        deadline = time.monotonic() + self.hold_s
        while not released() and time.monotonic() < deadline:
            time.sleep(0.05)

    def pause_checkpoint(self, step: int) -> None:
        """Called with the checkpoint's files written but not yet published (tests kill the process, or start a
        second trainer, in that window)."""
        if step != self.checkpoint_pause_at_step:
            return
        deadline = time.monotonic() + self.checkpoint_pause_s
        release = self.checkpoint_pause_until
        while time.monotonic() < deadline and not (release and os.path.exists(release)):
            time.sleep(min(0.05, max(deadline - time.monotonic(), 0.0)))


def injected_crash(step: int) -> RuntimeError:
    """The exception HRM_TEST_CRASH_AT_STEP raises (a plain RuntimeError, as a real crash would be)."""
    return RuntimeError(f"{CRASH_AT_STEP_ENV}: a crash injected at step {step}")
