"""Which sweep a run belongs to (`SweepMember`), as a run records it and as the runs list groups it.

A run started by a sweep (`python -m hrm_core.pretrain -m`, `hrm-tui launch -m`; hrm_core/config/sweep.py)
gets its membership in its environment (`HRM_SWEEP`, `HRM_SWEEP_INDEX`, `HRM_SWEEP_SIZE`, set by whoever
starts it and shown in the command) and records it in its `run_start` (`sweep`, `sweep_index`,
`sweep_size`). A reader takes it from there, or from `launch.json`'s environment before the run has started.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

SWEEP_ENV = "HRM_SWEEP"
SWEEP_INDEX_ENV = "HRM_SWEEP_INDEX"
SWEEP_SIZE_ENV = "HRM_SWEEP_SIZE"

T = TypeVar("T")


@dataclass(frozen=True)
class SweepMember:
    """Which sweep a run belongs to (its name), and its place in it (from 0, Hydra's job number)."""

    sweep: str
    index: int
    size: int

    def env(self) -> dict[str, str]:
        """The environment variables that tell the trainer (`from_env`)."""
        return {SWEEP_ENV: self.sweep, SWEEP_INDEX_ENV: str(self.index), SWEEP_SIZE_ENV: str(self.size)}

    @classmethod
    def from_env(cls, environ: Mapping[str, Any] | None = None) -> SweepMember | None:
        """The sweep named by these variables (default: this process's); None outside a sweep, or when they do
        not read (they may come from a damaged launch.json)."""
        environ = os.environ if environ is None else environ
        return cls.of(environ.get(SWEEP_ENV), environ.get(SWEEP_INDEX_ENV), environ.get(SWEEP_SIZE_ENV))

    @classmethod
    def of(cls, sweep: Any, index: Any, size: Any) -> SweepMember | None:
        if not isinstance(sweep, str) or not sweep:
            return None
        try:
            index, size = int(index), int(size)
        except (TypeError, ValueError):
            return None
        return cls(sweep, index, size) if 0 <= index < size else None

    def label(self) -> str:
        """`grid #2 of 4`, as the runs list shows it."""
        return f"{self.sweep} #{self.index} of {self.size}"


def group_sweeps(items: Sequence[T], member: Callable[[T], SweepMember | None]) -> list[T]:
    """`items` with each sweep's runs together, in their order in the sweep, where the sweep's first run in
    `items` was; runs outside a sweep keep their places."""
    groups: dict[str, list[T]] = {}
    for item in items:
        found = member(item)
        if found is not None:
            groups.setdefault(found.sweep, []).append(item)
    out: list[T] = []
    placed: set[str] = set()
    for item in items:
        found = member(item)
        if found is None:
            out.append(item)
        elif found.sweep not in placed:
            placed.add(found.sweep)
            out.extend(sorted(groups[found.sweep], key=lambda i: member(i).index))  # type: ignore[union-attr]
    return out
