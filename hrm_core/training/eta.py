"""The time a run has left, and when that estimate can be trusted.

The first steps of a session are slow for reasons that do not last: `torch.compile`, lazy allocations, the
first batches, caches gone cold. The step right after an evaluation is slow too. An estimate drawn from
those steps reads hours for a run of minutes (the demo once showed "ETA 1h 30m" at step 12 of a run that
took 3 minutes), so the estimator

- leaves out the first `WARMUP_STEPS` steps of a session (a fresh start or a resume) and the first
  `AFTER_EVAL_STEPS` steps after each evaluation;
- times training steps only (evaluations and checkpoint writes are not in any step's time);
- gives no figure (None, shown as "estimating") until the rate has *settled*: at least `SETTLE_STEPS`
  steps timed, adding up to at least `SETTLE_SECONDS` of training. From then on the ETA is the remaining
  steps times the mean time of the last `RATE_WINDOW_STEPS` timed steps: recent enough to follow a
  machine whose load changes (a shared server, where the demo's rate varied fivefold within one run),
  long enough not to jump with every step.

A run shorter than warm-up plus settling shows "estimating" to its end, which is honest: it never had a
rate worth quoting.
"""

from __future__ import annotations

from collections import deque

WARMUP_STEPS = 5
AFTER_EVAL_STEPS = 2
SETTLE_STEPS = 20
SETTLE_SECONDS = 10.0
RATE_WINDOW_STEPS = 200


class EtaEstimator:
    """Feed it each training step's duration (`step_done`) and each evaluation (`evaluation_done`)."""

    def __init__(self) -> None:
        self._skip = WARMUP_STEPS  # steps still to leave out of the timing
        self.timed_steps = 0
        self.timed_seconds = 0.0
        self._window: deque[float] = deque(maxlen=RATE_WINDOW_STEPS)  # the newest timed steps' durations
        self._window_seconds = 0.0

    def step_done(self, seconds: float) -> None:
        if self._skip > 0:
            self._skip -= 1
            return
        self.timed_steps += 1
        self.timed_seconds += seconds
        if len(self._window) == self._window.maxlen:
            self._window_seconds -= self._window[0]
        self._window.append(seconds)
        self._window_seconds += seconds

    def evaluation_done(self) -> None:
        self._skip = max(self._skip, AFTER_EVAL_STEPS)

    @property
    def settled(self) -> bool:
        return self.timed_steps >= SETTLE_STEPS and self.timed_seconds >= SETTLE_SECONDS

    def eta_s(self, remaining_steps: int) -> float | None:
        """Seconds to go for `remaining_steps` more steps; None while the rate is still settling."""
        if not self.settled:
            return None
        return max(remaining_steps, 0) * max(self._window_seconds, 0.0) / len(self._window)
