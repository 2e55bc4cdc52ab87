"""Evaluation: the ARC evaluator on a dataset on disk, and `python -m hrm_core.evaluate` as a real subprocess.

A tiny ARC-format dataset is written here the way the original builder lays it out (each evaluation puzzle
plus augmented copies named `<name>_t<k>_<perm>`, test grids at the top-left corner with EOS). The real
trainer trains a tiny model on it for a few steps with `evaluators=[arc]`; the evaluate command then scores
that checkpoint, and every number it writes is checked against the in-training result and against a
recomputation from the outputs it saved.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hrm_core.rundir import events
from hrm_core.arc.scoring import VoteTally, encode_grid, load_references, make_submission, parse_puzzle_name, score
from hrm_core.data.augment import arc_augmentation_name, augment_arc_grid, random_colour_maps
from hrm_core.data.format import BLANK_PUZZLE_NAME, DatasetFormatError, DatasetMetadata
from hrm_core.evaluate import DEFAULT_SAVE_OUTPUTS, EXIT_USAGE_ERROR, main
from hrm_core.evaluators import ARCEvaluator, build_evaluator
from tests.training_helpers import TINY_ARCH, events_of, pretrain_argv, run_trainer, trainer_env

SEQ_LEN = 900  # 30 x 30, the ARC layout (seq_len 900 with 12 tokens is recognised as ARC)
NUM_AUGMENTATIONS = 3


# ---------------------------------------------------------------------------------------------------------
# A tiny ARC dataset in the original builder's layout
# ---------------------------------------------------------------------------------------------------------


def _random_grid(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 10, size=(int(rng.integers(1, 4)), int(rng.integers(1, 4))), dtype=np.uint8)


def write_tiny_arc_dataset(root: Path, seed: int = 0, augmentations: int = NUM_AUGMENTATIONS) -> dict[str, dict[str, list]]:
    """Three evaluation puzzles (the first with two test inputs), each with `augmentations` augmented copies.

    As the original builder does for evaluation puzzles: their train examples go to the train split, their
    test examples to the test split, one group per puzzle holding the original and its copies. Returns the
    raw puzzles: name -> {"train": [(input, output), ...], "test": [...]}.
    """
    rng = np.random.default_rng(seed)
    puzzles = {
        name: {"train": [(_random_grid(rng), _random_grid(rng)) for _ in range(2)],
               "test": [(_random_grid(rng), _random_grid(rng)) for _ in range(num_tests)]}
        for name, num_tests in (("0a1b2c3d", 2), ("4e5f6a7b", 1), ("8c9d0e1f", 1))
    }
    identifiers = [BLANK_PUZZLE_NAME]
    versions: dict[str, list[tuple[int, int, np.ndarray]]] = {}  # name -> [(puzzle id, transform, colour map)]
    for name in puzzles:
        versions[name] = [(len(identifiers), 0, np.arange(10, dtype=np.uint8))]
        identifiers.append(name)
        for transform, colour_map in zip(rng.integers(0, 8, augmentations), random_colour_maps(rng, augmentations)):
            versions[name].append((len(identifiers), int(transform), colour_map))
            identifiers.append(arc_augmentation_name(name, int(transform), colour_map))

    for split in ("train", "test"):
        inputs, labels, puzzle_ids, puzzle_indices, group_indices = [], [], [], [0], [0]
        for name, puzzle in puzzles.items():
            for puzzle_id, transform, colour_map in versions[name]:
                for grid_in, grid_out in puzzle[split]:
                    inputs.append(encode_grid(augment_arc_grid(grid_in, transform, colour_map), SEQ_LEN))
                    labels.append(encode_grid(augment_arc_grid(grid_out, transform, colour_map), SEQ_LEN))
                puzzle_ids.append(puzzle_id)
                puzzle_indices.append(len(inputs))
            group_indices.append(len(puzzle_ids))
        split_dir = root / split
        split_dir.mkdir(parents=True)
        arrays = {"inputs": np.stack(inputs), "labels": np.stack(labels), "puzzle_identifiers": np.array(puzzle_ids, np.int32),
                  "puzzle_indices": np.array(puzzle_indices, np.int32), "group_indices": np.array(group_indices, np.int32)}
        for field_name, array in arrays.items():
            np.save(split_dir / f"all__{field_name}.npy", array)
        DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=12, seq_len=SEQ_LEN,
                        num_puzzle_identifiers=len(identifiers), total_groups=len(puzzles),
                        mean_puzzle_examples=len(inputs) / len(puzzle_ids), sets=["all"]).save(split_dir)
    (root / "identifiers.json").write_text(json.dumps(identifiers))
    return puzzles


@pytest.fixture(scope="module")
def arc_data(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("arc") / "arc-tiny"
    return root, write_tiny_arc_dataset(root)


def _test_split_batch(data_path: Path, padding_rows: int = 0) -> dict[str, torch.Tensor]:
    """The whole test split as one batch, as the loader gives it (ignore label -> -100), plus padding rows."""
    arrays = {k: np.load(data_path / "test" / f"all__{k}.npy") for k in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices")}
    puzzle_of_row = np.searchsorted(arrays["puzzle_indices"], np.arange(len(arrays["inputs"])), side="right") - 1
    inputs = arrays["inputs"].astype(np.int32)
    labels = np.where(arrays["labels"] == 0, -100, arrays["labels"]).astype(np.int32)
    ids = arrays["puzzle_identifiers"][puzzle_of_row]
    inputs = np.concatenate([inputs, np.zeros((padding_rows, SEQ_LEN), np.int32)])
    labels = np.concatenate([labels, np.full((padding_rows, SEQ_LEN), -100, np.int32)])
    ids = np.concatenate([ids, np.zeros(padding_rows, np.int32)])
    return {"inputs": torch.from_numpy(inputs), "labels": torch.from_numpy(labels), "puzzle_identifiers": torch.from_numpy(ids)}


# ---------------------------------------------------------------------------------------------------------
# The in-training evaluator interface
# ---------------------------------------------------------------------------------------------------------


def _metadata(data_path: Path) -> DatasetMetadata:
    return DatasetMetadata.load(data_path / "test")


def test_unknown_evaluator_names_the_known_ones(arc_data):
    data_path, _ = arc_data
    with pytest.raises(ValueError, match="known evaluators: arc"):
        build_evaluator("arcc", data_path=str(data_path), eval_metadata=_metadata(data_path))


def test_arc_evaluator_needs_an_arc_dataset(tmp_path, arc_data):
    data_path, _ = arc_data
    shutil.copytree(data_path, tmp_path / "no-names")
    (tmp_path / "no-names" / "identifiers.json").unlink()
    with pytest.raises(DatasetFormatError, match="identifiers.json does not exist"):
        build_evaluator("arc", data_path=str(tmp_path / "no-names"), eval_metadata=_metadata(data_path))


def test_right_answers_score_one_and_fill_the_submission(arc_data, tmp_path):
    data_path, puzzles = arc_data
    evaluator = build_evaluator("arc", data_path=str(data_path), eval_metadata=_metadata(data_path))
    assert isinstance(evaluator, ARCEvaluator)
    batch = _test_split_batch(data_path, padding_rows=5)
    evaluator.begin_eval()
    # The labels as predictions (ignored cells back to padding), every vote sure it is done.
    perfect = torch.where(batch["labels"] == -100, 0, batch["labels"])
    evaluator.update_batch(batch, {"preds": perfect, "q_halt_logits": torch.full((len(perfect),), 3.0)})
    result = evaluator.result(tmp_path)

    assert result["pass_at"] == {"1": 1.0, "2": 1.0, "5": 1.0, "10": 1.0, "100": 1.0, "1000": 1.0}
    assert result["num_puzzles"] == 3 and result["num_test_inputs"] == 4
    assert result["num_predictions"] == (1 + NUM_AUGMENTATIONS) * 4  # padding rows are not predictions
    submission = json.loads((tmp_path / "submission.json").read_text())
    assert submission == {
        name: [{"attempt_1": out.tolist(), "attempt_2": out.tolist()} for _, out in puzzle["test"]]
        for name, puzzle in puzzles.items()
    }
    assert json.loads((tmp_path / "arc_scores.json").read_text())["puzzle_ranks"] == {name: 1 for name in puzzles}


def test_begin_eval_forgets_the_previous_evaluation(arc_data):
    data_path, _ = arc_data
    evaluator = build_evaluator("arc", data_path=str(data_path), eval_metadata=_metadata(data_path))
    batch = _test_split_batch(data_path)
    rows = len(batch["inputs"])
    right = torch.where(batch["labels"] == -100, 0, batch["labels"])
    wrong = torch.ones_like(right)  # EOS everywhere: an empty grid, never right

    evaluator.begin_eval()
    evaluator.update_batch(batch, {"preds": right, "q_halt_logits": torch.full((rows,), 5.0)})
    assert evaluator.result(None)["pass_at"]["1"] == 1.0

    # The next checkpoint predicts only wrong answers, with the same number of votes and lower confidence. Had
    # the first evaluation's votes stayed, the right answers would tie on votes and win on confidence.
    evaluator.begin_eval()
    evaluator.update_batch(batch, {"preds": wrong, "q_halt_logits": torch.full((rows,), -5.0)})
    second = evaluator.result(None)
    assert second["pass_at"]["1000"] == 0.0
    assert second["num_predictions"] == rows


def test_every_augmented_copy_from_the_arc_builder_deaugments_to_the_same_answer(tmp_path):
    """The project's ARC builder (hrm_core.data.build_arc_dataset) on three hand-written evaluation puzzles: with
    the labels as predictions, every copy of a test input must vote for the same, original, answer."""
    from hrm_core.data import build_arc_dataset

    rng = np.random.default_rng(3)
    raw_dir = tmp_path / "raw" / "evaluation"
    raw_dir.mkdir(parents=True)
    raw = {}

    def pair() -> dict[str, list[list[int]]]:
        return {"input": rng.integers(0, 10, (3, 5)).tolist(), "output": rng.integers(0, 10, (4, 2)).tolist()}

    for name, num_tests in (("aa11", 1), ("bb22", 2), ("cc33", 1)):
        raw[name] = {"train": [pair(), pair()], "test": [pair() for _ in range(num_tests)]}
        (raw_dir / f"{name}.json").write_text(json.dumps(raw[name]))
    data_path = tmp_path / "arc-aug-20"
    build_arc_dataset.main(["--output-dir", str(data_path), "--num-aug", "20", "--seed", "1", "--dataset-dirs", str(tmp_path / "raw")])

    evaluator = build_evaluator("arc", data_path=str(data_path), eval_metadata=_metadata(data_path))
    assert {name: [(t.input.tolist(), t.label.tolist()) for t in tests] for name, tests in evaluator.references.puzzles.items()} == {
        name: [(pair["input"], pair["output"]) for pair in puzzle["test"]] for name, puzzle in raw.items()
    }
    batch = _test_split_batch(data_path)
    copies = len(json.loads((data_path / "identifiers.json").read_text())) // 3  # 1 + 20 per puzzle, plus <blank>
    assert copies == 21
    evaluator.begin_eval()
    perfect = torch.where(batch["labels"] == -100, 0, batch["labels"])
    evaluator.update_batch(batch, {"preds": perfect, "q_halt_logits": torch.zeros(len(perfect))})
    for name, puzzle in raw.items():
        for test_index, pair in enumerate(puzzle["test"]):
            [candidate] = evaluator.tally.ranked(name, test_index)
            assert candidate.grid.tolist() == pair["output"] and candidate.votes == copies
    result = evaluator.result(None)
    assert result["pass_at"]["1"] == 1.0 and result["num_unmatched"] == 0


# ---------------------------------------------------------------------------------------------------------
# python -m hrm_core.evaluate, end to end
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(arc_data, tmp_path_factory) -> tuple[Path, Path, events.ArcScore, dict]:
    """The real trainer with the ARC evaluator on; returns (run_dir, checkpoint, its arc_score event, the trainer's
    submission.json).

    The learning rates are 0, so the checkpoint holds the initial weights: their predictions are varied grids,
    which makes the votes, ties and submissions below worth comparing. (A few real steps of a tiny model
    collapse every prediction to padding, i.e. to the empty grid.)
    """
    data_path, _ = arc_data
    run_dir = tmp_path_factory.mktemp("runs") / "arc-run"
    overrides = [f"data_path={data_path}", f"checkpoint_path={run_dir}", *TINY_ARCH, "global_batch_size=8",
                 "epochs=8", "eval_interval=8", "lr=0", "puzzle_emb_lr=0", "lr_warmup_steps=1", "evaluators=[arc]"]
    result = run_trainer(pretrain_argv(overrides), timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    arc_events = events_of(run_dir, events.ArcScore)
    assert len(arc_events) == 1
    checkpoint = Path(events_of(run_dir, events.Checkpoint)[-1].path)
    assert checkpoint.name == f"step_{arc_events[0].step}"
    trainer_submission = json.loads((run_dir / f"eval_step_{arc_events[0].step}" / "submission.json").read_text())
    return run_dir, checkpoint, arc_events[0], trainer_submission


def _evaluate_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "hrm_core.evaluate", *args]


def _run(argv: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=trainer_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def evaluated(trained_run) -> tuple[subprocess.CompletedProcess, Path]:
    _, checkpoint, _, _ = trained_run
    result = _run(_evaluate_argv(f"checkpoint={checkpoint}"))
    assert result.returncode == 0, result.stderr[-3000:]
    return result, checkpoint.parent / f"eval_{checkpoint.name}"


def test_evaluate_reports_and_writes_the_originals_outputs(evaluated, trained_run, arc_data):
    result, out_dir = evaluated
    _, checkpoint, arc_event, trainer_submission = trained_run
    data_path, _ = arc_data
    step = arc_event.step

    # The readable table: exact accuracy per set, then pass@K.
    assert "exact_accuracy" in result.stdout and "\nall " in result.stdout
    assert "pass@1" in result.stdout and "pass@1000" in result.stdout and "3 puzzles, 4 test inputs" in result.stdout

    # The original's output file: a dict of tensors per rank, with its default keys, padding rows included.
    saved = torch.load(out_dir / f"step_{step}_all_preds.0", weights_only=True)
    assert sorted(saved) == sorted(DEFAULT_SAVE_OUTPUTS)
    rows = (1 + NUM_AUGMENTATIONS) * 4
    assert saved["inputs"].shape == (16, SEQ_LEN) and saved["logits"].shape == (16, SEQ_LEN, 12)
    assert int((saved["puzzle_identifiers"] != 0).sum()) == rows

    # Exact accuracy, recomputed from the saved logits and labels.
    results = json.loads((out_dir / "eval_results.json").read_text())
    real = saved["puzzle_identifiers"] != 0
    labels, preds = saved["labels"][real], saved["logits"][real].argmax(-1)
    exact = ((preds == labels) | (labels == -100)).all(-1).float().mean().item()
    assert results["metrics"]["all"]["exact_accuracy"] == pytest.approx(exact, abs=1e-9)
    assert results["metrics"]["all"]["count"] == rows

    # ARC scores and submission: the same as the trainer's in-training evaluation of the same weights...
    scores = json.loads((out_dir / "arc_scores.json").read_text())
    assert scores["pass_at"] == arc_event.pass_at and scores["num_puzzles"] == arc_event.num_puzzles == 3
    submission = json.loads((out_dir / "submission.json").read_text())
    assert submission == trainer_submission
    assert results["evaluators"]["arc"]["pass_at"] == scores["pass_at"]

    # ...and the same as scoring the saved outputs offline with the pure scorer.
    tally = VoteTally(json.loads((data_path / "identifiers.json").read_text()), load_references(data_path))
    tally.add(saved["puzzle_identifiers"].numpy(), saved["inputs"].numpy(), saved["logits"].argmax(-1).numpy(),
              saved["q_halt_logits"].float().numpy())
    assert score(tally).to_json() == scores
    assert make_submission(tally) == submission
    assert [len(entries) for entries in submission.values()] == [2, 1, 1]
    # The initial weights predict real grids (not only the [[0]] placeholder), so the above compared real votes.
    assert any(entry["attempt_1"] != [[0]] for entries in submission.values() for entry in entries)


def test_evaluate_under_torchrun_matches_one_process(evaluated, trained_run, tmp_path):
    _, single_dir = evaluated
    run_dir, checkpoint, _, _ = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("eval_step_*"))
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "hrm_core.evaluate", f"checkpoint={copy / checkpoint.name}", "save_outputs=[puzzle_identifiers,preds]"]
    result = _run(argv, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    out_dir = copy / single_dir.name
    # Votes gathered from both ranks score exactly like one process.
    for name in ("arc_scores.json", "submission.json"):
        assert json.loads((out_dir / name).read_text()) == json.loads((single_dir / name).read_text())
    parts = [torch.load(out_dir / f"{checkpoint.name}_all_preds.{rank}", weights_only=True) for rank in (0, 1)]
    assert all(sorted(part) == ["preds", "puzzle_identifiers"] for part in parts)
    assert sum(int((p["puzzle_identifiers"] != 0).sum()) for p in parts) == (1 + NUM_AUGMENTATIONS) * 4
    assert result.stdout.count("pass@1000") == 1  # rank 0 reports


ORIGINAL_CONFIG_KEYS = ("arch", "data_path", "global_batch_size", "epochs", "lr", "lr_min_ratio", "lr_warmup_steps",
                        "weight_decay", "beta1", "beta2", "puzzle_emb_lr", "puzzle_emb_weight_decay", "project_name",
                        "run_name", "checkpoint_path", "seed", "checkpoint_every_eval", "eval_interval", "eval_save_outputs")


def _relabel_test_outputs(source: Path, target: Path, new_outputs: dict[str, list[list[list[int]]]]) -> None:
    """A copy of the dataset whose test outputs of the puzzles in `new_outputs` are replaced (in every copy,
    augmented like the builder would). The inputs stay, so the model's predictions stay."""
    shutil.copytree(source, target)
    names = json.loads((source / "identifiers.json").read_text())
    labels = np.load(target / "test" / "all__labels.npy")
    puzzle_ids = np.load(target / "test" / "all__puzzle_identifiers.npy")
    puzzle_indices = np.load(target / "test" / "all__puzzle_indices.npy")
    for puzzle, puzzle_id in enumerate(puzzle_ids):
        base, augmentation = parse_puzzle_name(names[puzzle_id])
        for test_index, output in enumerate(new_outputs.get(base, [])):
            labels[puzzle_indices[puzzle] + test_index] = encode_grid(augmentation.apply(np.array(output, np.uint8)), SEQ_LEN)
    np.save(target / "test" / "all__labels.npy", labels)


def test_evaluate_reads_the_originals_bare_checkpoint_layout(evaluated, trained_run, arc_data, tmp_path):
    _, single_dir = evaluated
    run_dir, checkpoint, _, _ = trained_run
    data_path, puzzles = arc_data
    # The original saves `<run>/step_<N>` (a state dict of the torch.compile'd model) next to all_config.yaml.
    original_run = tmp_path / "original-run"
    original_run.mkdir()
    weights = torch.load(checkpoint / "model.pt", weights_only=True)
    torch.save({f"_orig_mod.{k}": v for k, v in weights.items()}, original_run / checkpoint.name)
    config = yaml.safe_load((run_dir / "all_config.yaml").read_text())
    (original_run / "all_config.yaml").write_text(yaml.safe_dump({k: config[k] for k in ORIGINAL_CONFIG_KEYS}))

    # Evaluate on a copy of the data whose first puzzle's right answers are, for each test input, the best
    # non-empty grid the model votes for (read from the first evaluation's saved outputs): that puzzle, and
    # only that one, is solved from K = the worst of those grids' ranks.
    saved = torch.load(single_dir / f"{checkpoint.name}_all_preds.0", weights_only=True)
    tally = VoteTally(json.loads((data_path / "identifiers.json").read_text()), load_references(data_path))
    tally.add(saved["puzzle_identifiers"].numpy(), saved["inputs"].numpy(), saved["logits"].argmax(-1).numpy(),
              saved["q_halt_logits"].float().numpy())
    first = next(iter(puzzles))
    answers, ranks = [], []
    for test_index in range(len(puzzles[first]["test"])):
        candidates = tally.ranked(first, test_index)
        rank = next(position for position, c in enumerate(candidates, start=1) if c.grid.size > 0)
        answers.append(candidates[rank - 1].grid.tolist())
        ranks.append(rank)
    relabelled = tmp_path / "relabelled"
    _relabel_test_outputs(data_path, relabelled, {first: answers})

    result = _run(_evaluate_argv(f"checkpoint={original_run / checkpoint.name}", f"data_path={relabelled}", "save_outputs=[]"))
    assert result.returncode == 0, result.stderr[-3000:]
    out_dir = original_run / single_dir.name
    scores = json.loads((out_dir / "arc_scores.json").read_text())
    assert scores["puzzle_ranks"] == {name: (max(ranks) if name == first else None) for name in puzzles}
    assert scores["pass_at"] == {k: (1 / 3 if int(k) >= max(ranks) else 0.0) for k in ("1", "2", "5", "10", "100", "1000")}
    # Same weights, same votes: the submission is the first evaluation's.
    assert json.loads((out_dir / "submission.json").read_text()) == json.loads((single_dir / "submission.json").read_text())
    assert not list(out_dir.glob("*_all_preds.*"))  # save_outputs=[] saves nothing


# ---------------------------------------------------------------------------------------------------------
# Bad input: one clear message, exit code 2, no traceback
# ---------------------------------------------------------------------------------------------------------


def test_a_missing_checkpoint_is_a_clear_error_in_a_real_process(tmp_path):
    result = _run(_evaluate_argv(f"checkpoint={tmp_path / 'nope' / 'step_5'}"), timeout=60)
    assert result.returncode == EXIT_USAGE_ERROR
    assert result.stderr.strip() == f"error: checkpoint {tmp_path / 'nope' / 'step_5'} does not exist"
    assert "Traceback" not in result.stderr


def _error_of(capsys, *args: str) -> str:
    assert main(list(args)) == EXIT_USAGE_ERROR
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def test_bad_command_lines(capsys, trained_run):
    _, checkpoint, _, _ = trained_run
    assert "checkpoint=PATH is required" in _error_of(capsys)
    assert "did you mean checkpoint?" in _error_of(capsys, f"chekpoint={checkpoint}")
    assert "key=value" in _error_of(capsys, str(checkpoint))
    error = _error_of(capsys, f"checkpoint={checkpoint}", "save_outputs=[inputs,logitz]")
    assert "unknown output 'logitz'" in error and "q_halt_logits" in error
    assert "positive integer" in _error_of(capsys, f"checkpoint={checkpoint}", "global_batch_size=0")
    assert "known evaluators: arc" in _error_of(capsys, f"checkpoint={checkpoint}", "evaluators=[sudoku]")
    assert "compile must be auto, true or false" in _error_of(capsys, f"checkpoint={checkpoint}", "compile=maybe")


def test_wrong_data_path(capsys, trained_run, tmp_path):
    _, checkpoint, _, _ = trained_run
    error = _error_of(capsys, f"checkpoint={checkpoint}", f"data_path={tmp_path / 'missing'}")
    assert f"dataset folder {tmp_path / 'missing'} does not exist" in error and "data_path=DIR" in error
    (tmp_path / "only-train" / "train").mkdir(parents=True)
    assert "has no test split" in _error_of(capsys, f"checkpoint={checkpoint}", f"data_path={tmp_path / 'only-train'}")


def test_checkpoint_without_config_or_incomplete_or_not_weights(capsys, trained_run, tmp_path):
    run_dir, checkpoint, _, _ = trained_run
    lone = tmp_path / "lone" / checkpoint.name
    shutil.copytree(checkpoint, lone)
    error = _error_of(capsys, f"checkpoint={lone}")
    assert f"{lone.parent / 'all_config.yaml'} does not exist" in error

    half_written = tmp_path / "killed" / checkpoint.name
    shutil.copytree(checkpoint, half_written)
    (half_written / "COMPLETE").unlink()
    shutil.copy(run_dir / "all_config.yaml", half_written.parent)
    assert "incomplete checkpoint" in _error_of(capsys, f"checkpoint={half_written / 'model.pt'}")

    not_weights = tmp_path / "text" / "step_3"
    not_weights.parent.mkdir()
    not_weights.write_text("not a checkpoint")
    shutil.copy(run_dir / "all_config.yaml", not_weights.parent)
    assert f"cannot load the weights {not_weights}" in _error_of(capsys, f"checkpoint={not_weights}")
