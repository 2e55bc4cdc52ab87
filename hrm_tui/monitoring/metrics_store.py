"""Bounded per-metric history: a whole run's curve in fixed memory, plus the recent steps at full resolution.

A day of per-step logging is a million points per metric. A terminal plot is at most a few hundred
pixels wide, so the monitor never keeps the points themselves. Each metric keeps two fixed-size summaries:

- `BucketedHistory`: the whole run in `capacity` buckets of `width` steps each. Every bucket holds the count,
  minimum, maximum and sum of the finite values that fell in it, and how many were non-finite. When a step
  lands beyond the last bucket, neighbouring buckets are merged pairwise and the width doubles, so the
  buckets always span the run seen so far. Merging min/max/sum/count loses nothing a plot needs: a column of
  pixels shows the min..max envelope and the mean of the buckets under it.
- `RecentWindow`: the last `capacity` steps at full resolution, a ring indexed by `step % capacity`, for
  zooming into the newest part of the run.

Both accept points in any order (a rare event found late in a file scan, a resumed run that repeats steps),
and both are fed whole numpy batches, because a Python loop per point is too slow for a million points.

Memory per metric: about 5 x 8 bytes x 4096 buckets + 2 x 8 bytes x 8192 recent steps, i.e. ~300 KB,
independent of the run's length.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

DEFAULT_BUCKETS = 4096
DEFAULT_RECENT_STEPS = 8192


@dataclass
class CurvePoints:
    """Points of one curve inside a step range, ready for plotting. All arrays have the same length.

    `lo`/`hi` are the min and max of the values summarised by each point (equal for a single value) and
    `mean` their mean; `x` is the point's step (a bucket's centre). Non-finite values are never in them:
    `nonfinite_x` lists the steps where a non-finite value was seen, so a plot can mark them.
    """

    x: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    mean: np.ndarray
    nonfinite_x: np.ndarray

    @classmethod
    def empty(cls) -> "CurvePoints":
        nothing = np.zeros(0)
        return cls(nothing, nothing, nothing, nothing, nothing)

    def __len__(self) -> int:
        return int(self.x.size)


class BucketedHistory:
    """The whole run in `capacity` step buckets whose width doubles as the run grows (see module docstring)."""

    def __init__(self, capacity: int = DEFAULT_BUCKETS):
        if capacity < 2 or capacity % 2:
            raise ValueError(f"capacity must be an even number >= 2, got {capacity}")
        self.capacity = capacity
        self.width = 1  # steps per bucket, always a power of two
        self.count = np.zeros(capacity, dtype=np.int64)  # finite values per bucket
        self.nonfinite = np.zeros(capacity, dtype=np.int64)
        self.vmin = np.full(capacity, np.inf)
        self.vmax = np.full(capacity, -np.inf)
        self.vsum = np.zeros(capacity)

    def add(self, steps: np.ndarray, values: np.ndarray) -> None:
        """Adds points; `steps` int [n] (>= 0), `values` float [n] (NaN/inf allowed)."""
        if steps.size == 0:
            return
        steps = np.maximum(steps.astype(np.int64, copy=False), 0)
        self._coarsen_to_fit(int(steps.max()))
        index = steps // self.width
        finite = np.isfinite(values)
        if not finite.all():
            np.add.at(self.nonfinite, index[~finite], 1)
            index, values = index[finite], values[finite]
        self.count += np.bincount(index, minlength=self.capacity)
        self.vsum += np.bincount(index, weights=values, minlength=self.capacity)
        np.minimum.at(self.vmin, index, values)
        np.maximum.at(self.vmax, index, values)

    def merge(self, other: "BucketedHistory") -> None:
        """Adds another summary's points into this one (both must have the same capacity)."""
        if other.capacity != self.capacity:
            raise ValueError("can only merge histories with the same number of buckets")
        while self.width < other.width:
            self._coarsen()
        while other.width < self.width:
            other._coarsen()
        self.count += other.count
        self.nonfinite += other.nonfinite
        self.vsum += other.vsum
        np.minimum(self.vmin, other.vmin, out=self.vmin)
        np.maximum(self.vmax, other.vmax, out=self.vmax)

    def _coarsen_to_fit(self, max_step: int) -> None:
        while max_step >= self.capacity * self.width:
            self._coarsen()

    def _coarsen(self) -> None:
        """Halves the resolution: buckets 2i and 2i+1 become bucket i, and the width doubles."""
        self.count = _merge_pairs(self.count, np.add, 0)
        self.nonfinite = _merge_pairs(self.nonfinite, np.add, 0)
        self.vsum = _merge_pairs(self.vsum, np.add, 0.0)
        self.vmin = _merge_pairs(self.vmin, np.minimum, np.inf)
        self.vmax = _merge_pairs(self.vmax, np.maximum, -np.inf)
        self.width *= 2

    def points(self, x0: float, x1: float) -> CurvePoints:
        """Non-empty buckets whose steps overlap [x0, x1]."""
        first = max(0, int(math.floor(x0 / self.width)))
        last = min(self.capacity - 1, int(math.floor(x1 / self.width)))
        if last < first:
            return CurvePoints.empty()
        sl = slice(first, last + 1)
        count = self.count[sl]
        filled = np.flatnonzero(count)
        centre = (np.arange(first, last + 1) * self.width + (self.width - 1) / 2.0)
        bad = np.flatnonzero(self.nonfinite[sl])
        return CurvePoints(
            x=centre[filled],
            lo=self.vmin[sl][filled],
            hi=self.vmax[sl][filled],
            mean=self.vsum[sl][filled] / count[filled],
            nonfinite_x=centre[bad],
        )


def _merge_pairs(array: np.ndarray, combine: np.ufunc, fill: float) -> np.ndarray:
    """[a0, a1, a2, a3, ...] -> [combine(a0, a1), combine(a2, a3), ..., fill, fill, ...] (same length)."""
    merged = combine(array[0::2], array[1::2])
    return np.concatenate([merged, np.full(array.size - merged.size, fill, dtype=array.dtype)])


class RecentWindow:
    """The newest `capacity` steps at full resolution: slot `step % capacity` holds that step's value."""

    def __init__(self, capacity: int = DEFAULT_RECENT_STEPS):
        self.capacity = capacity
        self.step = np.full(capacity, -1, dtype=np.int64)
        self.value = np.full(capacity, np.nan)
        self.newest = -1

    def add(self, steps: np.ndarray, values: np.ndarray) -> None:
        if steps.size == 0:
            return
        self.newest = max(self.newest, int(steps.max()))
        keep = steps > self.newest - self.capacity
        slots = steps[keep] % self.capacity
        self.step[slots] = steps[keep]  # repeated steps: the later point wins, as numpy assigns in order
        self.value[slots] = values[keep]

    @property
    def oldest(self) -> int:
        """The oldest step this window can still answer for."""
        return max(0, self.newest - self.capacity + 1)

    def points(self, x0: float, x1: float) -> CurvePoints:
        valid = (self.step >= self.oldest) & (self.step >= x0) & (self.step <= x1)
        order = np.argsort(self.step[valid], kind="stable")
        x = self.step[valid][order].astype(np.float64)
        y = self.value[valid][order]
        finite = np.isfinite(y)
        return CurvePoints(x=x[finite], lo=y[finite], hi=y[finite], mean=y[finite], nonfinite_x=x[~finite])


class MinMaxTracker:
    """Finite min and max (with their steps) of a stream of batches: a curve's best value."""

    def __init__(self) -> None:
        self.min_value, self.min_step = math.inf, -1
        self.max_value, self.max_step = -math.inf, -1

    def merge(self, other: "MinMaxTracker") -> None:
        if other.min_value < self.min_value:
            self.min_value, self.min_step = other.min_value, other.min_step
        if other.max_value > self.max_value:
            self.max_value, self.max_step = other.max_value, other.max_step

    def add(self, steps: np.ndarray, values: np.ndarray) -> None:
        finite = np.isfinite(values)
        if not finite.any():
            return
        fin_values, fin_steps = values[finite], steps[finite]
        i, j = int(np.argmin(fin_values)), int(np.argmax(fin_values))
        if fin_values[i] < self.min_value:
            self.min_value, self.min_step = float(fin_values[i]), int(fin_steps[i])
        if fin_values[j] > self.max_value:
            self.max_value, self.max_step = float(fin_values[j]), int(fin_steps[j])


class MetricHistory:
    """One metric's bounded history: the whole run (bucketed), the recent steps, the latest and the extremes."""

    def __init__(self, buckets: int = DEFAULT_BUCKETS, recent_steps: int = DEFAULT_RECENT_STEPS):
        self.buckets = BucketedHistory(buckets)
        self.recent = RecentWindow(recent_steps)
        self.latest_step = -1
        self.latest_value = math.nan
        self.first_step: int | None = None
        self.extremes = MinMaxTracker()
        self.points_seen = 0
        self.nonfinite_seen = 0
        self.changes = 0  # grows with every change: a snapshot copies only the histories that changed

    def add(self, steps: np.ndarray, values: np.ndarray) -> None:
        """Adds a batch; `steps` int [n], `values` float [n]."""
        steps = np.asarray(steps, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if steps.size == 0:
            return
        self.changes += 1
        self.buckets.add(steps, values)
        self.recent.add(steps, values)
        self.points_seen += int(steps.size)
        newest = int(np.flatnonzero(steps == steps.max())[-1])
        if steps[newest] >= self.latest_step:
            self.latest_step, self.latest_value = int(steps[newest]), float(values[newest])
        oldest = int(steps.min())
        self.first_step = oldest if self.first_step is None else min(self.first_step, oldest)
        self.nonfinite_seen += int((~np.isfinite(values)).sum())
        self.extremes.add(steps, values)

    def replace_whole_run(self, buckets: BucketedHistory, extremes: MinMaxTracker) -> None:
        """Swaps in a whole-run summary built by an exact pass over the file (see event_loader)."""
        self.buckets = buckets
        self.extremes = extremes
        self.changes += 1

    def frozen_copy(self) -> "MetricHistory":
        """A copy whose arrays are read-only: what a snapshot hands to the UI thread while this one grows."""
        return _frozen(copy.deepcopy(self))

    def points(self, x0: float, x1: float) -> CurvePoints:
        """The best-resolution points for [x0, x1]: the recent window when it covers the range, else buckets."""
        if self.recent.newest >= 0 and x0 >= self.recent.oldest:
            return self.recent.points(x0, x1)
        return self.buckets.points(x0, x1)

    def value_at(self, step: float) -> tuple[float, float] | None:
        """(step, value) of the newest point at or before `step`: the logged value itself while the recent
        window holds that step, else the mean of the bucket holding it. None before the curve's first point.
        A curve's cursor readout (an eval curve reads the newest eval up to that step)."""
        if self.empty or step < (self.first_step or 0):
            return None
        if self.recent.newest >= 0 and step >= self.recent.oldest:
            near = self.recent.points(self.recent.oldest, step)
            if len(near):
                return float(near.x[-1]), float(near.mean[-1])
        points = self.buckets.points(0, step)
        if not len(points):
            return None
        return min(float(points.x[-1]), step), float(points.mean[-1])

    @property
    def empty(self) -> bool:
        return self.points_seen == 0


def _frozen(history: MetricHistory) -> MetricHistory:
    for part in (history.buckets, history.recent):
        for array in vars(part).values():
            if isinstance(array, np.ndarray):
                array.flags.writeable = False
    return history


class MetricsStore:
    """Every curve of a run, by key `(phase, set_name, metric)`: ("train", "", "lm_loss"), ("eval", "all", ...)."""

    def __init__(self, buckets: int = DEFAULT_BUCKETS, recent_steps: int = DEFAULT_RECENT_STEPS):
        self._buckets = buckets
        self._recent_steps = recent_steps
        self.series: dict[tuple[str, str, str], MetricHistory] = {}

    def history(self, key: tuple[str, str, str]) -> MetricHistory:
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = MetricHistory(self._buckets, self._recent_steps)
        return found

    def add(self, key: tuple[str, str, str], steps: np.ndarray, values: np.ndarray) -> None:
        self.history(key).add(steps, values)

    def get(self, key: tuple[str, str, str]) -> MetricHistory | None:
        return self.series.get(key)

    def keys(self) -> list[tuple[str, str, str]]:
        return list(self.series)
