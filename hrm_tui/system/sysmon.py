"""GPU and host statistics for the monitor: NVML (nvidia-ml-py) for GPUs, psutil for the host and the run.

`LiveSystemSampler.sample(run_pid)` takes one reading. It is slow-ish (NVML calls, /proc reads), so the
monitor calls it from a background worker every couple of seconds, never on the UI thread.

Degrades field by field rather than failing:

- no NVIDIA driver or library, or no GPU: `SystemSnapshot.gpu_message` says so in one line, `gpus` is empty;
- an NVML query that raises (unsupported on this GPU, no permission): that one field is None, which the
  panel shows as `n/a`;
- the run's process gone or not readable: its figures are None.

`StaticSystemSampler` replays a fixed snapshot. It exists for reproducible screens (the snapshot tests,
screenshots for docs, a recorded demo): pass `MonitorSettings(system_sampler=StaticSystemSampler(...))`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import psutil

T = TypeVar("T")


@dataclass
class GpuProcess:
    pid: int
    used_memory: int | None  # bytes, None when NVML does not say


@dataclass
class GpuStats:
    """One GPU. Every measurement is None when NVML could not read it."""

    index: int
    name: str | None = None
    utilization_pct: float | None = None
    memory_used: int | None = None  # bytes
    memory_total: int | None = None  # bytes
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    run_processes: list[GpuProcess] = field(default_factory=list)  # the run's processes using this GPU


@dataclass
class HostStats:
    cpu_pct: float | None = None  # whole machine, 0-100
    cpu_count: int | None = None
    memory_used: int | None = None  # bytes
    memory_total: int | None = None
    run_cpu_pct: float | None = None  # the run's process tree; 100 = one core
    run_rss: int | None = None  # bytes, summed over the tree
    run_processes: int | None = None  # processes in the tree


@dataclass
class SystemSnapshot:
    gpus: list[GpuStats] = field(default_factory=list)
    gpu_message: str | None = None  # why there are no GPU figures, in one line
    host: HostStats = field(default_factory=HostStats)


class SystemSampler(Protocol):
    """Where the system panel's readings come from."""

    def sample(self, run_pid: int | None) -> SystemSnapshot: ...

    def close(self) -> None: ...


class StaticSystemSampler:
    """Always returns the same snapshot: for reproducible screens (snapshot tests, docs, demos)."""

    def __init__(self, snapshot: SystemSnapshot):
        self.snapshot = snapshot

    def sample(self, run_pid: int | None) -> SystemSnapshot:
        return self.snapshot

    def close(self) -> None:
        pass


class LiveSystemSampler:
    """Reads NVML and psutil. Create once and keep: psutil's CPU percentages are deltas between calls."""

    def __init__(self) -> None:
        self._nvml: Any = None  # the pynvml module once initialised
        self._nvml_message: str | None = None
        self._processes: dict[int, psutil.Process] = {}  # kept so cpu_percent() measures since last call
        # Processes seen for the first time in this reading: their first cpu_percent() is a meaningless 0.
        self._new_pids: set[int] = set()
        self._init_nvml()
        psutil.cpu_percent(interval=None)  # primes the host CPU delta

    def _init_nvml(self) -> None:
        try:
            import pynvml  # nvidia-ml-py
        except ImportError:
            self._nvml_message = "GPU stats unavailable: nvidia-ml-py is not installed"
            return
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:
            self._nvml_message = f"No NVIDIA driver here (NVML: {e}); GPU stats unavailable"
            return
        self._nvml = pynvml

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass
            self._nvml = None

    def sample(self, run_pid: int | None) -> SystemSnapshot:
        tree = self._process_tree(run_pid)
        snapshot = SystemSnapshot(host=self._host_stats(tree))
        if self._nvml is None:
            snapshot.gpu_message = self._nvml_message
            return snapshot
        count = self._query(self._nvml.nvmlDeviceGetCount)
        if not count:
            snapshot.gpu_message = "NVML reports no GPU on this machine"
            return snapshot
        pids = {p.pid for p in tree}
        snapshot.gpus = [self._gpu_stats(i, pids) for i in range(count)]
        return snapshot

    # -- GPUs --------------------------------------------------------------------------------------------

    def _query(self, fn: Callable[..., T], *args: Any) -> T | None:
        """One NVML call; None when this GPU or driver does not support it (the panel shows n/a)."""
        try:
            return fn(*args)
        except self._nvml.NVMLError:
            return None

    def _gpu_stats(self, index: int, run_pids: set[int]) -> GpuStats:
        nvml = self._nvml
        stats = GpuStats(index=index)
        handle = self._query(nvml.nvmlDeviceGetHandleByIndex, index)
        if handle is None:
            return stats
        name = self._query(nvml.nvmlDeviceGetName, handle)
        stats.name = name.decode() if isinstance(name, bytes) else name
        util = self._query(nvml.nvmlDeviceGetUtilizationRates, handle)
        stats.utilization_pct = None if util is None else float(util.gpu)
        memory = self._query(nvml.nvmlDeviceGetMemoryInfo, handle)
        if memory is not None:
            stats.memory_used, stats.memory_total = int(memory.used), int(memory.total)
        temperature = self._query(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
        stats.temperature_c = None if temperature is None else float(temperature)
        power = self._query(nvml.nvmlDeviceGetPowerUsage, handle)  # milliwatts
        stats.power_w = None if power is None else power / 1000.0
        limit = self._query(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        stats.power_limit_w = None if limit is None else limit / 1000.0
        running = self._query(nvml.nvmlDeviceGetComputeRunningProcesses, handle) or []
        stats.run_processes = [
            GpuProcess(pid=int(p.pid), used_memory=_nvml_bytes(getattr(p, "usedGpuMemory", None)))
            for p in running
            if int(p.pid) in run_pids
        ]
        return stats

    # -- host and the run's processes ---------------------------------------------------------------------

    def _process_tree(self, run_pid: int | None) -> list[psutil.Process]:
        """The run's process and its descendants (torchrun's workers), reusing Process objects across calls."""
        if run_pid is None:
            return []
        try:
            root = self._processes.get(run_pid) or psutil.Process(run_pid)
            if not root.is_running():
                return []
            members = [root, *root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return []
        known = {}
        for proc in members:
            known[proc.pid] = self._processes.get(proc.pid, proc)
        self._new_pids = set(known) - set(self._processes)
        self._processes = known
        return list(known.values())

    def _host_stats(self, tree: list[psutil.Process]) -> HostStats:
        memory = psutil.virtual_memory()
        host = HostStats(
            cpu_pct=psutil.cpu_percent(interval=None),
            cpu_count=psutil.cpu_count(),
            memory_used=int(memory.total - memory.available),
            memory_total=int(memory.total),
        )
        if tree:
            cpu, rss, alive = 0.0, 0, 0
            for proc in tree:
                try:
                    cpu += proc.cpu_percent(interval=None)
                    rss += proc.memory_info().rss
                    alive += 1
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            if alive:
                # A process read for the first time has no CPU figure yet (None: shown as "…" until the next).
                measured = not any(proc.pid in self._new_pids for proc in tree)
                host.run_cpu_pct, host.run_rss, host.run_processes = cpu if measured else None, rss, alive
        return host


def _nvml_bytes(value: Any) -> int | None:
    """NVML reports unknown per-process memory as a huge sentinel (NVML_VALUE_NOT_AVAILABLE)."""
    if value is None or value >= 2**63:
        return None
    return int(value)


def format_bytes(value: int | None) -> str:
    """1.5G, 300M, 12K; `n/a` for None."""
    if value is None:
        return "n/a"
    size = float(value)
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return f"{size:.0f}{unit}" if unit in ("B", "K") or size >= 100 else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}T"
