"""Same seed, same numbers: `python -m hrm_core.pretrain` against the originals' own trainers on CPU.

tests/fixtures/trainer_parity/<case>.json holds what the HRM original's and the TRM reference's
`pretrain.py` logged (every train step's metrics, every evaluation's), recorded on CPU in float32 by
tools/record_trainer_trajectories.py from the same command line on the committed tiny dataset, in one
process and in two (torchrun, gloo). Each test runs our trainer with exactly that command line and
compares every logged number after rounding both to float32, the dtype the originals compute and log in
(both runs pin PyTorch's and MKL's CPU code paths to AVX2, `cpu_env` in the fixture, so this holds on any
x86-64 CPU with AVX2):
they must be equal, bit for bit, through the Q head's early halting (where the exploration stream, and so
the DataLoader's seed draws, matter) and, for TRM, through the EMA evaluations.

Two differences in what is logged, not in what is computed: the originals log `count` divided by itself
(1, or 0 when nothing halted) and the per-sequence metrics as 0 when nothing halted, where our train events
keep the count and leave those metrics out; and the originals' step counter goes on past total_steps for
the batches of the last pass they skip, so their last evaluation carries a larger step than ours.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.training_helpers import wire_events, pretrain_argv, run_trainer, torchrun_argv, trainer_env

FIXTURES = Path(__file__).parent / "fixtures" / "trainer_parity"
CASES = ("hrm_1proc", "hrm_2proc", "trm_1proc", "trm_2proc")


def _fixture(case: str) -> dict:
    return json.loads((FIXTURES / f"{case}.json").read_text())


def _f32(value: float) -> np.float32:
    return np.float32(value)


@pytest.fixture(scope="module", params=CASES)
def runs(request, tmp_path_factory) -> tuple[dict, Path]:
    """The fixture of a case and the run directory of our trainer on the same command line."""
    case = _fixture(request.param)
    run_dir = tmp_path_factory.mktemp(request.param)
    overrides = [o.replace("{dataset}", str(FIXTURES / "dataset")) for o in case["overrides"]]
    overrides.append(f"checkpoint_path={run_dir}")
    argv = pretrain_argv(overrides) if case["nproc"] == 1 else torchrun_argv(case["nproc"], overrides)
    result = run_trainer(argv, env=trainer_env(**case["cpu_env"]), timeout=600)  # the recording's CPU code paths
    assert result.returncode == 0, result.stderr[-3000:]
    return case, run_dir


def test_the_recordings_cover_early_halting_and_every_evaluation():
    """What makes the comparison meaningful: the Q head halts sequences early before the last evaluation,
    TRM's evaluations use the EMA and start late (min_eval_interval), and its last pass has batches past
    total_steps (the reference's EMA still counts them)."""
    for name in CASES:
        case = _fixture(name)
        early = [int(step) for step, m in case["train"].items() if m["count"] > 0 and m["steps"] < 4]  # halt_max_steps=4
        assert early and min(early) < case["eval"][-1]["step"], name
        if case["reference"] == "TRM":
            assert "ema=True" in case["overrides"] and "min_eval_interval=1" in case["overrides"]
            assert case["eval"][-1]["step"] > max(int(step) for step in case["train"])


def test_every_train_metric_is_the_originals(runs):
    case, run_dir = runs
    ours = {e["step"]: e["metrics"] for e in wire_events(run_dir, "train")}
    reference = {int(step): metrics for step, metrics in case["train"].items()}
    assert sorted(ours) == sorted(reference)
    for step, expected in reference.items():
        got = ours[step]
        assert expected["count"] == (1.0 if got["count"] > 0 else 0.0), step
        for key, value in expected.items():
            if key == "count":
                continue
            if key not in got:  # nothing halted: the original logs 0 for a per-sequence metric
                assert got["count"] == 0 and value == 0.0 and not key.endswith("loss"), (step, key)
                continue
            assert _f32(got[key]) == _f32(value), f"step {step} {key}: ours {got[key]!r}, the original's {value!r}"


def test_every_eval_metric_is_the_originals(runs):
    case, run_dir = runs
    ours = wire_events(run_dir, "eval")
    last_train_step = max(int(step) for step in case["train"])
    assert len(ours) == len(case["eval"])
    for got, expected in zip(ours, case["eval"]):
        assert got["step"] == min(expected["step"], last_train_step)
        assert set(expected["sets"]) == {got["set"]}
        reference = expected["sets"][got["set"]]
        for key, value in reference.items():
            assert _f32(got["metrics"][key]) == _f32(value), f"eval at step {expected['step']} {key}: ours {got['metrics'][key]!r}, the original's {value!r}"
