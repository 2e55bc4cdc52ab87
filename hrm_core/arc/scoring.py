"""ARC scoring: from predictions on augmented test puzzles to per-puzzle answers, pass@K and a submission.

An ARC dataset built like the original's `dataset/build_arc_dataset.py` holds, for every evaluation
puzzle, the puzzle itself plus up to ~1000 augmented copies. An augmented copy is named
`<name>_t<k>_<perm>` in `identifiers.json` (`<name>|||t<k>|||<perm>` in datasets built by the TRM
reference's builder):

- `k` (0-7) is the dihedral transform applied to every grid, numbered as the original's `dataset/common.py`
  numbers them (`hrm_core.data.augment.dihedral_transform`);
- `perm` is ten digits, the colour map: colour `c` of the original became colour `int(perm[c])`.
  Black (0) always stays black.

A grid is a sequence of `seq_len` = 30 x 30 tokens, row-major: 0 is padding, 1 is the end-of-grid
marker (EOS) drawn right of and below the grid, and colours 0-9 are tokens 2-11. Test grids sit at the
top-left corner (the builder translates only training examples).

Scoring, as the originals do it (TinyRecursiveModels' `evaluators/arc.py`, HRM's `arc_eval.ipynb`):

1. crop every prediction at EOS (`crop_at_eos`), then undo its puzzle's augmentation (`Augmentation.invert`);
2. find which test input of the original puzzle the row answers, by matching its de-augmented input;
3. vote: identical de-augmented predictions pool their votes; candidates rank by vote count, then by the
   mean sigmoid(q_halt) of their votes (the model's own confidence that it is done), and exact ties keep
   the order in which the candidates were first voted (both originals sort stably). The confidence is
   each original's own: TRM takes torch's float64 sigmoid, the HRM notebook torch's float32 sigmoid of the
   saved float32 logits; the two can order near-ties differently, so each figure uses its original's;
4. a test input is right at K when its label is among its K best candidates. `pass_at[K]` is the HRM
   notebook's figure (a puzzle counts only when all of its test inputs are right); `pass_at_test_fraction[K]`
   is TRM's `ARC/pass@K` (each puzzle earns the fraction of its test inputs that are right).

`VotingRule` holds the two departures from the originals a user may ask for: ties broken by the grid
itself (independent of the order rows arrive in) and empty grids skipped in `submission.json`.

Everything here is plain numpy (torch only for the originals' sigmoids) and deterministic;
`hrm_core.evaluators` adds the multi-rank glue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrm_core.data.augment import augment_arc_grid, deaugment_arc_grid
from hrm_core.data.format import (
    BLANK_PUZZLE_NAME,
    IDENTIFIERS_FILE,
    DatasetFormatError,
    DatasetMetadata,
    array_path,
    load_identifiers,
)

# Token layout of the original ARC builder.
PAD_TOKEN = 0
EOS_TOKEN = 1
COLOUR_OFFSET = 2
NUM_COLOURS = 10
GRID_SIDE = 30

PASS_AT_KS: tuple[int, ...] = (1, 2, 5, 10, 100, 1000)

# HRM's builder names a copy `<name>_t<k>_<map>`, TRM's `<name>|||t<k>|||<map>`; the parts mean the same.
_AUGMENTED_NAMES = (
    re.compile(r"^(?P<base>.+)_t(?P<dihedral>[0-7])_(?P<colours>[0-9]{10})$"),
    re.compile(r"^(?P<base>.+)\|\|\|t(?P<dihedral>[0-7])\|\|\|(?P<colours>[0-9]{10})$"),
)

# A grid as a hashable value: (rows, cols, the uint8 colours row-major). Equal grids have equal keys, and
# keys sort deterministically, which is what the final tie-break uses.
GridKey = tuple[int, int, bytes]


# --------------------------------------------------------------------------------------------------------
# Augmentations
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Augmentation:
    """A dihedral transform plus a colour map; `colour_map[c]` is what original colour `c` became."""

    dihedral_id: int = 0
    colour_map: tuple[int, ...] = tuple(range(NUM_COLOURS))

    @property
    def is_identity(self) -> bool:
        return self.dihedral_id == 0 and self.colour_map == tuple(range(NUM_COLOURS))

    def apply(self, grid: np.ndarray) -> np.ndarray:
        """Augments an original colour grid [rows, cols], as the builder does."""
        return augment_arc_grid(np.asarray(grid), self.dihedral_id, np.asarray(self.colour_map, dtype=np.uint8))

    def invert(self, grid: np.ndarray) -> np.ndarray:
        """Maps an augmented colour grid [rows, cols] back to the original puzzle's frame and colours."""
        original = deaugment_arc_grid(np.asarray(grid), self.dihedral_id, np.asarray(self.colour_map, dtype=np.uint8))
        return np.ascontiguousarray(original, dtype=np.uint8)


IDENTITY = Augmentation()


def parse_puzzle_name(name: str) -> tuple[str, Augmentation]:
    """Splits `<name>_t<k>_<perm>` (HRM's builder) or `<name>|||t<k>|||<perm>` (TRM's) into the original
    puzzle's name and its augmentation.

    A name without that suffix is an original (un-augmented) puzzle.
    """
    match = next((m for m in (pattern.match(name) for pattern in _AUGMENTED_NAMES) if m is not None), None)
    if match is None:
        return name, IDENTITY
    colour_map = tuple(int(digit) for digit in match["colours"])
    if sorted(colour_map) != list(range(NUM_COLOURS)):
        raise ValueError(
            f"puzzle name {name!r} ends in a colour map {match['colours']!r} that is not a permutation of 0-9; "
            f"is {IDENTIFIERS_FILE} from an ARC dataset built by build_arc_dataset?"
        )
    return match["base"], Augmentation(int(match["dihedral"]), colour_map)


# --------------------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------------------


def crop_sizes(tokens: np.ndarray) -> np.ndarray:
    """The grid size [N, 2] (rows, cols) that each token sequence [N, seq_len] encodes.

    As the original notebook does: the largest top-left rectangle made only of colour tokens, so a
    prediction stops at its first EOS or padding token, row by row. A sequence that starts with a
    non-colour token gives a 0 x 0 grid.
    """
    tokens = np.asarray(tokens)
    side = int(round(tokens.shape[-1] ** 0.5))
    if side * side != tokens.shape[-1]:
        raise ValueError(f"ARC sequences are square grids; a length of {tokens.shape[-1]} is not a square")
    grids = tokens.reshape(-1, side, side)
    is_colour = (grids >= COLOUR_OFFSET) & (grids < COLOUR_OFFSET + NUM_COLOURS)
    # Length of each row's colour prefix [N, side]; then the width usable by a rectangle reaching row r.
    row_prefix = np.where(is_colour.all(-1), side, np.argmin(is_colour, axis=-1))
    width = np.minimum.accumulate(row_prefix, axis=-1)
    area = width * np.arange(1, side + 1)
    best_rows = np.argmax(area, axis=-1)  # first maximum, like the notebook's strict `>` scan
    best_width = np.take_along_axis(width, best_rows[:, None], axis=-1)[:, 0]
    rows = np.where(best_width > 0, best_rows + 1, 0)
    return np.stack([rows, best_width], axis=-1)


def crop_at_eos(tokens: np.ndarray) -> np.ndarray:
    """The colour grid [rows, cols] (uint8, values 0-9) encoded by one token sequence [seq_len]."""
    tokens = np.asarray(tokens)
    rows, cols = crop_sizes(tokens[None])[0]
    side = int(round(tokens.shape[-1] ** 0.5))
    return (tokens.reshape(side, side)[:rows, :cols] - COLOUR_OFFSET).astype(np.uint8)


def encode_grid(grid: np.ndarray, seq_len: int = GRID_SIDE * GRID_SIDE) -> np.ndarray:
    """The token sequence [seq_len] of a colour grid at the top-left corner, with EOS as the builder draws it."""
    side = int(round(seq_len**0.5))
    rows, cols = grid.shape
    tokens = np.full((side, side), PAD_TOKEN, dtype=np.uint8)
    tokens[:rows, :cols] = np.asarray(grid, dtype=np.uint8) + COLOUR_OFFSET
    if rows < side:
        tokens[rows, :cols] = EOS_TOKEN
    if cols < side:
        tokens[:rows, cols] = EOS_TOKEN
    return tokens.reshape(-1)


def grid_key(grid: np.ndarray) -> GridKey:
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    return (int(grid.shape[0]), int(grid.shape[1]), grid.tobytes())


def grid_from_key(key: GridKey) -> np.ndarray:
    rows, cols, data = key
    return np.frombuffer(data, dtype=np.uint8).reshape(rows, cols).copy()


def trm_confidences(q_halt_logits: np.ndarray) -> list[float]:
    """sigmoid(q_halt) as TinyRecursiveModels' ARC evaluator computes it: torch's float64 sigmoid.

    (An `exp(-logaddexp(0, -x))` differs from it in the last bit for about half of float32 inputs, which
    is enough to flip a near-tie of mean confidences.)
    """
    logits = torch.from_numpy(np.ascontiguousarray(q_halt_logits, dtype=np.float64))
    return logits.sigmoid().tolist()


def hrm_confidences(q_halt_logits: np.ndarray) -> list[float]:
    """sigmoid(q_halt) as HRM's `arc_eval.ipynb` computes it: torch's sigmoid of the saved float32 logits."""
    logits = torch.from_numpy(np.ascontiguousarray(q_halt_logits, dtype=np.float32))
    return [float(q) for q in logits.sigmoid().tolist()]


def sequential_mean(values: Sequence[float]) -> float:
    """The mean as both originals compute it: a running `+=` in arrival order, then one division.

    Not `sum()` or `math.fsum`: Python 3.12's `sum` compensates rounding, and the last bit decides near-ties.
    """
    total = 0.0
    for value in values:
        total += value
    return total / len(values)


# --------------------------------------------------------------------------------------------------------
# The reference answers: every original puzzle's test inputs, in order, with their labels
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestInput:
    __test__ = False  # a name pytest would otherwise try to collect

    input: np.ndarray  # colour grid [rows, cols]
    label: np.ndarray  # colour grid [rows, cols]

    @property
    def input_key(self) -> GridKey:
        return grid_key(self.input)

    @property
    def label_key(self) -> GridKey:
        return grid_key(self.label)


@dataclass
class ARCReferences:
    """Each original puzzle's test inputs, in the order of the puzzle's file, with the right outputs."""

    puzzles: dict[str, list[TestInput]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {
            (name, test.input_key): index for name, tests in self.puzzles.items() for index, test in enumerate(tests)
        }

    def test_index(self, puzzle_name: str, input_key: GridKey) -> int | None:
        """Which test input of `puzzle_name` has this (de-augmented) input grid; None when none does."""
        return self._index.get((puzzle_name, input_key))

    @property
    def num_test_inputs(self) -> int:
        return sum(len(tests) for tests in self.puzzles.values())

    @classmethod
    def from_rows(cls, names: Sequence[str], inputs: np.ndarray, labels: np.ndarray) -> "ARCReferences":
        """References from examples [N, seq_len] named by their puzzle, in dataset order.

        Each original puzzle's test inputs come from its un-augmented copy; a puzzle whose rows hold only
        augmented copies takes them from its first copy, de-augmented.
        """
        reference_names = set(choose_reference_puzzles(names).values())
        puzzles: dict[str, list[TestInput]] = {}
        for row, name in enumerate(names):
            if name not in reference_names:
                continue
            base, augmentation = parse_puzzle_name(name)
            puzzles.setdefault(base, []).append(
                TestInput(
                    input=augmentation.invert(crop_at_eos(inputs[row])),
                    label=augmentation.invert(crop_at_eos(labels[row])),
                )
            )
        return cls(puzzles)


def choose_reference_puzzles(names: Iterable[str]) -> dict[str, str]:
    """For each original puzzle, the puzzle name its reference answers come from.

    The un-augmented copy when there is one, otherwise the first augmented copy seen.
    """
    chosen: dict[str, str] = {}
    for name in names:
        if name == BLANK_PUZZLE_NAME:
            continue
        base, augmentation = parse_puzzle_name(name)
        if base not in chosen or (augmentation.is_identity and chosen[base] != base):
            chosen[base] = name
    return chosen


def load_arc_dataset_names(data_path: str | Path) -> list[str]:
    """The puzzle names (`identifiers.json`, index = puzzle id) of an ARC dataset, with a clear error if absent."""
    identifiers = load_identifiers(data_path)
    if identifiers is None:
        raise DatasetFormatError(
            f"{Path(data_path) / IDENTIFIERS_FILE} does not exist; ARC scoring needs the puzzle names that "
            f"build_arc_dataset writes there. Is {data_path} an ARC dataset?"
        )
    return identifiers


def load_references(data_path: str | Path, split: str = "test") -> ARCReferences:
    """The references of every puzzle in a dataset split, read from its arrays.

    Inputs and labels are memory-mapped and only the reference puzzles' rows are read, so a split with
    1000 augmentations per puzzle stays cheap.
    """
    names = load_arc_dataset_names(data_path)
    split_dir = Path(data_path) / split
    metadata = DatasetMetadata.load(split_dir)
    row_names: list[str] = []
    row_inputs: list[np.ndarray] = []
    row_labels: list[np.ndarray] = []
    for set_name in metadata.sets:
        puzzle_ids = np.load(array_path(split_dir, set_name, "puzzle_identifiers"))
        puzzle_indices = np.load(array_path(split_dir, set_name, "puzzle_indices"))
        inputs = np.load(array_path(split_dir, set_name, "inputs"), mmap_mode="r")
        labels = np.load(array_path(split_dir, set_name, "labels"), mmap_mode="r")
        puzzle_names = [names[int(puzzle_id)] for puzzle_id in puzzle_ids]
        reference_names = set(choose_reference_puzzles(puzzle_names).values())
        for puzzle, name in enumerate(puzzle_names):
            if name not in reference_names:
                continue
            start, end = int(puzzle_indices[puzzle]), int(puzzle_indices[puzzle + 1])
            row_names.extend([name] * (end - start))
            row_inputs.append(np.asarray(inputs[start:end]))
            row_labels.append(np.asarray(labels[start:end]))
    if not row_names:
        return ARCReferences({})
    return ARCReferences.from_rows(row_names, np.concatenate(row_inputs), np.concatenate(row_labels))


# --------------------------------------------------------------------------------------------------------
# Votes
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VotingRule:
    """How votes become a ranking and a submission. The defaults are the originals' rules, exactly;
    each option is a departure from them, named so.

    `departure_tie_break_by_grid`: exact ties (same votes, same mean confidence) go to the smaller grid
    (shape, then bytes) instead of the candidate voted first, so the ranking does not depend on the order
    rows arrive in (the number of processes, the loader's order).
    `departure_skip_empty_attempts`: `submission.json` leaves out empty (0 x 0) candidates, which TRM
    writes as `[]`; the next candidate (or `[[0]]`) takes their place.
    """

    departure_tie_break_by_grid: bool = False
    departure_skip_empty_attempts: bool = False


ORIGINALS = VotingRule()

# Which original's confidence a ranking uses (see `trm_confidences`, `hrm_confidences`).
TRM = "trm"
HRM_NOTEBOOK = "hrm_notebook"


@dataclass
class CandidateVotes:
    """The votes one candidate grid collected for one test input, in arrival order."""

    trm_confidences: list[float] = field(default_factory=list)
    hrm_confidences: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.trm_confidences)

    def extend(self, other: "CandidateVotes") -> None:
        self.trm_confidences.extend(other.trm_confidences)
        self.hrm_confidences.extend(other.hrm_confidences)


# (original puzzle name, test input index) -> {candidate grid -> its votes}, candidates in the order they
# were first voted (dicts keep insertion order; that order is the originals' final tie-break).
Votes = dict[tuple[str, int], dict[GridKey, CandidateVotes]]


@dataclass(frozen=True)
class Candidate:
    grid_key: GridKey
    votes: int
    mean_q_halt_prob: float

    @property
    def grid(self) -> np.ndarray:
        return grid_from_key(self.grid_key)

    @property
    def is_empty(self) -> bool:
        return self.grid_key[0] * self.grid_key[1] == 0


class VoteTally:
    """Collects de-augmented predictions and their votes, one evaluation at a time.

    `add` takes rows as the model's evaluation produces them; `merge` pools the votes of another tally
    (another rank's, in rank order, as TRM's gather does). With the originals' rule, exact ties keep the
    order of first arrival; `VotingRule.departure_tie_break_by_grid` makes the ranking order-free.
    """

    def __init__(self, identifiers: Sequence[str], references: ARCReferences, blank_identifier_id: int = 0,
                 rule: VotingRule = ORIGINALS):
        self.identifiers = list(identifiers)
        self.references = references
        self.blank_identifier_id = blank_identifier_id
        self.rule = rule
        self.votes: Votes = {}
        self.num_predictions = 0
        self.num_unmatched = 0  # rows whose input matches no test input of their original puzzle
        self._parsed: dict[int, tuple[str, Augmentation]] = {}  # puzzle id -> (original name, augmentation)

    def _puzzle(self, puzzle_id: int) -> tuple[str, Augmentation]:
        if puzzle_id not in self._parsed:
            self._parsed[puzzle_id] = parse_puzzle_name(self.identifiers[puzzle_id])
        return self._parsed[puzzle_id]

    def add(self, puzzle_ids: np.ndarray, inputs: np.ndarray, preds: np.ndarray, q_halt_logits: np.ndarray) -> None:
        """Votes with a batch: puzzle ids [N], inputs and predicted tokens [N, seq_len], q_halt logits [N].

        Rows of the blank puzzle (the evaluation loader's padding) are skipped.
        """
        puzzle_ids = np.asarray(puzzle_ids).reshape(-1)
        keep = puzzle_ids != self.blank_identifier_id
        puzzle_ids = puzzle_ids[keep]
        inputs, preds = np.asarray(inputs)[keep], np.asarray(preds)[keep]
        logits = np.asarray(q_halt_logits).reshape(-1)[keep]
        trm_probs, hrm_probs = trm_confidences(logits), hrm_confidences(logits)
        input_sizes, pred_sizes = crop_sizes(inputs), crop_sizes(preds)
        side = int(round(inputs.shape[-1] ** 0.5))
        for row, puzzle_id in enumerate(puzzle_ids):
            base, augmentation = self._puzzle(int(puzzle_id))
            (input_rows, input_cols), (pred_rows, pred_cols) = input_sizes[row], pred_sizes[row]
            input_grid = inputs[row].reshape(side, side)[:input_rows, :input_cols] - COLOUR_OFFSET
            pred_grid = preds[row].reshape(side, side)[:pred_rows, :pred_cols] - COLOUR_OFFSET
            test_index = self.references.test_index(base, grid_key(augmentation.invert(input_grid.astype(np.uint8))))
            self.num_predictions += 1
            if test_index is None:
                self.num_unmatched += 1
                continue
            candidate = grid_key(augmentation.invert(pred_grid.astype(np.uint8)))
            votes = self.votes.setdefault((base, test_index), {}).setdefault(candidate, CandidateVotes())
            votes.trm_confidences.append(trm_probs[row])
            votes.hrm_confidences.append(hrm_probs[row])

    def merge(self, votes: Votes, num_predictions: int, num_unmatched: int) -> None:
        """Pools another tally's votes after this one's (merge ranks in rank order, as TRM gathers them)."""
        for test, candidates in votes.items():
            mine = self.votes.setdefault(test, {})
            for candidate, their_votes in candidates.items():
                mine.setdefault(candidate, CandidateVotes()).extend(their_votes)
        self.num_predictions += num_predictions
        self.num_unmatched += num_unmatched

    def ranked(self, puzzle_name: str, test_index: int, confidence: str = TRM) -> list[Candidate]:
        """The candidates for one test input, best first, by `confidence` (`TRM` or `HRM_NOTEBOOK`)."""
        candidates = [
            Candidate(key, votes.count, sequential_mean(
                votes.trm_confidences if confidence == TRM else votes.hrm_confidences))
            for key, votes in self.votes.get((puzzle_name, test_index), {}).items()
        ]
        if self.rule.departure_tie_break_by_grid:
            candidates.sort(key=lambda c: (-c.votes, -c.mean_q_halt_prob, c.grid_key))
        else:
            # Python's sort is stable: exact ties stay in arrival order, as in both originals.
            candidates.sort(key=lambda c: (-c.votes, -c.mean_q_halt_prob))
        return candidates


# --------------------------------------------------------------------------------------------------------
# Scores and submission
# --------------------------------------------------------------------------------------------------------


@dataclass
class ARCScores:
    """pass@K over original puzzles, each figure as the original it is named after computes it.

    `pass_at[K]`: HRM's `arc_eval.ipynb` figure, the fraction of puzzles whose every test input has its
    right answer among the K best candidates (ranked by the notebook's float32 confidence).
    `pass_at_test_fraction[K]`: TinyRecursiveModels' `ARC/pass@K`, where a puzzle with several test inputs
    earns the fraction of them that are right (ranked by TRM's float64 confidence).
    `puzzle_ranks[name]`: the smallest K that solves the puzzle by `pass_at`'s ranking, None when none does.
    """

    pass_at: dict[int, float]
    pass_at_test_fraction: dict[int, float]
    num_puzzles: int
    num_test_inputs: int
    num_predictions: int
    num_unmatched: int
    puzzle_ranks: dict[str, int | None]

    def to_json(self) -> dict[str, Any]:
        return {
            "pass_at": {str(k): v for k, v in self.pass_at.items()},
            "pass_at_test_fraction": {str(k): v for k, v in self.pass_at_test_fraction.items()},
            "num_puzzles": self.num_puzzles,
            "num_test_inputs": self.num_test_inputs,
            "num_predictions": self.num_predictions,
            "num_unmatched": self.num_unmatched,
            "puzzle_ranks": self.puzzle_ranks,
        }


def answer_rank(candidates: Sequence[Candidate], label_key: GridKey) -> int | None:
    """1-based position of the right answer among ranked candidates; None when it is not there."""
    for position, candidate in enumerate(candidates, start=1):
        if candidate.grid_key == label_key:
            return position
    return None


def score(tally: VoteTally, ks: Sequence[int] = PASS_AT_KS) -> ARCScores:
    """pass@K for every K in `ks` over all puzzles of the references (a puzzle without predictions fails)."""
    references = tally.references
    puzzle_ranks: dict[str, int | None] = {}
    test_fraction = {k: 0.0 for k in ks}
    for name, tests in references.puzzles.items():
        hrm_ranks = [answer_rank(tally.ranked(name, index, HRM_NOTEBOOK), test.label_key)
                     for index, test in enumerate(tests)]
        puzzle_ranks[name] = None if not hrm_ranks or None in hrm_ranks else max(hrm_ranks)  # type: ignore[type-var]
        trm_ranks = [answer_rank(tally.ranked(name, index, TRM), test.label_key) for index, test in enumerate(tests)]
        for k in ks:
            # TRM adds each puzzle's fraction to a running float, in the puzzles' order.
            test_fraction[k] += sum(rank is not None and rank <= k for rank in trm_ranks) / max(len(trm_ranks), 1)
    num_puzzles = len(references.puzzles)
    solved_at = {k: sum(rank is not None and rank <= k for rank in puzzle_ranks.values()) for k in ks}
    return ARCScores(
        pass_at={k: solved_at[k] / num_puzzles if num_puzzles else 0.0 for k in ks},
        pass_at_test_fraction={k: test_fraction[k] / num_puzzles if num_puzzles else 0.0 for k in ks},
        num_puzzles=num_puzzles,
        num_test_inputs=references.num_test_inputs,
        num_predictions=tally.num_predictions,
        num_unmatched=tally.num_unmatched,
        puzzle_ranks=puzzle_ranks,
    )


# What a test input gets when the model produced no prediction for it: the ARC Prize format needs a grid.
# (TRM leaves such a test input out of its puzzle's list, which shifts every later test input's attempts
# onto the wrong test input; a placeholder keeps the list aligned.)
FALLBACK_GRID: list[list[int]] = [[0]]


def make_submission(tally: VoteTally, attempts: int = 2) -> dict[str, list[dict[str, list[list[int]]]]]:
    """The ARC Prize submission: `{puzzle: [{"attempt_1": grid, "attempt_2": grid}, ...]}`, one entry per
    test input in the puzzle's order, `attempts` grids each: the best candidates by TRM's ranking.

    As TRM writes it: an empty candidate is an empty attempt (`[]`), and missing attempts repeat
    attempt_1. `VotingRule.departure_skip_empty_attempts` leaves empty candidates out instead."""
    submission: dict[str, list[dict[str, list[list[int]]]]] = {}
    for name, tests in tally.references.puzzles.items():
        entries = []
        for index in range(len(tests)):
            ranked = tally.ranked(name, index, TRM)
            if tally.rule.departure_skip_empty_attempts:
                ranked = [candidate for candidate in ranked if not candidate.is_empty]
            grids = [candidate.grid.tolist() for candidate in ranked[:attempts]] or [FALLBACK_GRID]
            grids += [grids[0]] * (attempts - len(grids))
            entries.append({f"attempt_{i + 1}": grid for i, grid in enumerate(grids)})
        submission[name] = entries
    return submission


def write_json(path: str | Path, data: Mapping[str, Any]) -> None:
    """Writes JSON through a temporary file and a rename, so a reader never sees half a file."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data))
    temporary.replace(path)
