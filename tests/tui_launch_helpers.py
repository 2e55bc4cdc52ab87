"""Helpers for the launcher's tests: running Pilot scenarios, a configured app, and a fixed runs root.

`make_fixture_runs` writes six run directories (one per status, plus one that died before it started)
with fixed names and times; with the fixed clock `NOW` and TZ=UTC, the runs screen renders the same every
time, which the snapshot tests rely on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import psutil

from hrm_tui.app import HrmTuiApp
from hrm_tui.context import AppContext
from hrm_tui.system.gpus import GpuScan

NO_GPU = GpuScan(message="no NVIDIA driver (test)")
RUN_NAME = "HierarchicalReasoningModel_ACTV1 test-run"


def async_test(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Runs an async test function in its own event loop (no pytest asyncio plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


CONTEXT_FIELDS = {f.name for f in dataclasses.fields(AppContext)}


def make_app(tmp_path: Path, **kwargs: Any) -> HrmTuiApp:
    """An app with a runs root in tmp, no NVML scan, a fixed name for the next run, no auto refresh.

    Keyword arguments that name an `AppContext` field (runs_root, clock, config_tree, ...) go into the
    context; the others (preset, start_mode, attach, ...) to the app."""
    kwargs.setdefault("preset", None)
    settings: dict[str, Any] = {"refresh_runs": False, "runs_root": tmp_path / "checkpoints", "gpu_scan": NO_GPU,
                                "make_run_name": lambda arch: RUN_NAME}
    settings.update({k: kwargs.pop(k) for k in list(kwargs) if k in CONTEXT_FIELDS})
    return HrmTuiApp(AppContext(**settings), **kwargs)


async def settle(pilot: Any, screen: Any, timeout_s: float = 60.0) -> None:
    """Waits until the launch form is loaded and the trainer has checked its current values."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        await pilot.pause(0.02)
        if screen.settled:
            await pilot.pause()
            return
    raise AssertionError("the launch form did not settle")


async def wait_for(pilot: Any, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


T0 = 1735725600.0  # 2025-01-01 10:00 UTC
NOW = T0 + 2 * 3600  # the fixed clock of the snapshot tests
PROJECT = "Demo-sudoku-4x4 ACT-torch"


def write_events(run_dir: Path, events: list[dict]) -> None:
    """Writes events with fixed times (EventWriter stamps the wall clock, so lines are written directly)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as f:
        for event in events:
            f.write(json.dumps({"v": 1, **event}) + "\n")


def training(start: float, steps: range, total: int) -> list[dict]:
    return [{"type": "train", "time": start + 10 * s, "step": s, "epoch": s / 31, "total_steps": total, "metrics": {}} for s in steps]


def start_event(time_: float, overrides: list[str], total: int) -> dict:
    return {"type": "run_start", "time": time_, "total_steps": total, "overrides": overrides, "host": socket.gethostname(), "pid": 1}


def write_launch(run_dir: Path, *, pid: int, create_time: float, cmdline: list[str], overrides: list[str], time_: float) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "pid": pid,
        "pgid": pid,
        "create_time": create_time,
        "cmdline": cmdline,
        "host": socket.gethostname(),
        "argv": cmdline,
        "env": {},
        "cwd": str(run_dir),
        "time": time_,
        "overrides": overrides,
        "options": {},
    }
    (run_dir / "launch.json").write_text(json.dumps(record))


def make_fixture_runs(root: Path) -> dict[str, Path]:
    """Six runs, one per status (and one that died before it started), with fixed names and times."""
    project = root / PROJECT
    demo = ["+experiment=demo"]
    runs = {}

    runs["finished"] = project / "HierarchicalReasoningModel_ACTV1 brave-otter"
    write_events(runs["finished"], [start_event(T0, demo, 1875), *training(T0, range(0, 1876, 625), 1875)])
    write_events(runs["finished"], [{"type": "run_end", "time": T0 + 1900, "step": 1875, "status": "finished"}])

    runs["failed"] = project / "HierarchicalReasoningModel_ACTV1 calm-heron"
    write_events(runs["failed"], [start_event(T0 + 600, demo + ["lr=1"], 1875), *training(T0 + 600, range(0, 40, 10), 1875)])
    error = "Traceback (most recent call last):\n  ...\nRuntimeError: loss is nan at step 31"
    write_events(runs["failed"], [{"type": "run_end", "time": T0 + 1000, "step": 31, "status": "failed", "error": error}])

    runs["stopped"] = root / "Sudoku-extreme-1k-aug-1000 ACT-torch" / "HierarchicalReasoningModel_ACTV1 keen-lynx"
    sudoku = ["+experiment=sudoku_extreme_1k", "lr=7e-5"]
    write_events(runs["stopped"], [start_event(T0 + 1200, sudoku, 52080), *training(T0 + 1200, range(0, 3001, 1000), 52080)])
    write_events(runs["stopped"], [{"type": "run_end", "time": T0 + 3000, "step": 3000, "status": "stopped"}])

    # Lost: no run_end, and the recorded process is not alive (pid 1 is alive, but started at another time).
    runs["lost"] = project / "HierarchicalReasoningModel_ACTV1 quiet-moose"
    write_launch(runs["lost"], pid=1, create_time=1.0, cmdline=["python", "-m", "hrm_core.pretrain"], overrides=demo, time_=T0 + 1800)
    write_events(runs["lost"], [start_event(T0 + 1800, demo, 1875), *training(T0 + 1800, range(0, 501, 250), 1875)])

    # Running: the recorded process is this test process itself, which is certainly alive.
    me = psutil.Process()
    runs["running"] = project / "HierarchicalReasoningModel_ACTV1 swift-seal"
    write_launch(runs["running"], pid=me.pid, create_time=me.create_time(), cmdline=me.cmdline(), overrides=demo + ["arch.hidden_size=128"], time_=T0 + 5400)
    write_events(runs["running"], [start_event(T0 + 5400, demo + ["arch.hidden_size=128"], 1875), *training(T0 + 5400, range(0, 1201, 400), 1875)])
    write_events(runs["running"], [{"type": "heartbeat", "time": NOW - 3, "step": 1200}])

    # Died before logging anything: a launch record, an error on stderr, no process.
    runs["crashed"] = project / "HierarchicalReasoningModel_ACTV1 tidy-wombat"
    write_launch(runs["crashed"], pid=1, create_time=2.0, cmdline=["python", "-m", "hrm_core.pretrain"], overrides=demo, time_=T0 + 300)
    (runs["crashed"] / "stderr.log").write_text("config error: unknown key `lrr`\n  hint: did you mean `lr`?\n")
    return runs




def notifications(app: Any) -> list[str]:
    """The messages of the notifications on screen now (Textual keeps them in `App._notifications`)."""
    return [n.message for n in app._notifications]


async def scroll_with_the_wheel(pilot: Any, widget: Any, times: int, *, down: bool = True) -> None:
    """Mouse-wheel events over `widget`, through the same path the terminal driver's events take."""
    from textual import events

    for _ in range(times):
        await pilot._post_mouse_events([events.MouseScrollDown if down else events.MouseScrollUp], widget, offset=(2, 2))


def stop_runs_left_running(runs_root: Path) -> None:
    """Stops (by their recorded identity) the runs under `runs_root` still alive: a failing test must not
    leave a trainer running."""
    from hrm_tui.runs.discovery import find_run_dirs
    from hrm_tui.runs.process_control import find_run_process, stop_run

    for run_dir in find_run_dirs(runs_root) if runs_root.exists() else []:
        if find_run_process(run_dir) is not None:
            stop_run(run_dir, grace_s=20, kill_after_s=5)


async def build_dataset_from_the_form(pilot: Any, app: Any, folder: str, tmp_path: Path) -> None:
    """ctrl+b on the form: the builder dialog names `folder`, ctrl+b builds it, and it succeeds."""
    await pilot.press("ctrl+b")
    await pilot.pause()
    dialog = app.screen
    assert dialog.__class__.__name__ == "DatasetBuildScreen"
    assert dialog.argv[-2:] == ["--output-dir", folder]
    await pilot.press("ctrl+b")  # build
    for _ in range(300):
        await pilot.pause(0.05)
        if dialog._succeeded:
            break
    assert dialog._succeeded, (tmp_path / f"{folder}.build.log").read_text()
