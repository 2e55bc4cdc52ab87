"""The replay screen: a solve trajectory (`hrm_core.solve.rollout.Trajectory`), one ACT step at a time.

It shows the puzzle and the model's prediction at step k: cells changed since the previous step are
highlighted, wrong cells (where the answer is known) are marked, and each cell's confidence shades it (dim
below 0.5, plain to 0.9, bold above). Below, q_halt and q_continue over the steps as sigmoid bars, with the
step where the model's halting rule fires, and the answer after each inner cycle (HRM's H-cycles, TRM's
recursions) counted against the step's answer. ←/→ step, Home/End jump, space plays or pauses.

A replay loaded from a checkpoint (`hrm_tui.replay_loading.Replay`) also has: n/p for the next/previous
example of the dataset's test split (when it shows one), and e for the puzzle editor
(`screens/puzzle_editor.py`), to type a puzzle in or load a file, replayed at the same checkpoint. Both ask the
app with `OpenReplay`; the app's worker loads the replay (`hrm_tui/replay_opener.py`).

Everything drawn from a puzzle or a file passes through `safe_text`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Static

from hrm_core.data.render import ARC_PALETTE
from hrm_core.rundir.sanitize import safe_text
from hrm_core.solve.puzzles import Puzzle
from hrm_core.solve.rollout import Trajectory
from hrm_tui.messages import OpenReplay
from hrm_tui.replay_loading import Replay, ReplaySource
from hrm_tui.replay_opener import ReplayOpener

PLAY_INTERVAL_S = 0.6
EDITABLE_KINDS = ("sudoku", "maze", "arc")  # what the puzzle editor types in or loads
BAR_WIDTH = 10
_CHANGED = Style(bgcolor="#5f5f00")
_WRONG = Style(color="red", bold=True, underline=True)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


def _glyph(token: int, puzzle: dict[str, Any]) -> str:
    kind, value = puzzle.get("kind"), token - int(puzzle.get("vocab_offset", 0))
    if kind == "sudoku":
        return "·" if value <= 0 else str(value)
    if kind == "maze":
        charset = str(puzzle.get("charset", "# SGo"))
        return charset[value] if 0 <= value < len(charset) else "?"
    if kind == "arc":
        return " " if 0 <= value <= 9 else "·"
    return str(token % 10)


@lru_cache(maxsize=1024)
def _cell_style(band: int, arc_colour: int | None, changed: bool, wrong: bool) -> Style:
    """A cell's style: confidence `band` (0 below 0.5: dim, 1 plain, 2 from 0.9: bold), its ARC colour,
    changed since the previous step, wrong. Cached: a 30x30 grid has 900 cells and a few dozen styles."""
    style = Style(dim=band == 0, bold=band == 2)
    if arc_colour is not None:
        style += Style(bgcolor=ARC_PALETTE[arc_colour])
    if changed:
        style += _CHANGED
    if wrong:
        style += _WRONG
    return style


def step_grid_rows(trajectory: Trajectory, index: int, puzzle: dict[str, Any]) -> list[list[Segment]]:
    """The prediction at step `index` (0-based), a row of styled cells (`glyph` and a space) per grid row.

    Per-cell work is vectorised and styles are cached, so that a step of a 30x30 grid is drawn in a
    millisecond or two (the 50 ms budget of a step is the terminal's: `python -m hrm_tui.bench.replay`)."""
    step = trajectory.steps[index]
    rows, cols = (int(n) for n in puzzle["grid_shape"])
    prediction = np.asarray(step.prediction, dtype=np.int64)
    changed = np.zeros(prediction.size, dtype=bool)
    changed[step.changed] = True
    if trajectory.labels is not None:
        labels = np.asarray(trajectory.labels)
        wrong = (prediction != labels) & (labels >= 0)
    else:
        wrong = np.zeros_like(changed)
    probability = np.asarray(step.probability)
    bands = (probability >= 0.5).astype(np.int64) + (probability >= 0.9)
    is_arc = puzzle.get("kind") == "arc"
    values = prediction - int(puzzle.get("vocab_offset", 0))
    colours = np.where((values >= 0) & (values <= 9), values, -1) if is_arc else np.full(prediction.size, -1)
    glyphs: dict[int, str] = {}
    grid: list[list[Segment]] = []
    for r in range(rows):
        row = []
        for cell in range(r * cols, (r + 1) * cols):
            token, colour, is_wrong = int(prediction[cell]), int(colours[cell]), bool(wrong[cell])
            glyph = "x" if is_wrong and is_arc else glyphs.get(token) or glyphs.setdefault(token, _glyph(token, puzzle))
            row.append(Segment(f"{glyph} ", _cell_style(int(bands[cell]), colour if colour >= 0 else None,
                                                        bool(changed[cell]), is_wrong)))
        grid.append(row)
    return grid


def render_step_grid(trajectory: Trajectory, index: int, puzzle: dict[str, Any]) -> Text:
    """The prediction at step `index` (0-based) as a grid of styled cells (`step_grid_rows` as Text)."""
    text = Text()
    rows = step_grid_rows(trajectory, index, puzzle)
    for r, row in enumerate(rows):
        for segment in row:
            text.append(segment.text, segment.style)
        if r + 1 < len(rows):
            text.append("\n")
    return text


class StepGrid(Widget):
    """The step's grid, drawn line by line from its segments (no markup or wrapping to work out): a 30x30
    grid is redrawn in a few milliseconds."""

    DEFAULT_CSS = "StepGrid { width: auto; height: auto; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[list[Segment]] = []

    def show(self, rows: list[list[Segment]]) -> None:
        resized = (len(rows) != len(self.rows) or not rows
                   or sum(s.cell_length for s in rows[0]) != sum(s.cell_length for s in self.rows[0]))
        # Neighbours of one style as one segment: fewer for Textual to compose (a 30x30 grid has 900 cells).
        self.rows = [list(Segment.simplify(row)) for row in rows]
        self.refresh(layout=bool(resized))  # the same size (every step of one puzzle): no new layout

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return sum(segment.cell_length for segment in self.rows[0]) if self.rows else 0

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.rows)

    def render_line(self, y: int) -> Strip:
        """Line `y` of the content area (Textual draws the padding around it)."""
        if not 0 <= y < len(self.rows):
            return Strip.blank(self.size.width, self.rich_style)
        return Strip(self.rows[y]).crop_extend(0, self.size.width, self.rich_style)


def render_q_plot(trajectory: Trajectory, index: int) -> Text:
    """sigmoid(q_halt) and sigmoid(q_continue) per step as bars; the current and the halting step marked."""
    text = Text()
    halting = trajectory.halting_step
    for number, step in enumerate(trajectory.steps, start=1):
        halt, cont = _sigmoid(step.q_halt), _sigmoid(step.q_continue)
        marker = "▶" if number - 1 == index else " "
        text.append(f"{marker}{number:>3} ", Style(bold=number - 1 == index))
        text.append("█" * round(halt * BAR_WIDTH), Style(color="green"))
        text.append("·" * (BAR_WIDTH - round(halt * BAR_WIDTH)), Style(dim=True))
        text.append(f" {halt:.2f}  ")
        text.append("█" * round(cont * BAR_WIDTH), Style(color="blue"))
        text.append("·" * (BAR_WIDTH - round(cont * BAR_WIDTH)), Style(dim=True))
        text.append(f" {cont:.2f}")
        if number == halting:
            text.append("  halts here", Style(color="yellow"))
        if number < len(trajectory.steps):
            text.append("\n")
    return text


def render_cycles(trajectory: Trajectory, index: int) -> Text:
    step = trajectory.steps[index]
    text = Text()
    for number, cycle in enumerate(step.cycles, start=1):
        differ = int((cycle != step.prediction).sum())
        text.append(f"{trajectory.cycle_unit} {number}: {differ} cells differ from the step's answer")
        if number < len(step.cycles):
            text.append("\n")
    return text


class ReplayScreen(Screen[None]):
    """One puzzle's trajectory, stepped by hand or played."""

    BINDINGS = [
        Binding("left", "step(-1)", "previous step"),
        Binding("right", "step(1)", "next step"),
        Binding("home", "jump(0)", "first step"),
        Binding("end", "jump(-1)", "last step"),
        Binding("space", "play", "play/pause"),
        Binding("n", "other_example(1)", "next test puzzle"),
        Binding("p", "other_example(-1)", "previous test puzzle"),
        Binding("e", "edit", "edit a puzzle"),
        Binding("q", "close", "close"),
    ]
    DEFAULT_CSS = """
    ReplayScreen #replay-title { height: auto; padding: 0 1; text-style: bold; }
    ReplayScreen #replay-body { height: 1fr; }
    ReplayScreen .replay-panel { width: auto; height: auto; padding: 0 1; }
    ReplayScreen #replay-side { width: 1fr; height: auto; }
    """

    def __init__(self, name: str, trajectory: Trajectory, puzzle: dict[str, Any], replay: Replay | None = None):
        """`replay`: where the trajectory came from (a checkpoint and a puzzle), for n/p and the editor; None
        for a trajectory given as it is."""
        super().__init__()
        self.puzzle_name = name
        self.trajectory = trajectory
        self.puzzle = puzzle
        self.replay = replay
        self.index = 0
        self.playing = False
        self._timer = None
        self._shapes: dict[str, tuple[int, int]] = {}  # each panel's (lines, widest line) as last laid out

    @classmethod
    def of(cls, replay: Replay) -> ReplayScreen:
        return cls(replay.name, replay.trajectory, replay.puzzle, replay)

    def compose(self) -> ComposeResult:
        yield Static(id="replay-title")
        with VerticalScroll(id="replay-body"):
            with Horizontal():
                yield StepGrid(id="replay-grid", classes="replay-panel")
                with Vertical(id="replay-side"):
                    yield Static(id="replay-q", classes="replay-panel")
                    yield Static(id="replay-cycles", classes="replay-panel")
        yield Footer()

    def on_mount(self) -> None:
        self.redraw()

    @property
    def status(self) -> str:
        steps = len(self.trajectory.steps)
        state = "playing" if self.playing else "paused"
        changed = len(self.trajectory.steps[self.index].changed)
        status = (f"{safe_text(self.puzzle_name)}  step {self.index + 1}/{steps}  {changed} cells changed  "
                  f"halts at step {self.trajectory.halting_step}  [{state}]")
        if self.replay is not None:
            status += f"\ncheckpoint {safe_text(self.replay.source.checkpoint)} (step {self.replay.step:,})"
            if self.replay.note:
                status += f"\n{safe_text(self.replay.note)}"
        return status

    def redraw(self) -> None:
        self._update("#replay-title", Text(self.status))
        self.query_one("#replay-grid", StepGrid).show(step_grid_rows(self.trajectory, self.index, self.puzzle))
        self._update("#replay-q", Text("sigmoid(q_halt)    sigmoid(q_continue)\n", Style(bold=True))
                     + render_q_plot(self.trajectory, self.index))
        self._update("#replay-cycles", render_cycles(self.trajectory, self.index))

    def _update(self, selector: str, text: Text) -> None:
        """A panel's new text; laid out again only when its shape (lines, widest line) changed: a new layout
        of the whole screen would cost more than drawing the step."""
        shape = (len(text.plain.splitlines()), max((len(line) for line in text.plain.splitlines()), default=0))
        changed = self._shapes.get(selector) != shape
        self._shapes[selector] = shape
        self.query_one(selector, Static).update(text, layout=changed)

    def action_step(self, delta: int) -> None:
        self.index = min(max(self.index + delta, 0), len(self.trajectory.steps) - 1)
        self.redraw()

    def action_jump(self, where: int) -> None:
        self.index = where % len(self.trajectory.steps)
        self.redraw()

    def action_play(self) -> None:
        self.playing = not self.playing
        if self.playing:
            if self.index == len(self.trajectory.steps) - 1:
                self.index = 0
            self._timer = self.set_interval(PLAY_INTERVAL_S, self._advance)
        elif self._timer is not None:
            self._timer.stop()
        self.redraw()

    def _advance(self) -> None:
        if self.index >= len(self.trajectory.steps) - 1:
            self.action_play()  # the last step: pause there
            return
        self.action_step(1)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """n/p only for a replay of the test split, e only for one loaded from a checkpoint."""
        if action == "other_example":
            return self._from_test_split()
        if action == "edit":
            return self.replay is not None and self.puzzle.get("kind") in EDITABLE_KINDS
        return True

    def _from_test_split(self) -> bool:
        return self.replay is not None and self.replay.source.puzzle_file is None and self.replay.source.puzzle is None

    def action_other_example(self, delta: int) -> None:
        if self.replay is not None and self._from_test_split():
            source = self.replay.source
            self.post_message(OpenReplay(ReplaySource(source.checkpoint, test_index=source.test_index + delta)))

    def action_edit(self) -> None:
        from hrm_tui.screens.puzzle_editor import PuzzleEditorScreen

        if self.replay is not None:
            start = Puzzle(name=self.puzzle_name, inputs=self.trajectory.inputs, labels=None)
            self.app.push_screen(PuzzleEditorScreen(self.replay.source.checkpoint, self.puzzle, start))

    def action_close(self) -> None:
        """Back to the screen below (the monitor, the runs list), or quit when there is none: `hrm-tui solve`
        shows the replay over Textual's blank default screen, which has nothing to go back to."""
        stack = self.app.screen_stack
        below = stack[-2] if len(stack) >= 2 else None
        if below is not None and type(below) is not Screen:
            self.app.pop_screen()
        else:
            self.app.exit()


class ReplayApp(ReplayOpener, App[None]):
    """`hrm-tui solve`: the replay screen on its own (n/p and the editor replay other puzzles in it)."""

    def __init__(self, name: str, trajectory: Trajectory, puzzle: dict[str, Any], theme: str | None = None,
                 replay: Replay | None = None):
        super().__init__()
        self._replay = (name, trajectory, puzzle, replay)
        if theme:
            self.theme = theme

    def on_mount(self) -> None:
        self.push_screen(ReplayScreen(*self._replay))


def run_replay(checkpoint: str, puzzle: str | None, theme: str | None = None) -> int:
    """Solves `puzzle` (a file, or the first example of the dataset's test split) and replays it; a mistake is
    one `hrm-tui:` line and exit status 2."""
    import sys

    from hrm_core.solve.errors import SolveError
    from hrm_tui.replay_loading import load_replay

    try:
        replay = load_replay(ReplaySource(checkpoint, puzzle_file=puzzle))
    except SolveError as error:
        print(f"hrm-tui: {safe_text(str(error))}", file=sys.stderr)
        return 2
    ReplayApp(replay.name, replay.trajectory, replay.puzzle, theme=theme, replay=replay).run()
    return 0
