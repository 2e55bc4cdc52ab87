"""Puzzle files -> tokens for `python -m hrm_core.solve`: every format and every mistake, with the puzzle
descriptions the real dataset builders write (DatasetMetadata.puzzle_description)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrm_core.arc.scoring import crop_at_eos
from hrm_core.data.format import DatasetMetadata
from hrm_core.solve.errors import SolveError
from hrm_core.solve.puzzles import parse_puzzles
from hrm_core.solve.report import answer_grid, plain_grid


def description(kind: str, seq_len: int, vocab_size: int) -> dict:
    metadata = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=vocab_size,
                               seq_len=seq_len, num_puzzle_identifiers=3, total_groups=1, mean_puzzle_examples=1,
                               sets=["all"], puzzle_kind=kind)
    return metadata.puzzle_description()


SUDOKU_9 = description("sudoku", 81, 11)
MAZE_5 = description("maze", 25, 6)
ARC = description("arc", 900, 12)

MAZE_TEXT = "#####\n#S  #\n# # #\n#  G#\n#####\n"
TASK = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}],
        "test": [{"input": [[3, 4], [5, 6]], "output": [[4, 3], [6, 5]]}, {"input": [[7]]}]}


def test_a_9x9_sudoku_with_both_blank_marks():
    text = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
    [puzzle] = parse_puzzles("s.txt", text.replace(".", "0", 5), SUDOKU_9, None)
    assert puzzle.inputs.shape == (81,)
    assert puzzle.inputs[:4].tolist() == [6, 4, 1, 1]  # digit + 1; blank = 1
    grid = answer_grid(puzzle.inputs, SUDOKU_9)
    assert plain_grid(grid, SUDOKU_9).splitlines()[0] == "53..7...."


def test_a_maze_is_read_in_the_builders_charset():
    [puzzle] = parse_puzzles("m.txt", MAZE_TEXT, MAZE_5, None)
    assert puzzle.inputs.reshape(5, 5)[1].tolist() == [1, 3, 2, 2, 1]  # '#' 0, 'S' 2, ' ' 1, each + 1
    assert plain_grid(answer_grid(puzzle.inputs, MAZE_5), MAZE_5) == MAZE_TEXT.rstrip("\n")


def test_an_arc_task_gives_one_puzzle_per_test_input_with_its_trained_id():
    identifiers = ["<blank>", "00abcdef", "other"]
    puzzles = parse_puzzles("tasks/00abcdef.json", json.dumps(TASK), ARC, identifiers)
    assert [p.name for p in puzzles] == ["00abcdef test 0", "00abcdef test 1"]
    assert [p.puzzle_identifier for p in puzzles] == [1, 1] and puzzles[0].note is None
    assert crop_at_eos(puzzles[0].inputs).tolist() == [[3, 4], [5, 6]]
    assert crop_at_eos(puzzles[0].labels).tolist() == [[4, 3], [6, 5]]
    assert puzzles[1].labels is None
    assert answer_grid(puzzles[0].labels, ARC) == [[4, 3], [6, 5]]


def test_an_unseen_arc_task_runs_with_the_blank_id_and_says_so():
    [first, _] = parse_puzzles("new.json", json.dumps(TASK), ARC, ["<blank>", "00abcdef"])
    assert first.puzzle_identifier == 0 and "not a task the checkpoint was trained on" in first.note


@pytest.mark.parametrize(("kind", "text", "message"), [
    ("sudoku", "123", "s.txt has 3 cells; the checkpoint was trained on 9x9 Sudoku (81 cells)"),
    ("maze", "#####\n#S  #\n", "s.txt is 2 lines of 5 characters; the checkpoint was trained on 5x5 mazes"),
    ("maze", MAZE_TEXT.replace("G", "X"), "s.txt line 4 column 4: 'X' is not a maze cell"),
    ("arc", "{not json", "s.txt is not valid JSON"),
    ("arc", json.dumps({"train": []}), "s.txt is not an ARC task: it needs a \"test\" list"),
    ("arc", json.dumps({"test": [{"input": [[1] * 31]}]}), "test[0].input is 1x31, over the 30x30"),
    ("arc", json.dumps({"test": [{"input": [[1, 12]]}]}), "test[0].input holds a value outside the colours 0-9"),
    ("arc", json.dumps({"test": [{"input": [[1, 2], [3]]}]}), "test[0].input has rows of different lengths"),
    ("arc", json.dumps({"train": [{"input": [[1]]}], "test": [{"input": [[1]]}]}), "train[0] has no \"output\""),
])
def test_each_mistake_names_the_file_and_the_fix(kind, text, message):
    puzzle = {"sudoku": SUDOKU_9, "maze": MAZE_5, "arc": ARC}[kind]
    with pytest.raises(SolveError) as error:
        parse_puzzles("s.txt", text, puzzle, None)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_dataset_of_another_kind_points_to_split_mode():
    with pytest.raises(SolveError, match="use split=test"):
        parse_puzzles("x", "1234", description("generic", 16, 6), None)


def test_arc_answers_crop_at_eos_and_an_empty_answer_says_so():
    tokens = np.zeros(900, dtype=np.int64)
    assert plain_grid(answer_grid(tokens, ARC), ARC) == "(empty grid)"
