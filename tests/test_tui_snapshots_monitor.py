"""Snapshots of the monitor at 80x24 and 160x48 on a fixed run directory.

The run is generated deterministically (seeded values, a synthetic clock) and the two host-dependent
sources are fixed through MonitorSettings: a StaticSystemSampler and a frozen clock. Regenerate with
`pytest tests/test_tui_snapshots_monitor.py --snapshot-update` after an intended change, and look at the
SVGs it writes before committing them.
"""

from __future__ import annotations

import pytest

from hrm_tui.bench.synthetic_run import SyntheticRun, write_run
from hrm_tui.screens.monitor import MonitorSettings
from hrm_tui.widgets.monitor.logs import LogsPanel
from hrm_tui.widgets.monitor.samples import SamplesPanel

from .tui_monitor_helpers import FIXED_SYSTEM, MonitorHost, StaticSystemSampler, wait_for

RUN = SyntheticRun(kind="sudoku", total_steps=2000, eval_interval=200, halting_interval=50, end_status=None)
WRITTEN_UP_TO = 1400


@pytest.fixture
def fixed_app(tmp_path):
    run_dir = tmp_path / "run_fixed"
    write_run(run_dir, RUN, last_step=WRITTEN_UP_TO)
    settings = MonitorSettings(
        metrics_refresh_s=0.05,
        system_refresh_s=3600,  # one reading, so the sparklines have a fixed length
        system_sampler=StaticSystemSampler(FIXED_SYSTEM),
        clock=lambda: RUN.time_at(WRITTEN_UP_TO) + 12,
    )
    return MonitorHost(run_dir, settings=settings)


async def settled(pilot) -> None:
    """Waits until every worker has delivered: curves, samples, system reading and logs."""
    screen = pilot.app.monitor
    samples = screen.query_one(SamplesPanel)
    await wait_for(pilot, lambda: screen.loaded_stage() == "exact", what="events")
    await wait_for(pilot, lambda: screen.system_snapshots >= 1 and screen.status is not None, what="system")
    await wait_for(pilot, lambda: samples._drawn is not None, what="samples")
    await wait_for(pilot, lambda: len(screen.query_one(LogsPanel)._order) >= 50, what="logs")
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_monitor_snapshot(snap_compare, fixed_app, size):
    assert snap_compare(fixed_app, terminal_size=size, run_before=settled)


def test_monitor_snapshot_maximised_samples(snap_compare, fixed_app):
    async def maximise_samples(pilot) -> None:
        await settled(pilot)
        await pilot.press("5", "m")
        await pilot.pause(0.2)

    assert snap_compare(fixed_app, terminal_size=(80, 24), run_before=maximise_samples)
