"""Alert rules: pure functions from a run's current state to the alerts the monitor's banner shows.

The monitor collects an `AlertInputs` from what it has read (events, the run's status, the clock) and calls
`evaluate_alerts`. Keeping the rules free of I/O and clocks makes each one testable with plain values.

The rules:

- `nonfinite`: a loss (or any metric) came out NaN/inf, or the trainer logged a `nonfinite` event;
- `failed`: the run ended with `status: failed`; the banner shows the last lines of its traceback;
- `lost`: the run's process is gone without a `run_end`;
- `stalled`: the run is alive but made no progress for longer than its `stall_after_s`
  (hrm_core.rundir.summary decides it; the banner says since when, in which phase and at which step);
- `heartbeat_stopped`: the run counts as running, but no event at all (heartbeats included) arrived for
  `stale_after_s`;
- `skipped`: lines of events.jsonl that are not valid events were skipped (how many, and why), or valid
  values were left out of the display by one of the monitor's caps;
- `eval_drop`: an eval set's exact accuracy fell sharply from its best;
- `overfit`: training accuracy is near 100% while eval exact accuracy stopped improving. The original's
  README warns that late in small Sudoku runs this leads to numerical instability, and advises early stopping.

"Best" follows the metric's direction in the metric table (hrm_core.rundir.metrics). Alert texts may hold
strings from the run directory (set names, error texts): the banner sanitises everything it draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from collections import Counter

from hrm_core.formatting import format_duration
from hrm_core.rundir.files import EVENTS_FILE
from hrm_core.rundir.metrics import Better
from hrm_core.rundir.sanitize import safe_text
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
    skipped_reasons: int = 4  # how many reasons for skipped lines the banner lists


@dataclass(frozen=True)
class EvalTrend:
    """One eval set's exact accuracy so far."""

    set_name: str
    best: float
    best_step: int
    latest: float
    latest_step: int
    evals_since_best: int  # evals after the best one (0 when the latest is the best)
    better: Better = Better.HIGHER  # the metric's direction (hrm_core.rundir.metrics)

    @property
    def regression(self) -> float:
        """How much worse the latest value is than the best (0 or less: no worse)."""
        return self.best - self.latest if self.better is Better.HIGHER else self.latest - self.best


@dataclass
class AlertInputs:
    status: str | None = None  # a RunStatus (hrm_core.rundir.summary.summarize_run), None if unknown
    status_detail: str = ""  # summarize_run's detail: for a stalled run, since when and in which phase
    error: str | None = None  # a failed run's error: the first failing rank's (summarize_run), else run_end's
    failed_rank: int | None = None  # the rank that failed first, when the run recorded it (torchrun)
    seconds_since_event: float | None = None  # since the newest event of any type
    nonfinite: list[str] = field(default_factory=list)  # e.g. "train lm_loss = nan at step 1200"
    eval_trends: list[EvalTrend] = field(default_factory=list)
    train_accuracy: float | None = None  # recent training (token) accuracy
    skipped: Counter[str] = field(default_factory=Counter)  # invalid lines of events.jsonl, by reason
    not_shown: Counter[str] = field(default_factory=Counter)  # valid values left out by a display cap


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
        *_skipped(inputs, settings),
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
    # Sanitised before it is split, so that a planted carriage return or separator does not pick the lines.
    lines = [line for line in safe_text(inputs.error or "", multiline=True).rstrip().split("\n") if line.strip()]
    if lines:
        where = f" on rank {inputs.failed_rank}" if inputs.failed_rank is not None else ""
        title = f"Run failed{where}: {lines[-1].strip()}"
    elif inputs.status_detail:  # no recorded error: the line of stderr.log that says why (summarize_run)
        title = f"Run failed: {safe_text(inputs.status_detail)}"
    else:
        title = "Run failed (no error text: see stderr.log)"
    return [Alert(RunStatus.FAILED.value, ERROR, title, tuple(lines[-settings.traceback_lines :]))]


def _heartbeat(inputs: AlertInputs, settings: AlertSettings) -> list[Alert]:
    if inputs.status == RunStatus.LOST:
        return [Alert(RunStatus.LOST.value, ERROR, "Run lost: its process is gone and it never logged an end",
                      ("killed, out of memory, or the machine went down; see stderr.log",))]
    if inputs.status == RunStatus.STALLED:
        return [Alert(RunStatus.STALLED.value, WARNING, f"Run stalled: {inputs.status_detail or 'no progress for longer than stall_after_s'}",
                      ("alive but not advancing: a frozen or stopped rank, a hung collective, a full disk; "
                       "see the logs (6) and the GPU panel (3)",))]
    if inputs.status not in (None, RunStatus.RUNNING) or inputs.seconds_since_event is None:
        return []
    if inputs.seconds_since_event >= settings.stale_after_s:
        return [Alert("heartbeat_stopped", WARNING, f"Heartbeat stopped: no event for {format_duration(inputs.seconds_since_event)}",
                      (f"the trainer beats every 30 s; the limit is {format_duration(settings.stale_after_s)}",))]
    return []


def _skipped(inputs: AlertInputs, settings: AlertSettings) -> list[Alert]:
    """Lines the reader skipped, and values a display cap left out: neither may go unnoticed."""
    skipped, not_shown = sum(inputs.skipped.values()), sum(inputs.not_shown.values())
    if not skipped and not not_shown:
        return []
    if skipped:
        title = f"{skipped:,} line{'s' if skipped != 1 else ''} of {EVENTS_FILE} skipped (not valid events)"
        if not_shown:
            title += f"; {not_shown:,} value{'s' if not_shown != 1 else ''} not shown"
    else:
        title = f"{not_shown:,} value{'s' if not_shown != 1 else ''} of {EVENTS_FILE} not shown (over the monitor's limits)"
    reasons = [f"{count:,} × {reason}" for reason, count in inputs.skipped.most_common(settings.skipped_reasons)]
    if len(inputs.skipped) > settings.skipped_reasons:
        reasons.append(f"and {len(inputs.skipped) - settings.skipped_reasons} more reasons")
    reasons += [f"not shown: {what} ({count:,})" for what, count in inputs.not_shown.most_common(2)]
    return [Alert("skipped", WARNING, title, tuple(reasons))]


def _eval_drop(inputs: AlertInputs, settings: AlertSettings) -> list[Alert]:
    alerts = []
    for trend in inputs.eval_trends:
        if not (math.isfinite(trend.best) and math.isfinite(trend.latest)) or trend.better is Better.NEITHER:
            continue
        drop = trend.regression
        if drop >= settings.exact_drop_min and drop >= settings.exact_drop_fraction * abs(trend.best):
            moved = "fell" if trend.better is Better.HIGHER else "rose"
            alerts.append(Alert(
                f"eval_drop:{trend.set_name}", WARNING,
                f"Eval exact accuracy ({trend.set_name}) {moved} to {trend.latest:.3f} from its best {trend.best:.3f}",
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
