"""The TRM reference's trainer keys beside HRM's: data_path / data_paths / data_paths_test, min_eval_interval,
freeze_weights, the evaluators' forms, EMA with load_checkpoint, and the resume rules for them.

Config checks go through `compose` + `validate` (what the CLI runs); behaviour through the real trainer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hrm_core.config import ConfigError, check_dataset, compose, validate
from hrm_core.training.checkpoint import list_checkpoints, load_model_state
from hrm_core.training.model_setup import PUZZLE_EMB_KEY
from tests.training_helpers import wire_events, pretrain_argv, run_trainer, tiny_overrides, write_tiny_dataset

TRM_BUILT = Path(__file__).parent / "fixtures" / "trm_built"


def _config(*overrides: str):
    return validate(compose(list(overrides)), list(overrides))


def _error(*overrides: str) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        _config(*overrides)
    return raised.value


# --- config ---------------------------------------------------------------------------------------------

def test_data_paths_replace_the_default_data_path():
    config = _config("data_paths=[data/a,data/b]")
    assert config.data_path is None and config.train_data_paths == ["data/a", "data/b"]
    assert config.test_data_paths == ["data/a", "data/b"]
    assert _config("data_paths=[data/a]", "data_paths_test=[data/t]").test_data_paths == ["data/t"]
    # HRM's key alone still works, and an empty list is no list.
    assert _config("data_path=data/x").train_data_paths == ["data/x"]
    assert _config("data_paths=[]").train_data_paths == ["data/arc-aug-1000"]  # cfg_pretrain.yaml's default


@pytest.mark.parametrize("overrides", [
    ["data_path=data/x", "data_paths=[data/a]"],
    ["+experiment=sudoku_extreme_1k", "data_paths=[data/a]"],  # the preset chose data_path
])
def test_both_dataset_keys_is_an_error_saying_which_to_keep(overrides):
    error = _error(*overrides)
    assert error.key == "data_paths"
    assert "data_path=null" in error.hint and "data_paths=[]" in error.hint
    # Either way out works.
    assert _config(*overrides, "data_path=null").train_data_paths == ["data/a"]
    assert _config(*overrides, "data_paths=[]").data_paths == []


@pytest.mark.parametrize("overrides, key, words", [
    (["data_path=null"], "data_path", "no dataset"),
    (["data_paths=data/a"], "data_paths", "expected a list of strings"),
    (["data_paths=[data/a,'']"], "data_paths", "empty folder name"),
    (["min_eval_interval=-1"], "min_eval_interval", "0 or more"),
    (["min_eval_interval=null"], "min_eval_interval", "expected an integer"),
    (["freeze_weights=true", "arch.puzzle_emb_ndim=0"], "freeze_weights", "nothing would train"),
    (["freeze_weights=yes"], "freeze_weights", "true or false"),
    (["evaluators=[arcc]"], "evaluators", "unknown evaluator 'arcc'; known evaluators: arc, arc@ARC"),
    (["evaluators=[{name: arc, passKs: [1]}]"], "evaluators", "no option 'passKs'; its options: submission_K"),
    (["evaluators=[{name: arc@ARC, submission_K: 0}]"], "evaluators", "submission_K must be a positive integer"),
    (["evaluators=[{pass_Ks: [1]}]"], "evaluators", "a mapping with a `name`"),
])
def test_mistakes_in_the_new_keys_name_the_key(overrides, key, words):
    error = _error(*overrides)
    assert error.key == key and words in error.render(), error.render()


def test_evaluators_take_names_and_trms_mappings():
    assert _config("evaluators=[arc]").evaluators == [{"name": "arc"}]
    # TRM's form and name: its ARC evaluator pools the votes of every evaluation unless told otherwise.
    assert _config("evaluators=[{name: arc@ARC}]").evaluators == [{"name": "arc", "aggregated_voting": True}]
    entries = _config("evaluators=[{name: arc@ARC, aggregated_voting: false, pass_Ks: [1, 2], submission_K: 3}]").evaluators
    assert entries == [{"name": "arc", "aggregated_voting": False, "pass_Ks": [1, 2], "submission_K": 3}]
    assert _config('evaluators=[]').evaluators == []


def test_the_cli_reports_both_dataset_keys_without_a_traceback(tmp_path):
    result = run_trainer(pretrain_argv(["data_path=data/x", "data_paths=[data/a]", f"checkpoint_path={tmp_path / 'r'}"]))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "config error: data_path (HRM's key: one folder) and data_paths (TRM's key" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    """a and b agree (trainable together); c has the same encoding and fewer puzzle ids (an eval set)."""
    root = tmp_path_factory.mktemp("datasets")
    out = {"a": write_tiny_dataset(root / "a", train_groups=6), "b": write_tiny_dataset(root / "b", train_groups=9),
           "c": write_tiny_dataset(root / "c", train_groups=2, test_groups=3)}
    ids = max(json.loads((p / "train" / "dataset.json").read_text())["num_puzzle_identifiers"] for p in out.values())
    for name in ("a", "b"):
        for split in ("train", "test"):
            path = out[name] / split / "dataset.json"
            path.write_text(json.dumps(json.loads(path.read_text()) | {"num_puzzle_identifiers": ids}))
    return out


def test_check_dataset_names_the_key_at_fault(datasets, tmp_path):
    a, b, c = datasets["a"], datasets["b"], datasets["c"]
    assert check_dataset(_config(f"data_paths=[{a},{b}]", f"data_paths_test=[{c}]")).num_puzzle_identifiers > 0

    missing = tmp_path / "sudoku-extreme-1k-aug-1000"
    with pytest.raises(ConfigError) as raised:
        check_dataset(_config(f"data_paths=[{a},{missing}]"))
    assert raised.value.key == "data_paths" and raised.value.build_argv  # the builder that makes it

    with pytest.raises(ConfigError) as raised:
        check_dataset(_config(f"data_paths=[{a}]", f"data_paths_test=[{tmp_path / 'nowhere'}]"))
    assert raised.value.key == "data_paths_test" and "does not exist" in raised.value.message

    with pytest.raises(ConfigError) as raised:  # a and c disagree on num_puzzle_identifiers
        check_dataset(_config(f"data_paths=[{a},{c}]"))
    assert raised.value.key == "data_paths" and "num_puzzle_identifiers" in raised.value.message

    with pytest.raises(ConfigError) as raised:  # ids beyond the table of the model trained on c
        check_dataset(_config(f"data_paths=[{c}]", f"data_paths_test=[{a}]"))
    assert raised.value.key == "data_paths_test" and "puzzle-embedding table" in raised.value.message

    with pytest.raises(ConfigError) as raised:  # another encoding
        check_dataset(_config(f"data_paths=[{a}]", f"data_paths_test=[{TRM_BUILT / 'sudoku'}]"))
    assert raised.value.key == "data_paths_test" and "seq_len" in raised.value.message


# --- the trainer ------------------------------------------------------------------------------------------

def _overrides(data: list[str], run_dir: Path, *extra: str, epochs: int = 4, eval_interval: int = 2) -> list[str]:
    """tiny_overrides with its data_path replaced by `data` (other dataset overrides)."""
    base = [o for o in tiny_overrides(Path("unused"), run_dir, epochs=epochs, eval_interval=eval_interval)
            if not o.startswith("data_path=")]
    return [*data, *base, *extra]


def _train(argv_overrides: list[str]) -> None:
    result = run_trainer(pretrain_argv(argv_overrides), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_data_paths_train_as_one_and_data_paths_test_is_what_evaluation_reads(datasets, tmp_path):
    a, b, c = datasets["a"], datasets["b"], datasets["c"]
    run_dir = tmp_path / "run"
    _train(_overrides([f"data_paths=[{a},{b}]", f"data_paths_test=[{c}]"], run_dir))
    start = wire_events(run_dir, "run_start")[0]
    meta = [json.loads((p / "train" / "dataset.json").read_text()) for p in (a, b)]
    puzzles = [int(np.load(p / "train" / "all__puzzle_identifiers.npy").size) for p in (a, b)]
    mean = (meta[0]["mean_puzzle_examples"] * puzzles[0] + meta[1]["mean_puzzle_examples"] * puzzles[1]) / sum(puzzles)
    assert start["total_steps"] == int(4 * (meta[0]["total_groups"] + meta[1]["total_groups"]) * mean / 8)  # TRM's count
    evaluations = wire_events(run_dir, "eval")
    assert len(evaluations) == 2
    assert all(e["metrics"]["count"] == len(np.load(c / "test" / "all__inputs.npy")) for e in evaluations)
    assert start["config"]["data_path"] is None and start["project_name"] == "A-ACT-torch"  # TRM's name


def test_min_eval_interval_skips_the_first_evaluations_and_their_checkpoints(datasets, tmp_path):
    run_dir = tmp_path / "run"
    _train(_overrides([f"data_path={datasets['a']}"], run_dir, "min_eval_interval=2", "checkpoint_every_eval=true",
                      epochs=6, eval_interval=2))
    end_step = wire_events(run_dir, "run_end")[0]["step"]
    assert len(wire_events(run_dir, "eval")) == 1 and wire_events(run_dir, "eval")[0]["step"] == end_step  # pass 2 of 0-2
    assert [step for step, _ in list_checkpoints(run_dir)] == [end_step]


@pytest.fixture(scope="module")
def base_run(datasets, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("base") / "run"
    _train(_overrides([f"data_path={datasets['a']}"], run_dir, epochs=2, eval_interval=2))
    return list_checkpoints(run_dir)[-1][1]


def test_freeze_weights_trains_only_the_puzzle_embeddings(datasets, base_run, tmp_path):
    run_dir = tmp_path / "run"
    _train(_overrides([f"data_path={datasets['a']}"], run_dir, f"load_checkpoint={base_run}", "freeze_weights=true"))
    loaded, trained = load_model_state(base_run), load_model_state(run_dir)
    assert set(loaded) == set(trained)
    assert all(torch.equal(loaded[k], trained[k]) for k in loaded if k != PUZZLE_EMB_KEY)
    assert not torch.equal(loaded[PUZZLE_EMB_KEY], trained[PUZZLE_EMB_KEY])
    state = torch.load(list_checkpoints(run_dir)[-1][1] / "training_state.pt", weights_only=True)
    assert len(state["optimizers"]) == 1  # the puzzle embeddings' sign-SGD only


def test_the_ema_starts_from_the_loaded_weights(datasets, base_run, tmp_path):
    run_dir = tmp_path / "run"
    _train(_overrides([f"data_path={datasets['a']}"], run_dir, f"load_checkpoint={base_run}", "ema=true", "ema_rate=0.999"))
    loaded = load_model_state(base_run)
    checkpoint = list_checkpoints(run_dir)[-1][1]
    ema = load_model_state(checkpoint)  # model.pt holds the average
    train = torch.load(checkpoint / "training_state.pt", weights_only=True)["train_weights"]
    dense = [k for k in loaded if k != PUZZLE_EMB_KEY]
    moved = max(float((train[k] - loaded[k]).abs().max()) for k in dense)
    ema_moved = max(float((ema[k] - loaded[k]).abs().max()) for k in dense)
    # Started from the loaded weights, the average moves by a small fraction of what training moved them.
    assert 0 < ema_moved < 0.1 * moved


def test_resume_refuses_other_datasets_or_freeze_weights(datasets, base_run, tmp_path):
    a, b = datasets["a"], datasets["b"]
    original = _overrides([f"data_path={a}"], base_run.parent, epochs=2, eval_interval=2)
    for change, words in (([f"data_paths=[{a},{b}]", "data_path=null"], "data_path/data_paths"),
                          (["freeze_weights=true"], "freeze_weights: False -> True")):
        result = run_trainer(pretrain_argv([*original, *change, f"resume={base_run}"]))
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr, result.stderr
    # The same folder named by TRM's key is the same run.
    result = run_trainer(pretrain_argv([*original, f"data_paths=[{a}]", "data_path=null", "epochs=4",
                                        f"resume={base_run}"]))
    assert result.returncode == 2 and "epochs: 2 -> 4" in result.stderr and "data_path/data_paths" not in result.stderr


def test_trms_arc_evaluator_on_a_dataset_built_by_trms_builder(tmp_path):
    run_dir = tmp_path / "run"
    _train(["arch=trm", f"data_paths=[{TRM_BUILT / 'arc'}]", f"checkpoint_path={run_dir}",
            "evaluators=[arc, {name: arc@ARC, submission_K: 3}]", "arch.hidden_size=32", "arch.num_heads=2",
            "arch.expansion=2", "arch.L_layers=1", "arch.H_cycles=1", "arch.L_cycles=1", "arch.halt_max_steps=2",
            "global_batch_size=8", "epochs=4", "eval_interval=2"])
    scores = wire_events(run_dir, "arc_score")
    by_name = {name: [e for e in scores if e["evaluator"] == name] for name in ("arc0", "arc1")}
    # 3 test rows (the puzzle and 2 copies) per evaluation: ours counts each evaluation's alone, TRM's pools them.
    assert [e["num_predictions"] for e in by_name["arc0"]] == [3, 3]
    assert [e["num_predictions"] for e in by_name["arc1"]] == [3, 6]
    assert all(e["num_unmatched"] == 0 and e["num_puzzles"] == 1 for e in scores)  # TRM's names parsed
    last = run_dir / f"eval_step_{scores[-1]['step']}"
    submission = json.loads((last / "arc1" / "submission.json").read_text())
    assert list(submission) == ["00000002"] and set(submission["00000002"][0]) == {"attempt_1", "attempt_2", "attempt_3"}
    assert set(json.loads((last / "arc0" / "submission.json").read_text())["00000002"][0]) == {"attempt_1", "attempt_2"}
