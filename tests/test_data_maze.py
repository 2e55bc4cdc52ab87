"""Mazes: generator and builder (hrm_core/data/maze.py, build_maze_dataset.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from hrm_core.data.build_maze_dataset import build_maze_dataset, read_csv_split
from hrm_core.data.format import DatasetMetadata, array_path
from hrm_core.data.maze import CHARSET, GOAL, PATH, START, generate_maze, is_unique_shortest_path, shortest_paths


def as_text(codes: np.ndarray) -> str:
    return "".join(CHARSET[c] for c in codes.reshape(-1))


def write_csv(path: Path, rows: list[tuple[np.ndarray, np.ndarray]]) -> None:
    path.write_text("source,question,answer,rating\n" + "".join(f"gen,{as_text(q)},{as_text(a)},0\n" for q, a in rows))


def run_builder(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hrm_core.data.build_maze_dataset", *args], capture_output=True, text=True, timeout=120)


def test_generated_mazes_have_a_long_unique_shortest_path():
    rng = np.random.default_rng(0)
    for _ in range(5):
        question, answer = generate_maze(30, rng, min_path_length=110)
        assert question.shape == (30, 30)
        assert (question == START).sum() == 1 and (question == GOAL).sum() == 1 and not (question == PATH).any()
        assert is_unique_shortest_path(question, answer)
        start = tuple(np.argwhere(question == START)[0])
        distance, _ = shortest_paths(question, start)
        steps = int(distance[tuple(np.argwhere(question == GOAL)[0])])
        assert steps >= 110 and (answer == PATH).sum() == steps - 1


def test_a_wrong_path_is_not_a_shortest_path():
    question, answer = generate_maze(15, np.random.default_rng(1), min_path_length=20)
    wrong = answer.copy()
    wrong[tuple(np.argwhere(answer == PATH)[0])] = 1  # break the path
    assert not is_unique_shortest_path(question, wrong)


def test_csv_build_with_aug_round_trips_and_keeps_paths_shortest(tmp_path):
    rng = np.random.default_rng(2)
    mazes = [generate_maze(12, rng, min_path_length=15) for _ in range(3)]
    write_csv(tmp_path / "train.csv", mazes)
    write_csv(tmp_path / "test.csv", mazes[:1])
    splits = {name: read_csv_split(tmp_path / f"{name}.csv") for name in ("train", "test")}
    build_maze_dataset(tmp_path / "maze", splits, aug=True)

    metadata = DatasetMetadata.load(tmp_path / "maze" / "train")
    assert (metadata.seq_len, metadata.vocab_size, metadata.total_groups, metadata.charset) == (144, 6, 3, "# SGo")
    inputs = np.load(array_path(tmp_path / "maze" / "train", "all", "inputs"))
    labels = np.load(array_path(tmp_path / "maze" / "train", "all", "labels"))
    assert inputs.shape == (24, 144) and inputs.min() >= 1 and labels.max() <= 5
    # Token = charset index + 1; the group's first copy is the maze as read.
    assert as_text(inputs[0] - 1) == as_text(mazes[0][0])
    for question, answer in zip(inputs, labels):
        assert is_unique_shortest_path(question.reshape(12, 12) - 1, answer.reshape(12, 12) - 1)
    assert np.load(array_path(tmp_path / "maze" / "test", "all", "inputs")).shape == (1, 144)


def test_generated_build_from_the_command_line(tmp_path):
    result = run_builder("--output-dir", str(tmp_path / "m"), "--grid-size", "15", "--min-path-length", "20", "--subsample-size", "4", "--test-size", "2", "--aug")
    assert result.returncode == 0, result.stderr
    assert np.load(array_path(tmp_path / "m" / "train", "all", "inputs")).shape == (32, 225)
    assert DatasetMetadata.load(tmp_path / "m" / "test").puzzle_description()["kind"] == "maze"


def test_bad_maze_rows_stop_the_build_naming_file_and_line(tmp_path):
    question, answer = generate_maze(12, np.random.default_rng(3), min_path_length=15)
    lines = ["source,question,answer,rating", f"ok,{as_text(question)},{as_text(answer)},0", f"bad,{as_text(question)[:-1]},{as_text(answer)},0"]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "test.csv").write_text("\n".join(lines[:2]) + "\n")
    result = run_builder("--source-csv", str(tmp_path), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"{tmp_path / 'train.csv'}, line 3 (puzzle 'bad'): the question has 143 characters, expected 144" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
