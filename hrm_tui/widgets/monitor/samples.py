"""The sample predictions panel: the eval samples of `events.jsonl`, drawn by hrm_core.data.render.

`←` `→` page through an eval's samples, `[` `]` through the evals (in time), `f` follows the newest eval
again. The header names the puzzle and gives q_halt, the ACT steps taken and whether it is exact.

`samples` events can be large (ARC: 3 x 900 tokens per sample), so the model only indexes them; this panel
asks the screen (`LoadRequested`) to read the one it shows in a worker, and draws it when it arrives. A line
that turns out not to be a valid samples event is dropped from the index (the loader counts it as skipped).

Names and set names come from the run directory and are drawn through `safe_text`; a puzzle larger than
MAX_DRAWN_CELLS is described rather than drawn (the panel is drawn on the UI thread).
"""

from __future__ import annotations

from collections import OrderedDict

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from hrm_core.data.render import render_sample
from hrm_core.rundir.events import PuzzleDescription, Rejected, Sample, Samples
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.schema import to_json_value
from hrm_tui.monitoring.run_model import SampleRef
from hrm_tui.widgets.monitor.panel import MonitorPanel, RunView

CACHED_EVENTS = 4
MAX_DRAWN_CELLS = 128 * 128  # ARC and mazes are 30x30, Sudoku 9x9


class SamplesPanel(MonitorPanel):
    PANEL_ID = "samples"
    PANEL_TITLE = "Samples"
    PANEL_KEY = "5"

    BINDINGS = [
        Binding("left", "sample(-1)", "Prev sample"),
        Binding("right", "sample(1)", "Next sample"),
        Binding("left_square_bracket", "eval(-1)", "Prev eval"),
        Binding("right_square_bracket", "eval(1)", "Next eval"),
        Binding("f", "follow", "Newest eval"),
    ]
    DEFAULT_CSS = """
    SamplesPanel { layout: vertical; }
    SamplesPanel > #samples-header { height: auto; padding-left: 1; }
    SamplesPanel > VerticalScroll { height: 1fr; scrollbar-size-vertical: 1; }
    """

    class LoadRequested(Message):
        """Asks the screen to read a samples event in a worker and hand it to `show_event`."""

        def __init__(self, ref: SampleRef):
            super().__init__()
            self.ref = ref

    def __init__(self, run: RunView):
        super().__init__()
        self.run = run
        self.eval_index: int | None = None  # None: follow the newest eval
        self.sample_index = 0
        self._events: OrderedDict[int, Samples] = OrderedDict()  # offset -> event, a small cache
        self._requested: int | None = None
        self._drawn: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("no eval samples yet", style="dim"), id="samples-header")
        with VerticalScroll(can_focus=False):
            yield Static(id="samples-body")

    # -- state -----------------------------------------------------------------------------------------------

    def current_ref(self) -> tuple[SampleRef | None, int, int]:
        """(the shown eval's ref, its index, how many evals)."""
        with self.run.model.lock:
            refs = list(self.run.model.sample_refs)
        if not refs:
            return None, -1, 0
        index = len(refs) - 1 if self.eval_index is None else min(self.eval_index, len(refs) - 1)
        return refs[index], index, len(refs)

    def show_event(self, ref: SampleRef, event: Samples | Rejected) -> None:
        """Called by the screen with the samples event it read (or why the line is not one)."""
        if isinstance(event, Samples):
            self._events[ref.offset] = event
            while len(self._events) > CACHED_EVENTS:
                self._events.popitem(last=False)
        else:
            self.run.model.drop_sample_ref(ref)  # the next ref (or none) is shown instead
        if self._requested == ref.offset:
            self._requested = None
        self.update_view()

    def update_view(self) -> None:
        """Redraws if what should be shown changed, requesting a read when it is not loaded yet."""
        ref, index, count = self.current_ref()
        if ref is None:
            return
        event = self._events.get(ref.offset)
        if event is None:
            if self._requested != ref.offset:
                self._requested = ref.offset
                self.post_message(self.LoadRequested(ref))
            return
        self.sample_index = min(self.sample_index, max(len(event.samples) - 1, 0))
        key = (ref.offset, self.sample_index, count, self.eval_index is None)
        if key == self._drawn:
            return
        self._drawn = key
        header, body = self._draw(event, ref, index, count)
        self.query_one("#samples-header", Static).update(header)
        self.query_one("#samples-body", Static).update(body)

    # -- actions -------------------------------------------------------------------------------------------

    def action_sample(self, delta: int) -> None:
        self.sample_index = max(0, self.sample_index + delta)
        self.update_view()

    def action_eval(self, delta: int) -> None:
        _, index, count = self.current_ref()
        if count:
            target = min(max(index + delta, 0), count - 1)
            self.eval_index = None if target == count - 1 and delta > 0 else target
            self.update_view()

    def action_follow(self) -> None:
        self.eval_index = None
        self.update_view()

    # -- drawing -------------------------------------------------------------------------------------------

    def _draw(self, event: Samples, ref: SampleRef, index: int, count: int) -> tuple[RenderableType, RenderableType]:
        puzzle = event.puzzle or self.run.model.puzzle
        header = Text()
        header.append(f"eval {index + 1}/{count}", style="bold")
        header.append(f" · step {ref.step:,} · set {safe_text(event.set)}")
        if self.eval_index is None:
            header.append(" · following", style="dim")
        if not event.samples:
            return header, Text("this eval logged no samples", style="dim")
        sample = event.samples[self.sample_index]
        header.append(f"\nsample {self.sample_index + 1}/{len(event.samples)} ", style="bold")
        header.append(safe_text(sample.name), style="bold cyan")
        if sample.q_halt is not None:
            header.append(f" · q_halt {sample.q_halt:.2f}" + (f" (p {sample.q_halt_prob:.2f})" if sample.q_halt_prob is not None else ""))
        if sample.steps is not None:
            header.append(f" · {sample.steps} ACT steps")
        header.append(" · ")
        header.append("✓ exact" if sample.exact else "✗ not exact", style="bold green" if sample.exact else "bold red")
        return header, Group(_draw_sample(puzzle, sample))


def _draw_sample(puzzle: PuzzleDescription | None, sample: Sample) -> RenderableType:
    """The sample drawn as its puzzle, or a line saying why it cannot be (never raises)."""
    if puzzle is None:
        return Text("cannot draw this sample: the run logged no puzzle description", style="red")
    rows, cols = puzzle.grid_shape
    if rows * cols > MAX_DRAWN_CELLS:
        return Text(f"a {rows}x{cols} grid is too large to draw here (at most {MAX_DRAWN_CELLS:,} cells)", style="dim")
    try:
        return render_sample(to_json_value(puzzle), sample.input, sample.label, sample.prediction)
    except Exception as e:  # noqa: BLE001 - any inconsistency in logged data (lengths, shapes, values)
        return Text(f"cannot draw this sample: {safe_text(e)}", style="red")
