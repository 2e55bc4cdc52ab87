"""The progress panel: status, step out of total, epoch, elapsed time, throughput, ETA and the last checkpoint."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.text import Text

from hrm_core.formatting import format_duration
from hrm_tui.components.plot import compact_number
from hrm_tui.widgets.monitor_panel import MonitorPanel, RunView

STATUS_STYLES = {
    "running": "bold green",
    "finished": "bold",
    "failed": "bold red",
    "stopped": "bold yellow",
    "lost": "bold red",
}


class ProgressPanel(MonitorPanel):
    PANEL_ID = "progress"
    PANEL_TITLE = "Progress"
    PANEL_KEY = "2"

    DEFAULT_CSS = """
    ProgressPanel { height: auto; }
    """

    def __init__(self, run: RunView, clock: Callable[[], float]):
        super().__init__()
        self.run = run
        self.clock = clock
        self.status: str | None = None  # from hrm_tui.runs.summarize_run, polled by the screen's worker

    def set_status(self, status: str | None) -> None:
        if status != self.status:
            self.status = status
            self.refresh()

    def render(self) -> RenderableType:
        model = self.run.model
        width = max(self.content_size.width, 20)
        with model.lock:
            latest = model.latest_train or {}
            step = max(model.latest_step, model.latest_train_step)
            total = model.total_steps
            checkpoint = model.last_checkpoint
            start_time = (model.first_start or model.start or {}).get("time")
            last_time = model.last_event_time
            ended = model.lifecycle.ended

        status = self.status or ("loading" if model.loaded == "nothing" else "…")
        head = Text()
        head.append(f"● {status}", style=STATUS_STYLES.get(status, "dim"))
        head.append(f"  {self.run.label}", style="bold")
        if step >= 0:
            head.append(f"  step {step:,}" + (f" / {total:,}" if total else ""))
        if isinstance(latest.get("epoch"), (int, float)):
            head.append(f"  epoch {latest['epoch']:.2f}")
        bar_width = width - len(head.plain) - 8
        if total and step >= 0 and bar_width >= 10:
            fraction = min(max(step / total, 0.0), 1.0)
            filled = int(fraction * bar_width)
            head.append("  ")
            head.append("█" * filled, style="green")
            head.append("░" * (bar_width - filled), style="dim")
            head.append(f" {fraction:4.0%}")

        facts = Text(style="")
        elapsed = latest.get("elapsed_s")
        if ended is not None and isinstance(ended.get("elapsed_s"), (int, float)):
            elapsed = ended["elapsed_s"]
        elif self.status == "running" and isinstance(start_time, (int, float)):
            elapsed = self.clock() - start_time
        _fact(facts, "elapsed", format_duration(elapsed) if isinstance(elapsed, (int, float)) else None)
        eps, tps = latest.get("examples_per_s"), latest.get("tokens_per_s")
        _fact(facts, "throughput", f"{compact_number(eps)} ex/s" + (f", {compact_number(tps)} tok/s" if isinstance(tps, (int, float)) else "") if isinstance(eps, (int, float)) else None)
        eta = latest.get("eta_s")
        if ended is None and isinstance(eta, (int, float)):
            _fact(facts, "ETA", format_duration(eta))
        if checkpoint:
            age = f" ({format_duration(self.clock() - checkpoint['time'])} ago)" if isinstance(checkpoint.get("time"), (int, float)) else ""
            _fact(facts, "checkpoint", f"{_short_path(checkpoint.get('path'))}{age}")
        if last_time is not None and ended is None:
            _fact(facts, "last event", f"{format_duration(self.clock() - last_time)} ago")
        for line in (head, facts):  # two lines at most, whatever the width: it sits above everything else
            line.no_wrap, line.overflow = True, "ellipsis"
        return Group(head, facts)


def _fact(text: Text, label: str, value: str | None) -> None:
    if value is None:
        return
    if text.plain:
        text.append("   ")
    text.append(f"{label} ", style="dim")
    text.append(value)


def _short_path(path: object) -> str:
    name = str(path or "?").rstrip("/")
    return name.rsplit("/", 1)[-1]
