"""Helpers shared by the monitor's Pilot and snapshot tests: a host app and waiting on the screen."""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.console import Console, RenderableType
from textual.app import App
from textual.pilot import Pilot

from hrm_core.rundir.events import Event
from hrm_core.rundir.writer import EventWriter
from hrm_tui.system.sysmon import GpuProcess, GpuStats, HostStats, StaticSystemSampler, SystemSnapshot
from hrm_tui.screens.monitor import MonitorScreen, MonitorSettings

# A fixed reading: one GPU whose power limit NVML could not read (shown as n/a), and fixed host figures.
FIXED_SYSTEM = SystemSnapshot(
    gpus=[GpuStats(index=0, name="NVIDIA H100 80GB HBM3", utilization_pct=97.0, memory_used=61 * 1024**3,
                   memory_total=80 * 1024**3, temperature_c=64.0, power_w=612.0, power_limit_w=None,
                   run_processes=[GpuProcess(pid=4242, used_memory=60 * 1024**3)])],
    host=HostStats(cpu_pct=23.0, cpu_count=64, memory_used=40 * 1024**3, memory_total=512 * 1024**3,
                   run_cpu_pct=180.0, run_rss=5 * 1024**3, run_processes=3),
)


class MonitorHost(App):
    """The smallest app that shows the monitor, so these tests do not depend on the launcher's app."""

    def __init__(self, run_dir: Path, compare: list[Path] = (), settings: MonitorSettings | None = None):
        super().__init__()
        self.monitor = MonitorScreen(run_dir, compare, settings=settings)

    def on_mount(self) -> None:
        self.push_screen(self.monitor)


def pilot_test(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Runs an async Pilot test in its own event loop (no pytest async plugin needed); fixtures still work."""

    @functools.wraps(test)
    def run(*args, **kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


def fast_settings(**overrides) -> MonitorSettings:
    """Polls often (tests wait on it) and reads a fixed system snapshot unless told otherwise."""
    values = dict(metrics_refresh_s=0.05, system_refresh_s=0.05, system_sampler=StaticSystemSampler(FIXED_SYSTEM))
    values.update(overrides)
    return MonitorSettings(**values)


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    waited = 0.0
    while not condition():
        if waited > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)
        waited += 0.05


def as_text(renderable: RenderableType, width: int = 200) -> str:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def emit(writer: EventWriter, event: Event) -> None:
    """Writes a generated event through the trainer's own writer (keeping its synthetic time)."""
    writer.write(event)
