"""ACT halting-step histograms over a run, in bounded memory.

Each `halting` event carries `counts[i]`: how many sequences halted after `i + 1` ACT steps. The panel shows
the newest histogram and how the distribution moved over the run (a heatmap: step buckets x halting steps).
Like `metrics_store.BucketedHistory`, the run is summarised in `capacity` step buckets whose width doubles
as the run grows; a bucket holds the summed counts of the histograms that fell in it.
"""

from __future__ import annotations

import copy

import numpy as np

DEFAULT_CAPACITY = 512


class HaltingHistory:
    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self.width = 1
        self.counts = np.zeros((capacity, 0), dtype=np.int64)  # [bucket, halting step - 1]
        self.latest_step = -1
        self.latest_counts: list[int] = []
        self.changes = 0  # grows with every histogram added: a snapshot copies only the histories that changed

    @property
    def max_steps(self) -> int:
        return self.counts.shape[1]

    @property
    def empty(self) -> bool:
        return self.latest_step < 0

    def add(self, step: int, counts: list[int]) -> None:
        values = np.asarray([c if isinstance(c, (int, float)) else 0 for c in counts], dtype=np.int64)
        if values.size > self.max_steps:  # a longer histogram (resumed with a larger halt_max_steps)
            grown = np.zeros((self.capacity, values.size), dtype=np.int64)
            grown[:, : self.max_steps] = self.counts
            self.counts = grown
        self.changes += 1
        step = max(int(step), 0)
        while step >= self.capacity * self.width:
            merged = self.counts[0::2] + self.counts[1::2]
            self.counts = np.concatenate([merged, np.zeros_like(merged)])
            self.width *= 2
        self.counts[step // self.width, : values.size] += values
        if step >= self.latest_step:
            self.latest_step, self.latest_counts = step, values.tolist()

    def frozen_copy(self) -> "HaltingHistory":
        """A copy whose counts are read-only: what a snapshot hands to the UI thread while this one grows."""
        frozen = copy.deepcopy(self)
        frozen.counts.flags.writeable = False
        frozen.latest_counts = tuple(frozen.latest_counts)
        return frozen

    def columns(self, x0: float, x1: float, columns: int) -> np.ndarray:
        """The histograms of [x0, x1] summed into `columns` step columns: int [columns, max_steps]."""
        out = np.zeros((columns, self.max_steps), dtype=np.int64)
        first = max(0, int(x0 // self.width))
        last = min(self.capacity - 1, int(x1 // self.width))
        if last < first or self.max_steps == 0:
            return out
        centre = np.arange(first, last + 1) * self.width + (self.width - 1) / 2
        column = np.clip(((centre - x0) / max(x1 - x0, 1e-12) * (columns - 1)).round().astype(np.int64), 0, columns - 1)
        np.add.at(out, column, self.counts[first : last + 1])
        return out

    def mean_steps(self) -> float | None:
        """Mean halting step of the newest histogram."""
        total = sum(self.latest_counts)
        if not total:
            return None
        return sum((i + 1) * c for i, c in enumerate(self.latest_counts)) / total
