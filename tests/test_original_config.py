"""all_config.yaml as the originals read it (issue 19, item 19), without their code: their pydantic config
classes, restated here with the originals' field names and types (sapientinc/HRM pretrain.py and
models/hrm/hrm_act_v1.py; SamsungSAILMontreal/TinyRecursiveModels' recursive_reasoning/trm.py), parse the
file the trainer writes, and the hand-over layout (a `step_N` weights file with all_config.yaml beside it,
which the originals' evaluate.py reads from `dirname(checkpoint)`) is what docs/checkpoints.md describes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List, Optional

import pydantic
import pytest
import yaml

from hrm_core.config import compose, to_plain_dict, validate
from hrm_core.config.validate import arch_as_written
from hrm_core.rundir.files import CONFIG_FILE
from hrm_core.training.run_log import RunLog


class LossConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    name: str


class ArchConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    name: str
    loss: LossConfig


class PretrainConfig(pydantic.BaseModel):  # HRM's; TRM's adds data_paths and its extras
    arch: ArchConfig
    data_path: str
    global_batch_size: int
    epochs: int
    lr: float
    lr_min_ratio: float
    lr_warmup_steps: int
    weight_decay: float
    beta1: float
    beta2: float
    puzzle_emb_lr: float
    puzzle_emb_weight_decay: float
    project_name: Optional[str] = None
    run_name: Optional[str] = None
    checkpoint_path: Optional[str] = None
    seed: int = 0
    checkpoint_every_eval: bool = False
    eval_interval: Optional[int] = None
    eval_save_outputs: List[str] = []


class HRMModelConfig(pydantic.BaseModel):  # HierarchicalReasoningModel_ACTV1Config
    batch_size: int
    seq_len: int
    puzzle_emb_ndim: int = 0
    num_puzzle_identifiers: int
    vocab_size: int
    H_cycles: int
    L_cycles: int
    H_layers: int
    L_layers: int
    hidden_size: int
    expansion: float
    num_heads: int
    pos_encodings: str
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    halt_max_steps: int
    halt_exploration_prob: float
    forward_dtype: str = "bfloat16"


class TRMModelConfig(HRMModelConfig):  # TinyRecursiveReasoningModel_ACTV1Config
    mlp_t: bool = False
    puzzle_emb_len: int = 16
    no_ACT_continue: bool = True


def written_config(run_dir: Path, overrides: list[str]) -> dict:
    """all_config.yaml as the trainer writes it (RunLog.write_run_files, the config as the run resolved it)."""
    config = validate(compose(overrides), overrides)
    log = RunLog(run_dir, enabled=True)
    log.write_run_files(to_plain_dict(config), argv=["python"], overrides=overrides, world_size=1)
    log.close()
    return yaml.safe_load((run_dir / CONFIG_FILE).read_text())


@pytest.mark.parametrize("overrides, model_config", [
    (["+experiment=demo"], HRMModelConfig),
    (["+experiment=demo", "arch=trm", "arch.mlp_t=true", "arch.pos_encodings=none", "arch.L_layers=2"], TRMModelConfig),
])
def test_the_originals_parse_all_config_yaml(tmp_path: Path, overrides, model_config):
    raw = written_config(tmp_path, overrides)
    for key in ("rms_norm_eps", "rope_theta", "puzzle_emb_ndim", "attn_backend"):
        assert raw["arch"][key] is not None  # resolved, never null
    assert "forward_dtype" not in raw["arch"]  # "auto" is ours: the originals keep their own default
    config = PretrainConfig(**raw)
    # The originals build the model from the arch node's extras plus the dataset's sizes.
    model = model_config(**config.arch.__pydantic_extra__, batch_size=64, seq_len=16, vocab_size=6,
                         num_puzzle_identifiers=1)
    assert model.rms_norm_eps == 1e-5 and model.rope_theta == 10000.0 and model.forward_dtype == "bfloat16"
    assert model.hidden_size == raw["arch"]["hidden_size"] and model.halt_max_steps == raw["arch"]["halt_max_steps"]
    if model_config is TRMModelConfig:
        assert (model.mlp_t, model.pos_encodings, model.L_layers, model.puzzle_emb_len) == (True, "none", 2, 16)


def test_an_older_all_config_yaml_with_nulls_still_reads(tmp_path: Path):
    """Runs written before resolved their arch keys wrote null for each unset one, other architectures' keys
    included: they still validate (evaluate, resume) and mean the same model."""
    raw = written_config(tmp_path, ["+experiment=demo"])
    older = dict(raw, arch=dict(raw["arch"], rms_norm_eps=None, rope_theta=None, forward_dtype=None, attn_backend=None,
                                mlp_t=None, puzzle_emb_len=None, no_ACT_continue=None, act_enabled=None))
    assert to_plain_dict(validate(older)) == raw
    assert arch_as_written(older["arch"]) == raw["arch"]


def test_the_hand_over_layout_is_a_step_file_beside_all_config(tmp_path: Path):
    """docs/checkpoints.md: copy `step_N/model.pt` to `<folder>/step_N` and all_config.yaml beside it."""
    run_dir = tmp_path / "run"
    written_config(run_dir, ["+experiment=demo"])
    (run_dir / "step_31").mkdir()
    (run_dir / "step_31" / "model.pt").write_bytes(b"weights")
    handed = tmp_path / "for-the-original"
    handed.mkdir()
    shutil.copy(run_dir / "step_31" / "model.pt", handed / "step_31")
    shutil.copy(run_dir / CONFIG_FILE, handed / CONFIG_FILE)
    checkpoint = handed / "step_31"  # what the original's evaluate.py is given (checkpoint=...)
    beside = Path(checkpoint).parent / "all_config.yaml"  # where it looks: os.path.dirname(checkpoint)
    assert PretrainConfig(**yaml.safe_load(beside.read_text())).arch.name.startswith("hrm.hrm_act_v1")
