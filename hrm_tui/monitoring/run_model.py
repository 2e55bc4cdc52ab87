"""Everything the monitor knows about one run, built from its events and safe to read while it is updated.

`EventLoader` (a background worker) feeds in events that the contract's decoder has already checked
(hrm_core.rundir.events: every field has the type its payload class says), under `lock`. The UI thread never
takes the lock: the worker calls `snapshot()`, which builds an immutable `RunSnapshot` under the lock (once
per `version`, which grows with every change; a curve that did not change is not copied again), and posts it
to the screen in a message; the widgets draw from the snapshot they were handed.

Events may arrive out of file order (the loader shows a large file's newest part first and scans the rest
afterwards), so "latest" always means the largest step, or for lifecycle events the largest file offset,
never "the last one applied".

All state is bounded, whatever the file holds: curves and halting histograms are bucketed; lists (samples
index, non-finite reports, evals) are capped; and what a hostile or broken log could inflate without limit
(metric names, eval sets, the length of a halting histogram) is capped too. What a cap leaves out is counted
in `not_shown`, next to the lines the loader skipped (`skipped`), and the monitor shows both.

Strings in the events (set names, metric names, paths, error texts) are kept as they are in the file: the
widgets pass everything they draw through `hrm_core.rundir.sanitize.safe_text`.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType

import numpy as np

from hrm_core.rundir import events as ev
from hrm_core.rundir.metrics import NOT_PLOTTED, TRAIN_TOP_LEVEL, Better, is_quality_metric, metric_spec
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
# Caps on what a log could otherwise grow without bound (each curve costs ~300 KB, a histogram row 8 bytes).
MAX_METRICS = 64  # metric names per curve group (train, or one eval set); a run logs about ten
MAX_EVAL_SETS = 32  # eval sets with curves and halting histograms; a run has one to a few
MAX_HALTING_STEPS = 1024  # a halting histogram's length is halt_max_steps: 16 in the papers' configs
MAX_NONFINITE_NAMES = 3  # metric names quoted in one non-finite report

# The eval metric whose best value the alerts and "evals since the best" follow.
TREND_METRIC = "exact_accuracy"

# Marks a metric absent from an event inside a TrainBatch column (NaN means the trainer logged "nan").
MISSING = float(np.finfo(np.float64).min)


@dataclass
class TrainBatch:
    """Many `train` events in columns: `steps` int [n], each metric a float [n] (MISSING where absent)."""

    steps: np.ndarray
    columns: dict[str, np.ndarray]
    newest: ev.Train | None = None  # the event with the largest step, kept whole for the progress panel
    newest_time: float | None = None  # the largest `time`

    def __len__(self) -> int:
        return int(self.steps.size)


class TrainColumns:
    """Builds a TrainBatch from checked train events quickly: one lookup per metric, one numpy conversion.

    The metric names are learnt from the first and the last event of each batch (a run logs the same keys at
    every step), at most MAX_METRICS of them; an event naming more is reported to `on_not_shown`.
    """

    def __init__(self, on_not_shown: Callable[[str], None] | None = None) -> None:
        self.names: list[str] = []
        self._known: set[str] = set(NOT_PLOTTED)
        self._on_not_shown = on_not_shown or (lambda what: None)

    def batch(self, events: list[ev.Train]) -> TrainBatch:
        if not events:
            return TrainBatch(np.zeros(0, dtype=np.int64), {})
        self._learn_names(events[0])
        self._learn_names(events[-1])
        metric_names = [n for n in self.names if n not in TRAIN_TOP_LEVEL]
        top_names = [n for n in self.names if n in TRAIN_TOP_LEVEL]
        rows = [(e.step, *[e.metrics.get(n, MISSING) for n in metric_names], *[_or_missing(getattr(e, n)) for n in top_names])
                for e in events]
        table = np.array(rows, dtype=np.float64)  # every value is a number: the decoder checked them
        names = metric_names + top_names
        newest = max(events, key=lambda e: e.step)
        columns = {n: table[:, i + 1] for i, n in enumerate(names)}
        return TrainBatch(table[:, 0].astype(np.int64), columns, newest, max(e.time for e in events))

    def _learn_names(self, event: ev.Train) -> None:
        new = [n for n in event.metrics if n not in self._known]
        new += [n for n in TRAIN_TOP_LEVEL if n not in self._known and getattr(event, n) is not None]
        if not new:
            return
        room = MAX_METRICS - len(self.names)
        self.names += new[:room]
        self._known.update(new[:room])
        if len(new) > room:
            self._on_not_shown(f"train metrics beyond the first {MAX_METRICS}")


def _or_missing(value: float | None) -> float:
    return MISSING if value is None else value


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

    start: ev.RunStart | ev.Resume | None = None
    start_offset: int = -1
    end: ev.RunEnd | None = None
    end_offset: int = -1

    @property
    def ended(self) -> ev.RunEnd | None:
        """The run_end, unless the run was resumed after it."""
        return self.end if self.end_offset > self.start_offset else None


def _empty_mapping() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class RunSnapshot:
    """What a RunModel held at one `version`, for the UI thread: nothing in it changes (the histories are
    read-only copies, the collections tuples and read-only mappings), so widgets read it without a lock."""

    run_dir: Path
    version: int = -1  # -1: the empty snapshot a screen starts with, before its worker posts one
    loaded: str = "nothing"
    curves: Mapping[tuple[str, str, str], MetricHistory] = field(default_factory=_empty_mapping)
    start: ev.RunStart | ev.Resume | None = None
    ended: ev.RunEnd | None = None  # Lifecycle.ended: the run_end, unless the run was resumed after it
    start_time: float | None = None
    total_steps: int | None = None
    latest_train: ev.Train | None = None
    latest_train_step: int = -1
    latest_step: int = -1
    last_event_time: float | None = None
    last_checkpoint: ev.Checkpoint | None = None
    halting_train: HaltingHistory = field(default_factory=HaltingHistory)
    halting_eval: Mapping[str, HaltingHistory] = field(default_factory=_empty_mapping)
    sample_refs: tuple[SampleRef, ...] = ()
    nonfinite: tuple[str, ...] = ()
    eval_trends: tuple[EvalTrend, ...] = ()
    skipped: Mapping[str, int] = field(default_factory=_empty_mapping)
    not_shown: Mapping[str, int] = field(default_factory=_empty_mapping)
    segment_steps: tuple[int, ...] = ()  # the steps later sessions (resume events: requeued job segments) began at

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def puzzle(self) -> ev.PuzzleDescription | None:
        return self.start.puzzle if self.start is not None else None

    def history(self, phase: str, set_name: str, metric: str) -> MetricHistory | None:
        return self.curves.get((phase, set_name, metric))

    def eval_sets(self) -> list[str]:
        return sorted({s for phase, s, _ in self.curves if phase == EVAL})

    def metric_names(self) -> list[str]:
        return sorted({m for _, _, m in self.curves})

    def recent_mean(self, phase: str, set_name: str, metric: str, steps: int = 100) -> float | None:
        history = self.history(phase, set_name, metric)
        if history is None or history.empty:
            return None
        points = history.recent.points(history.latest_step - steps + 1, history.latest_step)
        return float(points.mean.mean()) if len(points) else None

    def halting_key(self) -> tuple:
        """Changes exactly when a new halting histogram arrived (what the halting panel draws)."""
        return (self.halting_train.latest_step, *sorted((k, h.latest_step) for k, h in self.halting_eval.items()))


@dataclass
class RunModel:
    run_dir: Path
    lock: threading.RLock = field(default_factory=threading.RLock)
    version: int = 0
    store: MetricsStore = field(default_factory=MetricsStore)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    first_start: ev.RunStart | None = None  # the original run_start (its time is the run's start)
    segment_steps: set[int] = field(default_factory=set)  # where each `resume` began: a new session's boundary
    latest_train: ev.Train | None = None
    latest_train_step: int = -1
    last_event_time: float | None = None
    latest_step: int = -1  # the largest step of any event (heartbeats too)
    last_checkpoint: ev.Checkpoint | None = None
    halting_train: HaltingHistory = field(default_factory=HaltingHistory)
    halting_eval: dict[str, HaltingHistory] = field(default_factory=dict)
    sample_refs: list[SampleRef] = field(default_factory=list)  # sorted by offset
    nonfinite: deque = field(default_factory=lambda: deque(maxlen=8))  # descriptions, oldest first
    eval_trend_points: dict[str, deque] = field(default_factory=dict)  # set -> deque[(step, TREND_METRIC value)]
    arc_score: ev.ArcScore | None = None
    loaded: str = "nothing"  # one of LOAD_STAGES: how complete what the model holds is
    # Lines of events.jsonl that are not valid events, by reason (set by the loader; see event_loader for
    # when the count is final), and valid facts left out by a cap above, by what was left out.
    skipped: Counter = field(default_factory=Counter)
    not_shown: Counter = field(default_factory=Counter)
    train_columns: TrainColumns = field(init=False)
    # The newest snapshot, and the read-only copy of each history with the `changes` it was copied at.
    _snapshot: RunSnapshot | None = field(default=None, init=False, repr=False)
    _frozen: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.train_columns = TrainColumns(self._count_not_shown)

    # -- the UI thread's view --------------------------------------------------------------------------------

    def snapshot(self) -> RunSnapshot:
        """The model as it is now, immutable (built under the lock; the same object until the next change)."""
        with self.lock:
            if self._snapshot is None or self._snapshot.version != self.version:
                self._snapshot = self._build_snapshot()
            return self._snapshot

    def _build_snapshot(self) -> RunSnapshot:
        return RunSnapshot(
            run_dir=self.run_dir,
            version=self.version,
            loaded=self.loaded,
            curves=MappingProxyType({key: self._frozen_copy(key, h) for key, h in self.store.series.items()}),
            start=self.start,
            ended=self.lifecycle.ended,
            start_time=self.start_time,
            total_steps=self.total_steps,
            latest_train=self.latest_train,
            latest_train_step=self.latest_train_step,
            latest_step=self.latest_step,
            last_event_time=self.last_event_time,
            last_checkpoint=self.last_checkpoint,
            halting_train=self._frozen_copy("halting", self.halting_train),
            halting_eval=MappingProxyType({s: self._frozen_copy(("halting", s), h) for s, h in self.halting_eval.items()}),
            sample_refs=tuple(self.sample_refs),
            nonfinite=tuple(self.nonfinite),
            eval_trends=tuple(self.eval_trends()),
            skipped=MappingProxyType(dict(self.skipped)),
            not_shown=MappingProxyType(dict(self.not_shown)),
            segment_steps=tuple(sorted(self.segment_steps)),
        )

    def _frozen_copy(self, key: object, history):  # MetricHistory | HaltingHistory -> the same type
        """A read-only copy of `history`, made again only when it changed since the last snapshot (a run's
        curves are ~300 KB each, and most snapshots change only the train curves)."""
        known = self._frozen.get(key)
        if known is None or known[0] is not history or known[1] != history.changes:
            known = self._frozen[key] = (history, history.changes, history.frozen_copy())
        return known[2]

    # -- derived facts ---------------------------------------------------------------------------------------

    @property
    def start(self) -> ev.RunStart | ev.Resume | None:
        return self.lifecycle.start

    @property
    def total_steps(self) -> int | None:
        for source in (self.latest_train, self.start):
            if source is not None and source.total_steps is not None:
                return source.total_steps
        return None

    @property
    def halt_max_steps(self) -> int | None:
        return self.start.halt_max_steps if self.start is not None else None

    @property
    def puzzle(self) -> ev.PuzzleDescription | None:
        return self.start.puzzle if self.start is not None else None

    @property
    def start_time(self) -> float | None:
        start = self.first_start or self.start
        return start.time if start is not None else None

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def history(self, phase: str, set_name: str, metric: str) -> MetricHistory | None:
        return self.store.get((phase, set_name, metric))

    def eval_sets(self) -> list[str]:
        return sorted({s for phase, s, _ in self.store.keys() if phase == EVAL})

    def metric_names(self) -> list[str]:
        return sorted({m for _, _, m in self.store.keys()})

    def eval_trends(self) -> list[EvalTrend]:
        """Per eval set, TREND_METRIC's best so far (in the direction the metric spec says is better)."""
        better = metric_spec(TREND_METRIC).better
        trends = []
        for set_name, evals in self.eval_trend_points.items():
            history = self.history(EVAL, set_name, TREND_METRIC)
            if not evals or history is None or better is Better.NEITHER:
                continue
            extremes = history.extremes
            best, best_step = (extremes.max_value, extremes.max_step) if better is Better.HIGHER else (extremes.min_value, extremes.min_step)
            if best_step < 0:
                continue
            since = sum(1 for step, _ in evals if step > best_step)
            trends.append(EvalTrend(set_name, best, best_step, history.latest_value, history.latest_step, since, better))
        return trends

    # -- applying events -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forgets everything (the log was truncated or replaced). The lock stays, so readers stay valid."""
        with self.lock:
            fresh = RunModel(self.run_dir)
            for f in fields(self):
                if f.name not in ("lock", "version", "train_columns"):
                    setattr(self, f.name, getattr(fresh, f.name))
            self.train_columns = TrainColumns(self._count_not_shown)
            self.version += 1

    def set_skipped(self, skipped: Counter) -> None:
        """The loader's current count of invalid lines (by reason)."""
        with self.lock:
            if skipped != self.skipped:
                self.skipped = Counter(skipped)
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
            if newest is not None and newest.step >= self.latest_train_step:
                self.latest_train, self.latest_train_step = newest, newest.step
            self._saw(batch.newest_time, int(batch.steps.max()))
            self.version += 1

    def apply_train_events(self, events: list[ev.Train]) -> TrainBatch:
        """Applies checked train events (in columns); returns the batch built from them."""
        batch = self.train_columns.batch(events)
        self.apply_train_batch(batch)
        return batch

    def apply(self, event: ev.Event, offset: int, length: int = 0) -> None:
        """Applies one checked event; `offset`/`length` say where its line is in the file."""
        if isinstance(event, ev.Train):
            self.apply_train_events([event])
            return
        with self.lock:
            self._saw(event.time, getattr(event, "step", None))
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event, offset, length)
            self.version += 1

    def index_sample_ref(self, ref: SampleRef) -> None:
        """Records a samples event found by the loader's scan without parsing it (it may be large)."""
        with self.lock:
            self._insert_ref(ref)
            self.version += 1

    def drop_sample_ref(self, ref: SampleRef) -> None:
        """Forgets an indexed samples line that turned out not to be a valid event when it was read."""
        with self.lock:
            if ref in self.sample_refs:
                self.sample_refs.remove(ref)
                self.version += 1

    def _apply_start(self, event: ev.RunStart | ev.Resume, offset: int, length: int) -> None:
        if offset > self.lifecycle.start_offset:
            self.lifecycle.start, self.lifecycle.start_offset = event, offset
        if isinstance(event, ev.RunStart) and (self.first_start is None or offset <= self.lifecycle.start_offset):
            self.first_start = event
        if isinstance(event, ev.Resume) and event.step not in self.segment_steps:
            self.segment_steps.add(event.step)
            self.version += 1

    def _apply_end(self, event: ev.RunEnd, offset: int, length: int) -> None:
        if offset > self.lifecycle.end_offset:
            self.lifecycle.end, self.lifecycle.end_offset = event, offset

    def _apply_eval(self, event: ev.Eval, offset: int, length: int) -> None:
        if not self._eval_set_known(event.set):
            return
        steps = np.array([event.step], dtype=np.int64)
        known = {m for phase, s, m in self.store.keys() if phase == EVAL and s == event.set}
        for metric, value in event.metrics.items():
            if metric in NOT_PLOTTED:
                continue
            if metric not in known:
                if len(known) >= MAX_METRICS:
                    self._count_not_shown(f"eval metrics beyond the first {MAX_METRICS} of a set")
                    continue
                known.add(metric)
            self.store.add((EVAL, event.set, metric), steps, np.array([value], dtype=np.float64))
            if not math.isfinite(value) and is_quality_metric(metric):
                self._note_nonfinite(f"eval ({event.set}) {metric} = {value} at step {event.step}")
        trend = event.metrics.get(TREND_METRIC)
        if trend is not None:
            points = self.eval_trend_points.setdefault(event.set, deque(maxlen=MAX_EVALS_REMEMBERED))
            points.append((event.step, trend))
            if len(points) > 1 and points[-2][0] > event.step:  # applied out of order: keep them sorted by step
                self.eval_trend_points[event.set] = deque(sorted(points), maxlen=MAX_EVALS_REMEMBERED)

    def _apply_halting(self, event: ev.Halting, offset: int, length: int) -> None:
        if len(event.counts) > MAX_HALTING_STEPS:
            self._count_not_shown(f"halting histograms longer than {MAX_HALTING_STEPS} steps")
            return
        if event.phase is ev.HaltingPhase.EVAL:
            set_name = event.set or "all"
            if not self._eval_set_known(set_name):
                return
            history = self.halting_eval.setdefault(set_name, HaltingHistory())
        else:
            history = self.halting_train
        history.add(event.step, event.counts)

    def _apply_samples(self, event: ev.Samples, offset: int, length: int) -> None:
        self._insert_ref(SampleRef(offset, length, event.step, event.set))

    def _apply_checkpoint(self, event: ev.Checkpoint, offset: int, length: int) -> None:
        if self.last_checkpoint is None or event.step >= self.last_checkpoint.step:
            self.last_checkpoint = event

    def _apply_nonfinite(self, event: ev.NonFinite, offset: int, length: int) -> None:
        bad = [k for k, v in event.metrics.items() if not math.isfinite(v)]
        names = ", ".join(bad[:MAX_NONFINITE_NAMES]) + (f" and {len(bad) - MAX_NONFINITE_NAMES} more" if len(bad) > MAX_NONFINITE_NAMES else "")
        self._note_nonfinite(f"{names or 'a metric'} non-finite at step {event.step} (trainer: {event.action or '?'})")

    def _apply_arc_score(self, event: ev.ArcScore, offset: int, length: int) -> None:
        if self.arc_score is None or event.step >= self.arc_score.step:
            self.arc_score = event

    def _eval_set_known(self, set_name: str) -> bool:
        """Whether curves of this eval set are kept (the first MAX_EVAL_SETS sets are)."""
        known = {s for phase, s, _ in self.store.keys() if phase == EVAL} | set(self.halting_eval)
        if set_name in known or len(known) < MAX_EVAL_SETS:
            return True
        self._count_not_shown(f"eval sets beyond the first {MAX_EVAL_SETS}")
        return False

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

    def _count_not_shown(self, what: str) -> None:
        with self.lock:
            self.not_shown[what] += 1

    def _saw(self, time: float | None, step: int | None) -> None:
        if time is not None and (self.last_event_time is None or time > self.last_event_time):
            self.last_event_time = time
        if step is not None and step > self.latest_step:
            self.latest_step = step


# How each (non-train) event type changes the model; types not listed (heartbeat) only move the step and time.
_HANDLERS: dict[type[ev.Event], Callable[[RunModel, ev.Event, int, int], None]] = {
    ev.RunStart: RunModel._apply_start,
    ev.Resume: RunModel._apply_start,
    ev.RunEnd: RunModel._apply_end,
    ev.Eval: RunModel._apply_eval,
    ev.Halting: RunModel._apply_halting,
    ev.Samples: RunModel._apply_samples,
    ev.Checkpoint: RunModel._apply_checkpoint,
    ev.NonFinite: RunModel._apply_nonfinite,
    ev.ArcScore: RunModel._apply_arc_score,
}
