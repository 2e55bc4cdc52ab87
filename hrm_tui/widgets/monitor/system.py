"""The GPU and host panel: per-GPU utilisation, memory, temperature, power and the run's processes, and the
host's and the run's CPU and memory, each with a short history sparkline.

Readings come from `system.sysmon` in a background worker (`update_snapshot` is called with each one);
a field NVML could not read shows `n/a`, and a machine without NVIDIA driver shows one line saying so.
Each line is made of fields (`mem 61.0G/80.0G ▆▆▆`, `rss 355M (1 process)`) that a narrow panel moves whole
onto an indented next line, never splitting one.
"""

from __future__ import annotations

from collections import deque

from rich.console import Group, RenderableType
from rich.text import Text

from hrm_tui.monitoring.plot import sparkline
from hrm_tui.system.sysmon import GpuStats, SystemSnapshot, format_bytes
from hrm_tui.widgets.monitor.panel import MonitorPanel

HISTORY = 60  # readings kept per sparkline (two minutes at the default 2 s)
NA = "n/a"
MEASURING = "…"  # the run's CPU before its second reading: the first is no measurement
FIELD_GAP = "  "
CONTINUATION_INDENT = 6


class SystemPanel(MonitorPanel):
    PANEL_ID = "system"
    PANEL_TITLE = "GPU / host"
    PANEL_KEY = "3"

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: SystemSnapshot | None = None
        self.gpu_util: dict[int, deque] = {}
        self.gpu_memory: dict[int, deque] = {}
        self.host_cpu: deque = deque(maxlen=HISTORY)
        self.run_cpu: deque = deque(maxlen=HISTORY)

    def update_snapshot(self, snapshot: SystemSnapshot) -> None:
        self.snapshot = snapshot
        for gpu in snapshot.gpus:
            self.gpu_util.setdefault(gpu.index, deque(maxlen=HISTORY)).append(gpu.utilization_pct)
            fraction = gpu.memory_used / gpu.memory_total if gpu.memory_used is not None and gpu.memory_total else None
            self.gpu_memory.setdefault(gpu.index, deque(maxlen=HISTORY)).append(fraction)
        self.host_cpu.append(snapshot.host.cpu_pct)
        self.run_cpu.append(snapshot.host.run_cpu_pct)
        self.refresh(layout=True)  # the number of lines depends on the GPUs found

    def render(self) -> RenderableType:
        snapshot = self.snapshot
        if snapshot is None:
            return Text("reading…", style="dim")
        width = max(self.content_size.width, 20)
        spark = max(4, min(24, width // 5))
        lines: list[Text] = []
        if snapshot.gpu_message:
            lines.append(Text(snapshot.gpu_message, style="dim"))
        for gpu in snapshot.gpus:
            for fields in self._gpu_fields(gpu, spark):
                lines += _flow(fields, width)
        for fields in self._host_fields(snapshot, spark):
            lines += _flow(fields, width)
        return Group(*lines)

    def _gpu_fields(self, gpu: GpuStats, spark: int) -> list[list[Text]]:
        name = Text()
        name.append(f"GPU{gpu.index}", style="bold")
        name.append(f" {_short_gpu_name(gpu.name)}", style="dim")
        util = Text(f"util {_pct(gpu.utilization_pct)} ")
        util.append(sparkline(list(self.gpu_util.get(gpu.index, [])), spark, 0, 100), style="green")
        memory = Text(f"mem {format_bytes(gpu.memory_used) if gpu.memory_used is not None else NA}/{format_bytes(gpu.memory_total) if gpu.memory_total is not None else NA} ")
        memory.append(sparkline(list(self.gpu_memory.get(gpu.index, [])), spark, 0, 1), style="magenta")
        power = NA if gpu.power_w is None else f"{gpu.power_w:.0f}W"
        limit = NA if gpu.power_limit_w is None else f"{gpu.power_limit_w:.0f}W"
        detail = [Text(" " * CONTINUATION_INDENT + f"temp {f'{gpu.temperature_c:.0f}°C' if gpu.temperature_c is not None else NA}"),
                  Text(f"power {power}/{limit}")]
        if gpu.run_processes:
            pids = ", ".join(f"{p.pid}" + (f" {format_bytes(p.used_memory)}" if p.used_memory is not None else "") for p in gpu.run_processes)
            detail.append(Text(f"run pids {pids}", style="cyan"))
        else:
            detail.append(Text("no run process", style="dim"))
        return [[name, util, memory], detail]

    def _host_fields(self, snapshot: SystemSnapshot, spark: int) -> list[list[Text]]:
        host = snapshot.host
        cores = f" of {host.cpu_count}" if host.cpu_count else ""
        cpu = Text(f"cpu {_pct(host.cpu_pct)}{cores} ")
        cpu.append(sparkline(list(self.host_cpu), spark, 0, 100), style="green")
        host_line = [Text("host", style="bold"), cpu, Text(f"mem {format_bytes(host.memory_used)}/{format_bytes(host.memory_total)}")]
        run_line = [Text("run ", style="bold")]
        if host.run_processes:
            shown = MEASURING if host.run_cpu_pct is None else _pct(host.run_cpu_pct)
            run_cpu = Text(f"cpu {shown:>4} ")
            run_cpu.append(sparkline(list(self.run_cpu), spark, 0, max([100.0, *(v for v in self.run_cpu if v is not None)])), style="green")
            processes = f"{host.run_processes} process{'es' if host.run_processes > 1 else ''}"
            run_line += [run_cpu, Text(f"rss {format_bytes(host.run_rss)} ({processes})")]
        else:
            run_line.append(Text("no live process on this host", style="dim"))
        return [host_line, run_line]


def _flow(fields: list[Text], width: int) -> list[Text]:
    """The fields on one line, two blanks apart; those that do not fit go whole onto indented next lines (a
    field wider than the panel alone is cut, at its end)."""
    lines = [Text()]
    for field in fields:
        line = lines[-1]
        gap = FIELD_GAP if line.cell_len else ""
        if line.cell_len and line.cell_len + len(gap) + field.cell_len > width:
            lines.append(Text(" " * CONTINUATION_INDENT))
            line, gap = lines[-1], ""
        line.append(gap)
        line.append_text(field)
    for line in lines:
        line.truncate(width, overflow="ellipsis")
    return lines


def _pct(value: float | None) -> str:
    return NA if value is None else f"{value:3.0f}%"


def _short_gpu_name(name: str | None) -> str:
    if not name:
        return NA
    return name.replace("NVIDIA ", "").replace("GeForce ", "")
