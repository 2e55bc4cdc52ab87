"""End to end, in a real pseudo-terminal: launch two real runs with `hrm-tui launch`, compare them with
`hrm-tui attach A B` (one monitor, both runs' curves overlaid and labelled apart, their config diff), and
`q` quits, as the docs say."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from hrm_core.rundir.files import EVENTS_FILE
from tests.pty_helpers import PtyApp
from tests.training_helpers import TINY_ARCH, write_tiny_dataset
from tests.tui_launch_helpers import stop_runs_left_running


def hrm_tui(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hrm_tui", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def wait_until_ended(run_dir: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = run_dir / EVENTS_FILE
        if events.exists() and b'"run_end"' in events.read_bytes():
            return
        time.sleep(0.5)
    raise AssertionError(f"{run_dir.name} did not end in {timeout_s:.0f}s: {(run_dir / 'stderr.log').read_text()[-2000:]}")


def test_launch_then_attach_two_runs_overlaid_then_q_quits(tmp_path: Path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}  # the crash log, if any, stays here
    write_tiny_dataset(tmp_path / "data")
    runs = {"alpha": "1e-3", "beta": "3e-3"}
    try:
        for name, lr in runs.items():
            overrides = ["data_path=data", f"checkpoint_path=runs/cmp {name}", *TINY_ARCH, "global_batch_size=8",
                         "epochs=4", "eval_interval=2", f"lr={lr}", "log_interval=1"]
            launched = hrm_tui("launch", *overrides, "--omp-num-threads", "1", "--no-compile", cwd=tmp_path, env=env)
            assert launched.returncode == 0, launched.stderr
            assert f"run directory: {tmp_path / 'runs' / f'cmp {name}'}" in launched.stdout
        for name in runs:
            wait_until_ended(tmp_path / "runs" / f"cmp {name}", 240)

        app = PtyApp([sys.executable, "-m", "hrm_tui", "attach", "runs/cmp alpha", "runs/cmp beta"], cwd=tmp_path, env=env)
        try:
            # The legend names each run by what tells it apart ("cmp " is common to both): "alpha train".
            app.wait_for(b"alpha train", 90, "the first run in the legend")
            app.wait_for(b"beta train", 30, "the second run in the legend")
            app.press("d")  # the config diff: the learning rate (and the runs' names) differ
            app.wait_for(b"keys differ between 2 runs", 30, "the config diff")
            app.press("q")  # back to the monitor
            app.press("q")  # an attached monitor is the app's only screen: q quits
            code = app.wait_exit(30)
        finally:
            app.close()
        assert code == 0, app.output[-3000:]
        crash_logs = list((tmp_path / "state" / "hrm").glob("crash-*.log"))
        assert not crash_logs, crash_logs[0].read_text()[-3000:] if crash_logs else ""  # no crash, no worker error
        assert len(list((tmp_path / "state" / "hrm" / "runs").glob("*.json"))) == 2  # both runs in the index
    finally:
        stop_runs_left_running(tmp_path / "runs")
