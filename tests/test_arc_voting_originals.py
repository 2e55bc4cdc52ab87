"""Our ARC voting against the originals' scoring code, recorded on constructed cases.

tests/fixtures/arc_voting_originals.json holds what TinyRecursiveModels' `evaluators/arc.py` (`ARC/pass@K`,
`submission.json`) and HRM's `arc_eval.ipynb` (its K-shot figure) computed on the rows of
tests/arc_voting_cases.py (tools/record_arc_voting_fixture.py recorded it). The same rows go through our
evaluator here; every figure named after an original must equal that original's, bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hrm_core.arc.scoring import ARCReferences, VoteTally, VotingRule, make_submission, score
from hrm_core.evaluators import ARCEvaluator
from tests import arc_voting_cases

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "arc_voting_originals.json").read_text())["cases"]


def tally_for(case_name: str, separator: str, rule: VotingRule = VotingRule()) -> VoteTally:
    case = arc_voting_cases.CASES[case_name]
    rows = arc_voting_cases.rows(case, separator)
    references = ARCReferences.from_rows(
        [rows.identifiers[i] for i in rows.puzzle_ids], rows.inputs, rows.labels)
    tally = VoteTally(rows.identifiers, references, arc_voting_cases.BLANK_ID, rule)
    tally.add(rows.puzzle_ids, rows.inputs, rows.preds, rows.q_halt_logits)
    return tally


@pytest.mark.parametrize("case_name", list(FIXTURE))
def test_the_cases_are_the_ones_recorded(case_name):
    assert arc_voting_cases.rows_digest(arc_voting_cases.CASES[case_name]) == FIXTURE[case_name]["rows_digest"]


@pytest.mark.parametrize("case_name", list(FIXTURE))
def test_pass_at_test_fraction_is_trms_arc_pass_at_k(case_name):
    scores = score(tally_for(case_name, "|||"), arc_voting_cases.PASS_KS)
    trm = FIXTURE[case_name]["trm"]["pass_at"]
    assert {f"ARC/pass@{k}": v for k, v in scores.pass_at_test_fraction.items()} == trm


@pytest.mark.parametrize("case_name", list(FIXTURE))
def test_pass_at_is_the_hrm_notebooks_figure(case_name):
    hrm = FIXTURE[case_name]["hrm_notebook"]["pass_at_percent"]
    scores = score(tally_for(case_name, "_"), [int(k) for k in hrm])
    assert {str(k): v * 100 for k, v in scores.pass_at.items()} == hrm


@pytest.mark.parametrize("case_name", list(FIXTURE))
def test_submission_is_trms(case_name):
    assert make_submission(tally_for(case_name, "|||")) == FIXTURE[case_name]["trm"]["submission"]


def test_the_cases_tell_the_rules_apart():
    # The cases are worth recording only if a departure changes the figures: the grid tie-break moves the
    # exact ties, and HRM's float32 confidence and TRM's float64 one rank the near-ties differently.
    originals = score(tally_for("exact_ties", "|||"), arc_voting_cases.PASS_KS)
    by_grid = score(tally_for("exact_ties", "|||", VotingRule(departure_tie_break_by_grid=True)),
                    arc_voting_cases.PASS_KS)
    assert originals.pass_at_test_fraction[1] != by_grid.pass_at_test_fraction[1]
    near = FIXTURE["float_near_ties"]
    assert near["trm"]["pass_at"]["ARC/pass@1"] * 100 != near["hrm_notebook"]["pass_at_percent"]["1"]


def test_the_departure_skips_empty_attempts():
    with_empty = make_submission(tally_for("empty_grids", "|||"))
    skipped = make_submission(tally_for("empty_grids", "|||", VotingRule(departure_skip_empty_attempts=True)))
    assert with_empty != skipped
    assert [] in [attempt for entries in with_empty.values() for entry in entries for attempt in entry.values()]
    assert [] not in [attempt for entries in skipped.values() for entry in entries for attempt in entry.values()]
    # A test input whose only candidate is empty gets the placeholder.
    assert {"attempt_1": [[0]], "attempt_2": [[0]]} in [entry for entries in skipped.values() for entry in entries]


def test_the_trainers_evaluator_scores_like_trm_when_fed_in_batches(tmp_path):
    # The evaluator the trainer and `evaluate` use, fed batch by batch as an evaluation would, with the
    # multi-test-input case, writes TRM's figure and TRM's submission.
    case = arc_voting_cases.CASES["multiple_test_inputs"]
    rows = arc_voting_cases.rows(case, "|||")
    references = ARCReferences.from_rows([rows.identifiers[i] for i in rows.puzzle_ids], rows.inputs, rows.labels)
    evaluator = ARCEvaluator.from_references(rows.identifiers, references, pass_Ks=list(arc_voting_cases.PASS_KS))
    evaluator.begin_eval()
    for start in range(0, len(rows.puzzle_ids), 5):
        part = slice(start, start + 5)
        evaluator.update_batch(
            {"inputs": torch.from_numpy(rows.inputs[part]), "puzzle_identifiers": torch.from_numpy(rows.puzzle_ids[part])},
            {"preds": torch.from_numpy(rows.preds[part]), "q_halt_logits": torch.from_numpy(rows.q_halt_logits[part])},
        )
    result = evaluator.result(tmp_path)
    trm = FIXTURE["multiple_test_inputs"]["trm"]
    assert {f"ARC/pass@{k}": v for k, v in result["pass_at_test_fraction"].items()} == trm["pass_at"]
    assert json.loads((tmp_path / "submission.json").read_text()) == trm["submission"]
    assert np.isclose(result["pass_at"]["1"] * 100, FIXTURE["multiple_test_inputs"]["hrm_notebook"]["pass_at_percent"]["1"])
