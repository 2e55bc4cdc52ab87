"""Snapshots of comparing runs: the runs list with marked runs and a filter, a monitor overlaying two runs
(80x24 and 160x48), and their config diff. Fixed runs, a fixed clock and a fixed system reading, as in the
other snapshot tests; regenerate with --snapshot-update after an intended change and look at the SVGs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hrm_tui.bench.synthetic_run import SyntheticRun, write_run
from hrm_tui.screens.config_diff import ConfigDiffScreen
from hrm_tui.screens.monitor import MonitorSettings
from tests.test_tui_snapshots_launch import fixed_environment, runs_app, runs_ready  # noqa: F401 (an autouse fixture)
from tests.tui_launch_helpers import wait_for
from tests.tui_monitor_helpers import FIXED_SYSTEM, MonitorHost, StaticSystemSampler

ARCH = "HierarchicalReasoningModel_ACTV1"
RUNS = {
    "brave-otter": SyntheticRun(kind="sudoku", total_steps=2000, eval_interval=200, halting_interval=50, end_status=None, seed=0),
    # Twice as long a schedule: its curves fall more slowly, so the two runs do not draw over each other.
    "calm-heron": SyntheticRun(kind="sudoku", total_steps=4000, eval_interval=200, halting_interval=50, end_status=None, seed=1),
}
WRITTEN_UP_TO = 1400


@pytest.fixture
def compared_app(tmp_path: Path) -> MonitorHost:
    dirs = []
    for name, run in RUNS.items():
        run_dir = tmp_path / "Sudoku ACT-torch" / f"{ARCH} {name}"
        write_run(run_dir, run, last_step=WRITTEN_UP_TO)
        dirs.append(run_dir)
    settings = MonitorSettings(metrics_refresh_s=0.05, system_refresh_s=3600, system_sampler=StaticSystemSampler(FIXED_SYSTEM),
                               clock=lambda: RUNS["brave-otter"].time_at(WRITTEN_UP_TO) + 12)
    return MonitorHost(dirs[0], dirs[1:], settings=settings)


async def compared_ready(pilot) -> None:
    screen = pilot.app.monitor
    await wait_for(pilot, lambda: screen.loaded_stage() == "exact", 20, "both runs' events")
    await wait_for(pilot, lambda: screen.system_snapshots >= 1 and screen.status is not None, 20, "the system reading")
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_compared_monitor(snap_compare, compared_app, size):
    """Two runs named alike: the legend labels them brave-otter and calm-heron, a colour each."""
    assert snap_compare(compared_app, terminal_size=size, run_before=compared_ready)


def test_runs_list_with_marked_runs_and_a_filter(snap_compare, tmp_path: Path):
    async def mark_and_filter(pilot) -> None:
        await runs_ready(pilot)
        await pilot.press("greater_than_sign", "space", "space", "slash", *"demo", "enter")
        await pilot.pause()

    assert snap_compare(runs_app(tmp_path), terminal_size=(80, 24), run_before=mark_and_filter)


def test_config_diff(snap_compare, tmp_path: Path):
    app = runs_app(tmp_path)
    project = tmp_path / "checkpoints" / "Demo-sudoku-4x4 ACT-torch"
    for name, lr, hidden in (("brave-otter", 1e-4, 512), ("calm-heron", 1.0, 256)):
        config = {"lr": lr, "arch": {"name": ARCH, "hidden_size": hidden, "H_cycles": 2}, "run_name": f"{ARCH} {name}"}
        (project / f"{ARCH} {name}" / "all_config.yaml").write_text(yaml.safe_dump(config))

    async def diff(pilot) -> None:
        await runs_ready(pilot)
        screen = pilot.app.runs_screen
        for name in ("brave-otter", "calm-heron"):
            screen.table.move_cursor(row=next(i for i, s in enumerate(screen.table.summaries) if s.path.name.endswith(name)))
            await pilot.press("space")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfigDiffScreen) and pilot.app.screen.configs is not None, 10, "the diff")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=diff)
