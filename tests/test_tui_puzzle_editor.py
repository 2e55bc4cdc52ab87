"""The puzzle editor (hrm_tui/screens/puzzle_editor.py) at 80x24, driven with Pilot from a replay: a 4x4
Sudoku typed in with keys (the demo model's vocabulary) and replayed at the same checkpoint, a symbol
outside it refused in one line, a puzzle file loaded (an ARC task JSON, good and malformed, on the tiny ARC
run). Snapshots of the editor at 80x24 and 160x48 draw a fixed puzzle (no checkpoint is loaded for them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from textual.app import App

from hrm_core.data.format import DatasetMetadata
from hrm_core.solve.puzzles import Puzzle
from hrm_tui.replay_loading import Replay, ReplaySource, load_replay
from hrm_tui.screens.puzzle_editor import CellGrid, PuzzleEditorScreen
from hrm_tui.screens.replay import ReplayApp, ReplayScreen
from tests.tui_launch_helpers import async_test, notifications, wait_for

LOAD_S = 60
SUDOKU_4X4 = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=6, seq_len=16,
                             num_puzzle_identifiers=1, total_groups=1, mean_puzzle_examples=1, sets=["all"],
                             puzzle_kind="sudoku").puzzle_description()


@pytest.fixture(scope="module")
def demo_replay(finished_demo_run: Path) -> Replay:
    return load_replay(ReplaySource(str(finished_demo_run)))


def replay_app(replay: Replay) -> ReplayApp:
    return ReplayApp(replay.name, replay.trajectory, replay.puzzle, replay=replay)


def message_line(app) -> str:
    return str(app.screen.query_one("#editor-message").render())


@async_test
async def test_a_sudoku_typed_in_with_keys_is_replayed_at_the_same_checkpoint(demo_replay: Replay):
    assert demo_replay.puzzle["kind"] == "sudoku" and demo_replay.puzzle["grid_shape"] == [4, 4]
    app = replay_app(demo_replay)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e")
        assert isinstance(app.screen, PuzzleEditorScreen)
        grid = app.screen.query_one(CellGrid)
        assert app.focused is grid
        # It starts from the replayed puzzle, in solve's text form.
        expected_start = "\n".join("".join("." if t == 1 else str(t - 1) for t in row)
                                   for row in np.asarray(demo_replay.trajectory.inputs).reshape(4, 4))
        assert grid.text == expected_start
        # 16 cells typed row by row (the cursor moves on after each); 0 and . are blanks.
        await pilot.press("1", "full_stop", "3", "0", "0", "0", "1", "2", "2", "0", "0", "3", "0", "3", "0", "1")
        assert grid.text == "1.3.\n..12\n2..3\n.3.1"
        # Outside the checkpoint's vocabulary: one line, nothing changed (q types here, it does not close).
        for key in ("7", "x", "q"):
            await pilot.press(key)
            assert grid.text == "1.3.\n..12\n2..3\n.3.1"
        assert message_line(app) == ("'q' is not a cell of this checkpoint's sudoku: type digits 1-4, and . or 0 "
                                     "for a blank")
        assert isinstance(app.screen, PuzzleEditorScreen)
        # Arrows move, backspace clears; typing again clears the message.
        await pilot.press("up", "left", "left", "right", "right", "backspace")  # from the last cell to row 3, column 4
        assert grid.text == "1.3.\n..12\n2...\n.3.1" and grid.cursor == (2, 3)
        await pilot.press("3")
        assert message_line(app) == ""
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.puzzle_name == "typed puzzle",
                       LOAD_S, "the typed puzzle's replay")
        replay = app.screen.replay
        assert replay.source.checkpoint == demo_replay.source.checkpoint and replay.step == demo_replay.step
        assert replay.trajectory.inputs.tolist() == [2, 1, 4, 1, 1, 1, 2, 3, 3, 1, 1, 4, 1, 4, 1, 2]
        assert len(app.screen_stack) == 2  # the editor closed and the replay was replaced, not stacked
        await pilot.press("q")
    assert app.return_code == 0


@async_test
async def test_a_malformed_sudoku_file_is_one_line_and_the_editor_keeps_its_grid(demo_replay: Replay, tmp_path: Path):
    bad = tmp_path / "board.txt"
    bad.write_text("1.3.\n..12\n2..3\n")  # 12 cells
    app = replay_app(demo_replay)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e", "tab")
        await pilot.press(*str(bad))
        await pilot.press("enter")
        expected = f"{bad} has 12 cells; the checkpoint was trained on 4x4 Sudoku (16 cells)"
        await wait_for(pilot, lambda: any(n.startswith(expected) for n in notifications(app)), LOAD_S, "the error")
        assert isinstance(app.screen, PuzzleEditorScreen)
        assert app.screen.query_one("#editor-file").value == str(bad)


@pytest.fixture(scope="module")
def arc_replay(finished_arc_run: Path) -> Replay:
    return load_replay(ReplaySource(str(finished_arc_run)))


@async_test
async def test_an_arc_task_json_loads_and_a_malformed_one_is_one_line(arc_replay: Replay, tmp_path: Path):
    good, malformed = tmp_path / "c0ffee00.json", tmp_path / "broken.json"
    good.write_text(json.dumps({"train": [{"input": [[1, 2]], "output": [[2, 1]]}],
                                "test": [{"input": [[3, 4], [5, 6]], "output": [[4, 3], [6, 5]]}]}))
    malformed.write_text('{"train": [], "test": [')
    app = replay_app(arc_replay)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e")
        assert isinstance(app.screen, PuzzleEditorScreen) and app.focused is app.screen.query_one("#editor-file")
        await pilot.press(*str(malformed), "enter")
        await wait_for(pilot, lambda: any("is not valid JSON" in n for n in notifications(app)), LOAD_S, "the error")
        [note] = [n for n in notifications(app) if "is not valid JSON" in n]
        assert note.startswith(f"{malformed} is not valid JSON") and "\n" not in note
        assert isinstance(app.screen, PuzzleEditorScreen)
        field = app.screen.query_one("#editor-file")
        field.value = str(good)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.puzzle_name == "c0ffee00 test 0",
                       LOAD_S, "the ARC task's replay")
        assert app.screen.replay.note.startswith("c0ffee00 is not a task the checkpoint was trained on")
        assert app.screen.trajectory.labels is not None  # the known output marks wrong cells


class EditorHost(App[None]):
    """The editor alone, on a fixed puzzle: what the snapshots draw."""

    def on_mount(self) -> None:
        start = Puzzle(name="p", inputs=np.array([2, 1, 4, 1, 1, 1, 2, 3, 3, 1, 1, 4, 1, 4, 1, 2]), labels=None)
        self.push_screen(PuzzleEditorScreen("checkpoints/demo-run", SUDOKU_4X4, start))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_editor_snapshot(snap_compare, size):
    # The cursor moved to row 2, column 3, and a symbol outside the 4x4 vocabulary typed: its line shows.
    assert snap_compare(EditorHost(), terminal_size=size, press=["down", "right", "right", "7"])


MAZE_30 = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=6, seq_len=900,
                          num_puzzle_identifiers=1, total_groups=1, mean_puzzle_examples=1, sets=["all"],
                          puzzle_kind="maze").puzzle_description()


class MazeEditorHost(App[None]):
    def on_mount(self) -> None:
        self.push_screen(PuzzleEditorScreen("checkpoints/maze-run", MAZE_30))


@async_test
async def test_a_30x30_maze_is_typed_at_80x24_with_the_cursor_kept_in_view():
    app = MazeEditorHost()
    async with app.run_test(size=(80, 24)) as pilot:
        grid = app.screen.query_one(CellGrid)
        box = app.screen.query_one("#editor-grid-box")
        assert box.size.height < 30  # the maze is taller than the space it has
        await pilot.press("S", "space", "#")
        assert grid.text.splitlines()[0].startswith("S #")
        await pilot.press(*["down"] * 29, "G")
        await pilot.pause()
        assert grid.cursor == (29, 4) and grid.text.split("\n")[29][3] == "G"
        assert box.scroll_y > 0 and box.scroll_y + box.size.height >= 30  # the cursor's line is in view
        await pilot.press("x")  # not a maze symbol: refused in one line
        assert "'x' is not a cell of this checkpoint's maze" in str(app.screen.query_one("#editor-message").render())
        await pilot.press("enter")  # a 30x30 grid of maze symbols passes solve's checks: the replay is asked for
        assert "replaying" in str(app.screen.query_one("#editor-message").render())
