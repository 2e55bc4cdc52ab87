"""A stalled run (alive and beating, but no progress for longer than its stall_after_s) shows as stalled in
`hrm-tui runs` (plain and JSON), the runs screen (status column and detail line) and the monitor (progress
panel and an alert saying since when and in which phase)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from hrm_core.rundir.status import RunStatus
from hrm_tui.widgets.monitor.alerts import AlertBanner
from hrm_tui.widgets.monitor.progress import ProgressPanel
from tests.tui_launch_helpers import async_test, make_app, write_events
from tests.tui_monitor_helpers import MonitorHost, as_text, fast_settings, pilot_test, wait_for

STALL_AFTER_S = 60.0
STUCK_FOR_S = 600.0
STEP = 1200


def make_stalled_run(root: Path) -> Path:
    """A run whose process is alive (this test's own process, recorded as the launcher records one), which
    beats every few seconds, and whose last progress (an eval batch) is ten minutes old."""
    run_dir = root / "Sudoku ACT-torch" / "HierarchicalReasoningModel_ACTV1 frozen-rank"
    me = psutil.Process()
    now = time.time()
    run_dir.mkdir(parents=True)
    (run_dir / "launch.json").write_text(json.dumps({
        "pid": me.pid, "pgid": os.getpgid(me.pid), "create_time": me.create_time(), "cmdline": me.cmdline(),
        "host": socket.gethostname(), "time": now - 3600, "overrides": ["+experiment=demo"], "options": {}}))
    start = now - 3600
    write_events(run_dir, [
        {"type": "run_start", "time": start, "total_steps": 5000, "pid": me.pid, "host": socket.gethostname()},
        *[{"type": "train", "time": start + s, "step": s, "total_steps": 5000, "metrics": {"lm_loss": 1.0}} for s in range(0, STEP + 1, 100)],
        *[{"type": "heartbeat", "time": now - age, "step": STEP, "phase": "eval", "progress_time": now - STUCK_FOR_S,
           "stall_after_s": STALL_AFTER_S, "interval_s": 30.0} for age in (60.0, 30.0, 2.0)],
    ])
    return run_dir


def test_hrm_tui_runs_prints_stalled_with_since_when_and_where(tmp_path: Path):
    root = tmp_path / "checkpoints"
    make_stalled_run(root)
    env = {**os.environ, "TZ": "UTC"}
    plain = subprocess.run([sys.executable, "-m", "hrm_tui", "runs", "--runs-root", str(root)], env=env,
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    [row] = plain.stdout.splitlines()[1:]
    assert " stalled " in row and f"{STEP}/5000" in row
    assert "no progress for 10m 0" in row and f"in eval at step {STEP}" in row and f"stall_after_s={STALL_AFTER_S:g}" in row
    as_json = subprocess.run([sys.executable, "-m", "hrm_tui", "runs", "--json", "--runs-root", str(root)], env=env,
                             capture_output=True, text=True, timeout=120)
    [run] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert (run["status"], run["phase"], run["stall_after_s"], run["step"]) == ("stalled", "eval", STALL_AFTER_S, STEP)
    assert "no progress for 10m 0" in run["detail"]


@async_test
async def test_the_runs_screen_shows_a_stalled_run(tmp_path: Path):
    root = tmp_path / "checkpoints"
    run_dir = make_stalled_run(root)
    app = make_app(tmp_path, start_mode="runs", runs_root=root)
    async with app.run_test(size=(160, 30)) as pilot:
        table = app.runs_screen.table
        await wait_for(pilot, lambda: len(table.summaries) == 1, what="the run")
        await pilot.pause(0.1)
        assert table.selected.path == run_dir and table.selected.status is RunStatus.STALLED
        status_cell = table.get_row_at(0)[2]
        assert status_cell.plain == "◌ stalled"
        detail = as_text(app.runs_screen.query_one("#run-detail").content)
        assert "stalled: no progress for 10m 0" in detail and f"in eval at step {STEP}" in detail


@pilot_test
async def test_the_monitor_shows_a_stalled_run_with_an_alert(tmp_path: Path):
    run_dir = make_stalled_run(tmp_path / "checkpoints")
    app = MonitorHost(run_dir, settings=fast_settings(clock=time.time))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.monitor
        banner = screen.query_one(AlertBanner)
        await wait_for(pilot, lambda: screen.status == RunStatus.STALLED and "stalled" in [a.key for a in banner.alerts],
                       what="stalled")
        await pilot.pause(0.2)
        assert "● stalled" in as_text(screen.query_one(ProgressPanel).render())
        [alert] = [a for a in banner.alerts if a.key == "stalled"]
        assert alert.title.startswith("Run stalled: no progress for 10m 0")
        assert f"in eval at step {STEP}" in alert.title and f"stall_after_s={STALL_AFTER_S:g}" in alert.title
        assert "Run stalled" in as_text(banner.render())
