"""The W&B mirror logs the originals' keys and values (sapientinc/HRM and TRM `pretrain.py`).

The end-to-end test trains the real trainer with `wandb=true wandb_mode=offline` and reads the offline run's
`.wandb` transaction log back with wandb's own reader (`wandb leet inspect --json`), comparing each logged
row with what the originals would log for the same sums, taken from the run's events.jsonl.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hrm_core.evaluators import ARCEvaluator
from hrm_core.training.wandb_payloads import EXTRA_PREFIX, eval_payload, reference_evaluator_name
from tests.training_helpers import pretrain_argv, raw_events, run_trainer, tiny_overrides, trainer_env, write_tiny_dataset

PER_SEQUENCE = ("accuracy", "exact_accuracy", "q_halt_accuracy", "steps")  # the original divides these by count
LOSSES = ("lm_loss", "q_halt_loss", "q_continue_loss")


def _history_rows(wandb_file: Path) -> dict[int, dict]:
    """Each logged step's row as wandb recorded it, without wandb's own `_` keys."""
    result = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(wandb_file)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        record = json.loads(line)
        if record.get("type") == "history":
            item = record["history"]["item"]
            rows[item["_step"]] = {k: v for k, v in item.items() if not k.startswith("_")}
    return rows


def test_offline_run_logs_the_originals_keys_and_values(tmp_path: Path) -> None:
    data = write_tiny_dataset(tmp_path / "data")
    run_dir = tmp_path / "run"
    overrides = tiny_overrides(data, run_dir, "wandb=true", "wandb_mode=offline", epochs=2, eval_interval=1)
    result = run_trainer(pretrain_argv(overrides), env=trainer_env(WANDB_SILENT="true"), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (wandb_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    rows = _history_rows(wandb_file)
    events = raw_events(run_dir)

    start = next(e for e in events if e["type"] == "run_start")
    assert rows[0] == {"num_params": start["num_params"]}

    trains = [e for e in events if e["type"] == "train"]
    evals = {e["step"]: e for e in events if e["type"] == "eval"}
    assert trains and evals and any(e["metrics"]["count"] > 0 for e in trains)  # both branches of count/count
    for event in trains:
        row, metrics = rows[event["step"]], event["metrics"]
        count = metrics["count"]
        expected = {f"train/{k}": pytest.approx(metrics[k]) for k in LOSSES}
        # The original divides by max(count, 1): with nothing halted, its per-sequence metrics read 0.
        expected |= {f"train/{k}": pytest.approx(metrics.get(k, 0.0)) for k in PER_SEQUENCE}
        expected |= {"train/count": 1.0 if count > 0 else 0.0, "train/lr": pytest.approx(event["lr"]),
                     f"{EXTRA_PREFIX}train/count": count}
        train_part = {k: v for k, v in row.items() if k.startswith(("train/", f"{EXTRA_PREFIX}train/"))}
        assert train_part == expected, f"step {event['step']}"

        evaluation = evals.get(event["step"])
        eval_part = {k: v for k, v in row.items() if k not in train_part}
        if evaluation is None:
            assert eval_part == {}
            continue
        # The original's nested {"all": {...}} without count, which W&B shows (and stores) as `all.accuracy`.
        values = evaluation["metrics"]
        assert eval_part == {**{f"all.{k}": pytest.approx(v) for k, v in values.items() if k != "count"},
                             f"{EXTRA_PREFIX}all/count": values["count"]}


def test_arc_scores_go_under_trms_key_and_hrms_extras_under_their_own() -> None:
    assert reference_evaluator_name(ARCEvaluator) == "ARC"  # TRM's `arc@ARC` logs as `ARC/pass@K`
    outcome = {"pass_at": {"1": 0.25, "2": 0.5}, "pass_at_test_fraction": {"1": 0.375, "2": 0.625}, "num_puzzles": 4}
    payload = eval_payload({"all": {"accuracy": 0.5, "count": 12.0}}, {"arc": ("ARC", outcome)})
    assert payload == {
        "all": {"accuracy": 0.5},
        "hrm/all/count": 12.0,
        # TRM's figure: each puzzle earns the fraction of its test inputs solved.
        "ARC/pass@1": 0.375, "ARC/pass@2": 0.625,
        "hrm/arc/pass@1": 0.375, "hrm/arc/pass@2": 0.625,
        "hrm/arc/pass@1_all_tests": 0.25, "hrm/arc/pass@2_all_tests": 0.5,
    }
    assert reference_evaluator_name(dict) is None
