"""A real crash of hrm-tui (a bug) exits with status 1, prints one line naming the crash log, writes the
traceback there (in $XDG_STATE_HOME/hrm/), and leaves the runs it started alone.

The crash is planted by a small script that replaces one method of the real app with one that raises, then
runs the real command line (`hrm_tui.cli.main`): the app, its exception handling and its exit are the
installed ones.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from hrm_tui import crash
from hrm_tui.monitoring.event_loader import EventLoader
from hrm_tui.launch_plan import LaunchOptions, LaunchPlan
from hrm_tui.runs.launcher import start
from tests.pty_helpers import PtyApp
from tests.tui_monitor_helpers import MonitorHost, fast_settings, pilot_test, wait_for

CRASHING_APP = """\
import sys

from hrm_tui.screens import runs


def explode(self):
    raise RuntimeError("planted crash for the test")


runs.RunsScreen.{method} = explode  # a bug in the runs screen
from hrm_tui.cli import main

raise SystemExit(main(sys.argv[1:]))
"""

CRASH_LINE = re.compile(r"^hrm-tui: internal error \(RuntimeError: planted crash for the test\); the traceback is in (\S+)$")


def _start_a_run(run_dir: Path) -> psutil.Process:
    """A stand-in for a training run, started detached by the real launcher (launch.json and all)."""
    plan = LaunchPlan(argv=[sys.executable, "-c", "import time; time.sleep(300)"], env={}, run_dir=run_dir,
                      overrides=[], options=LaunchOptions(), cwd=run_dir.parent)
    record = start(plan)
    return psutil.Process(record.pid)


def _after_the_app(output: bytes) -> list[str]:
    """The lines printed after the app gave the terminal back (left the alternate screen)."""
    tail = output.rsplit(b"\x1b[?1049l", 1)[-1].decode("utf-8", errors="replace")
    tail = re.sub(r"\x1b\[[0-9;?<>=]*[A-Za-z~]|\x1b\][^\x07]*\x07", "", tail)
    return [line.strip() for line in tail.replace("\r", "\n").split("\n") if line.strip()]


def test_an_app_crash_exits_1_with_one_line_and_the_traceback_in_the_crash_log(tmp_path: Path):
    root = tmp_path / "checkpoints"
    run = _start_a_run(root / "Proj" / "live-run")
    started = run.create_time()
    script = tmp_path / "crashing_app.py"
    script.write_text(CRASHING_APP.format(method="on_mount"))
    state = tmp_path / "state"
    try:
        app = PtyApp([sys.executable, str(script), "--screen", "runs", "--runs-root", str(root)], cwd=tmp_path,
                     env={**os.environ, "XDG_STATE_HOME": str(state)})
        try:
            code = app.wait_exit(90)
        finally:
            app.close()
        assert code == 1
        lines = _after_the_app(app.output)
        assert len(lines) == 1, lines
        match = CRASH_LINE.match(lines[0])
        assert match, lines[0]
        log = Path(match.group(1))
        assert log.parent == state / "hrm" and log.name.startswith("crash-")
        text = log.read_text()
        assert "Traceback (most recent call last)" in text and "in explode" in text and "planted crash for the test" in text
        assert b"Traceback" not in app.output  # the terminal got the one line, not the traceback
        # The run the app could see was not touched: same process, still running.
        time.sleep(0.5)
        assert run.is_running() and run.create_time() == started and run.status() != psutil.STATUS_ZOMBIE
    finally:
        os.killpg(run.pid, signal.SIGKILL)


def test_a_crash_outside_the_app_is_reported_the_same_way(tmp_path: Path):
    script = tmp_path / "crashing_runs.py"
    script.write_text(CRASHING_APP.replace("from hrm_tui.screens import runs", "from hrm_tui.runs import discovery as runs")
                      .replace("runs.RunsScreen.{method} = explode", "runs.list_all_runs = explode"))
    state = tmp_path / "state"
    result = subprocess.run([sys.executable, str(script), "runs", "--runs-root", str(tmp_path)], capture_output=True, text=True,
                            env={**os.environ, "XDG_STATE_HOME": str(state)}, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    match = CRASH_LINE.match(line)
    assert match, line
    assert "in explode" in Path(match.group(1)).read_text()


def test_without_a_writable_state_directory_the_log_goes_to_the_temporary_directory(tmp_path: Path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the state directory would go")
    script = tmp_path / "crashing_runs.py"
    script.write_text(CRASHING_APP.replace("from hrm_tui.screens import runs", "from hrm_tui.runs import discovery as runs")
                      .replace("runs.RunsScreen.{method} = explode", "runs.list_all_runs = explode"))
    (tmp_path / "tmp").mkdir()
    result = subprocess.run([sys.executable, str(script), "runs", "--runs-root", str(tmp_path)], capture_output=True, text=True,
                            env={**os.environ, "XDG_STATE_HOME": str(blocked), "TMPDIR": str(tmp_path / "tmp")}, timeout=60)
    assert result.returncode == 1
    match = CRASH_LINE.match(result.stderr.strip())
    assert match, result.stderr
    assert Path(match.group(1)).parent == tmp_path / "tmp" / "hrm"


@pilot_test
async def test_a_failing_worker_is_reported_and_logged_and_the_app_goes_on(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(crash, "_log_path", None)  # this process's log: a fresh one in the state directory above

    def explode(self, on_stage=None):
        raise RuntimeError("planted worker bug")

    monkeypatch.setattr(EventLoader, "open", explode)
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: any("planted worker bug" in n.message for n in app._notifications), what="the report")
        [note] = [n for n in app._notifications if "planted worker bug" in n.message]
        [log] = (tmp_path / "state" / "hrm").glob("crash-*.log")
        assert str(log) in note.message and note.severity == "error"
        assert "worker '_follow_events' failed (the app went on)" in log.read_text() and "in explode" in log.read_text()
        assert app.screen is app.monitor and app.monitor.system_snapshots >= 0  # still there, still polling
