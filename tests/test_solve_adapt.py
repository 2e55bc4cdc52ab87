"""Test-time adaptation (`python -m hrm_core.solve ... adapt_steps=N`) to an ARC task the model never saw.

A tiny model is trained here by the real trainer on a small ARC-format dataset (tests/test_evaluate.py's
builder-layout writer); one more task is held out entirely. Adapting fresh puzzle embeddings to its
demonstration pairs must raise their accuracy above the blank id's figure (what the model does without
adaptation), and the candidates come back voted over the augmented test inputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.training_helpers import trainer_env

SOLVE = [sys.executable, "-m", "hrm_core.solve"]


@pytest.fixture(scope="module")
def arc_run(finished_arc_run, tmp_path_factory) -> tuple[Path, Path]:
    """(the session's tiny ARC run, a held-out task file)."""
    root = tmp_path_factory.mktemp("adapt")
    run_dir = finished_arc_run
    # The held-out task: a rule the training tasks do not have (mirror left-right), grids of 2-3 cells a side.
    rng = np.random.default_rng(7)
    pairs = []
    for _ in range(3):
        grid = rng.integers(0, 10, size=(int(rng.integers(2, 4)), int(rng.integers(2, 4))))
        pairs.append({"input": grid.tolist(), "output": grid[:, ::-1].tolist()})
    task = root / "f00dcafe.json"
    task.write_text(json.dumps({"train": pairs[:2], "test": pairs[2:]}))
    return run_dir, task


def solve(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(SOLVE + list(argv), capture_output=True, text=True, timeout=300, env=trainer_env())


@pytest.mark.parametrize("mode, steps, extra", [
    # The default: the fresh embeddings alone, at the default adapt_lr. This model trained for 7 steps; an
    # embedding is one position of 901, and it takes 40 steps to change predictions (docs/solve.md: 0.400 ->
    # 0.433 token accuracy; 20 steps at any rate tried did not).
    ("embeddings", 40, []),
    ("whole_model", 20, ["adapt_model=true", "adapt_model_lr=3e-3"]),
])
def test_adaptation_raises_demo_pair_accuracy_above_the_blank_id(arc_run, mode, steps, extra):
    run_dir, task = arc_run
    result = solve(f"checkpoint={run_dir}", f"puzzle={task}", f"adapt_steps={steps}", "adapt_versions=2",
                   "adapt_batch=4", *extra, "output=json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    before, after = report["demo_accuracy_before"]["token"], report["demo_accuracy_after"]["token"]
    print(f"\n{mode}: demo-pair token accuracy: blank id {before:.4f} -> adapted {after:.4f}; "
          f"exact {report['demo_accuracy_before']['exact']:.3f} -> {report['demo_accuracy_after']['exact']:.3f}; "
          f"loss {report['losses'][0]:.3f} -> {report['losses'][-1]:.3f}")
    assert after > before
    assert report["losses"][-1] < report["losses"][0]
    assert report["num_versions"] == 2 and report["adapt_steps"] == steps
    # One test input; its candidates are the de-augmented votes of the 2 variants, best first.
    [candidates] = report["test_inputs"]
    assert sum(c["votes"] for c in candidates) == 2
    assert [c["votes"] for c in candidates] == sorted((c["votes"] for c in candidates), reverse=True)


def test_the_text_report_prints_the_top_two_candidates(arc_run):
    run_dir, task = arc_run
    result = solve(f"checkpoint={run_dir}", f"puzzle={task}", "adapt_steps=2", "adapt_versions=2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "task f00dcafe: adapted 2 augmented variants for 2 steps"
    assert lines[1].startswith("demonstration pairs: token accuracy ") and "(blank id) -> " in lines[1]
    assert lines[2].startswith("test input 0: ")
    assert lines[3].startswith("  attempt 1: ")


def test_zero_adapt_steps_uses_the_blank_id_and_says_so(arc_run):
    run_dir, task = arc_run
    result = solve(f"checkpoint={run_dir}", f"puzzle={task}", "adapt_steps=0", "output=json")
    assert result.returncode == 0, result.stderr
    [puzzle] = json.loads(result.stdout)["puzzles"]
    assert puzzle["puzzle_identifier"] == 0
    assert puzzle["note"] == "adapt_steps=0: no adaptation was done; the blank puzzle id is used"


def test_adapting_a_non_arc_file_or_a_bad_count_is_one_clear_line(arc_run, tmp_path):
    run_dir, task = arc_run
    bad = solve(f"checkpoint={run_dir}", f"puzzle={task}", "adapt_steps=-1")
    assert bad.returncode == 2 and "adapt_steps must be an integer, 0 or more; got '-1'" in bad.stderr
    assert bad.stderr.count("\n") == 1


def test_an_arc_split_writes_evaluates_submission(arc_run, tmp_path):
    # Over the dataset's test split (every augmented copy), solve's submission.json is the ARC evaluator's.
    run_dir, _ = arc_run
    evaluated = subprocess.run([sys.executable, "-m", "hrm_core.evaluate", f"checkpoint={run_dir}",
                                f"output_dir={tmp_path}", "save_outputs=[]", "evaluators=[arc]"],
                               capture_output=True, text=True, timeout=300, env=trainer_env())
    assert evaluated.returncode == 0, evaluated.stderr
    [expected] = list(tmp_path.glob("eval_step_*/submission.json"))
    submission = tmp_path / "solve-submission.json"
    lines = tmp_path / "split.jsonl"
    result = solve(f"checkpoint={run_dir}", "split=test", f"out={lines}", f"submission={submission}")
    assert result.returncode == 0, result.stderr
    assert json.loads(submission.read_text()) == json.loads(expected.read_text())
    assert len(lines.read_text().splitlines()) == 16  # 3 puzzles x 4 copies; test inputs 2 + 1 + 1
