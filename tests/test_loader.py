"""The puzzle-dataset loader on a dataset written by the test in the original's format.

Every example's first input token is its own index, so each batch says exactly which examples it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hrm_core.data.format import DatasetFormatError, DatasetMetadata, load_identifiers
from hrm_core.data.loader import PuzzleSplit, TrainBatches, eval_batches
from hrm_core.models.losses import IGNORE_LABEL_ID

SEQ_LEN = 4
# 5 groups; group g has puzzles of these sizes (examples per puzzle).
GROUPS = [[3, 1], [2], [1, 1, 2], [4], [2, 2]]


def _write(root: Path, split: str, groups: list[list[int]] = GROUPS) -> tuple[list[int], list[int]]:
    """Writes one split with `groups` (the sizes of each group's puzzles); returns (puzzle of each example,
    group of each puzzle)."""
    inputs, example_puzzle, puzzle_group = [], [], []
    puzzle_indices, group_indices = [0], [0]
    for group, sizes in enumerate(groups):
        for size in sizes:
            for _ in range(size):
                index = len(inputs)
                inputs.append([index, 1, 2, 3])
                example_puzzle.append(len(puzzle_group))
            puzzle_group.append(group)
            puzzle_indices.append(len(inputs))
        group_indices.append(len(puzzle_group))
    inputs_array = np.array(inputs, dtype=np.int32)
    labels = inputs_array.copy()
    labels[:, 3] = 0  # the dataset's ignore label: becomes IGNORE_LABEL_ID in batches
    directory = root / split
    directory.mkdir(parents=True)
    arrays = {"inputs": inputs_array, "labels": labels,
              "puzzle_identifiers": np.arange(1, len(puzzle_group) + 1, dtype=np.int32) * 10,  # puzzle p has id 10 (p + 1)
              "puzzle_indices": np.array(puzzle_indices, dtype=np.int32), "group_indices": np.array(group_indices, dtype=np.int32)}
    for name, array in arrays.items():
        np.save(directory / f"all__{name}.npy", array)
    DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=100, seq_len=SEQ_LEN,
                    num_puzzle_identifiers=200, total_groups=len(groups), mean_puzzle_examples=len(inputs) / len(puzzle_group),
                    sets=["all"]).save(directory)
    return example_puzzle, puzzle_group


@pytest.fixture()
def dataset(tmp_path):
    example_puzzle, puzzle_group = _write(tmp_path, "train")
    _write(tmp_path, "test")
    (tmp_path / "identifiers.json").write_text(json.dumps(["<blank>"] + [f"p{i}" for i in range(9)]))
    return tmp_path, example_puzzle, puzzle_group


def _examples(batch) -> list[int]:
    return batch.tensors["inputs"][:, 0].tolist()


def test_training_batches_follow_the_originals_packing(dataset):
    root, example_puzzle, puzzle_group = dataset
    split = PuzzleSplit(root, "train")
    sampler = TrainBatches(split, seed=3, global_batch_size=4, epochs_per_pass=1, rank=0, world_size=1)
    batches = list(sampler.next_pass())
    assert batches and all(b.tensors["inputs"].shape == (4, SEQ_LEN) and b.global_size == 4 for b in batches)
    drawn = [e for b in batches for e in _examples(b)]
    # One epoch: every group contributes one puzzle (the last, incomplete batch is dropped), with no example twice.
    assert len(drawn) == len(set(drawn))
    groups_seen = {}
    for example in drawn:
        puzzle = example_puzzle[example]
        assert groups_seen.setdefault(puzzle_group[puzzle], puzzle) == puzzle  # one puzzle per group per epoch
    assert len(groups_seen) >= len(GROUPS) - 2  # at most the dropped batch's groups are missing
    # Identifiers belong to the example's puzzle; the dataset's ignore label is mapped to IGNORE_LABEL_ID.
    for batch in batches:
        for row, example in enumerate(_examples(batch)):
            assert batch.tensors["puzzle_identifiers"][row] == 10 * (example_puzzle[example] + 1)
        assert (batch.tensors["labels"][:, 3] == IGNORE_LABEL_ID).all() and str(batch.tensors["inputs"].dtype) == "torch.int32"


def test_passes_are_reproducible_and_reshuffled(dataset):
    root, _, _ = dataset
    split = PuzzleSplit(root, "train")

    def two_passes(seed):
        sampler = TrainBatches(split, seed=seed, global_batch_size=3, epochs_per_pass=4, rank=0, world_size=1)
        return [[_examples(b) for b in sampler.next_pass()] for _ in range(2)]

    first, second = two_passes(0)
    assert (first, second) == tuple(two_passes(0))
    assert first != second  # each pass draws a new order (Philox seeded with seed + pass count)
    assert all(len(batch) == 3 for batch in first + second)


def test_each_rank_takes_its_slice_of_the_global_batch(dataset):
    root, _, _ = dataset
    split = PuzzleSplit(root, "train")
    whole = [_examples(b) for b in TrainBatches(split, seed=1, global_batch_size=4, epochs_per_pass=3, rank=0, world_size=1).next_pass()]
    halves = [[_examples(b) for b in TrainBatches(split, seed=1, global_batch_size=4, epochs_per_pass=3, rank=r, world_size=2).next_pass()]
              for r in range(2)]
    assert [a + b for a, b in zip(*halves)] == whole
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        TrainBatches(split, seed=1, global_batch_size=5, epochs_per_pass=1, rank=0, world_size=2)


def test_sampler_state_resumes_with_exactly_the_next_batch(dataset):
    root, _, _ = dataset
    split = PuzzleSplit(root, "train")
    reference = TrainBatches(split, seed=5, global_batch_size=3, epochs_per_pass=3, rank=0, world_size=1)
    expected = [_examples(b) for _ in range(2) for b in reference.next_pass()]

    interrupted = TrainBatches(split, seed=5, global_batch_size=3, epochs_per_pass=3, rank=0, world_size=1)
    taken = []
    for batch in interrupted.next_pass():
        taken.append(_examples(batch))
        if len(taken) == 2:
            break
    state, rank_state = interrupted.state_dict(), interrupted.rank_state_dict()
    resumed = TrainBatches(split, seed=5, global_batch_size=3, epochs_per_pass=3, rank=0, world_size=1)
    resumed.load_state_dict(state)
    resumed.load_rank_state_dict(rank_state)
    rest = [_examples(b) for _ in range(2) for b in resumed.next_pass()]
    assert taken + rest[: len(expected) - 2] == expected


def test_eval_covers_every_example_once_with_padding(dataset):
    root, example_puzzle, _ = dataset
    split = PuzzleSplit(root, "test")
    total = split.num_examples("all")  # 18
    for world_size in (1, 2, 4):
        seen = []
        for rank in range(world_size):
            for batch in eval_batches(split, global_batch_size=8, rank=rank, world_size=world_size):
                local = 8 // world_size
                assert batch.tensors["inputs"].shape == (local, SEQ_LEN)
                valid = batch.local_valid
                rows = _examples(batch)[:valid]
                seen += rows
                assert [int(i) for i in batch.tensors["puzzle_identifiers"][:valid]] == [10 * (example_puzzle[e] + 1) for e in rows]
                # Padding: blank puzzle id, pad token, ignore label.
                assert (batch.tensors["puzzle_identifiers"][valid:] == 0).all()
                assert (batch.tensors["inputs"][valid:] == 0).all() and (batch.tensors["labels"][valid:] == IGNORE_LABEL_ID).all()
                assert batch.global_size in (8, total % 8)  # examples in the global batch, padding excluded
        assert sorted(seen) == list(range(total))


# --- broken datasets: one DatasetFormatError naming the file, when the split is opened --------------------

def _break_metadata(root: Path, **changes) -> None:
    path = root / "train" / "dataset.json"
    raw = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            del raw[key]
        else:
            raw[key] = value
    path.write_text(json.dumps(raw))


@pytest.mark.parametrize("breakage, file, words", [
    (lambda root: _break_metadata(root, seq_len=None), "dataset.json", "lacks the field(s) seq_len"),
    (lambda root: _break_metadata(root, seq_len="4"), "dataset.json", "seq_len must be an integer"),
    (lambda root: _break_metadata(root, sets="all"), "dataset.json", "sets must be a non-empty list"),
    (lambda root: (root / "train" / "all__labels.npy").unlink(), "all__labels.npy", "is missing"),
    (lambda root: (root / "train" / "all__inputs.npy").write_text("not an array"), "all__inputs.npy", "not a readable .npy"),
    (lambda root: np.save(root / "train" / "all__labels.npy", np.zeros((3, SEQ_LEN), dtype=np.int32)),
     "all__labels.npy", "but the inputs have"),
    (lambda root: _break_metadata(root, seq_len=9), "all__inputs.npy", "expected [examples, 9]"),
    (lambda root: np.save(root / "train" / "all__puzzle_indices.npy", np.array([0, 3, 4], dtype=np.int32)),
     "all__puzzle_indices.npy", "does not split"),
    (lambda root: np.save(root / "train" / "all__group_indices.npy", np.array([0, 2, 3], dtype=np.int32)),
     "all__group_indices.npy", "does not split"),
    (lambda root: np.save(root / "train" / "all__inputs.npy", np.zeros((22, SEQ_LEN), dtype=np.float32)),
     "all__inputs.npy", "not integers"),
])
def test_a_broken_split_is_reported_with_its_file(dataset, breakage, file, words):
    root, _, _ = dataset
    breakage(root)
    with pytest.raises(DatasetFormatError) as raised:
        PuzzleSplit(root, "train")
    assert str(root / "train" / file) in str(raised.value) and words in str(raised.value)


def test_a_broken_identifiers_file_is_reported(dataset):
    root, _, _ = dataset
    (root / "identifiers.json").write_text("{not json")
    with pytest.raises(DatasetFormatError, match="identifiers.json is not valid JSON"):
        load_identifiers(root)
    (root / "identifiers.json").write_text('{"0": "<blank>"}')
    with pytest.raises(DatasetFormatError, match="must hold a JSON list of puzzle names"):
        load_identifiers(root)


def test_ids_outside_the_vocabulary_or_the_puzzle_table_are_named_when_loaded(dataset):
    root, _, _ = dataset
    train = root / "train"
    labels = np.load(train / "all__labels.npy")
    labels[:, 1] = 100  # vocab_size is 100
    np.save(train / "all__labels.npy", labels)
    batches = TrainBatches(PuzzleSplit(root, "train"), seed=0, global_batch_size=4, epochs_per_pass=1, rank=0, world_size=1)
    with pytest.raises(DatasetFormatError, match=r"set 'all', labels: label 100 is outside 0\.\.99 \(vocab_size") as raised:
        list(batches.next_pass())
    assert str(train) in str(raised.value)

    test = root / "test"
    np.save(test / "all__puzzle_identifiers.npy", np.full(9, 200, dtype=np.int32))  # num_puzzle_identifiers is 200
    with pytest.raises(DatasetFormatError, match=r"puzzle_identifiers: puzzle identifier 200 is outside 0\.\.199"):
        list(eval_batches(PuzzleSplit(root, "test"), global_batch_size=4, rank=0, world_size=1))


@pytest.mark.parametrize("seed", [0, 3, 11])
@pytest.mark.parametrize("global_batch_size", [2, 3, 4])
def test_the_batch_count_is_the_number_of_batches_the_passes_hand_out(dataset, seed, global_batch_size):
    """Puzzles of unequal sizes: the count replays the group draws and finds exactly the batches a real walk
    yields (the originals' estimate, epochs * groups * mean size / batch, is higher: it ignores dropped batches)."""
    root, _, _ = dataset
    passes, epochs_per_pass = 3, 2
    sampler = TrainBatches(PuzzleSplit(root, "train"), seed=seed, global_batch_size=global_batch_size,
                           epochs_per_pass=epochs_per_pass, rank=0, world_size=1)
    counted = sampler.count_batches(passes, limit=10**9)
    handed_out = sum(len(list(sampler.next_pass())) for _ in range(passes))
    assert counted == handed_out
    assert sampler.count_batches(passes, limit=5) == min(5, handed_out)  # never past the schedule's total
    assert sampler.count_batches(passes, limit=10**9, max_draws=3) is None  # too many draws to replay: not counted


@pytest.mark.parametrize("global_batch_size", [2, 3, 5])
def test_the_batch_count_of_equal_puzzles_follows_from_their_size(tmp_path, global_batch_size):
    """Every puzzle of two examples: no draw is replayed, and the count still matches the real walk."""
    _write(tmp_path, "train", groups=[[2, 2], [2], [2, 2, 2], [2]])
    sampler = TrainBatches(PuzzleSplit(tmp_path, "train"), seed=1, global_batch_size=global_batch_size, epochs_per_pass=3,
                           rank=0, world_size=1)
    counted = sampler.count_batches(2, limit=10**9, max_draws=0)
    assert counted == sum(len(list(sampler.next_pass())) for _ in range(2))
