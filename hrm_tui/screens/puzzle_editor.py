"""The puzzle editor: type a Sudoku or a Maze in, or load a puzzle file (an ARC task JSON), and replay it.

Opened with `e` from a replay; the puzzle is replayed at the same checkpoint. The grid has the checkpoint's
size and starts from the replayed puzzle: arrows move the cursor, a symbol of the checkpoint's vocabulary
types into the cell and moves on (Sudoku: digits 1-n, `.` or `0` a blank; Maze: its charset, `#` wall,
space open, `S` start, `G` goal, `o` path), backspace or delete clears the cell. Any other key says in one
line what the cell may hold, and changes nothing. enter replays the grid; tab goes to the file field, where
enter loads the file named (a Sudoku or Maze text file, an ARC task JSON) and replays it.

Which symbols a cell takes, and every check of the whole puzzle, are `hrm_core.solve.puzzles`'
(`cell_symbols`, `parse_puzzles`): the editor writes the grid out as the text `python -m hrm_core.solve`
reads and parses it there, so a puzzle is accepted here exactly when solve accepts it. A puzzle that fails
(or a file that does not load) is one line; what was typed stays. The editor closes when its replay is shown.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.geometry import Region
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from hrm_core.rundir.sanitize import safe_text
from hrm_core.solve.errors import SolveError
from hrm_core.solve.puzzles import Puzzle, cell_symbols, grid_side, parse_puzzles
from hrm_core.solve.report import answer_grid, plain_grid
from hrm_tui.messages import OpenReplay
from hrm_tui.replay_loading import ReplaySource

TYPED_NAME = "typed puzzle"
_CURSOR = Style(reverse=True, bold=True)
_BLANK_GLYPH = {"sudoku": "·"}  # how a blank cell is drawn (a maze's open floor is a space)


class CellGrid(Widget, can_focus=True):
    """A grid of single-character cells with a cursor; it types only `symbols`."""

    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
        Binding("home", "line_end(0)", "Line start", show=False),
        Binding("end", "line_end(1)", "Line end", show=False),
        Binding("backspace,delete", "clear", "Clear cell"),
    ]
    DEFAULT_CSS = """
    CellGrid { width: auto; height: auto; padding: 0 1; }
    CellGrid:focus { background: $boost; }
    """

    class Rejected(Message):
        """A key that is no symbol of this grid was typed."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class Edited(Message):
        """A cell changed."""

    def __init__(self, kind: str, side: int, symbols: str, blank: str, text: str | None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kind, self.side, self.symbols, self.blank = kind, side, symbols, blank
        lines = (text or "").split("\n")
        self.cells = [[(lines[r][c] if r < len(lines) and c < len(lines[r]) else blank) for c in range(side)]
                      for r in range(side)]
        self.cursor = (0, 0)

    @property
    def text(self) -> str:
        """The grid as solve reads it: one line per row."""
        return "\n".join("".join(row) for row in self.cells)

    def render(self) -> Text:
        text = Text(no_wrap=True)
        for r, row in enumerate(self.cells):
            for c, char in enumerate(row):
                glyph = _BLANK_GLYPH.get(self.kind, char) if char == self.blank else char
                style = _CURSOR if (r, c) == self.cursor and self.has_focus else Style()
                text.append(glyph, style)
                text.append(" ")
            if r + 1 < self.side:
                text.append("\n")
        return text

    def get_content_width(self, container, viewport) -> int:  # noqa: ANN001 - Textual's signature
        return 2 * self.side

    def get_content_height(self, container, viewport, width: int) -> int:  # noqa: ANN001
        return self.side

    def action_move(self, rows: int, cols: int) -> None:
        r, c = self.cursor
        self._place(min(max(r + rows, 0), self.side - 1), min(max(c + cols, 0), self.side - 1))

    def action_line_end(self, end: int) -> None:
        self._place(self.cursor[0], (self.side - 1) * end)

    def action_clear(self) -> None:
        r, c = self.cursor
        self.cells[r][c] = self.blank
        self.post_message(self.Edited())
        self.refresh()

    def _place(self, row: int, col: int) -> None:
        self.cursor = (row, col)
        self.refresh()
        # A 30x30 maze is taller than an 80x24 terminal: keep the cursor's line in view.
        if isinstance(self.parent, ScrollableContainer):
            self.parent.scroll_to_region(Region(self.region.x - self.parent.region.x + 2 * col,
                                                row, 2, 1), animate=False, immediate=True)

    def on_key(self, event: events.Key) -> None:
        """A printable key types (or is refused); the others (arrows, enter, F-keys) go on to the bindings."""
        char = " " if event.key == "space" else event.character
        if char is None or len(char) != 1 or not char.isprintable():
            return
        event.stop()  # here q, ? and e are cells, not the app's keys
        event.prevent_default()
        if char not in self.symbols:
            self.post_message(self.Rejected(char))
            return
        r, c = self.cursor
        self.cells[r][c] = self.blank if self.kind == "sudoku" and char in ".0" else char
        self.post_message(self.Edited())
        # Move on as typing does: to the next cell, then the next row.
        self._place(*((r, c + 1) if c + 1 < self.side else (min(r + 1, self.side - 1), 0 if r + 1 < self.side else c)))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


class PuzzleEditorScreen(Screen[None]):
    """A puzzle typed in or loaded from a file, replayed at `checkpoint` (the replay's)."""

    BINDINGS = [
        Binding("enter", "replay", "Replay"),
        Binding("escape", "close", "Close"),  # q types (a maze has no q, but the file field does)
    ]
    DEFAULT_CSS = """
    PuzzleEditorScreen #editor-title { height: auto; padding: 0 1; text-style: bold; }
    PuzzleEditorScreen #editor-help { height: auto; padding: 0 1; color: $text-muted; }
    PuzzleEditorScreen #editor-grid-box { height: 1fr; width: 1fr; scrollbar-size-vertical: 1; }
    PuzzleEditorScreen #editor-message { height: auto; padding: 0 1; }
    PuzzleEditorScreen #editor-file { margin: 0 1; }
    """

    def __init__(self, checkpoint: str, puzzle: dict[str, Any], start: Puzzle | None = None) -> None:
        """`puzzle`: the checkpoint's dataset description (its kind, size, encoding); `start`: the puzzle the
        grid starts from (the replayed one)."""
        super().__init__()
        self.checkpoint = checkpoint
        self.puzzle = puzzle
        self.kind = str(puzzle.get("kind"))
        self.typed = self.kind in ("sudoku", "maze")
        self._start_text = None
        if self.typed and start is not None:
            try:
                self._start_text = plain_grid(answer_grid(start.inputs, puzzle), puzzle)
            except (ValueError, IndexError):
                self._start_text = None  # not this checkpoint's size: start blank

    def compose(self) -> ComposeResult:
        yield Static(Text(self._title()), id="editor-title")
        if self.typed:
            symbols = cell_symbols(self.puzzle)
            blank = "." if self.kind == "sudoku" else " "
            yield Static(Text(self._help(symbols)), id="editor-help")
            with ScrollableContainer(id="editor-grid-box", can_focus=False):
                yield CellGrid(self.kind, grid_side(self.puzzle), symbols, blank, self._start_text, id="editor-grid")
        else:
            yield Static(Text("An ARC task JSON ({\"train\": [...], \"test\": [{\"input\": grid}, ...]}): type its "
                              "path and press enter; its first test input is replayed."), id="editor-help")
        yield Static("", id="editor-message")
        yield Input(placeholder="load a file: its path, then enter", id="editor-file", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#editor-grid" if self.typed else "#editor-file"))

    def _title(self) -> str:
        rows, cols = (int(n) for n in self.puzzle["grid_shape"])
        what = {"sudoku": f"a {rows}x{cols} Sudoku", "maze": f"a {rows}x{cols} maze", "arc": "an ARC task"}.get(self.kind, self.kind)
        return safe_text(f"Puzzle editor: {what} for {self.checkpoint}")

    def _help(self, symbols: str) -> str:
        if self.kind == "sudoku":
            keys = f"digits {symbols[2]}-{symbols[-1]}, . or 0 a blank"
        else:
            keys = "# wall, space open, S start, G goal, o path"
        return f"arrows move · {keys} · backspace clears · enter replays · tab: load a file"

    def say(self, text: str, error: bool = True) -> None:
        self.query_one("#editor-message", Static).update(Text(safe_text(text), style="bold red" if error else ""))

    @on(CellGrid.Rejected)
    def _rejected(self, message: CellGrid.Rejected) -> None:
        shown = "space" if message.key == " " else repr(message.key)
        if self.kind == "sudoku":
            allowed = f"digits 1-{cell_symbols(self.puzzle)[-1]}, and . or 0 for a blank"
        else:
            allowed = f"one of {cell_symbols(self.puzzle)!r} (wall, open, start, goal, path)"
        self.say(f"{shown} is not a cell of this checkpoint's {self.kind}: type {allowed}")

    @on(CellGrid.Edited)
    def _edited(self) -> None:
        self.say("", error=False)

    def action_replay(self) -> None:
        """enter on the grid: check the puzzle as solve does, and replay it."""
        if not self.typed:
            return
        grid = self.query_one("#editor-grid", CellGrid)
        try:
            [puzzle] = parse_puzzles(TYPED_NAME, grid.text, self.puzzle, None)
        except SolveError as error:
            self.say(str(error))
            return
        self.say("replaying…", error=False)
        self.post_message(OpenReplay(ReplaySource(self.checkpoint, puzzle=puzzle)))

    @on(Input.Submitted, "#editor-file")
    def _load_file(self, event: Input.Submitted) -> None:
        """The file is read and checked by the replay's worker (a mistake comes back as a notification)."""
        event.stop()
        path = event.value.strip()
        if not path:
            self.say("type the path of a puzzle file first")
            return
        self.say(f"loading {path}…", error=False)
        self.post_message(OpenReplay(ReplaySource(self.checkpoint, puzzle_file=path)))

    def action_close(self) -> None:
        self.dismiss()
