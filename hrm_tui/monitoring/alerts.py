"""Alert rules: pure functions from a run's current state to the alerts the monitor's banner shows.

The monitor collects an `AlertInputs` from what it has read (events, the run's status, the clock) and calls
`evaluate_alerts`. Keeping the rules free of I/O and clocks makes each one testable with plain values.

The rules:

- `nonfinite`: a loss (or any metric) came out NaN/inf, or the trainer logged a `nonfinite` event;
- `failed`: the run ended with `status: failed`; the banner shows the last lines of its traceback;
- `lost` / `stalled`: the run's process is gone without a `run_end`, or no event (heartbeats included)
  arrived for `stale_after_s`;
- `eval_drop`: an eval set's exact accuracy fell sharply from its best;
- `overfit`: training accuracy is near 100% while eval exact accuracy stopped improving. The original's
  README warns that late in small Sudoku runs this leads to numerical instability, and advises early stopping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hrm_core.formatting import format_duration
from hrm_core.rundir.status import RunStatus

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class AlertSettings:
    stale_after_s: float = 300.0  # no event for this long means the heartbeat stopped (the trainer beats every 30 s)
    traceback_lines: int = 6  # how many of a failure's last lines the banner shows
    exact_drop_fraction: float = 0.2  # eval exact accuracy this far below its best (relative) ...
    exact_drop_min: float = 0.02  # ... and at least this far (absolute) raises eval_drop
    train_accuracy_high: float = 0.99  # training accuracy at or above this ...
    stall_evals: int = 3  # ... while eval exact accuracy has not improved for this many evals raises overfit


@dataclass(frozen=True)
class EvalTrend:
    """One eval set's exact accuracy so far."""

    set_name: str
    best: float
    best_step: int
    latest: float
    latest_step: int
    evals_since_best: int  # evals after the best one (0 when the latest is the best)


@dataclass
class AlertInputs:
    status: str | None = None  # a RunStatus (hrm_core.rundir.summary.summarize_run), None if unknown
    error: str | None = None  # the run_end `error` text of a failed run
    seconds_since_event: float | None = None  # since the newest event of any type
    nonfinite: list[str] = field(default_factory=list)  # e.g. "train lm_loss = nan at step 1200"
    eval_trends: list[EvalTrend] = field(default_factory=list)
    train_accuracy: float | None = None  # recent training (token) accuracy


@dataclass(frozen=True)
class Alert:
    key: str  # the rule (and set) that raised it: stable, so a dismissed alert stays dismissed
    severity: str  # ERROR or WARNING
    title: str
    detail: tuple[str, ...] = ()


def evaluate_alerts(inputs: AlertInputs, settings: AlertSettings = AlertSettings()) -> list[Alert]:
    """Every alert that holds now, errors first."""
    alerts = [
        *_nonfinite(inputs),
        *_failed(inputs, settings),
        *_heartbeat(inputs, settings),
        *_eval_drop(inputs, settings),
        *_overfit(inputs, settings),
    ]
    return sorted(alerts, key=lambda a: a.severity != ERROR)


def _nonfinite(inputs: AlertInputs) -> list[Alert]:
    if not inputs.nonfinite:
        return []
    return [Alert("nonfinite", ERROR, f"Non-finite value: {inputs.nonfinite[0]}", tuple(inputs.nonfinite[1:4]))]


def _failed(inputs: AlertInputs, settings: AlertSettings) -> list[Alert]:
    if inputs.status != RunStatus.FAILED:
        return []
    lines = [line for line in (inputs.error or "").rstrip().splitlines() if line.strip()]
    title = f"Run failed: {lines[-1].strip()}" if lines else "Run failed (no error text: see stderr.log)"
    return [Alert("failed", ERROR, title, tuple(lines[-settings.traceback_lines :]))]


def _heartbeat(inputs: AlertInputs, settings: AlertSettings) -> list[Alert]:
    if inputs.status == RunStatus.LOST:
        return [Alert("lost", ERROR, "Run lost: its process is gone and it never logged an end",
                      ("killed, out of memory, or the machine went down; see stderr.log",))]
    if inputs.status not in (None, RunStatus.RUNNING, RunStatus.STALLED) or inputs.seconds_since_event is None:
        return []
    if inputs.seconds_since_event >= settings.stale_after_s:
        return [Alert("stalled", WARNING, f"Heartbeat stopped: no event for {format_duration(inputs.seconds_since_event)}",
                      (f"the trainer beats every 30 s; the limit is {format_duration(settings.stale_after_s)}",))]
    return []


def _eval_drop(inputs: AlertInputs, settings: AlertSettings) -> list[Alert]:
    alerts = []
    for trend in inputs.eval_trends:
        if not (math.isfinite(trend.best) and math.isfinite(trend.latest)):
            continue
        drop = trend.best - trend.latest
        if drop >= settings.exact_drop_min and drop >= settings.exact_drop_fraction * trend.best:
            alerts.append(Alert(
                f"eval_drop:{trend.set_name}", WARNING,
                f"Eval exact accuracy ({trend.set_name}) fell to {trend.latest:.3f} from its best {trend.best:.3f}",
                (f"best at step {trend.best_step}, latest at step {trend.latest_step}",),
            ))
    return alerts


def _overfit(inputs: AlertInputs, settings: AlertSettings) -> list[Alert]:
    accuracy = inputs.train_accuracy
    if accuracy is None or not math.isfinite(accuracy) or accuracy < settings.train_accuracy_high:
        return []
    stalled = [t for t in inputs.eval_trends if t.evals_since_best >= settings.stall_evals]
    if not stalled:
        return []
    trend = stalled[0]
    return [Alert(
        "overfit", WARNING,
        f"Train accuracy {accuracy:.1%} while eval exact accuracy ({trend.set_name}) stalled for {trend.evals_since_best} evals",
        (f"best {trend.best:.3f} at step {trend.best_step}; the original warns this leads to instability late "
         "in small Sudoku runs: consider stopping at the best checkpoint",),
    )]
