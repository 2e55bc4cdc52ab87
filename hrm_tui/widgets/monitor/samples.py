"""The sample predictions panel: the eval samples of `events.jsonl`, drawn by hrm_core.data.render.

As many samples as fit are shown side by side and in rows (small Sudoku boards several to a row, an ARC
task one at a time, for any puzzle kind and size): `←` `→` page through an eval's samples, `[` `]` through
the evals (in time), `f` follows the newest eval again. Each sample is titled with its puzzle's name,
whether it is exact, q_halt and the ACT steps taken (in the header when one sample fills the panel).

One sample is selected (the first of a page, or the one `↑` `↓` move to; its title is highlighted while
the panel has focus): enter replays it at the run's newest checkpoint. The panel asks the app for it with
`OpenReplay`; the app's worker loads the model and says so in one line when the run has no checkpoint yet.

`samples` events can be large (ARC: 3 x 900 tokens per sample), so the model only indexes them: the screen
hands this panel the index with each snapshot of the run (`show_run`); the panel asks the screen
(`LoadRequested`) to read the one it shows in a worker, and draws it when it arrives (`show_event`). A line
that turns out not to be a valid samples event is dropped from the index by that worker (the loader counts
it as skipped), and the panel gets the index without it before the answer.

Names and set names come from the run directory and are drawn through `safe_text`; a puzzle larger than
MAX_DRAWN_CELLS is described rather than drawn (the panel is drawn on the UI thread).
"""

from __future__ import annotations

from collections import OrderedDict

from rich.console import Group, RenderableType
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from hrm_core.data.render import render_sample
from hrm_core.rundir.events import PuzzleDescription, Rejected, Sample, Samples
from hrm_core.rundir.sanitize import safe_text
from hrm_core.checking import to_json_value
from hrm_core.solve.puzzles import Puzzle
from hrm_tui.messages import OpenReplay
from hrm_tui.monitoring.run_model import RunSnapshot, SampleRef
from hrm_tui.replay_loading import ReplaySource
from hrm_tui.widgets.monitor.panel import MonitorPanel

CACHED_EVENTS = 4
MAX_DRAWN_CELLS = 128 * 128  # ARC and mazes are 30x30, Sudoku 9x9
SAMPLE_GAP = 3  # blank columns between samples side by side (one blank line between rows)
MIN_TITLE_WIDTH = 24  # a sample narrower than this still gets a readable title
NATURAL_WIDTH = 1000  # wider than any drawn sample (3 x 30 ARC cells x 2 columns + gaps): nothing wraps
# The ways a sample is drawn, widest first, as (cell_width, short_titles): the first whose grids fit side by
# side is used, so that a narrow panel shows the prediction beside the input rather than below, out of view.
DRAWINGS = ((2, False), (2, True), (1, False), (1, True))


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
        Binding("up", "select(-1)", "Select previous", show=False),
        Binding("down", "select(1)", "Select next", show=False),
        Binding("enter", "replay", "Replay"),
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

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: RunSnapshot | None = None  # the run as the screen last handed it over
        self.eval_index: int | None = None  # None: follow the newest eval
        self.sample_index = 0  # the first sample of the page shown
        self.selected = 0  # the sample enter replays: on the page shown
        self._events: OrderedDict[int, Samples] = OrderedDict()  # offset -> event, a small cache
        self._requested: int | None = None
        self._drawn: tuple | None = None
        self.per_page = 1  # samples shown at once, from the last draw

    def compose(self) -> ComposeResult:
        yield Static(Text("no eval samples yet", style="dim"), id="samples-header")
        with VerticalScroll(can_focus=False):
            yield Static(id="samples-body")

    # -- state -----------------------------------------------------------------------------------------------

    def show_run(self, snapshot: RunSnapshot) -> None:
        self.snapshot = snapshot
        self.update_view()

    def current_ref(self) -> tuple[SampleRef | None, int, int]:
        """(the shown eval's ref, its index, how many evals)."""
        refs = self.snapshot.sample_refs if self.snapshot is not None else ()
        if not refs:
            return None, -1, 0
        index = len(refs) - 1 if self.eval_index is None else min(self.eval_index, len(refs) - 1)
        return refs[index], index, len(refs)

    def show_event(self, ref: SampleRef, event: Samples | Rejected) -> None:
        """Called by the screen with the samples event it read (or why the line is not one: then the index the
        panel holds no longer has it, and the next ref, or none, is shown instead)."""
        if isinstance(event, Samples):
            self._events[ref.offset] = event
            while len(self._events) > CACHED_EVENTS:
                self._events.popitem(last=False)
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
        area = self._body_area()
        key = (ref.offset, self.sample_index, self.selected, self.has_focus, count, self.eval_index is None, area)
        if key == self._drawn:
            return
        self._drawn = key
        header, body = self._draw(event, ref, index, count, area)
        self.query_one("#samples-header", Static).update(header)
        self.query_one("#samples-body", Static).update(body)

    # -- actions -------------------------------------------------------------------------------------------

    def on_resize(self) -> None:
        self.update_view()  # how many samples fit changed

    def _body_area(self) -> tuple[int, int]:
        """(columns, lines) the samples may take: the panel less its two header lines."""
        width, height = self.content_size
        return max(width - 1, 1), max(height - 2, 1)  # a column for the scroll bar

    def action_sample(self, delta: int) -> None:
        """A page of samples back or forward (one sample when one fills the panel); its first is selected."""
        self.sample_index = max(0, self.sample_index + delta * self.per_page)
        self.selected = self.sample_index
        self.update_view()

    def action_select(self, delta: int) -> None:
        """The previous or next sample; past the page's edge, the page moves with it."""
        self.selected = max(0, self.selected + delta)
        if self.selected < self.sample_index:
            self.sample_index = max(0, self.selected - self.per_page + 1)
        elif self.selected >= self.sample_index + self.per_page:
            self.sample_index = self.selected
        self.update_view()

    def action_replay(self) -> None:
        """The selected sample, replayed at the run's newest checkpoint (the app loads it in a worker)."""
        ref, _, _ = self.current_ref()
        event = self._events.get(ref.offset) if ref is not None else None
        if self.snapshot is None or event is None or not event.samples:
            self.notify("No sample to replay yet: samples come with the run's evaluations")
            return
        sample = event.samples[min(self.selected, len(event.samples) - 1)]
        # The tokens go as logged: the worker checks them against the checkpoint (length, vocabulary).
        puzzle = Puzzle(name=f"{sample.name} (eval at step {ref.step:,})", inputs=sample.input,  # type: ignore[arg-type]
                        labels=sample.label, puzzle_identifier=sample.puzzle_id)  # type: ignore[arg-type]
        self.post_message(OpenReplay(ReplaySource(str(self.snapshot.run_dir), puzzle=puzzle)))

    def on_focus(self) -> None:
        self.update_view()  # the selected sample is highlighted while the panel has focus

    def on_blur(self) -> None:
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

    def _draw(self, event: Samples, ref: SampleRef, index: int, count: int,
              area: tuple[int, int]) -> tuple[RenderableType, RenderableType]:
        puzzle = event.puzzle or (self.snapshot.puzzle if self.snapshot is not None else None)
        header = Text()
        header.append(f"eval {index + 1}/{count}", style="bold")
        header.append(f" · step {ref.step:,} · set {safe_text(event.set)}")
        if self.eval_index is None:
            header.append(" · following", style="dim")
        if not event.samples:
            return header, Text("this eval logged no samples", style="dim")
        first = self.sample_index
        # Several to a page when they fit, drawn with short titles (each sample's own title says exact or not).
        per_page, drawn, block_width, columns = self._page(puzzle, event.samples, first, area)
        self.per_page = per_page
        shown = event.samples[first:first + per_page]
        self.selected = min(max(self.selected, first), first + len(shown) - 1)
        if self.per_page == 1 or len(shown) == 1:
            sample = event.samples[first]
            header.append(f"\nsample {first + 1}/{len(event.samples)} ", style="bold")
            header.append_text(_sample_title(sample))
            return header, Group(self._fitting(puzzle, sample, area[0]))
        header.append(f"\nsamples {first + 1}-{first + len(shown)} of {len(event.samples)}", style="bold")
        header.append("  ← → page · ↑ ↓ select · enter replay" if self.has_focus else "  ← → page", style="dim")
        # The blocks share the whole width: a title is cut only where the row has no room left for it.
        block_width = max(block_width, (area[0] - SAMPLE_GAP * (columns - 1)) // columns)
        blocks = []
        for number, (sample, lines) in enumerate(zip(shown, drawn), start=first):
            title = _sample_title(sample)
            title.truncate(block_width, overflow="ellipsis")
            if number == self.selected and self.has_focus:
                title.stylize("reverse")
            blocks.append([title, *lines])
        return header, Group(*_tile(blocks, block_width, columns))

    def _page(self, puzzle: PuzzleDescription | None, samples: list[Sample], first: int,
              area: tuple[int, int]) -> tuple[int, list[list[Text]], int, int]:
        """(how many, their lines, the width of each, how many to a row) of the samples from `first` that fit.

        The count follows from the first sample's size; then every sample of the page must fit too (an ARC
        task's grids differ in size), so the page shrinks until the largest of them does."""
        width, height = area
        drawn: list[list[Text]] = []
        per_page, ceiling = 1, len(samples) - first
        while True:
            drawn += [self._rendered(puzzle, sample, width, short_titles=True)
                      for sample in samples[first + len(drawn):first + per_page]]
            block_width = max(MIN_TITLE_WIDTH, *(_lines_width(lines) for lines in drawn))
            block_height = max(len(lines) for lines in drawn) + 1  # and its title line
            columns = max(1, (width + SAMPLE_GAP) // (block_width + SAMPLE_GAP))
            fitting = columns * max(1, (height + 1) // (block_height + 1))
            if fitting < len(drawn):  # a larger sample came: fewer fit, and never more again
                ceiling = per_page = fitting
                drawn = drawn[:fitting]
                continue
            per_page = min(fitting, ceiling)
            if per_page == len(drawn):
                return per_page, drawn, block_width, min(columns, per_page)

    def _rendered(self, puzzle: PuzzleDescription | None, sample: Sample, width: int, *,
                  short_titles: bool = False) -> list[Text]:
        """One sample drawn at its natural width (at most `width`), as lines."""
        renderable = self._fitting(puzzle, sample, width, short_titles_only=short_titles)
        console = self.app.console
        natural = min(self._natural_width(renderable), width)
        lines = console.render_lines(renderable, console.options.update(width=max(natural, 1), height=None), pad=False)
        return [_line_text(line) for line in lines]

    def _fitting(self, puzzle: PuzzleDescription | None, sample: Sample, width: int, *,
                 short_titles_only: bool = False) -> RenderableType:
        """The widest of DRAWINGS whose grids fit `width` side by side; the narrowest (wrapping) if none does."""
        drawings = [(cells, short) for cells, short in DRAWINGS if short or not short_titles_only]
        for cell_width, short_titles in drawings:
            drawing = _draw_sample(puzzle, sample, cell_width=cell_width, short_titles=short_titles)
            if self._natural_width(drawing) <= width:
                return drawing
        return drawing

    def _natural_width(self, renderable: RenderableType) -> int:
        """The width a sample takes when nothing wraps it (its input, expected and prediction in one row)."""
        console = self.app.console
        lines = console.render_lines(renderable, console.options.update(width=NATURAL_WIDTH, height=None), pad=False)
        return max((Segment.get_line_length(line) for line in lines), default=0)


def _sample_title(sample: Sample) -> Text:
    """name · exact or not · q_halt (its probability) · ACT steps."""
    title = Text()
    title.append(safe_text(sample.name), style="bold cyan")
    title.append(" · ")
    title.append("✓ exact" if sample.exact else "✗ not exact", style="bold green" if sample.exact else "bold red")
    if sample.q_halt is not None:
        title.append(f" · q_halt {sample.q_halt:.2f}" + (f" (p {sample.q_halt_prob:.2f})" if sample.q_halt_prob is not None else ""))
    if sample.steps is not None:
        title.append(f" · {sample.steps} ACT steps")
    return title


def _line_text(segments: list[Segment]) -> Text:
    text = Text(no_wrap=True)
    for segment in segments:
        if not segment.control:
            text.append(segment.text, style=segment.style)  # trailing blanks may be coloured cells (ARC)
    return text


def _lines_width(lines: list[Text]) -> int:
    return max((line.cell_len for line in lines), default=0)


def _tile(blocks: list[list[Text]], block_width: int, columns: int) -> list[Text]:
    """Blocks of lines laid out `columns` to a row, each padded to `block_width`, a blank line between rows."""
    lines: list[Text] = []
    for start in range(0, len(blocks), columns):
        row = blocks[start:start + columns]
        if start:
            lines.append(Text())
        for i in range(max(len(block) for block in row)):
            line = Text(no_wrap=True)
            for j, block in enumerate(row):
                cell = block[i].copy() if i < len(block) else Text()
                if j + 1 < len(row):
                    cell.pad_right(block_width - cell.cell_len + SAMPLE_GAP)
                line.append_text(cell)
            lines.append(line)
    return lines


def _draw_sample(puzzle: PuzzleDescription | None, sample: Sample, *, cell_width: int = 2,
                 short_titles: bool = False) -> RenderableType:
    """The sample drawn as its puzzle, or a line saying why it cannot be (never raises)."""
    if puzzle is None:
        return Text("cannot draw this sample: the run logged no puzzle description", style="red")
    rows, cols = puzzle.grid_shape
    if rows * cols > MAX_DRAWN_CELLS:
        return Text(f"a {rows}x{cols} grid is too large to draw here (at most {MAX_DRAWN_CELLS:,} cells)", style="dim")
    try:
        return render_sample(to_json_value(puzzle), sample.input, sample.label, sample.prediction,
                             cell_width=cell_width, short_titles=short_titles)
    except Exception as e:  # noqa: BLE001 - any inconsistency in logged data (lengths, shapes, values)
        return Text(f"cannot draw this sample: {safe_text(e)}", style="red")
