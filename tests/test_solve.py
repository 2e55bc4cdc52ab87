"""`python -m hrm_core.solve`: a checkpoint trained here by the real trainer answers puzzles, step by step.

The module's fixture builds the demo dataset (4x4 Sudoku) and trains a tiny model on it for a few dozen
steps. Against that checkpoint: the last step of every solve rollout over the test split is exactly what
`python -m hrm_core.evaluate` predicts (both run as subprocesses); a puzzle written by hand, one line or
one line per row, is answered in text and in JSON; every bad input is one `error:` line, exit code 2.
The step-by-step rollout also reproduces the originals' recorded eval rollouts (tests/fixtures) for HRM
and every TRM-family architecture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hrm_core.bench.reference import build_reference_model
from hrm_core.data.demo import build_demo_dataset
from hrm_core.solve.rollout import rollout_batch
from tests.conftest import fixture_file
from tests.test_model_reference import TRM_FIXTURES
from tests.training_helpers import TINY_ARCH, pretrain_argv, run_trainer, trainer_env

SOLVE = [sys.executable, "-m", "hrm_core.solve"]
# A 4x4 Sudoku with a unique solution: 1234 / 3412 / 2143 / 4321.
PUZZLE_ONE_LINE = "1.3.\n..12\n2..3\n.3.1\n"
HALT_MAX_STEPS = 4


def run(argv: list[str], stdin: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, env=trainer_env())


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(the run directory, the dataset) of a tiny HRM trained ~30 steps on the demo 4x4 Sudoku."""
    root = tmp_path_factory.mktemp("solve")
    data_path = build_demo_dataset(root / "demo-sudoku-4x4")
    run_dir = root / "run"
    overrides = [f"data_path={data_path}", f"checkpoint_path={run_dir}", *TINY_ARCH, "arch.H_cycles=2",
                 "global_batch_size=64", "epochs=1", "eval_interval=1", "lr=1e-3", "lr_warmup_steps=2",
                 "evaluators=[]"]
    result = run_trainer(pretrain_argv(overrides), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, data_path


def test_the_last_step_over_the_test_split_is_what_evaluate_predicts(trained, tmp_path):
    run_dir, data_path = trained
    evaluated = run([sys.executable, "-m", "hrm_core.evaluate", f"checkpoint={run_dir}", f"output_dir={tmp_path}",
                     "save_outputs=[inputs,puzzle_identifiers,preds,q_halt_logits]"])
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    [saved_file] = list(tmp_path.glob("eval_step_*/step_*_all_preds.0"))
    saved = torch.load(saved_file, weights_only=True)
    lines = tmp_path / "solve.jsonl"
    solved = run(SOLVE + [f"checkpoint={run_dir}", "split=test", f"out={lines}"])
    assert solved.returncode == 0, solved.stderr[-3000:]
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    num_test = len(np.load(data_path / "test" / "all__inputs.npy"))
    assert len(records) == num_test == 256
    # Evaluate saves padding rows too; the test split's rows come first, in order.
    assert [r["answer"] for r in records] == saved["preds"][:num_test].tolist()
    assert [r["steps"][-1]["prediction"] for r in records] == saved["preds"][:num_test].tolist()
    assert np.allclose([r["steps"][-1]["q_halt"] for r in records], saved["q_halt_logits"][:num_test].float().numpy(),
                       rtol=0, atol=1e-6)
    assert all(r["steps_run"] == HALT_MAX_STEPS for r in records)
    # The split's labels are known: each record says whether its answer is exact.
    labels = np.load(data_path / "test" / "all__labels.npy")
    assert [r["exact"] for r in records] == [bool((np.asarray(r["answer"]) == label).all()) for r, label in zip(records, labels)]


@pytest.mark.parametrize("layout", ["one line", "a line per row"])
def test_a_sudoku_typed_in_is_answered(trained, tmp_path, layout):
    run_dir, _ = trained
    text = PUZZLE_ONE_LINE.replace("\n", "") + "\n" if layout == "one line" else PUZZLE_ONE_LINE
    puzzle = tmp_path / "p.txt"
    puzzle.write_text(text.replace(".", "0") if layout == "one line" else text)
    result = run(SOLVE + [f"checkpoint={run_dir}", f"puzzle={puzzle}"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"puzzle {puzzle}"
    assert lines[1].startswith(f"answer after {HALT_MAX_STEPS} ACT steps (what evaluate predicts); "
                               "the model's halting rule fires at step ")
    grid = lines[2:6]
    assert all(len(row) == 4 and set(row) <= set(".1234") for row in grid)
    # The givens are inputs the model learned to copy: a sanity check that the grid is the puzzle's.
    assert lines[6].split() == ["step", "q_halt", "q_continue", "halts", "changed"]
    assert [line.split()[0] for line in lines[7:]] == ["1", "2", "3", "4"]


def test_json_output_has_the_whole_trajectory(trained):
    run_dir, _ = trained
    result = run(SOLVE + [f"checkpoint={run_dir}", "puzzle=-", "output=json"], stdin=PUZZLE_ONE_LINE)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["puzzle_kind"] == "sudoku" and report["halt_max_steps"] == HALT_MAX_STEPS
    [solved] = report["puzzles"]
    assert solved["name"] == "<stdin>" and len(solved["steps"]) == HALT_MAX_STEPS
    assert solved["cycle_unit"] == "H-cycle"
    previous = [t + 1 for t in [1, 0, 3, 0, 0, 0, 1, 2, 2, 0, 0, 3, 0, 3, 0, 1]]  # the input tokens
    for step in solved["steps"]:
        assert len(step["prediction"]) == len(step["probability"]) == 16
        assert all(0 < p <= 1 for p in step["probability"])
        assert step["changed"] == [i for i in range(16) if step["prediction"][i] != previous[i]]
        assert len(step["cycles"]) == 2  # arch.H_cycles=2: one decoded state per H-cycle
        assert step["cycles"][-1] == step["prediction"]  # the last H-cycle's state is the step's output
        assert isinstance(step["q_halt"], float) and isinstance(step["q_continue"], float)
        previous = step["prediction"]
    assert solved["answer"] == solved["steps"][-1]["prediction"]
    assert np.asarray(solved["answer_grid"]).shape == (4, 4)


def test_a_folder_of_puzzles_runs_as_json_lines(trained, tmp_path):
    run_dir, _ = trained
    folder = tmp_path / "puzzles"
    folder.mkdir()
    for index in range(3):
        (folder / f"p{index}.txt").write_text(PUZZLE_ONE_LINE)
    out = tmp_path / "out.jsonl"
    result = run(SOLVE + [f"checkpoint={run_dir}", f"puzzle={folder}", f"out={out}"])
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["name"]).name for r in records] == ["p0.txt", "p1.txt", "p2.txt"]
    assert records[0]["answer"] == records[1]["answer"] == records[2]["answer"]
    unwritable = run(SOLVE + [f"checkpoint={run_dir}", f"puzzle={folder}", f"out={tmp_path / 'no' / 'out.jsonl'}"])
    assert unwritable.returncode == 2 and unwritable.stderr.count("\n") == 1
    assert unwritable.stderr.startswith(f"error: cannot write {tmp_path / 'no' / 'out.jsonl'}: No such file or directory")


@pytest.mark.parametrize(("puzzle_text", "arguments", "message"), [
    ("1.3.\n..12\n2..3\n.3.\n", [], "has 15 cells; the checkpoint was trained on 4x4 Sudoku (16 cells)"),
    ("1.3.\n..12\n2..3\n.3.5\n", [], "line 4 column 4: '5' is not a Sudoku cell of this checkpoint; it was trained "
                                     "on 4x4 boards: write digits 1-4, and . or 0 for a blank"),
    ("1.3.\n..12\n2..3\n.3.x\n", [], "'x' is not a Sudoku cell"),
    (PUZZLE_ONE_LINE, ["output=yaml"], "output must be text or json; got 'yaml'"),
    (PUZZLE_ONE_LINE, ["puzle=x"], "unknown key 'puzle' in 'puzle=x'; did you mean puzzle?"),
])
def test_bad_input_is_one_clear_line(trained, tmp_path, puzzle_text, arguments, message):
    run_dir, _ = trained
    puzzle = tmp_path / "bad.txt"
    puzzle.write_text(puzzle_text)
    result = run(SOLVE + [f"checkpoint={run_dir}", f"puzzle={puzzle}", *arguments])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_checkpoint_mistakes_are_one_clear_line(trained, tmp_path):
    run_dir, _ = trained
    puzzle = tmp_path / "p.txt"
    puzzle.write_text(PUZZLE_ONE_LINE)
    missing = run(SOLVE + [f"checkpoint={tmp_path / 'nope'}", f"puzzle={puzzle}"])
    assert missing.returncode == 2 and "does not exist" in missing.stderr and missing.stderr.count("\n") == 1
    # A checkpoint copied without its run's all_config.yaml.
    step = sorted(run_dir.glob("step_*"))[-1]
    lone = tmp_path / "lone"
    lone.mkdir()
    subprocess.run(["cp", "-r", str(step), str(lone)], check=True)
    no_config = run(SOLVE + [f"checkpoint={lone / step.name}", f"puzzle={puzzle}"])
    assert no_config.returncode == 2 and "all_config.yaml does not exist" in no_config.stderr
    assert no_config.stderr.count("\n") == 1
    # A run whose config names an architecture the registry does not know.
    unknown = tmp_path / "unknown-arch"
    subprocess.run(["cp", "-r", str(run_dir), str(unknown)], check=True)
    config = yaml.safe_load((unknown / "all_config.yaml").read_text())
    config["arch"]["name"] = "nosuch_arch"
    (unknown / "all_config.yaml").write_text(yaml.safe_dump(config))
    bad_arch = run(SOLVE + [f"checkpoint={unknown}", f"puzzle={puzzle}"])
    assert bad_arch.returncode == 2 and "nosuch_arch" in bad_arch.stderr and bad_arch.stderr.count("\n") == 1
    missing_puzzle = run(SOLVE + [f"checkpoint={run_dir}", f"puzzle={tmp_path / 'none.txt'}"])
    assert missing_puzzle.returncode == 2 and "puzzle file" in missing_puzzle.stderr


# ---------------------------------------------------------------------------------------------------------
# The originals' checkpoint layouts and the Hugging Face cache
# ---------------------------------------------------------------------------------------------------------


def answer_of(checkpoint: str, puzzle: Path, **env: str) -> list[int]:
    result = subprocess.run(SOLVE + [f"checkpoint={checkpoint}", f"puzzle={puzzle}", "output=json"],
                            capture_output=True, text=True, timeout=180, env=trainer_env(**env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["puzzles"][0]["answer"]


def test_the_originals_layouts_and_a_hugging_face_cache_give_the_same_answer(trained, tmp_path):
    run_dir, _ = trained
    puzzle = tmp_path / "p.txt"
    puzzle.write_text(PUZZLE_ONE_LINE)
    ours = answer_of(str(run_dir), puzzle)
    step = sorted(run_dir.glob("step_*"))[-1]
    weights = torch.load(step / "model.pt", weights_only=True)
    # HRM's published folder: all_config.yaml beside a weights file named `checkpoint`.
    hrm_folder = tmp_path / "hrm-published"
    hrm_folder.mkdir()
    (hrm_folder / "all_config.yaml").write_text((run_dir / "all_config.yaml").read_text())
    torch.save(weights, hrm_folder / "checkpoint")
    assert answer_of(str(hrm_folder), puzzle) == ours
    # TRM's run folder: bare step_<N> files saved from a torch.compile'd model (`_orig_mod.` keys).
    trm_folder = tmp_path / "trm-run"
    trm_folder.mkdir()
    (trm_folder / "all_config.yaml").write_text((run_dir / "all_config.yaml").read_text())
    torch.save({f"_orig_mod.{k}": v for k, v in weights.items()}, trm_folder / "step_7")
    torch.save({k: v * 0 for k, v in weights.items()}, trm_folder / "step_3")  # an older one, not taken
    assert answer_of(str(trm_folder), puzzle) == ours
    # A Hugging Face repo in the hub's cache layout, read offline.
    cache = tmp_path / "hf-cache"
    snapshot = cache / "models--someone--tiny-sudoku" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for name in ("all_config.yaml", "checkpoint"):
        (snapshot / name).write_bytes((hrm_folder / name).read_bytes())
    (cache / "models--someone--tiny-sudoku" / "refs").mkdir()
    (cache / "models--someone--tiny-sudoku" / "refs" / "main").write_text("0123abcd")
    offline = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    assert answer_of("someone/tiny-sudoku", puzzle, **offline) == ours
    assert answer_of("hf:someone/tiny-sudoku", puzzle, **offline) == ours
    missing = subprocess.run(SOLVE + ["checkpoint=someone/not-cached", f"puzzle={puzzle}"], capture_output=True,
                             text=True, timeout=180, env=trainer_env(**offline))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "not in the Hugging Face cache and HF_HUB_OFFLINE is set" in missing.stderr


# ---------------------------------------------------------------------------------------------------------
# The rollout against the originals' recorded eval rollouts
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["hrm_reference_tiny.pt", *TRM_FIXTURES])
def test_every_step_matches_the_originals_recorded_rollout(fixture):
    reference = torch.load(fixture_file(fixture), weights_only=True)
    act_model = build_reference_model(reference).eval().model
    batch = {k: v for k, v in reference["batch"].items() if k != "labels"}
    steps = rollout_batch(act_model, batch, len(batch["inputs"]))
    expected_steps = reference["eval_steps"]
    assert all(len(row) == len(expected_steps) for row in steps)
    for index, expected in enumerate(expected_steps):
        logits = expected["outputs"]["logits"]
        top2 = logits.topk(2, dim=-1).values
        decided = (top2[..., 0] - top2[..., 1]) > 1e-4  # cells another CPU's rounding cannot flip
        for row, row_steps in enumerate(steps):
            step = row_steps[index]
            expected_prediction = logits[row].argmax(-1).numpy()
            mask = decided[row].numpy()
            assert (step.prediction[mask] == expected_prediction[mask]).all(), f"{fixture} step {index} row {row}"
            assert step.q_halt == pytest.approx(float(expected["outputs"]["q_halt_logits"][row]), rel=2e-4, abs=1e-5)
            assert step.cycles and (step.cycles[-1] == step.prediction).all()
        assert decided.float().mean() > 0.99
