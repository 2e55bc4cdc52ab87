"""Sudoku: solver, generator, CSV reading and the builder (hrm_core/data/sudoku.py, build_sudoku_dataset.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from hrm_core.data.build_sudoku_dataset import build_sudoku_dataset, read_csv_split
from hrm_core.data.format import DatasetMetadata, array_path, load_identifiers
from hrm_core.data.sudoku import generate_puzzle, has_unique_solution, is_solved, rate, solve

# A well-known hard puzzle (Arto Inkala's) and its solution.
HARD = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."
HARD_SOLUTION = "812753649943682175675491283154237896369845721287169534521974368438526917796318452"


def board(text: str) -> np.ndarray:
    return np.array([0 if ch == "." else int(ch) for ch in text]).reshape(9, 9)


def write_csv(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    path.write_text("source,question,answer,rating\n" + "".join(",".join(row) + "\n" for row in rows))
    return path


def run_builder(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hrm_core.data.build_sudoku_dataset", *args], capture_output=True, text=True, timeout=120)


def test_solver_solves_a_hard_puzzle_and_rates_it_by_guesses():
    result = solve(board(HARD))
    assert len(result.solutions) == 1
    np.testing.assert_array_equal(result.solutions[0], board(HARD_SOLUTION))
    assert rate(board(HARD)) > 10
    assert rate(board(HARD_SOLUTION)) == 0
    # Remove two givens: several solutions.
    loose = board(HARD)
    loose[0, 0] = loose[1, 2] = 0
    assert not has_unique_solution(loose)


def test_generated_puzzles_have_unique_solutions_and_the_asked_rating():
    rng = np.random.default_rng(7)
    for size, min_rating in [(9, 4), (9, 0), (4, 0)]:
        puzzle, solution, rating = generate_puzzle(size, rng, min_rating=min_rating)
        assert is_solved(solution)
        assert ((puzzle == 0) | (puzzle == solution)).all()
        assert has_unique_solution(puzzle)
        assert rating >= min_rating and rating == rate(puzzle)
        # Minimal: putting back nothing, removing any given breaks uniqueness.
        given = np.argwhere(puzzle > 0)[0]
        loosened = puzzle.copy()
        loosened[tuple(given)] = 0
        assert not has_unique_solution(loosened)


def test_csv_build_encodes_like_the_original_and_augments_train_only(tmp_path):
    rows = [("src", HARD, HARD_SOLUTION, "30"), ("easy", HARD_SOLUTION[:80] + ".", HARD_SOLUTION, "0")]
    write_csv(tmp_path / "train.csv", rows)
    write_csv(tmp_path / "test.csv", rows)
    splits = {name: read_csv_split(tmp_path / f"{name}.csv", min_difficulty=None) for name in ("train", "test")}
    output = tmp_path / "sudoku"
    build_sudoku_dataset(output, splits, num_aug=3, seed=0)

    train = DatasetMetadata.load(output / "train")
    assert (train.seq_len, train.vocab_size, train.pad_id, train.ignore_label_id, train.num_puzzle_identifiers) == (81, 11, 0, 0, 1)
    assert train.total_groups == 2 and train.inferred_kind() == "sudoku"
    inputs = np.load(array_path(output / "train", "all", "inputs"))
    labels = np.load(array_path(output / "train", "all", "labels"))
    assert inputs.shape == (8, 81) and inputs.dtype == np.uint8
    # Round trip: blank -> 1, digit d -> d + 1; the first copy of each group is the puzzle itself.
    np.testing.assert_array_equal(inputs[0].reshape(9, 9) - 1, board(HARD))
    np.testing.assert_array_equal(labels[0].reshape(9, 9) - 1, board(HARD_SOLUTION))
    assert is_solved(labels.reshape(-1, 9, 9).astype(np.int64) - 1).all()
    assert np.load(array_path(output / "train", "all", "group_indices")).tolist() == [0, 4, 8]
    assert np.load(array_path(output / "test", "all", "inputs")).shape == (2, 81)
    assert load_identifiers(output) == ["<blank>"]


def test_min_difficulty_and_subsample_flags(tmp_path):
    rows = [("src", HARD, HARD_SOLUTION, "30"), ("easy", HARD_SOLUTION[:80] + ".", HARD_SOLUTION, "0")] * 3
    write_csv(tmp_path / "train.csv", rows)
    write_csv(tmp_path / "test.csv", rows)
    result = run_builder("--source-csv", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--min-difficulty", "1", "--subsample-size", "2")
    assert result.returncode == 0, result.stderr
    assert np.load(array_path(tmp_path / "out" / "train", "all", "inputs")).shape == (2, 81)
    assert np.load(array_path(tmp_path / "out" / "test", "all", "inputs")).shape == (3, 81)


def test_generated_build_is_deterministic_and_valid(tmp_path):
    args = ["--subsample-size", "6", "--test-size", "3", "--num-aug", "2", "--min-difficulty", "2", "--workers", "2", "--seed", "5"]
    first = run_builder("--output-dir", str(tmp_path / "a"), *args)
    assert first.returncode == 0, first.stderr
    # One worker gives the same bytes as two.
    assert run_builder("--output-dir", str(tmp_path / "b"), *args[:-4], "--workers", "1", "--seed", "5").returncode == 0
    for field in ("inputs", "labels", "group_indices"):
        a = np.load(array_path(tmp_path / "a" / "train", "all", field))
        b = np.load(array_path(tmp_path / "b" / "train", "all", field))
        np.testing.assert_array_equal(a, b)
    puzzles = np.load(array_path(tmp_path / "a" / "test", "all", "inputs")).reshape(-1, 9, 9).astype(np.int64) - 1
    assert all(has_unique_solution(p) and rate(p) >= 2 for p in puzzles)


def test_a_csv_row_of_the_wrong_length_stops_the_build_naming_file_and_line(tmp_path):
    write_csv(tmp_path / "train.csv", [("ok", HARD, HARD_SOLUTION, "3"), ("short-one", HARD[:-1], HARD_SOLUTION, "3")])
    write_csv(tmp_path / "test.csv", [("ok", HARD, HARD_SOLUTION, "3")])
    output = tmp_path / "out"
    result = run_builder("--source-csv", str(tmp_path / "train.csv"), "--output-dir", str(output))
    assert result.returncode == 2
    assert f"{tmp_path / 'train.csv'}, line 3 (puzzle 'short-one'): the question has 80 characters, expected 81" in result.stderr
    assert "Traceback" not in result.stderr
    assert not output.exists() and not list(tmp_path.glob(".out.*"))


def test_a_bad_character_is_reported_with_its_position(tmp_path):
    bad = HARD[:5] + "x" + HARD[6:]
    write_csv(tmp_path / "train.csv", [("ok", HARD, HARD_SOLUTION, "3"), ("bad", bad, HARD_SOLUTION, "3")])
    write_csv(tmp_path / "test.csv", [("ok", HARD, HARD_SOLUTION, "3")])
    result = run_builder("--source-csv", str(tmp_path), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "line 3: the question holds 'x' at position 5" in result.stderr
    assert "Traceback" not in result.stderr
