"""Constructed ARC voting cases, shared by tools/record_arc_voting_fixture.py (which runs the originals'
scoring code on them) and tests/test_arc_voting_originals.py (which runs ours on the same rows).

A case is a few original puzzles (test input and output grids) plus votes in arrival order: which test
input a row answers, its predicted grid (in the original puzzle's frame), its q_halt logit and the
augmentation of the row. `rows(case, separator)` lays them out as an evaluation would produce them: every
row its own puzzle id, named as the originals' builders name augmented copies (`_` for HRM's, `|||` for
TRM's), grids encoded 30 x 30 at the top-left corner with EOS. The first vote of each test input is the
un-augmented copy (HRM's notebook takes the right answers from it); later votes are augmented.

Everything is generated from fixed seeds, so the recorder and the test build identical rows;
`rows_digest` lets the test check that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from hrm_core.arc.scoring import Augmentation, encode_grid

SEQ_LEN = 900
PASS_KS = (1, 2, 5, 10, 100, 1000)
BLANK_ID = 0


@dataclass
class Vote:
    puzzle: str
    test_index: int
    prediction: np.ndarray  # colour grid in the original frame; shape (0, 0) for an empty prediction
    q_logit: float  # float32
    augmentation: Augmentation = field(default_factory=Augmentation)


@dataclass
class Case:
    name: str
    puzzles: dict[str, list[tuple[np.ndarray, np.ndarray]]]  # name -> [(test input, test output)]
    votes: list[Vote]


def _grid(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return rng.integers(0, 10, size=(rows, cols), dtype=np.uint8)


def _augmentation(rng: np.random.Generator) -> Augmentation:
    colours = (0, *(int(c) for c in rng.permutation(np.arange(1, 10))))
    return Augmentation(int(rng.integers(0, 8)), colours)


def _puzzles(rng: np.random.Generator, num_puzzles: int, tests_per_puzzle=(1,)) -> dict:
    puzzles = {}
    for p in range(num_puzzles):
        count = tests_per_puzzle[p % len(tests_per_puzzle)]
        puzzles[f"p{p}"] = [(_grid(rng, 3, 4 + t), _grid(rng, 2 + t, 3)) for t in range(count)]
    return puzzles


def _votes_for(rng, puzzle, test_index, predictions_and_logits, puzzles) -> list[Vote]:
    """Votes in the given order; the first un-augmented, the others augmented at random."""
    votes = []
    for position, (prediction, logit) in enumerate(predictions_and_logits):
        augmentation = Augmentation() if position == 0 else _augmentation(rng)
        votes.append(Vote(puzzle, test_index, prediction, float(np.float32(logit)), augmentation))
    return votes


def exact_ties() -> Case:
    """Candidates with the same votes and the same logits: only arrival order separates them."""
    rng = np.random.default_rng(11)
    puzzles = _puzzles(rng, 8)
    votes = []
    for p, (name, tests) in enumerate(puzzles.items()):
        label = tests[0][1]
        wrong = [_grid(rng, 1, 3) for _ in range(3)]  # smaller than the label: a grid order puts them first
        # Label first for half the puzzles, second or third for the others: a grid order would differ.
        order = [wrong[0], label, wrong[1]] if p % 2 else [label, wrong[0], wrong[2]]
        if p % 3 == 2:
            order = [wrong[0], wrong[1], label]
        votes += _votes_for(rng, name, 0, [(grid, 0.25) for grid in order] * 2, puzzles)
    return Case("exact_ties", puzzles, votes)


def _near_tie_logits(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """Two pairs of float32 logits whose float64-sigmoid means differ by at most a few ulps, so that the
    last bit of the sigmoid decides which pair ranks first."""
    while True:
        a, b, c = (float(np.float32(x)) for x in rng.uniform(-3, 3, size=3))
        # d so that sigmoid(a) + sigmoid(b) == sigmoid(c) + sigmoid(d) in real arithmetic, rounded to float32.
        s = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
        target = s(a) + s(b) - s(c)
        if 0.01 < target < 0.99:
            d = float(np.float32(np.log(target / (1 - target))))
            return a, b, c, d


def float_near_ties() -> Case:
    """Pairs of candidates with two votes each whose mean confidences are equal to within float rounding,
    and single-vote candidates whose float32 sigmoids are equal (1.0) while the float64 ones are not."""
    rng = np.random.default_rng(12)
    puzzles = _puzzles(rng, 24)
    votes = []
    for p, (name, tests) in enumerate(puzzles.items()):
        label = tests[0][1]
        wrong = _grid(rng, 2, 3)
        if p < 20:
            a, b, c, d = _near_tie_logits(rng)
            first, second = (label, wrong) if p % 2 else (wrong, label)
            votes += _votes_for(rng, name, 0, [(first, a), (second, c), (first, b), (second, d)], puzzles)
        else:
            # Saturated float32 sigmoids (1.0): HRM's notebook sees a tie and keeps the label, voted first;
            # TRM's float64 sigmoids rank the later, larger logit first.
            low = 17.5 + 2 * (p - 20)
            votes += _votes_for(rng, name, 0, [(label, low), (wrong, low + 1.0)], puzzles)
    return Case("float_near_ties", puzzles, votes)


def empty_grids() -> Case:
    """Empty (0 x 0) predictions as top candidates, alone, and beside real ones."""
    rng = np.random.default_rng(13)
    puzzles = _puzzles(rng, 4)
    empty = np.zeros((0, 0), dtype=np.uint8)
    votes = []
    for p, (name, tests) in enumerate(puzzles.items()):
        label = tests[0][1]
        plan = [
            [(empty, 1.0), (empty, 0.5), (label, 2.0)],
            [(empty, 0.0)],
            [(label, 0.0), (empty, 3.0), (empty, 3.0)],
            [(_grid(rng, 2, 3), -1.0), (empty, 1.0)],
        ][p]
        votes += _votes_for(rng, name, 0, plan, puzzles)
    return Case("empty_grids", puzzles, votes)


def multiple_test_inputs() -> Case:
    """Puzzles with 1-3 test inputs, some right and some not, so the two figures differ."""
    rng = np.random.default_rng(14)
    puzzles = _puzzles(rng, 9, tests_per_puzzle=(1, 2, 3))
    votes = []
    for p, (name, tests) in enumerate(puzzles.items()):
        for t, (_, label) in enumerate(tests):
            wrong = _grid(rng, label.shape[0], label.shape[1])
            right = (p + t) % 3 != 0
            plan = [(label if right else wrong, float(rng.normal())), (wrong, float(rng.normal()))]
            plan += [(label, float(rng.normal()))] * int(rng.integers(0, 3))
            votes += _votes_for(rng, name, t, plan, puzzles)
    # Interleave the puzzles' votes: arrival order crosses test inputs and puzzles.
    first_votes = [v for v in votes if v.augmentation.is_identity]
    others = [v for v in votes if not v.augmentation.is_identity]
    order = rng.permutation(len(others))
    return Case("multiple_test_inputs", puzzles, first_votes + [others[i] for i in order])


def thousand_augmentations() -> Case:
    """Two puzzles, each voted on by 1000 augmented copies, over 31 equally likely candidates (close counts)."""
    rng = np.random.default_rng(15)
    puzzles = _puzzles(rng, 2)
    votes = []
    for name, tests in puzzles.items():
        label = tests[0][1]
        candidates = [label] + [_grid(rng, 2, 3) for _ in range(30)]
        picks = rng.choice(len(candidates), size=1000)
        plan = [(candidates[i], float(rng.normal(scale=2.0))) for i in picks]
        votes += _votes_for(rng, name, 0, plan, puzzles)
    return Case("thousand_augmentations", puzzles, votes)


CASES = {case.name: case for case in (exact_ties(), float_near_ties(), empty_grids(), multiple_test_inputs(),
                                      thousand_augmentations())}


@dataclass
class Rows:
    identifiers: list[str]  # puzzle id -> name; id 0 the blank puzzle
    puzzle_ids: np.ndarray  # [N] int32
    inputs: np.ndarray  # [N, 900] int64
    labels: np.ndarray  # [N, 900] int64
    preds: np.ndarray  # [N, 900] int64
    q_halt_logits: np.ndarray  # [N] float32


def augmented_name(puzzle: str, augmentation: Augmentation, separator: str) -> str:
    if augmentation.is_identity:
        return puzzle
    colours = "".join(str(c) for c in augmentation.colour_map)
    return separator.join((puzzle, f"t{augmentation.dihedral_id}", colours))


def _encode(grid: np.ndarray) -> np.ndarray:
    if grid.size == 0:
        tokens = np.zeros(SEQ_LEN, dtype=np.int64)
        tokens[0] = 1  # EOS at the corner: the model predicted an empty grid
        return tokens
    return encode_grid(grid, SEQ_LEN).astype(np.int64)


def rows(case: Case, separator: str) -> Rows:
    """The evaluation rows of a case, named with `separator` ("_": HRM's builder, "|||": TRM's)."""
    identifiers = ["<blank>"]
    ids, inputs, labels, preds, logits = [], [], [], [], []
    for vote in case.votes:
        test_input, test_output = case.puzzles[vote.puzzle][vote.test_index]
        identifiers.append(augmented_name(vote.puzzle, vote.augmentation, separator))
        ids.append(len(identifiers) - 1)
        inputs.append(_encode(vote.augmentation.apply(test_input)))
        labels.append(_encode(vote.augmentation.apply(test_output)))
        prediction = vote.prediction if vote.prediction.size == 0 else vote.augmentation.apply(vote.prediction)
        preds.append(_encode(prediction))
        logits.append(vote.q_logit)
    return Rows(identifiers, np.array(ids, dtype=np.int32), np.stack(inputs), np.stack(labels), np.stack(preds),
                np.array(logits, dtype=np.float32))


def rows_digest(case: Case) -> str:
    """A digest of the rows both layouts make, so a test notices when the cases drift from the recording."""
    digest = hashlib.sha256()
    for separator in ("_", "|||"):
        laid_out = rows(case, separator)
        digest.update("\n".join(laid_out.identifiers).encode())
        for array in (laid_out.puzzle_ids, laid_out.inputs, laid_out.labels, laid_out.preds, laid_out.q_halt_logits):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def test_puzzles_json(case: Case) -> dict:
    """TRM's `test_puzzles.json` for a case: each puzzle's test pairs as ARC JSON."""
    return {name: {"train": [], "test": [{"input": i.tolist(), "output": o.tolist()} for i, o in tests]}
            for name, tests in case.puzzles.items()}


test_puzzles_json.__test__ = False  # a helper, not a test
