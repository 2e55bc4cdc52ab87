"""The checkpoint as a dict of stateful parts: one loop saves them, one restores them, files unchanged.

The exact-resume tests (test_resume.py) drive the whole trainer; these check the loop's own rules on real
files: where each part goes, the order of restoring, parts the checkpoint has no state for, and the
per-rank parts of a checkpoint written by another number of processes. Also the fault plan read from
the environment (training/faults.py).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from hrm_core.rundir.files import MODEL_FILE, TRAINING_STATE_FILE, rank_file
from hrm_core.training import checkpoint as ckpt
from hrm_core.training.distributed import DistContext
from hrm_core.training.faults import FaultPlan, FaultPlanError
from hrm_core.training.state import TrainProgress


class Box:
    """A part holding one value; records what restoring did to it."""

    def __init__(self, value: Any):
        self.value = value
        self.restored_from: list[Any] = []

    def state_dict(self) -> Any:
        return self.value

    def load_state_dict(self, state: Any) -> None:
        self.value = state
        self.restored_from.append(state)


class Restartable(Box):
    def load_absent(self) -> None:
        self.value = "restarted"


def _ctx(world_size: int = 1) -> DistContext:
    return DistContext(rank=0, world_size=world_size, local_rank=0, device=torch.device("cpu"))


def _parts(weights: dict, progress: TrainProgress, ema: Box | None, carry: Box, world_size: int = 1) -> ckpt.CheckpointParts:
    return ckpt.CheckpointParts(shared={ckpt.MODEL_PART: Box(weights), "progress": progress, "ema": ema},
                                per_rank={"carry": carry}, facts={"world_size": world_size, "note": "hello"})


def test_parts_go_to_their_files_and_come_back(tmp_path):
    weights = {"w": torch.arange(3.0)}
    path = ckpt.save_checkpoint(_ctx(), tmp_path, 7, _parts(weights, TrainProgress(step=7, total_steps=9), None,
                                                             Box({"z": torch.ones(2)})))
    # The files are the documented layout: model.pt the bare weights, None for a part the run does not have.
    assert torch.equal(torch.load(path / MODEL_FILE, weights_only=True)["w"], weights["w"])
    state = torch.load(path / TRAINING_STATE_FILE, weights_only=True)
    assert state["format"] == ckpt.CHECKPOINT_FORMAT and state["ema"] is None and state["progress"]["step"] == 7
    assert ckpt.MODEL_PART not in state  # the weights live in model.pt only
    assert torch.equal(torch.load(path / rank_file(0), weights_only=True)["carry"]["z"], torch.ones(2))

    model, progress, ema, carry = Box(None), TrainProgress(), Box("untouched"), Box(None)
    parts = ckpt.CheckpointParts(shared={ckpt.MODEL_PART: model, "progress": progress, "ema": ema},
                                 per_rank={"carry": carry}, facts={"world_size": 1, "note": None})
    facts, rank_restored = ckpt.restore_checkpoint(path, _ctx(), parts)
    assert facts == {"world_size": 1, "note": "hello"} and rank_restored
    assert torch.equal(model.value["w"], weights["w"]) and (progress.step, progress.total_steps) == (7, 9)
    assert ema.value == "untouched" and ema.restored_from == []  # saved as None: left as it is
    assert torch.equal(carry.value["z"], torch.ones(2))


def test_shared_parts_are_restored_in_order_so_a_later_one_wins(tmp_path):
    """The training weights (when EMA is on) are restored after model.pt, which holds the EMA weights."""
    parts = ckpt.CheckpointParts(shared={ckpt.MODEL_PART: Box({"w": torch.zeros(1)}), "train_weights": Box({"w": torch.ones(1)})},
                                 per_rank={}, facts={"world_size": 1})
    path = ckpt.save_checkpoint(_ctx(), tmp_path, 1, parts)
    order: list[str] = []

    class Module(Box):
        def __init__(self, name: str):
            super().__init__(None)
            self.name = name

        def load_state_dict(self, state: Any) -> None:
            order.append(f"{self.name}={float(state['w'][0])}")

    ckpt.restore_checkpoint(path, _ctx(), ckpt.CheckpointParts(
        shared={ckpt.MODEL_PART: Module("model"), "train_weights": Module("train_weights")}, per_rank={}, facts={}))
    assert order == ["model=0.0", "train_weights=1.0"]


def test_per_rank_parts_restart_for_another_world_size_and_for_missing_keys(tmp_path):
    path = ckpt.save_checkpoint(_ctx(), tmp_path, 3, _parts({"w": torch.zeros(1)}, TrainProgress(step=3), None, Box({"z": torch.ones(1)})))
    # Written by 1 process, read by 2: no rank file is read, every per-rank part restarts (or stays).
    carry, kept = Restartable(None), Box("kept")
    parts = ckpt.CheckpointParts(shared={ckpt.MODEL_PART: Box(None), "progress": TrainProgress()},
                                 per_rank={"carry": carry, "other": kept}, facts={"world_size": None})
    facts, rank_restored = ckpt.restore_checkpoint(path, _ctx(world_size=2), parts)
    assert not rank_restored and facts == {"world_size": 1}
    assert carry.value == "restarted" and kept.value == "kept"
    # Same world size, a key the checkpoint was written without (an older trainer): that part restarts.
    stream = Restartable(None)
    parts = ckpt.CheckpointParts(shared={ckpt.MODEL_PART: Box(None)}, per_rank={"carry": Box(None), "stream": stream},
                                 facts={})
    _, rank_restored = ckpt.restore_checkpoint(path, _ctx(), parts)
    assert rank_restored and stream.value == "restarted"


def test_the_fault_plan_is_read_once_and_narrowed_to_its_rank():
    environ = {"HRM_TEST_STOP_AT_STEP": "37", "HRM_TEST_CRASH_AT_STEP": "5", "HRM_TEST_CRASH_RANK": "1",
               "HRM_TEST_CHECKPOINT_PAUSE_AT_STEP": "40", "HRM_TEST_CHECKPOINT_PAUSE_S": "0.01"}
    rank0, rank1 = FaultPlan.from_environment(0, environ), FaultPlan.from_environment(1, environ)
    assert (rank0.stop_at_step, rank0.crash_at_step, rank1.crash_at_step) == (37, None, 5)
    assert rank0.any_step_fault and (rank0.checkpoint_pause_at_step, rank0.checkpoint_pause_s) == (40, 0.01)
    assert not FaultPlan.from_environment(0, {}).any_step_fault  # a real run: the step loop checks nothing
    with pytest.raises(FaultPlanError, match="HRM_TEST_STOP_AT_STEP='x' is not a whole number"):
        FaultPlan.from_environment(0, {"HRM_TEST_STOP_AT_STEP": "x"})
