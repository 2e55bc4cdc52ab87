"""The config tree, the typed schema and its error messages (in-process and through the real CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hrm_core.config import (
    ConfigError, check_dataset, compose, field_help, resolve_run_names, schema_fields, to_plain_dict, validate,
)
from tests.training_helpers import trainer_env, write_tiny_dataset

REPO = Path(__file__).resolve().parents[1]


def test_default_config_is_the_originals():
    config = validate(compose([]))
    assert (config.data_path, config.global_batch_size, config.epochs, config.eval_interval) == ("data/arc-aug-1000", 768, 100000, 10000)
    assert (config.lr, config.lr_min_ratio, config.lr_warmup_steps, config.checkpoint_every_eval) == (1e-4, 1.0, 2000, True)
    assert (config.beta1, config.beta2, config.weight_decay, config.puzzle_emb_weight_decay, config.puzzle_emb_lr) == (0.9, 0.95, 0.1, 0.1, 1e-2)
    arch = config.arch
    assert arch.name == "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"
    assert (arch.loss.name, arch.loss.loss_type) == ("losses@ACTLossHead", "stablemax_cross_entropy")
    assert (arch.H_cycles, arch.L_cycles, arch.H_layers, arch.L_layers, arch.hidden_size, arch.num_heads) == (2, 2, 4, 4, 512, 8)
    assert (arch.puzzle_emb_ndim, arch.pos_encodings, arch.halt_max_steps, arch.halt_exploration_prob) == (512, "rope", 16, 0.1)
    assert (config.seed, config.eval_save_outputs, config.project_name, config.run_name) == (0, [], None, None)
    # The arch node is the architecture's own config class; keys the tree leaves unset take its defaults.
    assert type(arch).__name__ == "HRMConfig" and (arch.attn_backend, arch.rms_norm_eps, arch.rope_theta) == ("auto", 1e-5, 10000.0)


@pytest.mark.parametrize("preset, expected", [
    ("sudoku_extreme_1k", dict(data_path="data/sudoku-extreme-1k-aug-1000", epochs=20000, eval_interval=2000, lr=1e-4,
                               puzzle_emb_lr=1e-4, weight_decay=1.0, puzzle_emb_weight_decay=1.0)),
    ("maze_30x30_hard_1k", dict(data_path="data/maze-30x30-hard-1k", epochs=20000, eval_interval=2000, weight_decay=1.0)),
    ("arc_2", dict(data_path="data/arc-2-aug-1000", epochs=100000, global_batch_size=768)),
    ("sudoku_hard_full", dict(data_path="data/sudoku-hard-full", epochs=100, eval_interval=10, lr_min_ratio=0.1,
                              global_batch_size=2304, lr=3e-4, puzzle_emb_lr=3e-4, weight_decay=0.1)),
])
def test_experiment_presets(preset, expected):
    config = validate(compose([f"+experiment={preset}"]))
    assert {k: getattr(config, k) for k in expected} == expected
    if preset == "sudoku_hard_full":
        arch = config.arch
        assert (arch.loss.loss_type, arch.L_cycles, arch.halt_max_steps, arch.pos_encodings) == ("softmax_cross_entropy", 8, 8, "learned")


def test_overrides_apply_after_presets_and_extension_keys_need_no_plus():
    config = validate(compose(["+experiment=sudoku_extreme_1k", "lr=7e-5", "log_interval=10", "ema=true", "compile=false",
                               "arch.attn_backend=sdpa", "evaluators=[]", "keep_last_checkpoints=3"]))
    assert (config.lr, config.log_interval, config.ema, config.compile, config.keep_last_checkpoints) == (7e-5, 10, True, "false", 3)
    assert config.arch.attn_backend == "sdpa" and to_plain_dict(config)["arch"]["attn_backend"] == "sdpa"


def test_user_config_dir_is_searched_first(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\nlr: 5.0e-5\narch:\n  hidden_size: 128\n")
    config = validate(compose(["+experiment=mine"], config_dir=str(tmp_path)))
    assert config.lr == 5e-5 and config.arch.hidden_size == 128 and config.arch.puzzle_emb_ndim == 128


@pytest.mark.parametrize("overrides, key, words", [
    (["lrr=1e-4"], "lrr", ["unknown key `lrr`", "did you mean `lr`"]),
    (["arch.hiden_size=64"], "arch.hiden_size", ["unknown key `arch.hiden_size`", "`arch.hidden_size`"]),
    (["+warmup=3"], "warmup", ["unknown key `warmup`"]),
    (["global_batch_size=abc"], "global_batch_size", ["global_batch_size=abc", "expected an integer"]),
    (["ema=maybe"], "ema", ["ema=maybe", "true or false"]),
    (["on_nonfinite=explode"], "on_nonfinite", ["must be one of stop, continue"]),
    (["epochs=15", "eval_interval=10"], "eval_interval", ["eval_interval=10 does not divide epochs=15", "eval_interval=5"]),
    (["lr_min_ratio=2"], "lr_min_ratio", ["between 0 and 1"]),
    # Ranges (issue 10, item 7): each refused before any work, naming the key and the override.
    (["lr=-1"], "lr", ["`lr` must be a finite number, 0 or more", "'lr=-1'"]),
    (["lr=nan"], "lr", ["`lr` must be a finite number"]),
    (["puzzle_emb_lr=-0.5"], "puzzle_emb_lr", ["0 or more"]),
    (["weight_decay=-1"], "weight_decay", ["`weight_decay` must be a finite number, 0 or more", "'weight_decay=-1'"]),
    (["puzzle_emb_weight_decay=-1"], "puzzle_emb_weight_decay", ["0 or more"]),
    (["beta1=1"], "beta1", ["in [0, 1)"]),
    (["beta2=-0.1"], "beta2", ["in [0, 1)"]),
    (["arch.expansion=0"], "arch.expansion", ["`arch.expansion` must be a positive finite number, got 0.0"]),
    (["seed=-1"], "seed", ["`seed` must be between 0 and 4294967295"]),
    (["arch.halt_exploration_prob=2"], "arch.halt_exploration_prob", ["a probability, between 0 and 1, got 2.0"]),
    (["arch.puzzle_emb_ndim=-4"], "arch.puzzle_emb_ndim", ["`arch.puzzle_emb_ndim` must be 0 or more, got -4"]),
    (["arch.rms_norm_eps=0"], "arch.rms_norm_eps", ["positive"]),
    (["ema_rate=1"], "ema_rate", ["in [0, 1)"]),
    (["heartbeat_interval_s=inf"], "heartbeat_interval_s", ["positive finite"]),
    (["stall_after_s=-5"], "stall_after_s", ["positive finite"]),
    (["evaluators=[nope]"], "evaluators", ["unknown evaluator 'nope'"]),
    (["arch.name=hrm_act_v2"], "arch.name", ["not a known model", "did you mean 'hrm_act_v1'"]),
    (["arch.attn_backend=flash9"], "arch.attn_backend", ["flash9", "sdpa"]),
    (["arch.hidden_size=4", "arch.num_heads=8"], "arch.num_heads", ["more than arch.hidden_size=4"]),
    (["arch.hidden_size=96", "arch.num_heads=32"], "arch.num_heads", ["must be even"]),
    (["eval_save_outputs=[logits,qhalt]"], "eval_save_outputs", ["unknown output 'qhalt'", "q_halt_logits"]),
    # The last override of a key wins, so it is the one a message quotes.
    (["global_batch_size=16", "global_batch_size=1.5"], "global_batch_size", ["'global_batch_size=1.5'"]),
])
def test_user_mistakes_raise_config_errors_naming_the_key(overrides, key, words):
    with pytest.raises(ConfigError) as raised:
        validate(compose(overrides), overrides)
    error = raised.value
    assert error.key == key
    for word in words:
        assert word in error.render()


def test_unknown_key_in_a_config_file_is_named(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "typo.yaml").write_text("# @package _global_\nglobal_batchsize: 32\n")
    with pytest.raises(ConfigError, match="(?s)unknown key `global_batchsize`.*did you mean `global_batch_size`") as raised:
        validate(compose(["+experiment=typo"], config_dir=str(tmp_path)))
    assert raised.value.key == "global_batchsize"


def test_missing_preset_lists_the_choices():
    with pytest.raises(ConfigError, match="sudoku_extreme_1k"):
        compose(["+experiment=sudoku"])


def test_every_field_has_help_text():
    infos = list(schema_fields())
    assert {"lr", "arch.hidden_size", "arch.loss.loss_type", "resume", "ema_rate", "on_nonfinite"} <= {i.key for i in infos}
    assert all(info.help and "\n" not in info.help for info in infos)
    assert field_help("arch.hidden_size") == "Model width." and field_help("arch") and field_help("no.such") == ""


def test_missing_dataset_error_carries_the_build_command(tmp_path):
    config = validate(compose(["data_path=" + str(tmp_path / "sudoku-extreme-1k-aug-1000")]))
    with pytest.raises(ConfigError) as raised:
        check_dataset(config)
    assert raised.value.key == "data_path"
    assert raised.value.build_command and "--subsample-size 1000" in raised.value.build_command
    assert raised.value.build_argv[-4:] == ["--subsample-size", "1000", "--num-aug", "1000"]
    tiny = write_tiny_dataset(tmp_path / "tiny")
    check_dataset(validate(compose([f"data_path={tiny}", "global_batch_size=8"])))  # a built one passes


def test_default_names_follow_the_original():
    config = validate(compose(["data_path=data/sudoku-extreme-1k-aug-1000"]))
    project, run, path = resolve_run_names(config)
    assert project == "Sudoku-extreme-1k-aug-1000 ACT-torch"
    assert run.startswith("HierarchicalReasoningModel_ACTV1 ") and len(run.split(" ")[1].split("-")) == 2
    assert Path(path) == Path("checkpoints") / project / run
    import random

    import numpy as np
    import torch

    states = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    resolve_run_names(config)  # naming draws from OS entropy, never from the seeded generators
    assert random.getstate() == states[0] and (np.random.get_state()[1] == states[1]).all() and torch.equal(torch.get_rng_state(), states[2])
    named = validate(compose(["project_name=p", "run_name=r"]))
    assert resolve_run_names(named) == ("p", "r", str(Path("checkpoints") / "p" / "r"))


# --- the real command line: clean message, no traceback, exit code 2 -------------------------------------

@pytest.mark.parametrize("overrides, expected", [
    (["lrr=1e-4"], "did you mean `lr`"),
    (["global_batch_size=many"], "global_batch_size=many"),
    (["data_path=data/sudoku-extreme-1k-aug-1000"], "build_sudoku"),
])
def test_cli_reports_user_mistakes_without_a_traceback(tmp_path, overrides, expected):
    result = subprocess.run([sys.executable, "-m", "hrm_core.pretrain", *overrides], cwd=tmp_path, env=trainer_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert expected in result.stderr and "config error" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_prints_the_composed_config(tmp_path):
    result = subprocess.run([sys.executable, "-m", "hrm_core.pretrain", "--cfg", "+experiment=sudoku_hard_full"], cwd=tmp_path,
                            env=trainer_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["global_batch_size"] == 2304 and printed["arch"]["L_cycles"] == 8


def test_docs_list_every_key():
    text = (REPO / "docs" / "config.md").read_text()
    missing = [info.key for info in schema_fields() if f"`{info.key}`" not in text]
    assert not missing, f"docs/config.md does not describe {missing}"


def test_the_key_reference_an_installed_copy_has(tmp_path):
    """`python -m hrm_core.config` lists every key with its help (a wheel ships no docs/ folder), and the
    hints of user mistakes point there rather than at docs/ (issue 19, item 18)."""
    result = subprocess.run([sys.executable, "-m", "hrm_core.config", "--arch", "trm"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for info in schema_fields("trm"):
        assert f"  {info.key}  (" in result.stdout and info.help in result.stdout, info.key
    assert "arch.act_enabled" not in result.stdout  # the transformer baseline's key, not TRM's
    for overrides in (["zzzz=1"], ["+zzzz=1"]):  # refused by the composition, or by the checker
        with pytest.raises(ConfigError) as raised:
            validate(compose(overrides), overrides)
        assert raised.value.hint == "`python -m hrm_core.config` lists every key with its help", overrides
