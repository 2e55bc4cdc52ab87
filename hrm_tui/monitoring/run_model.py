"""Everything the monitor knows about one run, built from its events and safe to read while it is updated.

`EventLoader` (a background worker) feeds events in; the widgets (the UI thread) read under `lock` and draw.
`version` grows with every change, so a widget redraws only when there is something new.

Events may arrive out of file order (the loader shows a large file's newest part first and scans the rest
afterwards), so "latest" always means the largest step, or for lifecycle events the largest file offset,
never "the last one applied". All state is bounded: curves and halting histograms are bucketed, lists
(samples index, non-finite reports, evals) are capped.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from hrm_core.rundir import events as ev
from hrm_core.rundir.metrics import NOT_PLOTTED, TRAIN_TOP_LEVEL, is_quality_metric
from hrm_tui.monitoring.alerts import EvalTrend
from hrm_tui.monitoring.halting_history import HaltingHistory
from hrm_tui.monitoring.metrics_store import MetricHistory, MetricsStore

# Curve phases (the keys of the metrics store), the same names as the events' phases.
TRAIN = ev.HaltingPhase.TRAIN.value
EVAL = ev.HaltingPhase.EVAL.value

# How complete a model is, in order (see event_loader): nothing read; whole-run train curves from a sample
# of the lines (the newest part exact); every eval, halting, samples and lifecycle event in as well; exact.
LOAD_STAGES = ("nothing", "sampled", "overview", "exact")

MAX_SAMPLE_REFS = 4096  # evals whose samples can be paged back to (a few dozen bytes each)
MAX_EVALS_REMEMBERED = 64  # per set, for "evals since the best"


# Marks a metric absent from an event inside a TrainBatch column (NaN means the trainer logged "nan").
MISSING = float(np.finfo(np.float64).min)


@dataclass
class TrainBatch:
    """Many `train` events in columns: `steps` int [n], each metric a float [n] (MISSING where absent)."""

    steps: np.ndarray
    columns: dict[str, np.ndarray]
    newest: dict[str, Any] | None = None  # the event with the largest step, kept whole for the progress panel
    newest_time: float | None = None  # the largest `time`

    def __len__(self) -> int:
        return int(self.steps.size)


@dataclass(frozen=True)
class SampleRef:
    """Where a `samples` event sits in events.jsonl, so it can be read when the user pages to it."""

    offset: int
    length: int
    step: int
    set_name: str


@dataclass
class Lifecycle:
    """The newest run_start/resume and run_end, by file offset."""

    start: dict[str, Any] | None = None
    start_offset: int = -1
    end: dict[str, Any] | None = None
    end_offset: int = -1

    @property
    def ended(self) -> dict[str, Any] | None:
        """The run_end, unless the run was resumed after it."""
        return self.end if self.end_offset > self.start_offset else None


@dataclass
class RunModel:
    run_dir: Path
    lock: threading.RLock = field(default_factory=threading.RLock)
    version: int = 0
    store: MetricsStore = field(default_factory=MetricsStore)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    first_start: dict[str, Any] | None = None  # the original run_start (its time is the run's start)
    latest_train: dict[str, Any] | None = None
    latest_train_step: int = -1
    last_event_time: float | None = None
    latest_step: int = -1  # the largest step of any event (heartbeats too)
    last_checkpoint: dict[str, Any] | None = None
    halting_train: HaltingHistory = field(default_factory=HaltingHistory)
    halting_eval: dict[str, HaltingHistory] = field(default_factory=dict)
    sample_refs: list[SampleRef] = field(default_factory=list)  # sorted by offset
    nonfinite: deque = field(default_factory=lambda: deque(maxlen=8))  # descriptions, oldest first
    eval_exact: dict[str, deque] = field(default_factory=dict)  # set -> deque[(step, exact_accuracy)]
    arc_score: dict[str, Any] | None = None
    loaded: str = "nothing"  # one of LOAD_STAGES: how complete what the model holds is

    # -- derived facts ---------------------------------------------------------------------------------------

    @property
    def start(self) -> dict[str, Any] | None:
        return self.lifecycle.start

    @property
    def total_steps(self) -> int | None:
        for source in (self.latest_train, self.start):
            if source and isinstance(source.get("total_steps"), int):
                return source["total_steps"]
        return None

    @property
    def halt_max_steps(self) -> int | None:
        value = (self.start or {}).get("halt_max_steps")
        return value if isinstance(value, int) else None

    @property
    def puzzle(self) -> dict[str, Any] | None:
        value = (self.start or {}).get("puzzle")
        return value if isinstance(value, dict) else None

    def history(self, phase: str, set_name: str, metric: str) -> MetricHistory | None:
        return self.store.get((phase, set_name, metric))

    def eval_sets(self) -> list[str]:
        return sorted({s for phase, s, _ in self.store.keys() if phase == EVAL})

    def metric_names(self) -> list[str]:
        return sorted({m for _, _, m in self.store.keys()})

    def eval_trends(self) -> list[EvalTrend]:
        trends = []
        for set_name, evals in self.eval_exact.items():
            history = self.history(EVAL, set_name, "exact_accuracy")
            if not evals or history is None or history.extremes.max_step < 0:
                continue
            best, best_step = history.extremes.max_value, history.extremes.max_step
            since = sum(1 for step, _ in evals if step > best_step)
            trends.append(EvalTrend(set_name, best, best_step, history.latest_value, history.latest_step, since))
        return trends

    def halting_key(self) -> tuple:
        """Changes exactly when a new halting histogram arrived (what the halting panel draws)."""
        with self.lock:
            return (self.halting_train.latest_step, *sorted((k, h.latest_step) for k, h in self.halting_eval.items()))

    def recent_mean(self, phase: str, set_name: str, metric: str, steps: int = 100) -> float | None:
        history = self.history(phase, set_name, metric)
        if history is None or history.empty:
            return None
        points = history.recent.points(history.latest_step - steps + 1, history.latest_step)
        return float(points.mean.mean()) if len(points) else None

    # -- applying events -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forgets everything (the log was truncated or replaced). The lock stays, so readers stay valid."""
        with self.lock:
            fresh = RunModel(self.run_dir)
            for f in fields(self):
                if f.name not in ("lock", "version"):
                    setattr(self, f.name, getattr(fresh, f.name))
            self.version += 1

    def apply_train_batch(self, batch: TrainBatch) -> None:
        if not len(batch):
            return
        with self.lock:
            for metric, values in batch.columns.items():
                present = values != MISSING
                steps, values = batch.steps[present], values[present]
                self.store.add((TRAIN, "", metric), steps, values)
                bad = np.flatnonzero(~np.isfinite(values))
                if bad.size and is_quality_metric(metric):
                    i = int(bad[0])
                    self._note_nonfinite(f"train {metric} = {values[i]} at step {int(steps[i])}")
            newest = batch.newest
            if newest is not None and int(newest.get("step", -1)) >= self.latest_train_step:
                self.latest_train, self.latest_train_step = newest, int(newest.get("step", -1))
            self._saw(batch.newest_time, int(batch.steps.max()))
            self.version += 1

    def apply(self, event: dict[str, Any], offset: int, length: int = 0) -> None:
        """Applies one non-train event (train events go through `apply_train_batch`)."""
        kind = event.get("type")
        with self.lock:
            step = event.get("step")
            self._saw(event.get("time"), step if isinstance(step, int) else None)
            if kind in (ev.RunStart.TYPE, ev.Resume.TYPE):
                if offset > self.lifecycle.start_offset:
                    self.lifecycle.start, self.lifecycle.start_offset = event, offset
                if kind == ev.RunStart.TYPE and (self.first_start is None or offset <= self.lifecycle.start_offset):
                    self.first_start = event
            elif kind == ev.RunEnd.TYPE:
                if offset > self.lifecycle.end_offset:
                    self.lifecycle.end, self.lifecycle.end_offset = event, offset
            elif kind == ev.Train.TYPE:
                self.apply_train_batch(train_batch_from_events([event]))
            elif kind == ev.Eval.TYPE:
                self._apply_eval(event)
            elif kind == ev.Halting.TYPE:
                self._apply_halting(event)
            elif kind == ev.Samples.TYPE:
                self._index_samples(event, offset, length)
            elif kind == ev.Checkpoint.TYPE:
                if self.last_checkpoint is None or _step(event) >= _step(self.last_checkpoint):
                    self.last_checkpoint = event
            elif kind == ev.NonFinite.TYPE:
                bad = [k for k, v in (event.get("metrics") or {}).items() if _as_float(v) is not None and not math.isfinite(_as_float(v))]
                self._note_nonfinite(f"{', '.join(bad) or 'a metric'} non-finite at step {_step(event)} (trainer: {event.get('action', '?')})")
            elif kind == ev.ArcScore.TYPE:
                if self.arc_score is None or _step(event) >= _step(self.arc_score):
                    self.arc_score = event
            self.version += 1

    def index_sample_ref(self, ref: SampleRef) -> None:
        """Records a samples event found by the loader's scan without parsing it (it may be large)."""
        with self.lock:
            self._insert_ref(ref)
            self.version += 1

    def _apply_eval(self, event: dict[str, Any]) -> None:
        set_name = str(event.get("set", "all"))
        step = _step(event)
        steps = np.array([step], dtype=np.int64)
        for metric, value in (event.get("metrics") or {}).items():
            number = _as_float(value)
            if metric in NOT_PLOTTED or number is None:
                continue
            self.store.add((EVAL, set_name, metric), steps, np.array([number]))
            if not math.isfinite(number) and is_quality_metric(metric):
                self._note_nonfinite(f"eval ({set_name}) {metric} = {value} at step {step}")
        exact = _as_float((event.get("metrics") or {}).get("exact_accuracy"))
        if exact is not None:
            evals = self.eval_exact.setdefault(set_name, deque(maxlen=MAX_EVALS_REMEMBERED))
            evals.append((step, exact))
            if len(evals) > 1 and evals[-2][0] > step:  # applied out of order: keep them sorted by step
                self.eval_exact[set_name] = deque(sorted(evals), maxlen=MAX_EVALS_REMEMBERED)

    def _apply_halting(self, event: dict[str, Any]) -> None:
        counts = event.get("counts")
        if not isinstance(counts, list):
            return
        if event.get("phase") == EVAL:
            history = self.halting_eval.setdefault(str(event.get("set", "all")), HaltingHistory())
        else:
            history = self.halting_train
        history.add(_step(event), counts)

    def _index_samples(self, event: dict[str, Any], offset: int, length: int) -> None:
        self._insert_ref(SampleRef(offset, length, _step(event), str(event.get("set", "all"))))

    def _insert_ref(self, ref: SampleRef) -> None:
        refs = self.sample_refs
        if refs and refs[-1].offset >= ref.offset:
            if any(r.offset == ref.offset for r in refs):
                return
            refs.append(ref)
            refs.sort(key=lambda r: r.offset)
        else:
            refs.append(ref)
        del refs[:-MAX_SAMPLE_REFS]

    def _note_nonfinite(self, description: str) -> None:
        if description not in self.nonfinite:
            self.nonfinite.append(description)

    def _saw(self, time: Any, step: int | None) -> None:
        if isinstance(time, (int, float)) and (self.last_event_time is None or time > self.last_event_time):
            self.last_event_time = float(time)
        if step is not None and step > self.latest_step:
            self.latest_step = step


def train_batch_from_events(events: list[dict[str, Any]]) -> TrainBatch:
    """Columns from parsed `train` events (the slow, general path; the loader has a faster one)."""
    steps, rows = [], []
    names: list[str] = []
    for event in events:
        metrics = event.get("metrics") or {}
        for name in (*metrics, *TRAIN_TOP_LEVEL):
            if name not in names and name not in NOT_PLOTTED:
                names.append(name)
    newest, newest_time = None, None
    for event in events:
        metrics = event.get("metrics") or {}
        steps.append(_step(event))
        rows.append([_number_or_missing(metrics.get(n, event.get(n))) for n in names])
        if newest is None or _step(event) >= _step(newest):
            newest = event
        t = event.get("time")
        if isinstance(t, (int, float)) and (newest_time is None or t > newest_time):
            newest_time = float(t)
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    return TrainBatch(np.array(steps, dtype=np.int64), {n: table[:, i] for i, n in enumerate(names)}, newest, newest_time)


def _number_or_missing(value: Any) -> float:
    number = _as_float(value)
    return MISSING if number is None else number


def _step(event: dict[str, Any]) -> int:
    step = event.get("step")
    return step if isinstance(step, int) else -1


def _as_float(value: Any) -> float | None:
    """A number, or one of the strings "nan"/"inf"/"-inf" the writer uses for non-finite values."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
        return float(value)
    return None
