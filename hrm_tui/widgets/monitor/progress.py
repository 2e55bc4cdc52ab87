"""The progress panel: status, step out of total, epoch, elapsed time, throughput, ETA, the last checkpoint, and
how many lines of events.jsonl were skipped as not valid events (the alerts banner lists why).

The run's name and the checkpoint's path come from the run directory: they are drawn through `safe_text`.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.text import Text

from hrm_core.formatting import ETA_ESTIMATING, format_duration
from hrm_core.rundir.files import EVENTS_FILE
from hrm_core.rundir.metrics import metric_spec
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import shown_total_steps
from hrm_tui.monitoring.plot import compact_number
from hrm_tui.monitoring.run_model import RunSnapshot
from hrm_tui.widgets.monitor.panel import MonitorPanel, RunView
from hrm_tui.widgets.runs_table import truncate_left

STATUS_STYLES = {
    RunStatus.RUNNING: "bold green",
    RunStatus.STALLED: "bold yellow",
    RunStatus.FINISHED: "bold",
    RunStatus.FAILED: "bold red",
    RunStatus.STOPPED: "bold yellow",
    RunStatus.LOST: "bold red",
    RunStatus.QUEUED: "bold cyan",
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
        self.status: str | None = None  # from hrm_core.rundir.summarize_run, polled by the screen's worker
        self.job = ""  # a SLURM run's job (id, scheduler state, nodes or reason, source)
        self.snapshot = RunSnapshot(run.run_dir)  # the run as the screen last handed it over
        self._lines_drawn = 0

    def show_run(self, snapshot: RunSnapshot) -> None:
        self.snapshot = snapshot
        self.refresh()

    def set_status(self, status: str | None, job: str = "") -> None:
        """The run's status, and a SLURM run's job in a few words (runs_table.job_text; "" for other runs)."""
        if (status, job) != (self.status, self.job):
            self.status, self.job = status, job
            self.refresh()

    def render(self) -> RenderableType:
        run = self.snapshot
        width = max(self.content_size.width, 20)
        latest = run.latest_train
        step = max(run.latest_step, run.latest_train_step)
        total = shown_total_steps(final_step=run.start.final_step if run.start is not None else None,
                                  estimate=run.total_steps, end=run.ended)
        checkpoint = run.last_checkpoint
        start_time = run.start_time
        last_time = run.last_event_time
        ended = run.ended
        skipped = run.skipped_total

        status = self.status or ("loading" if run.loaded == "nothing" else "…")
        state = f"● {status}"
        where = ""
        if step >= 0:
            where += f"  step {step:,}" + (f" / {total:,}" if total else "")
        if latest is not None and latest.epoch is not None:
            where += f"  epoch {latest.epoch:.2f}"
        # The run's name gives way first (from its start: names differ at their end), so that the step,
        # the epoch and the status stay readable in 80 columns.
        label_width = width - len(state) - 2 - len(where)
        head = Text()
        head.append(state, style=STATUS_STYLES.get(status, "dim"))
        head.append(f"  {truncate_left(safe_text(self.run.label), max(label_width, 8))}", style="bold")
        head.append(where)
        bar_width = width - len(head.plain) - 8
        if total and step >= 0 and bar_width >= 10:
            fraction = min(max(step / total, 0.0), 1.0)
            filled = int(fraction * bar_width)
            head.append("  ")
            head.append("█" * filled, style="green")
            head.append("░" * (bar_width - filled), style="dim")
            head.append(f" {fraction:4.0%}")

        facts: list[tuple[str, str]] = [("SLURM job", self.job)] if self.job else []
        elapsed = latest.elapsed_s if latest is not None else None
        if ended is not None and ended.elapsed_s is not None:
            elapsed = ended.elapsed_s
        elif self.status in (RunStatus.RUNNING, RunStatus.STALLED) and start_time is not None:
            elapsed = self.clock() - start_time
        if elapsed is not None:
            facts.append(("elapsed", format_duration(elapsed)))
        if latest is not None and latest.examples_per_s is not None:
            tps = latest.tokens_per_s
            # Labelled as the metric table labels them (hrm_core.rundir.metrics: ex/s, tok/s).
            throughput = f"{compact_number(latest.examples_per_s)} {metric_spec('examples_per_s').label}"
            if tps is not None:
                throughput += f", {compact_number(tps)} {metric_spec('tokens_per_s').label}"
            facts.append(("throughput", throughput))
        eta = latest.eta_s if latest is not None else None
        if ended is None and self.status in (None, RunStatus.RUNNING):  # a lost or stalled run has no ETA
            # No number yet (null while the trainer's step rate settles, or no train event so far): say so.
            facts.append(("ETA", format_duration(eta) if eta is not None else ETA_ESTIMATING))
        if checkpoint is not None:
            age = f" ({format_duration(self.clock() - checkpoint.time)} ago)" if checkpoint.time is not None else ""
            facts.append(("checkpoint", f"{_short_path(checkpoint.path)}{age}"))
        if last_time is not None and ended is None:
            facts.append(("last event", f"{format_duration(self.clock() - last_time)} ago"))
        if skipped:
            facts.append(("skipped", f"{skipped:,} invalid line{'s' if skipped != 1 else ''} of {EVENTS_FILE}"))
        lines = [head, *_fact_lines(facts, width)]
        for line in lines:  # a line longer than the panel is cut, never wrapped mid-fact
            line.no_wrap, line.overflow = True, "ellipsis"
        if len(lines) != self._lines_drawn:  # the panel's height follows its lines: lay the screen out again
            self._lines_drawn = len(lines)
            self.call_later(self.refresh, layout=True)
        return Group(*lines)


def _fact_lines(facts: list[tuple[str, str]], width: int) -> list[Text]:
    """`label value` facts, three spaces apart, on as few lines as the width allows (a fact is never split)."""
    lines: list[Text] = []
    line = Text()
    for label, value in facts:
        fact = Text()
        fact.append(f"{label} ", style="dim")
        fact.append(value)
        if line.plain and len(line.plain) + 3 + len(fact.plain) > width:
            lines.append(line)
            line = Text()
        if line.plain:
            line.append("   ")
        line.append_text(fact)
    if line.plain or not lines:
        lines.append(line)
    return lines


def _short_path(path: str) -> str:
    """The last component of a path from the run directory, safe to draw."""
    name = safe_text(path).rstrip("/")
    return name.rsplit("/", 1)[-1] or "?"
