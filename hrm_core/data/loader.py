"""Batches from a puzzle dataset (the originals' format, see hrm_core/data/format.py), for training and eval.

Semantics are the originals' puzzle_dataset.py's (HRM's for one dataset folder, TRM's for several):

A split (`PuzzleSplit`) is one dataset folder's split, or several trained as one (`data_paths`). Several
are merged as TRM's loader merges them (`merge_metadata`): their dataset.json must agree on seq_len,
vocab_size, pad_id, ignore_label_id, blank_identifier_id, sets and num_puzzle_identifiers; groups and
puzzle-identifier counts add up; puzzle identifiers are used as they are (not offset). The split's *parts*
are its (set, dataset) pairs in TRM's order: every dataset's `all`, then every dataset's next set, ...

Training (`TrainBatches`): one *pass* covers `epochs_per_pass` epochs (the eval interval). For each part,
the groups are shuffled once per epoch (Philox generator seeded with `seed + pass_counter`), the per-epoch
orders are concatenated, and the pass walks them: each group contributes one random puzzle of the group,
whose examples (in random order, truncated to the space left) fill the global batch. A global batch that
cannot be filled ends the part's walk (the last incomplete batch is dropped). Every rank packs the same
groups and puzzles into the global batch and keeps its slice `[rank * local : (rank + 1) * local]`.

The examples inside a puzzle are ordered by the *example stream*: the originals draw them with
`np.random.choice` in their loader worker, whose numpy generator torch seeds from the base seed the
DataLoader drew (hrm_core/data/worker_seed.py). Here a `RandomState` seeded the same way from `loader_seed`
does it, continuing across passes as the originals' persistent worker does. Each rank has its own stream
(the originals seed every rank differently), so ranks agree on the batch's puzzles but each orders the
examples within a puzzle its own way, exactly as the originals do.

Evaluation (`eval_batches`): every example of every part exactly once, in order, in global batches; each
rank takes its slice and pads it to the local batch size with the blank puzzle id, the pad token and the
ignore label.

`TrainBatches.state_dict()` captures the position (pass counter, part, index into the group order) and the
group generator after the last batch handed out, the same on every rank; `rank_state_dict()` this rank's
example stream. Together they let a resumed run continue with exactly the next batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrm_core.data.format import ARRAY_FIELDS, METADATA_FILE, DatasetFormatError, DatasetMetadata, array_path
from hrm_core.data.worker_seed import worker_numpy_seed
from hrm_core.models.losses import IGNORE_LABEL_ID  # batches carry the label the losses skip

# The most group draws `TrainBatches.count_batches` replays (a few seconds) before it gives up counting.
COUNT_MAX_DRAWS = 2_000_000

# inputs/labels can be large: memory-map them. The small index arrays are read into memory.
_MMAP_MODES = {"inputs": "r", "labels": "r", "puzzle_identifiers": None, "puzzle_indices": None, "group_indices": None}


@dataclass
class Batch:
    """One local batch. `tensors` holds int32 `inputs` [B, S], `labels` [B, S], `puzzle_identifiers` [B]."""

    set_name: str
    tensors: dict[str, torch.Tensor]
    global_size: int  # examples in the global batch, excluding padding
    local_valid: int  # rows of this rank's batch that are real examples (the rest is padding)
    dataset_index: int = 0  # which of the split's dataset folders the batch comes from


@dataclass
class SplitPart:
    """One set of one dataset folder of a split: the unit the sampler walks and evaluation runs through."""

    set_name: str  # the set's name in dataset.json; evaluation reports per set name
    dataset_index: int  # index into PuzzleSplit.dataset_paths
    split_dir: Path
    arrays: dict[str, np.ndarray]

    @property
    def where(self) -> str:
        """Names the data in errors: the split folder and the set."""
        return f"{self.split_dir} set {self.set_name!r}"


class PuzzleSplit:
    """One split (`train` or `test`) of one dataset folder, or of several trained as one (TRM's `data_paths`).

    `dataset_paths` is a folder or a list of folders. With one folder the metadata is its dataset.json as it
    is; with several, `merge_metadata`'s. `parts` lists the (set, dataset) pairs in the order training walks
    them and evaluation runs them.
    """

    def __init__(self, dataset_paths: str | Path | Sequence[str | Path], split: str):
        paths = [dataset_paths] if isinstance(dataset_paths, (str, Path)) else list(dataset_paths)
        if not paths:
            raise ValueError("PuzzleSplit needs at least one dataset folder")
        self.dataset_paths = [Path(p) for p in paths]
        self.split = split
        split_dirs = [path / split for path in self.dataset_paths]
        metadatas = [DatasetMetadata.load(split_dir) for split_dir in split_dirs]
        arrays = [{set_name: _load_set_arrays(split_dir, set_name, metadata.seq_len) for set_name in metadata.sets}
                  for split_dir, metadata in zip(split_dirs, metadatas)]
        if len(paths) == 1:
            self.metadata = metadatas[0]
        else:
            puzzle_counts = [metadata.total_puzzles if metadata.total_puzzles is not None
                             else sum(set_arrays["puzzle_identifiers"].size for set_arrays in dataset_arrays.values())
                             for metadata, dataset_arrays in zip(metadatas, arrays)]
            self.metadata = merge_metadata(list(zip(split_dirs, metadatas, puzzle_counts)))
        # TRM's order (puzzle_dataset.py, _lazy_load_dataset): set-major, then dataset.
        self.parts = [SplitPart(set_name, index, split_dirs[index], arrays[index][set_name])
                      for set_name in self.metadata.sets for index in range(len(paths))]

    @property
    def split_dir(self) -> Path:
        """The first dataset folder's split folder (the only one for a single dataset)."""
        return self.dataset_paths[0] / self.split

    def num_examples(self, set_name: str) -> int:
        """Examples of a set, over all dataset folders."""
        return sum(len(part.arrays["inputs"]) for part in self.parts if part.set_name == set_name)


# The fields TRM's loader asserts equal across the datasets it merges.
MERGE_AGREEING_FIELDS = ("seq_len", "vocab_size", "pad_id", "ignore_label_id", "blank_identifier_id", "sets",
                         "num_puzzle_identifiers")


def merge_metadata(datasets: list[tuple[Path, DatasetMetadata, int]]) -> DatasetMetadata:
    """The metadata of several datasets trained as one, computed as TRM's PuzzleDataset computes it.

    `datasets` holds (split folder, its metadata, its number of puzzles) per dataset, in data_paths order.
    The fields of MERGE_AGREEING_FIELDS must agree (a DatasetFormatError names the first dataset that
    disagrees and the field); total_groups, total_puzzles and num_puzzle_identifiers add up; the mean
    number of examples per puzzle is weighted by puzzles. The arithmetic is TRM's, in its order, so the
    step count (epochs * total_groups * mean_puzzle_examples / global_batch_size) is the same.
    """
    first_dir, first, _ = datasets[0]
    for split_dir, metadata, _ in datasets[1:]:
        for name in MERGE_AGREEING_FIELDS:
            if getattr(metadata, name) != getattr(first, name):
                raise DatasetFormatError(
                    f"{split_dir / METADATA_FILE} has {name}={getattr(metadata, name)!r}, but {first_dir / METADATA_FILE} "
                    f"has {name}={getattr(first, name)!r}: datasets trained together (data_paths) must agree on "
                    f"{', '.join(MERGE_AGREEING_FIELDS)}")
    weighted_examples = 0.0
    total_puzzles = total_groups = num_identifiers = 0
    for _, metadata, puzzles in datasets:
        weighted_examples += metadata.mean_puzzle_examples * puzzles
        total_puzzles += puzzles
        total_groups += metadata.total_groups
        num_identifiers += metadata.num_puzzle_identifiers
    kinds = {metadata.puzzle_kind for _, metadata, _ in datasets}
    return replace(first, num_puzzle_identifiers=num_identifiers, total_groups=total_groups,
                   mean_puzzle_examples=weighted_examples / total_puzzles if total_puzzles else 0.0,
                   total_puzzles=total_puzzles, puzzle_kind=first.puzzle_kind if len(kinds) == 1 else None,
                   extra={})


def _load_set_arrays(split_dir: Path, set_name: str, seq_len: int) -> dict[str, np.ndarray]:
    arrays = {}
    for field_name in ARRAY_FIELDS:
        path = array_path(split_dir, set_name, field_name)
        if not path.exists():
            raise DatasetFormatError(f"{path} is missing; rebuild the dataset.")
        try:
            arrays[field_name] = np.load(path, mmap_mode=_MMAP_MODES[field_name])
        except (ValueError, OSError, EOFError) as e:  # truncated, not .npy, or pickled objects
            raise DatasetFormatError(f"{path} is not a readable .npy array ({str(e).splitlines()[0]}); "
                                     "rebuild the dataset.") from None
    _check_set_arrays(split_dir, set_name, arrays, seq_len)
    return arrays


def _check_set_arrays(split_dir: Path, set_name: str, arrays: dict[str, np.ndarray], seq_len: int) -> None:
    """The arrays of one set agree with each other and with dataset.json (shapes and end points only: O(1)).

    A mismatch would otherwise surface mid-run as an IndexError deep in the sampler, or train on garbage.
    """

    def fail(field_name: str, what: str) -> DatasetFormatError:
        return DatasetFormatError(f"{array_path(split_dir, set_name, field_name)} {what}; rebuild the dataset.")

    inputs, labels = arrays["inputs"], arrays["labels"]
    identifiers, puzzle_indices, group_indices = arrays["puzzle_identifiers"], arrays["puzzle_indices"], arrays["group_indices"]
    for field_name, array in arrays.items():
        if not np.issubdtype(array.dtype, np.integer):
            raise fail(field_name, f"holds {array.dtype} values, not integers")
    if inputs.size or labels.size:  # an empty set may be saved as shape (0,)
        if inputs.ndim != 2 or inputs.shape[1] != seq_len:
            raise fail("inputs", f"has shape {inputs.shape}, expected [examples, {seq_len}] (seq_len in dataset.json)")
        if labels.shape != inputs.shape:
            raise fail("labels", f"has shape {labels.shape}, but the inputs have {inputs.shape}")
    for field_name in ("puzzle_identifiers", "puzzle_indices", "group_indices"):
        if arrays[field_name].ndim != 1:
            raise fail(field_name, f"has shape {arrays[field_name].shape}, expected one dimension")
    if puzzle_indices.size != identifiers.size + 1 or puzzle_indices[0] != 0 or puzzle_indices[-1] != len(inputs):
        raise fail("puzzle_indices", f"does not split the {len(inputs)} examples into the {identifiers.size} puzzles "
                                     "(expected 0 first, the number of examples last, one entry per puzzle plus one)")
    if group_indices.size < 1 or group_indices[0] != 0 or group_indices[-1] != identifiers.size:
        raise fail("group_indices", f"does not split the {identifiers.size} puzzles into groups "
                                    "(expected 0 first and the number of puzzles last)")


# Elements read at once by check_value_ranges (int32: 64 MB), so the check's memory stays flat for any set.
_RANGE_CHUNK = 16 * 1024 * 1024


def _min_max(array: np.ndarray, skip: int | None = None) -> tuple[int, int] | None:
    """(min, max) of a (memory-mapped) array in one pass of chunks, leaving out the value `skip`; None if empty."""
    flat = array.reshape(-1)
    info = np.iinfo(flat.dtype)
    low, high = info.max, info.min
    seen = False
    for start in range(0, flat.size, _RANGE_CHUNK):
        chunk = np.asarray(flat[start:start + _RANGE_CHUNK])
        if skip is None:
            seen = seen or chunk.size > 0
            if chunk.size:
                low, high = min(low, int(chunk.min())), max(high, int(chunk.max()))
            continue
        keep = chunk != skip  # a reduction `where=` the mask: no copy of the kept values
        seen = seen or bool(keep.any())
        low = min(low, int(np.min(chunk, where=keep, initial=info.max)))
        high = max(high, int(np.max(chunk, where=keep, initial=info.min)))
    return (low, high) if seen else None


# The range every id must lie in: (array, what its values are, the dataset.json field that bounds them).
_RANGE_RULES = (
    ("inputs", "token", "vocab_size"),
    ("labels", "label", "vocab_size"),
    ("puzzle_identifiers", "puzzle identifier", "num_puzzle_identifiers"),
)


def _check_ranges(metadata: DatasetMetadata, arrays: dict[str, np.ndarray], ignore_label: int | None,
                  location: Callable[[str], str]) -> None:
    """Every token within the vocabulary and every puzzle id within the embedding table; `ignore_label` (not a
    token) is left out of the labels. Raises DatasetFormatError at `location(array name)`.

    One check for both uses: the whole split up front (`check_value_ranges`) and each batch (`_collate`).
    """
    for field_name, what, limit_field in _RANGE_RULES:
        limit = getattr(metadata, limit_field)
        extremes = _min_max(arrays[field_name], ignore_label if field_name == "labels" else None)
        if extremes is None:
            continue
        low, high = extremes
        if low < 0 or high >= limit:
            bad = high if high >= limit else low
            raise DatasetFormatError(f"{location(field_name)}: {what} {bad} is outside 0..{limit - 1} ({limit_field} "
                                     "in dataset.json); rebuild the dataset.")


def check_value_ranges(split: PuzzleSplit) -> None:
    """`_check_ranges` over the whole split, when it is opened.

    The per-batch check would find a bad id only when its batch comes up, hours into a run; this reads each
    array once, in chunks (vectorised min/max over the memory map: about the time it takes to read the files,
    ~0.3 s per GB from the page cache on a 2-core VM; a few times that for labels whose ignore value lies
    outside the vocabulary). Raises DatasetFormatError naming the file.
    """
    metadata = split.metadata
    ignore = metadata.ignore_label_id
    # The dataset's ignore label may lie outside the vocabulary (the original's -100): it is not a token.
    skip = ignore if ignore is not None and not 0 <= ignore < metadata.vocab_size else None
    for part in split.parts:
        _check_ranges(metadata, part.arrays, skip,
                      lambda field_name: str(array_path(part.split_dir, part.set_name, field_name)))  # noqa: B023


def _collate(metadata: DatasetMetadata, arrays: dict[str, np.ndarray], local_batch_size: int, where: str) -> dict[str, torch.Tensor]:
    """int32 tensors; the dataset's ignore label mapped to IGNORE_LABEL_ID; padded to the local batch size.

    `where` names the data (split folder and set) in the error for an out-of-range id.
    """
    batch = {k: np.asarray(v).astype(np.int32) for k, v in arrays.items()}
    if metadata.ignore_label_id is not None:
        batch["labels"][batch["labels"] == metadata.ignore_label_id] = IGNORE_LABEL_ID
    # An id out of range would make the embedding lookup fail (on CUDA as an opaque device-side assert) or
    # read another row; naming the dataset here points at the real cause.
    _check_ranges(metadata, batch, IGNORE_LABEL_ID, lambda field_name: f"{where}, {field_name}")
    pad = local_batch_size - batch["puzzle_identifiers"].size
    if pad > 0:
        pad_values = {"inputs": metadata.pad_id, "labels": IGNORE_LABEL_ID, "puzzle_identifiers": metadata.blank_identifier_id}
        batch = {
            k: np.pad(v, ((0, pad),) + ((0, 0),) * (v.ndim - 1), constant_values=pad_values[k])
            for k, v in batch.items()
        }
    return {k: torch.from_numpy(v) for k, v in batch.items()}


def _local_batch_size(global_batch_size: int, world_size: int) -> int:
    if global_batch_size % world_size != 0:
        raise ValueError(f"global_batch_size={global_batch_size} must be a multiple of the number of processes ({world_size})")
    return global_batch_size // world_size


# ---------------------------------------------------------------------------------------------------------
# Training

def _plain_state(state: dict[str, Any]) -> dict[str, Any]:
    """A numpy generator's state as plain Python values (checkpoints load with weights_only=True)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, np.ndarray):
            return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return float(value)
        return value

    return plain(state)


def _numpy_state(state: dict[str, Any]) -> dict[str, Any]:
    """`_plain_state`'s inverse."""

    def numpy_values(value: Any) -> Any:
        if isinstance(value, dict) and "__ndarray__" in value:
            return np.array(value["__ndarray__"], dtype=value["dtype"])
        if isinstance(value, dict):
            return {k: numpy_values(v) for k, v in value.items()}
        return value

    return numpy_values(state)


class TrainBatches:
    """Training batches, one pass (= `epochs_per_pass` epochs) per call of `next_pass()`.

    `loader_seed` seeds this rank's example stream: the trainer passes the int64 that the originals'
    DataLoader draws when it creates the train iterator (hrm_core.data.worker_seed), so the examples come in
    the originals' order; anything else gives the same kind of sampling in another order.
    """

    def __init__(self, split: PuzzleSplit, *, seed: int, global_batch_size: int, epochs_per_pass: int, rank: int,
                 world_size: int, loader_seed: int = 0):
        self.split = split
        self.metadata = split.metadata
        self.seed = seed
        self.global_batch_size = global_batch_size
        self.local_batch_size = _local_batch_size(global_batch_size, world_size)
        self.epochs_per_pass = epochs_per_pass
        self.rank = rank
        # Position: part walks begun (the originals' `_iters`), and where the current one stands.
        self._iters = 0
        self._part_index = 0  # index into split.parts of the part being walked
        self._start_index = 0  # next position in that part's group order
        self._in_pass = False
        self._group_rng: np.random.Generator | None = None
        self._group_order: np.ndarray | None = None
        self.seed_example_stream(loader_seed)

    def seed_example_stream(self, loader_seed: int) -> None:
        """(Re)starts the example stream as the originals' loader worker seeds numpy from its base seed."""
        self._example_rng = np.random.RandomState(worker_numpy_seed(loader_seed))

    # The per-part shuffle, exactly the originals': Philox(seed + iters) permutes the groups once per epoch
    # and then picks the puzzle of each group.
    def _begin_part(self, part: SplitPart) -> None:
        self._iters += 1
        self._group_rng = np.random.Generator(np.random.Philox(seed=self.seed + self._iters))
        num_groups = part.arrays["group_indices"].size - 1
        self._group_order = np.concatenate([self._group_rng.permutation(num_groups) for _ in range(self.epochs_per_pass)])
        self._start_index = 0

    def _pack_puzzles(self, arrays: dict[str, np.ndarray]) -> list[tuple[int, int]]:
        """The puzzles of the next global batch, picked from the group order until it is full, with the number
        of examples each gives: (puzzle, take). Only the group generator draws here."""
        assert self._group_order is not None and self._group_rng is not None
        puzzle_indices, group_indices = arrays["puzzle_indices"], arrays["group_indices"]
        packed = []
        size = 0
        while self._start_index < self._group_order.size and size < self.global_batch_size:
            group = self._group_order[self._start_index]
            puzzle = int(self._group_rng.integers(group_indices[group], group_indices[group + 1]))
            self._start_index += 1
            take = min(int(puzzle_indices[puzzle + 1] - puzzle_indices[puzzle]), self.global_batch_size - size)
            packed.append((puzzle, take))
            size += take
        return packed

    def _sample_global_batch(self, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Packs groups from the order until the global batch is full: (example indices, puzzle indices)."""
        puzzle_indices = arrays["puzzle_indices"]
        examples, puzzles = [], []
        for puzzle, take in self._pack_puzzles(arrays):
            first = puzzle_indices[puzzle]
            puzzles.append(np.full(take, puzzle, dtype=np.int32))
            examples.append(first + self._example_rng.choice(int(puzzle_indices[puzzle + 1] - first), take, replace=False))
        if not examples:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        return np.concatenate(examples), np.concatenate(puzzles)

    def count_batches(self, passes: int, limit: int, max_draws: int = COUNT_MAX_DRAWS) -> int | None:
        """The global batches that `passes` passes from the start of training hand out, at most `limit`.

        The originals' step total is an estimate (one puzzle of mean size per group, hrm_core.training.schedule);
        the true count is smaller by the incomplete batch each walk drops, and depends on the puzzles drawn.
        When every puzzle of a part has the same number of examples the count follows from the sizes alone;
        otherwise the group draws are replayed on a scratch sampler (this one is not moved), and when that
        would take more than `max_draws` draws (seconds of start-up) the answer is None: not counted.
        """
        scratch = TrainBatches(self.split, seed=self.seed, global_batch_size=self.global_batch_size,
                               epochs_per_pass=self.epochs_per_pass, rank=0, world_size=1)
        count = draws = 0
        for _ in range(passes):
            for part in self.split.parts:
                sizes = np.diff(part.arrays["puzzle_indices"])
                walk_groups = (part.arrays["group_indices"].size - 1) * self.epochs_per_pass
                if sizes.size and sizes.min() == sizes.max() > 0:
                    scratch._iters += 1  # the walk's generator is not needed: every pick gives the same size
                    count += walk_groups // -(-self.global_batch_size // int(sizes[0]))  # puzzles per batch, rounded up
                else:
                    draws += walk_groups
                    if draws > max_draws:
                        return None
                    scratch._begin_part(part)
                    while sum(take for _, take in scratch._pack_puzzles(part.arrays)) == self.global_batch_size:
                        count += 1
                if count >= limit:
                    return limit
        return count

    def next_pass(self) -> Iterator[Batch]:
        """Yields the batches of one pass over every part; after a resume, the rest of the interrupted pass."""
        parts = self.split.parts
        resuming = self._in_pass
        while self._part_index < len(parts):
            part = parts[self._part_index]
            if not resuming:
                self._begin_part(part)
            resuming = False
            self._in_pass = True
            while self._start_index < self._group_order.size:  # type: ignore[union-attr]
                example_indices, puzzle_indices = self._sample_global_batch(part.arrays)
                if puzzle_indices.size < self.global_batch_size:
                    break  # drop the last incomplete batch
                local = slice(self.rank * self.local_batch_size, (self.rank + 1) * self.local_batch_size)
                tensors = _collate(self.metadata, {
                    "inputs": part.arrays["inputs"][example_indices[local]],
                    "labels": part.arrays["labels"][example_indices[local]],
                    "puzzle_identifiers": part.arrays["puzzle_identifiers"][puzzle_indices[local]],
                }, self.local_batch_size, where=part.where)
                yield Batch(part.set_name, tensors, global_size=int(puzzle_indices.size), local_valid=self.local_batch_size,
                            dataset_index=part.dataset_index)
            self._part_index += 1
        self._part_index = 0
        self._in_pass = False

    def end_pass(self) -> None:
        """Abandons the rest of the current pass: the next `next_pass()` starts a new one.

        The loop calls it when it stops a pass early at total_steps (the original skips the remaining batches).
        """
        self._in_pass = False
        self._part_index = 0
        self._start_index = 0

    def state_dict(self) -> dict[str, Any]:
        """Position after the last batch handed out and the group generator's state, the same on every rank
        (plain Python values)."""
        state: dict[str, Any] = {
            "iters": self._iters,
            "set_index": self._part_index,
            "start_index": self._start_index,
            "in_pass": self._in_pass,
            "epochs_per_pass": self.epochs_per_pass,
            "global_batch_size": self.global_batch_size,
            "seed": self.seed,
        }
        if self._in_pass:
            state["group_rng"] = _plain_state(self._group_rng.bit_generator.state)  # type: ignore[union-attr]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("epochs_per_pass", "global_batch_size", "seed"):
            if state[key] != getattr(self, key):
                raise ValueError(f"the checkpoint's data sampler used {key}={state[key]}, this run {getattr(self, key)}")
        self._iters = state["iters"]
        self._part_index = state["set_index"]
        self._in_pass = state["in_pass"]
        if self._in_pass:
            # Rebuild the group order of the interrupted walk (the same draws as at its start), then put the
            # generator back where it was.
            self._iters -= 1
            self._begin_part(self.split.parts[self._part_index])
            self._group_rng.bit_generator.state = _numpy_state(state["group_rng"])  # type: ignore[union-attr]
        self._start_index = state["start_index"]

    def rank_state_dict(self) -> dict[str, Any]:
        """This rank's example stream (it differs between ranks, as in the originals)."""
        return {"example_rng": _plain_state(self._example_rng.get_state(legacy=False))}

    def load_rank_state_dict(self, state: dict[str, Any]) -> None:
        self._example_rng.set_state(_numpy_state(state["example_rng"]))


# ---------------------------------------------------------------------------------------------------------
# Evaluation

def eval_batches(split: PuzzleSplit, *, global_batch_size: int, rank: int, world_size: int) -> Iterator[Batch]:
    """Every example of every part once, in order; this rank's slice of each global batch, padded."""
    local_batch_size = _local_batch_size(global_batch_size, world_size)
    for part in split.parts:
        arrays = part.arrays
        total = len(arrays["inputs"])
        puzzle_starts = arrays["puzzle_indices"]
        for start in range(0, total, global_batch_size):
            end = min(total, start + global_batch_size)
            local_start = min(start + rank * local_batch_size, end)
            local_end = min(start + (rank + 1) * local_batch_size, end)
            # Puzzle of each example: the last puzzle whose first example is at or before it.
            puzzles = np.searchsorted(puzzle_starts, np.arange(local_start, local_end), side="right") - 1
            tensors = _collate(split.metadata, {
                "inputs": arrays["inputs"][local_start:local_end],
                "labels": arrays["labels"][local_start:local_end],
                "puzzle_identifiers": arrays["puzzle_identifiers"][puzzles],
            }, local_batch_size, where=part.where)
            yield Batch(part.set_name, tensors, global_size=end - start, local_valid=local_end - local_start,
                        dataset_index=part.dataset_index)
