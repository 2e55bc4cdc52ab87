"""Several datasets trained as one (TRM's data_paths), datasets built by TRM's builders, and the DataLoader
draws the originals' numbers depend on (hrm_core/data/loader.py, worker_seed.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hrm_core.arc.scoring import load_references, parse_puzzle_name
from hrm_core.data.format import DatasetFormatError, DatasetMetadata, load_identifiers
from hrm_core.data.loader import PuzzleSplit, TrainBatches, eval_batches
from hrm_core.data.worker_seed import draw_iterator_seed, worker_numpy_seed
from hrm_core.data.dataset_writer import DatasetWriter
from tests.training_helpers import write_tiny_dataset

TRM_BUILT = Path(__file__).parent / "fixtures" / "trm_built"


@pytest.fixture()
def two_datasets(tmp_path) -> tuple[Path, Path]:
    a = write_tiny_dataset(tmp_path / "a", train_groups=5, augmentations=2)
    b = write_tiny_dataset(tmp_path / "b", train_groups=7, augmentations=1)
    # write_tiny_dataset gives both the same puzzle-id count only by chance: make them agree, as TRM needs.
    ids = max(DatasetMetadata.load(p / "train").num_puzzle_identifiers for p in (a, b))
    for path in (a, b):
        for split in ("train", "test"):
            raw = json.loads((path / split / "dataset.json").read_text())
            (path / split / "dataset.json").write_text(json.dumps(raw | {"num_puzzle_identifiers": ids}))
    return a, b


def _puzzle_count(path: Path, split: str) -> int:
    return int(np.load(path / split / "all__puzzle_identifiers.npy").size)


def test_merged_metadata_is_trms(two_datasets):
    a, b = two_datasets
    merged = PuzzleSplit([a, b], "train")
    ma, mb = (DatasetMetadata.load(p / "train") for p in (a, b))
    pa, pb = _puzzle_count(a, "train"), _puzzle_count(b, "train")  # no total_puzzles field: counted
    m = merged.metadata
    assert m.total_groups == ma.total_groups + mb.total_groups
    assert m.num_puzzle_identifiers == ma.num_puzzle_identifiers + mb.num_puzzle_identifiers  # summed, ids not offset
    assert m.total_puzzles == pa + pb
    assert m.mean_puzzle_examples == (0 + ma.mean_puzzle_examples * pa + mb.mean_puzzle_examples * pb) / (pa + pb)
    assert [(part.set_name, part.dataset_index) for part in merged.parts] == [("all", 0), ("all", 1)]
    # One folder: its dataset.json as it is (HRM's loader).
    assert PuzzleSplit([a], "train").metadata == ma == PuzzleSplit(a, "train").metadata


def test_training_walks_every_dataset_and_evaluation_covers_them(two_datasets):
    a, b = two_datasets
    split = PuzzleSplit([a, b], "train")
    sampler = TrainBatches(split, seed=0, global_batch_size=4, epochs_per_pass=2, rank=0, world_size=1)
    seen = {batch.dataset_index for batch in sampler.next_pass()}
    assert seen == {0, 1}
    test = PuzzleSplit([a, b], "test")
    counted = {0: 0, 1: 0}
    for batch in eval_batches(test, global_batch_size=4, rank=0, world_size=1):
        assert batch.set_name == "all"
        counted[batch.dataset_index] += batch.local_valid
    assert counted == {0: len(np.load(a / "test" / "all__inputs.npy")), 1: len(np.load(b / "test" / "all__inputs.npy"))}
    assert test.num_examples("all") == sum(counted.values())


@pytest.mark.parametrize("field, value", [("vocab_size", 9), ("num_puzzle_identifiers", 3), ("pad_id", 1),
                                          ("ignore_label_id", None), ("blank_identifier_id", 2)])
def test_a_dataset_that_disagrees_is_named_with_the_field(two_datasets, field, value):
    a, b = two_datasets
    raw = json.loads((b / "train" / "dataset.json").read_text())
    (b / "train" / "dataset.json").write_text(json.dumps(raw | {field: value}))
    with pytest.raises(DatasetFormatError) as raised:
        PuzzleSplit([a, b], "train")
    message = str(raised.value)
    assert str(b / "train" / "dataset.json") in message and str(a / "train" / "dataset.json") in message
    assert f"{field}={value!r}" in message and "data_paths" in message


def test_datasets_built_by_trms_builders_load():
    for name, kind in (("arc", "arc"), ("sudoku", "sudoku")):
        root = TRM_BUILT / name
        for split in ("train", "test"):
            loaded = PuzzleSplit([root], split)
            # TRM's Sudoku builder writes the number of groups as total_puzzles (every group holds the puzzle
            # and its augmentations); its ARC builder the number of puzzles.
            expected = loaded.metadata.total_groups if name == "sudoku" else _puzzle_count(root, split)
            assert loaded.metadata.total_puzzles == expected
            assert loaded.metadata.inferred_kind() == kind
            batches = list(eval_batches(loaded, global_batch_size=4, rank=0, world_size=1))
            assert sum(b.local_valid for b in batches) == loaded.num_examples("all")
    # TRM's ARC builder names copies `<name>|||t<k>|||<colours>`; scoring undoes them.
    names = load_identifiers(TRM_BUILT / "arc")
    copies = [parse_puzzle_name(n) for n in names[1:]]
    assert {base for base, _ in copies} == {"00000001", "00000002"}
    assert sum(not aug.is_identity for _, aug in copies) == 4
    references = load_references(TRM_BUILT / "arc")
    assert list(references.puzzles) == ["00000002"] and references.num_test_inputs == 1


def test_our_builders_write_total_puzzles(tmp_path):
    with DatasetWriter(tmp_path / "d") as dataset:
        split = dataset.split("train", seq_len=2)
        split.add_groups(np.ones((5, 2), np.uint8), np.ones((5, 2), np.uint8), puzzle_sizes=[2, 1, 2],
                         puzzle_identifiers=[1, 2, 3], group_sizes=[2, 1])
        split.finish(vocab_size=3, num_puzzle_identifiers=4)
    raw = json.loads((tmp_path / "d" / "train" / "dataset.json").read_text())
    assert raw["total_puzzles"] == 3  # what TRM's loader requires


def test_worker_seed_is_torchs():
    from torch.utils.data._utils.worker import _generate_state  # the function the DataLoader worker uses

    rng = np.random.default_rng(0)
    for base_seed in [0, 1, 2**32 - 1, 2**32, 2**63 - 1, *rng.integers(0, 2**63 - 1, 50).tolist()]:
        for worker_id in (0, 1, 3):
            assert worker_numpy_seed(int(base_seed), worker_id) == _generate_state(int(base_seed), worker_id)


class _Draws(torch.utils.data.IterableDataset):
    def __iter__(self):
        yield int(np.random.randint(0, 2**31))  # numpy's global generator, as the originals' sampler uses it


def test_the_iterator_draw_and_the_example_stream_are_the_dataloaders():
    """What the originals' DataLoader does to the random streams, which the trainer reproduces."""
    torch.manual_seed(7)
    ours = draw_iterator_seed()
    after_ours = torch.rand(3)
    torch.manual_seed(7)
    loader = torch.utils.data.DataLoader(_Draws(), batch_size=None, num_workers=1, persistent_workers=True)
    iterator = iter(loader)
    worker_value = next(iterator)
    after_loader = torch.rand(3)
    assert iterator._base_seed == ours
    assert torch.equal(after_ours, after_loader)  # the same draw from torch's generator
    assert np.random.RandomState(worker_numpy_seed(ours)).randint(0, 2**31) == worker_value
    # Persistent workers: a second pass draws nothing.
    list(iterator)
    state = torch.get_rng_state()
    iter(loader)
    assert torch.equal(state, torch.get_rng_state())
