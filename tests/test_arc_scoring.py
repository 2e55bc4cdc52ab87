"""The ARC scorer (hrm_core.arc.scoring) on hand-made predictions whose pass@K is worked out by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hrm_core.data.augment import arc_augmentation_name, augment_arc_grid, dihedral_transform, random_colour_maps
from hrm_core.arc.scoring import (
    PASS_AT_KS,
    ARCReferences,
    Augmentation,
    TestInput,
    VoteTally,
    VotingRule,
    crop_at_eos,
    crop_sizes,
    encode_grid,
    grid_key,
    make_submission,
    parse_puzzle_name,
    score,
)

SEQ_LEN = 36  # 6 x 6 grids keep the hand-made cases readable; the scorer works for any square side


# ----------------------------------------------------------------------------------------------------------
# Augmentations: numbering and inverses as the original builder defines them
# ----------------------------------------------------------------------------------------------------------

GRID = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)

# Worked out by hand from the original's dataset/common.py: 1-3 rotate counter-clockwise by 90/180/270
# degrees, 4 mirrors left-right, 5 flips up-down, 6 transposes, 7 reflects in the anti-diagonal.
DIHEDRAL_OF_GRID = {
    0: [[1, 2, 3], [4, 5, 6]],
    1: [[3, 6], [2, 5], [1, 4]],
    2: [[6, 5, 4], [3, 2, 1]],
    3: [[4, 1], [5, 2], [6, 3]],
    4: [[3, 2, 1], [6, 5, 4]],
    5: [[4, 5, 6], [1, 2, 3]],
    6: [[1, 4], [2, 5], [3, 6]],
    7: [[6, 3], [5, 2], [4, 1]],
}


@pytest.mark.parametrize("dihedral_id", range(8))
def test_dihedral_transforms_are_numbered_like_the_original(dihedral_id):
    assert dihedral_transform(GRID, dihedral_id).tolist() == DIHEDRAL_OF_GRID[dihedral_id]


def test_puzzle_names_parse_into_original_name_and_augmentation():
    assert parse_puzzle_name("007bbfb7") == ("007bbfb7", Augmentation())
    base, augmentation = parse_puzzle_name("007bbfb7_t1_0987654321")
    assert base == "007bbfb7"
    assert augmentation == Augmentation(1, (0, 9, 8, 7, 6, 5, 4, 3, 2, 1))
    # Underscores inside the original name survive; only the trailing `_t<k>_<perm>` is an augmentation.
    assert parse_puzzle_name("concept_Above_1_t7_0123456798")[0] == "concept_Above_1"
    assert parse_puzzle_name("foo_t8_0123456789") == ("foo_t8_0123456789", Augmentation())
    with pytest.raises(ValueError, match="not a permutation"):
        parse_puzzle_name("foo_t1_0123456788")


def test_inverse_undoes_a_builder_augmentation_by_hand():
    # Builder: rotate GRID counter-clockwise (t1), then recolour c -> 10 - c (perm 0987654321):
    # [[3,6],[2,5],[1,4]] becomes [[7,4],[8,5],[9,6]].
    augmented = np.array([[7, 4], [8, 5], [9, 6]], dtype=np.uint8)
    _, augmentation = parse_puzzle_name("p_t1_0987654321")
    assert augmentation.apply(GRID).tolist() == augmented.tolist()
    assert augmentation.invert(augmented).tolist() == GRID.tolist()


def test_deaugmentation_inverts_the_dataset_builders_augmentation():
    # The builders' own augmentation (hrm_core.data.augment) and their identifier names.
    rng = np.random.default_rng(0)
    grid = rng.integers(0, 10, size=(4, 7), dtype=np.uint8)
    for dihedral_id in range(8):
        for colour_map in random_colour_maps(rng, 4):
            name = arc_augmentation_name("007bbfb7", dihedral_id, colour_map)
            base, augmentation = parse_puzzle_name(name)
            augmented = augment_arc_grid(grid, dihedral_id, colour_map)
            assert base == "007bbfb7"
            assert augmentation.invert(augmented).tolist() == grid.tolist()


def test_inverse_undoes_every_dihedral_transform_and_colour_permutation():
    rng = np.random.default_rng(0)
    grid = rng.integers(0, 10, size=(3, 5), dtype=np.uint8)
    for dihedral_id in range(8):
        for _ in range(5):
            colours = "0" + "".join(str(c) for c in rng.permutation(np.arange(1, 10)))
            _, augmentation = parse_puzzle_name(f"p_t{dihedral_id}_{colours}")
            # The builder's construction, written out independently: recolour after the transform.
            expected_augmented = np.array([int(colours[c]) for c in dihedral_transform(grid, dihedral_id).flat])
            assert augmentation.apply(grid).reshape(-1).tolist() == expected_augmented.tolist()
            assert augmentation.invert(augmentation.apply(grid)).tolist() == grid.tolist()


# ----------------------------------------------------------------------------------------------------------
# Cropping at EOS
# ----------------------------------------------------------------------------------------------------------


def tokens(rows: list[list[int]]) -> np.ndarray:
    side = len(rows)
    assert all(len(r) == side for r in rows)
    return np.array(rows).reshape(side * side)


def test_crop_stops_at_eos_and_padding():
    # 2 x 2 grid of colours 0,1 / 2,3 drawn as tokens 2..5 with EOS (1) right and below.
    assert crop_at_eos(tokens([[2, 3, 1, 0], [4, 5, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])).tolist() == [[0, 1], [2, 3]]
    # Labels carry the loss's ignore id (-100) where the original has padding.
    assert crop_at_eos(tokens([[2, 3, -100], [-100] * 3, [-100] * 3])).tolist() == [[0, 1]]


def test_crop_takes_the_largest_top_left_rectangle_of_colours():
    # Row colour prefixes 3, 2, 2, 0: areas 1x3=3, 2x2=4, 3x2=6 -> 3 x 2.
    assert crop_sizes(tokens([[2, 2, 2, 1], [2, 2, 1, 2], [2, 2, 0, 0], [1, 1, 1, 1]])[None]).tolist() == [[3, 2]]
    # Prefixes 3, 1, 1, 0: areas 3, 2, 3 -> the first of the two best (1 x 3), as the original's scan keeps it.
    assert crop_sizes(tokens([[2, 2, 2, 1], [2, 1, 0, 0], [2, 1, 0, 0], [1, 0, 0, 0]])[None]).tolist() == [[1, 3]]
    # A prediction that starts with EOS is an empty grid; a full grid needs no EOS.
    assert crop_at_eos(tokens([[1, 2], [2, 2]])).shape == (0, 0)
    assert crop_at_eos(tokens([[11, 2], [2, 11]])).tolist() == [[9, 0], [0, 9]]
    # Tokens outside the colour range (12 and up) stop a row like EOS does.
    assert crop_at_eos(tokens([[2, 12], [2, 2]])).tolist() == [[0], [0]]


def test_encode_grid_matches_the_builder_layout():
    assert encode_grid(np.array([[0, 1], [2, 3]]), seq_len=16).reshape(4, 4).tolist() == [
        [2, 3, 1, 0],
        [4, 5, 1, 0],
        [1, 1, 0, 0],
        [0, 0, 0, 0],
    ]


# ----------------------------------------------------------------------------------------------------------
# Votes, ties and pass@K on hand-made predictions
# ----------------------------------------------------------------------------------------------------------


def g(*rows: str) -> np.ndarray:
    """A colour grid from strings of digits, e.g. g("12", "34")."""
    return np.array([[int(c) for c in row] for row in rows], dtype=np.uint8)


# Each original puzzle: its test inputs and their right outputs (labels).
PUZZLES = {
    "A": [TestInput(g("12", "30"), g("21", "03"))],
    "B": [TestInput(g("4"), g("55"))],
    "C": [TestInput(g("6", "7"), g("67"))],
    "D": [TestInput(g("111"), g("2")), TestInput(g("1", "1"), g("3", "3"))],
    "E": [TestInput(g("8"), g("9"))],
    "F": [TestInput(g("99"), g("1"))],  # the model produced nothing for F
}

WRONG_1, WRONG_2, WRONG_3 = g("5"), g("66"), g("7", "7")

# The votes: (puzzle, test index, predicted grid, q_halt logit), one row each.
VOTES = [
    # A: WRONG_1 3 votes, the label 2, WRONG_2 1 -> the label ranks 2nd.
    *[("A", 0, WRONG_1, 0.0)] * 3,
    *[("A", 0, PUZZLES["A"][0].label, 0.0)] * 2,
    ("A", 0, WRONG_2, 5.0),
    # B: 2 votes each. Mean sigmoid(q_halt): label (sigmoid(10) + sigmoid(-2)) / 2 = (0.99995 + 0.11920) / 2
    # = 0.5596; WRONG_1 sigmoid(0.5) = 0.6225 -> WRONG_1 first, the label 2nd. (Averaging the logits
    # instead, 4.0 against 0.5, would put the label first: the tie-break is on probabilities.)
    ("B", 0, PUZZLES["B"][0].label, 10.0),
    ("B", 0, PUZZLES["B"][0].label, -2.0),
    ("B", 0, WRONG_1, 0.5),
    ("B", 0, WRONG_1, 0.5),
    # C: 2 votes each. Label (sigmoid(3) + sigmoid(-3)) / 2 = 0.5; WRONG_2 sigmoid(-1) = 0.2689 -> label 1st.
    ("C", 0, PUZZLES["C"][0].label, 3.0),
    ("C", 0, PUZZLES["C"][0].label, -3.0),
    ("C", 0, WRONG_2, -1.0),
    ("C", 0, WRONG_2, -1.0),
    # D test 0: the label alone -> 1st. D test 1: WRONG_1 3 votes, WRONG_2 2, the label 1 -> 3rd.
    ("D", 0, PUZZLES["D"][0].label, 0.0),
    *[("D", 1, WRONG_1, 0.0)] * 3,
    *[("D", 1, WRONG_2, 0.0)] * 2,
    ("D", 1, PUZZLES["D"][1].label, 0.0),
    # E: only wrong answers.
    ("E", 0, WRONG_1, 0.0),
    ("E", 0, WRONG_3, 0.0),
]

# Worked out by hand from VOTES. The rank that solves a puzzle is its worst test input's rank:
# A 2, B 2, C 1, D max(1, 3) = 3, E never, F never.
EXPECTED_PUZZLE_RANKS = {"A": 2, "B": 2, "C": 1, "D": 3, "E": None, "F": None}
# 6 puzzles. pass@1: C -> 1/6. pass@2: A, B, C -> 3/6. pass@5 and up: A, B, C, D -> 4/6.
EXPECTED_PASS_AT = {1: 1 / 6, 2: 3 / 6, 5: 4 / 6, 10: 4 / 6, 100: 4 / 6, 1000: 4 / 6}
# The original notebook's figure gives D half a puzzle while only its first test input is right:
# K=1: C + D/2 = 1.5/6; K=2: A + B + C + D/2 = 3.5/6; K>=5: 4/6.
EXPECTED_PASS_AT_TEST_FRACTION = {1: 1.5 / 6, 2: 3.5 / 6, 5: 4 / 6, 10: 4 / 6, 100: 4 / 6, 1000: 4 / 6}


def augmentations():
    """Distinct builder augmentations, one per vote, so every vote must be de-augmented to count."""
    rng = np.random.default_rng(1)
    while True:
        colours = "0" + "".join(str(c) for c in rng.permutation(np.arange(1, 10)))
        yield int(rng.integers(0, 8)), colours


def build_rows():
    """The dataset's puzzle names, and the evaluation rows (ids, inputs, preds, q_halt logits) for VOTES.

    Every vote comes from its own augmented copy of the puzzle; padding rows of the blank puzzle (id 0)
    and one row whose input matches no test input are mixed in.
    """
    identifiers = ["<blank>", *PUZZLES]
    ids, inputs, preds, q_logits = [], [], [], []
    for (name, test_index, prediction, q_logit), (dihedral_id, colours) in zip(VOTES, augmentations()):
        augmented_name = f"{name}_t{dihedral_id}_{colours}"
        identifiers.append(augmented_name)
        _, augmentation = parse_puzzle_name(augmented_name)
        ids.append(len(identifiers) - 1)
        inputs.append(encode_grid(augmentation.apply(PUZZLES[name][test_index].input), SEQ_LEN))
        preds.append(encode_grid(augmentation.apply(prediction), SEQ_LEN))
        q_logits.append(q_logit)
    # Padding rows: blank puzzle, padding inputs, a confident prediction of the label of A that must not count.
    for _ in range(3):
        ids.append(0)
        inputs.append(np.zeros(SEQ_LEN, dtype=np.uint8))
        preds.append(encode_grid(PUZZLES["A"][0].label, SEQ_LEN))
        q_logits.append(9.0)
    # A row of puzzle E whose input is none of E's test inputs.
    ids.append(identifiers.index("E"))
    inputs.append(encode_grid(g("0000"), SEQ_LEN))
    preds.append(encode_grid(PUZZLES["E"][0].label, SEQ_LEN))
    q_logits.append(0.0)
    return identifiers, np.array(ids), np.stack(inputs), np.stack(preds), np.array(q_logits, dtype=np.float32)


def test_pass_at_k_on_hand_made_votes():
    identifiers, ids, inputs, preds, q_logits = build_rows()
    tally = VoteTally(identifiers, ARCReferences(PUZZLES), blank_identifier_id=0)
    tally.add(ids, inputs, preds, q_logits)
    scores = score(tally)

    assert scores.puzzle_ranks == EXPECTED_PUZZLE_RANKS
    assert scores.pass_at == pytest.approx(EXPECTED_PASS_AT, abs=1e-12)
    assert scores.pass_at_test_fraction == pytest.approx(EXPECTED_PASS_AT_TEST_FRACTION, abs=1e-12)
    assert list(scores.pass_at) == list(PASS_AT_KS)
    assert scores.num_puzzles == 6
    assert scores.num_test_inputs == 7
    assert scores.num_predictions == len(VOTES) + 1  # padding rows are not predictions
    assert scores.num_unmatched == 1


def test_ties_rank_by_mean_q_halt_probability():
    identifiers, ids, inputs, preds, q_logits = build_rows()
    tally = VoteTally(identifiers, ARCReferences(PUZZLES), blank_identifier_id=0)
    tally.add(ids, inputs, preds, q_logits)

    b_candidates = tally.ranked("B", 0)
    assert [(c.grid.tolist(), c.votes) for c in b_candidates] == [(WRONG_1.tolist(), 2), ([[5, 5]], 2)]
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert b_candidates[0].mean_q_halt_prob == pytest.approx(sigmoid(0.5), rel=1e-6)
    assert b_candidates[1].mean_q_halt_prob == pytest.approx((sigmoid(10.0) + sigmoid(-2.0)) / 2, rel=1e-6)
    assert [c.votes for c in tally.ranked("D", 1)] == [3, 2, 1]


def test_the_departure_ranks_exact_ties_by_grid_so_the_order_of_rows_does_not_matter():
    references = ARCReferences({"P": [TestInput(g("1"), g("2"))]})
    rows = [(g("3"), 0.0), (g("2"), 0.0), (g("11"), 0.0)]  # three candidates, one vote each, equal q
    ranks = set()
    for order in itertools.permutations(rows):
        tally = VoteTally(["<blank>", "P"], references, rule=VotingRule(departure_tie_break_by_grid=True))
        tally.add(
            np.ones(len(order), dtype=np.int64),
            np.stack([encode_grid(g("1"), SEQ_LEN)] * len(order)),
            np.stack([encode_grid(grid, SEQ_LEN) for grid, _ in order]),
            np.array([q for _, q in order]),
        )
        ranks.add(tuple(grid_key(c.grid) for c in tally.ranked("P", 0)))
    # One ranking for every order: by shape (1 x 1 before 1 x 2), then by the colours.
    assert ranks == {(grid_key(g("2")), grid_key(g("3")), grid_key(g("11")))}


def test_exact_ties_keep_arrival_order_as_the_originals_do():
    references = ARCReferences({"P": [TestInput(g("1"), g("2"))]})
    rows = [(g("3"), 0.0), (g("2"), 0.0), (g("11"), 0.0)]
    for order in itertools.permutations(rows):
        tally = VoteTally(["<blank>", "P"], references)
        tally.add(
            np.ones(len(order), dtype=np.int64),
            np.stack([encode_grid(g("1"), SEQ_LEN)] * len(order)),
            np.stack([encode_grid(grid, SEQ_LEN) for grid, _ in order]),
            np.array([q for _, q in order]),
        )
        assert [c.grid_key for c in tally.ranked("P", 0)] == [grid_key(grid) for grid, _ in order]


def test_votes_merged_from_several_ranks_score_like_one_rank():
    identifiers, ids, inputs, preds, q_logits = build_rows()
    order = np.random.default_rng(2).permutation(len(ids))
    halves = np.array_split(order, 2)
    pooled = VoteTally(identifiers, ARCReferences(PUZZLES))
    for rows in halves:
        part = VoteTally(identifiers, ARCReferences(PUZZLES))
        part.add(ids[rows], inputs[rows], preds[rows], q_logits[rows])
        pooled.merge(part.votes, part.num_predictions, part.num_unmatched)
    merged = score(pooled)
    assert merged.puzzle_ranks == EXPECTED_PUZZLE_RANKS
    assert merged.pass_at == pytest.approx(EXPECTED_PASS_AT, abs=1e-12)
    assert merged.num_predictions == len(VOTES) + 1


def test_references_come_from_the_unaugmented_copy_or_else_a_deaugmented_one():
    # Puzzle Q exists only as an augmented copy: its references are recovered by inverting it.
    augmented_name = "Q_t3_0213456789"
    # A's augmented copy comes first, yet the un-augmented copy is the one that counts.
    names = ["A_t2_0123456789", "A", augmented_name, augmented_name]
    test_inputs = [g("12", "30"), g("12", "30"), g("34"), g("56")]  # the original puzzles' grids
    test_labels = [g("1"), g("1"), g("2", "3"), g("45")]
    rows_in = [encode_grid(x if name == "A" else parse_puzzle_name(name)[1].apply(x), SEQ_LEN)
               for name, x in zip(names, test_inputs)]
    rows_out = [encode_grid(y if name == "A" else parse_puzzle_name(name)[1].apply(y), SEQ_LEN)
                for name, y in zip(names, test_labels)]
    references = ARCReferences.from_rows(names, np.stack(rows_in), np.stack(rows_out))
    assert list(references.puzzles) == ["A", "Q"]
    assert [t.input.tolist() for t in references.puzzles["A"]] == [[[1, 2], [3, 0]]]
    assert [(t.input.tolist(), t.label.tolist()) for t in references.puzzles["Q"]] == [
        ([[3, 4]], [[2], [3]]),
        ([[5, 6]], [[4, 5]]),
    ]


def test_submission_has_two_attempts_per_test_input_in_order():
    identifiers, ids, inputs, preds, q_logits = build_rows()
    tally = VoteTally(identifiers, ARCReferences(PUZZLES))
    tally.add(ids, inputs, preds, q_logits)
    submission = make_submission(tally)

    assert list(submission) == list(PUZZLES)
    assert submission["A"] == [{"attempt_1": [[5]], "attempt_2": [[2, 1], [0, 3]]}]
    assert submission["C"] == [{"attempt_1": [[6, 7]], "attempt_2": [[6, 6]]}]
    assert submission["D"] == [
        {"attempt_1": [[2]], "attempt_2": [[2]]},  # a single candidate fills both attempts
        {"attempt_1": [[5]], "attempt_2": [[6, 6]]},
    ]
    assert submission["F"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]  # no prediction: a placeholder
