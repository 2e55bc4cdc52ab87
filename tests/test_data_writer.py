"""The streaming dataset writer, the demo set and the known-dataset table (hrm_core/data/dataset_writer.py, demo.py, known.py)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from hrm_core.data.demo import DEMO_DATA_PATH, DEMO_TEST_PUZZLES, DEMO_TRAIN_PUZZLES, ensure_demo_dataset
from hrm_core.data.format import DatasetMetadata, array_path, load_identifiers
from hrm_core.data.known import suggest_build_command
from hrm_core.data.loader import PuzzleSplit, TrainBatches
from hrm_core.data.sudoku import has_unique_solution, is_solved
from hrm_core.data.dataset_writer import DatasetWriter


def write_small(path: Path, rows: int) -> None:
    with DatasetWriter(path) as dataset:
        split = dataset.split("train", seq_len=4)
        for start in range(0, rows, 3):
            block = np.arange(start, min(rows, start + 3))[:, None].repeat(4, axis=1).astype(np.uint8)
            split.add_group(block, block + 1, puzzle_sizes=[len(block)], puzzle_identifiers=[1])
        split.finish(vocab_size=256, num_puzzle_identifiers=2)
        dataset.write_identifiers(["<blank>", "p"])


def test_streamed_arrays_read_back_with_numpy(tmp_path):
    write_small(tmp_path / "d", rows=10)
    inputs = np.load(array_path(tmp_path / "d" / "train", "all", "inputs"), mmap_mode="r")
    assert inputs.shape == (10, 4) and inputs.dtype == np.uint8
    np.testing.assert_array_equal(inputs[:, 0], np.arange(10))
    assert np.load(array_path(tmp_path / "d" / "train", "all", "puzzle_indices")).tolist() == [0, 3, 6, 9, 10]
    assert np.load(array_path(tmp_path / "d" / "train", "all", "group_indices")).tolist() == [0, 1, 2, 3, 4]
    metadata = DatasetMetadata.load(tmp_path / "d" / "train")
    assert metadata.total_groups == 4 and metadata.mean_puzzle_examples == 2.5
    assert load_identifiers(tmp_path / "d") == ["<blank>", "p"]


def test_a_failure_leaves_nothing_and_keeps_an_older_build(tmp_path):
    write_small(tmp_path / "d", rows=5)
    with pytest.raises(RuntimeError, match="boom"):
        with DatasetWriter(tmp_path / "d") as dataset:
            split = dataset.split("train", seq_len=4)
            split.add_group(np.zeros((1, 4), np.uint8), np.zeros((1, 4), np.uint8), puzzle_sizes=[1], puzzle_identifiers=[0])
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    assert np.load(array_path(tmp_path / "d" / "train", "all", "inputs")).shape == (5, 4)
    # A successful rebuild replaces it.
    write_small(tmp_path / "d", rows=7)
    assert np.load(array_path(tmp_path / "d" / "train", "all", "inputs")).shape == (7, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_demo_dataset_is_valid_4x4_sudoku_and_loads(tmp_path):
    path = ensure_demo_dataset(tmp_path / "demo")
    train = PuzzleSplit(path, "train")
    assert train.metadata.puzzle_description()["kind"] == "sudoku"
    assert train.metadata.puzzle_description()["grid_shape"] == [4, 4]
    inputs = np.load(array_path(path / "train", "all", "inputs")).astype(np.int64) - 1
    labels = np.load(array_path(path / "train", "all", "labels")).astype(np.int64) - 1
    assert len(inputs) == DEMO_TRAIN_PUZZLES and is_solved(labels.reshape(-1, 4, 4)).all()
    assert all(has_unique_solution(p) for p in inputs[:50].reshape(-1, 4, 4))
    test_inputs = np.load(array_path(path / "test", "all", "inputs"))
    assert len(test_inputs) == DEMO_TEST_PUZZLES
    assert not {row.tobytes() for row in test_inputs} & {row.tobytes() for row in (inputs + 1).astype(np.uint8)}
    batch = next(TrainBatches(train, seed=0, global_batch_size=64, epochs_per_pass=1, rank=0, world_size=1).next_pass())
    assert batch.tensors["inputs"].shape == (64, 16)


def test_concurrent_demo_builds_agree(tmp_path):
    target = tmp_path / "demo"
    with ProcessPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(ensure_demo_dataset, [target] * 3))
    assert results == [target] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no temporary folder left behind
    assert DatasetMetadata.load(target / "train").total_groups == DEMO_TRAIN_PUZZLES


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data/arc-aug-1000", ["build_arc_dataset", "--output-dir", "data/arc-aug-1000", "--source", "arc-agi-1", "--num-aug", "1000"]),
        ("data/arc-2-aug-1000", ["build_arc_dataset", "--output-dir", "data/arc-2-aug-1000", "--source", "arc-agi-2", "--num-aug", "1000"]),
        ("data/sudoku-extreme-1k-aug-1000", ["build_sudoku_dataset", "--output-dir", "data/sudoku-extreme-1k-aug-1000", "--subsample-size", "1000", "--num-aug", "1000"]),
        ("data/sudoku-hard-full", ["build_sudoku_dataset", "--output-dir", "data/sudoku-hard-full"]),
        ("data/maze-30x30-hard-1k", ["build_maze_dataset", "--output-dir", "data/maze-30x30-hard-1k", "--grid-size", "30", "--subsample-size", "1000"]),
        (DEMO_DATA_PATH, ["demo", "--output-dir", DEMO_DATA_PATH]),
    ],
)
def test_known_dataset_names_map_to_their_build_commands(path, expected):
    argv = suggest_build_command(path)
    assert argv[:2] == [sys.executable, "-m"]
    assert argv[2] == f"hrm_core.data.{expected[0]}" and argv[3:] == expected[1:]


def test_unknown_names_have_no_build_command():
    assert suggest_build_command("data/my-own-set") is None
    assert suggest_build_command("data/arc-aug-lots") is None


def test_suggested_commands_parse_with_the_builders(tmp_path):
    # Every suggestion must be accepted by its builder's argument parser (--help-free dry check).
    from hrm_core.data import build_arc_dataset, build_maze_dataset, build_sudoku_dataset

    parsers = {"build_arc_dataset": build_arc_dataset.parse_args, "build_sudoku_dataset": build_sudoku_dataset.parse_args, "build_maze_dataset": build_maze_dataset.parse_args}
    for name in ("arc-aug-1000", "arc-2-aug-1000", "sudoku-extreme-1k-aug-1000", "sudoku-hard-full", "maze-30x30-hard-1k"):
        argv = suggest_build_command(str(tmp_path / name))
        parsers[argv[2].rsplit(".", 1)[1]](argv[3:])


def test_show_prints_puzzles_and_reports_errors_without_traceback(tmp_path):
    path = ensure_demo_dataset(tmp_path / "demo")
    result = subprocess.run([sys.executable, "-m", "hrm_core.data.show", str(path), "--split", "test", "--index", "2", "--count", "1"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "sudoku, 256 examples in 256 puzzles" in result.stdout
    assert "puzzle 2: <blank>" in result.stdout and "┼" in result.stdout
    missing = subprocess.run([sys.executable, "-m", "hrm_core.data.show", str(tmp_path / "nothing")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "is " in missing.stderr and "Traceback" not in missing.stderr
    out_of_range = subprocess.run([sys.executable, "-m", "hrm_core.data.show", str(path), "--index", "5000"], capture_output=True, text=True, timeout=60)
    assert out_of_range.returncode == 2 and "--index 5000 is out of range" in out_of_range.stderr
