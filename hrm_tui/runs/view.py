"""How the user looks at the runs list: the column it is sorted by, a filter, the runs marked for comparing.

`RunsView` is a frozen value the runs screen keeps across refreshes and applies to whatever list of runs it
is given (a folder scan today, the per-user index tomorrow): `view.apply(runs)` is what the table shows.

    view = RunsView().sorted_by("Name")        # A to Z (each column has its natural first direction)
    view.reversed().apply(runs)                # Z to A
    RunsView(filter="sudoku").apply(runs)      # runs whose name, preset, status or folder holds "sudoku"
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import RunSummary
from hrm_core.rundir.sweeps import group_sweeps

# The columns the list sorts by, each with its key and its first direction (True: descending).
# None values (a run with no start, no progress yet) always sort last.
STATUS_ORDER = {status: i for i, status in enumerate(
    (RunStatus.RUNNING, RunStatus.STALLED, RunStatus.QUEUED, RunStatus.FAILED, RunStatus.LOST, RunStatus.STOPPED, RunStatus.FINISHED))}
SORT_KEYS: dict[str, tuple[Callable[[RunSummary], Any], bool]] = {
    "Started": (lambda s: None, True),  # the order runs come in: newest first (start time, else folder time)
    "Name": (lambda s: s.path.name.casefold(), False),
    "Preset": (lambda s: (s.preset or "").casefold() or None, False),
    "Status": (lambda s: STATUS_ORDER.get(s.status), False),
    "Progress": (lambda s: s.progress, True),
    "Last event": (lambda s: s.last_event_time, True),
}
SORT_COLUMNS = tuple(SORT_KEYS)


@dataclass(frozen=True)
class RunsView:
    """How the user looks at the runs list: sorted by `sort` (descending when `descending`), filtered by
    `filter` (a case-insensitive piece of the name, preset, status or folder), with `marked` runs."""

    sort: str = "Started"
    descending: bool = True
    filter: str = ""
    marked: tuple[Path, ...] = field(default_factory=tuple)  # in the order they were marked

    def apply(self, runs: Sequence[RunSummary]) -> list[RunSummary]:
        """The runs shown, in their order. Stable: ties keep the order they came in (newest first)."""
        needle = self.filter.casefold().strip()
        shown = [r for r in runs if not needle or needle in _searchable(r)]
        if self.sort == "Started":  # a sweep's runs together, in the sweep's order, where its newest run is
            return group_sweeps(shown if self.descending else shown[::-1], lambda run: run.sweep)
        key, _ = SORT_KEYS[self.sort]
        present = [r for r in shown if key(r) is not None]
        absent = [r for r in shown if key(r) is None]
        return sorted(present, key=key, reverse=self.descending) + absent

    def sorted_by(self, column: str) -> RunsView:
        return replace(self, sort=column, descending=SORT_KEYS[column][1])

    def next_sort(self, step: int) -> RunsView:
        """The next (step 1) or previous (-1) sort column, in its first direction."""
        return self.sorted_by(SORT_COLUMNS[(SORT_COLUMNS.index(self.sort) + step) % len(SORT_COLUMNS)])

    def reversed(self) -> RunsView:
        return replace(self, descending=not self.descending)

    def toggle_mark(self, path: Path) -> RunsView:
        """Marks the run, or unmarks it. (Paths as the list gives them: a refresh gives the same ones.)"""
        kept = tuple(p for p in self.marked if p != path)
        return replace(self, marked=kept if len(kept) != len(self.marked) else (*self.marked, path))

    def with_sweep_marked(self, runs: Sequence[RunSummary], run: RunSummary) -> RunsView:
        """Every run of `run`'s sweep marked (in the sweep's order), or unmarked when all of them were."""
        if run.sweep is None:
            return self.toggle_mark(run.path)
        members = [r.path for r in group_sweeps(runs, lambda r: r.sweep)
                   if r.sweep is not None and r.sweep.sweep == run.sweep.sweep]
        if all(path in self.marked for path in members):
            return replace(self, marked=tuple(p for p in self.marked if p not in members))
        return replace(self, marked=(*self.marked, *(p for p in members if p not in self.marked)))

    def describe(self) -> str:
        """For the title line: `sorted by Started ▼`."""
        return f"sorted by {self.sort} {'▼' if self.descending else '▲'}"


def _searchable(run: RunSummary) -> str:
    sweep = safe_text(run.sweep.sweep) if run.sweep is not None else ""
    return " ".join((safe_text(run.path), safe_text(run.preset or ""), str(run.status), sweep)).casefold()
