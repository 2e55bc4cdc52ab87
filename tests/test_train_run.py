"""End-to-end: the real trainer as a subprocess on a tiny dataset; its run directory follows the contract.

The schema below is docs/run-directory.md's list of fields per event type, checked on the raw JSON lines:
every event of the run must carry them with the documented types (the reader's typed events are checked
too: no line of the log may be rejected).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from hrm_core.rundir import events
from hrm_core.rundir.status import RunStatus
from hrm_core.training.eta import SETTLE_STEPS, WARMUP_STEPS
from tests.training_helpers import (
    events_of, pretrain_argv, raw_events, run_trainer, tiny_overrides, torchrun_argv, trainer_env, write_tiny_dataset,
)

NUMBER = (int, float)


def _float(value) -> bool:
    return isinstance(value, NUMBER) or value in ("nan", "inf", "-inf")


POSITION = {"step": int, "epoch": _float}
START_FIELDS = {
    "config": dict, "world_size": int, "devices": list, "device_type": str, "num_params": int,
    "num_puzzle_emb_params": int, "host": str, "pid": int, "argv": list, "overrides": list, "total_steps": int,
    "halt_max_steps": int, "puzzle": dict,
}
SCHEMA: dict[str, dict] = {
    events.RunStart.TYPE: START_FIELDS,
    events.Resume.TYPE: {**POSITION, "from": str, **START_FIELDS},
    events.Train.TYPE: {**POSITION, "total_steps": int, "lr": _float, "metrics": dict, "examples_per_s": _float,
                        "tokens_per_s": _float, "elapsed_s": _float},  # eta_s: absent while estimating (below)
    events.Eval.TYPE: {**POSITION, "set": str, "metrics": dict},
    events.Halting.TYPE: {**POSITION, "phase": str, "counts": list},
    events.Samples.TYPE: {**POSITION, "set": str, "puzzle": dict, "samples": list},
    events.Checkpoint.TYPE: {**POSITION, "path": str, "seconds": _float},
    events.Heartbeat.TYPE: {**POSITION, "phase": str, "progress_time": float, "stall_after_s": _float, "interval_s": _float},
    events.NonFinite.TYPE: {**POSITION, "metrics": dict, "action": str},
    events.RunEnd.TYPE: {**POSITION, "status": str, "elapsed_s": _float},
}
TRAIN_LOSSES = {"lm_loss", "q_halt_loss", "q_continue_loss", "count"}
PER_SEQUENCE_METRICS = {"accuracy", "exact_accuracy", "q_halt_accuracy", "steps"}  # absent when count is 0
SAMPLE_FIELDS = {"name": str, "puzzle_id": int, "input": list, "label": list, "prediction": list, "q_halt": _float,
                 "q_halt_prob": _float, "steps": int, "exact": bool}
PUZZLE_FIELDS = {"kind", "grid_shape", "vocab_offset", "pad_id", "ignore_label_id", "vocab_size", "seq_len"}


def _check_fields(obj: dict, fields: dict, where: str) -> None:
    for name, expected in fields.items():
        assert name in obj, f"{where}: missing field {name!r}"
        value = obj[name]
        ok = expected(value) if callable(expected) and not isinstance(expected, type) else isinstance(value, expected)
        assert ok, f"{where}: field {name!r} = {value!r} is not {expected}"


def check_event_schema(event: dict, *, halt_max_steps: int, seq_len: int) -> None:
    """Raises AssertionError unless `event` follows docs/run-directory.md."""
    assert event["v"] == events.SCHEMA_VERSION and isinstance(event["time"], float)
    kind = event["type"]
    _check_fields(event, SCHEMA[kind], kind)
    if kind == events.Train.TYPE:
        expected = TRAIN_LOSSES | (PER_SEQUENCE_METRICS if event["metrics"]["count"] > 0 else set())
        assert set(event["metrics"]) == expected
    if kind == events.Halting.TYPE:
        assert len(event["counts"]) == halt_max_steps and all(isinstance(c, int) for c in event["counts"])
        assert event["phase"] in ("train", "eval")
        assert isinstance(event["window_steps"] if event["phase"] == "train" else event["set"], int if event["phase"] == "train" else str)
    if kind == events.Samples.TYPE:
        assert PUZZLE_FIELDS <= set(event["puzzle"])
        for sample in event["samples"]:
            _check_fields(sample, SAMPLE_FIELDS, "sample")
            assert len(sample["input"]) == len(sample["label"]) == len(sample["prediction"]) == seq_len
    if kind in (events.RunStart.TYPE, events.Resume.TYPE):
        assert event["halt_max_steps"] == halt_max_steps and PUZZLE_FIELDS <= set(event["puzzle"])
    if kind == events.Heartbeat.TYPE:
        assert event["phase"] in [p.value for p in events.Phase] and event["progress_time"] <= event["time"]
    if kind == events.RunEnd.TYPE:
        assert event["status"] in ("finished", "failed", "stopped")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny-puzzles")


def _check_run_dir(run_dir: Path, *, world_size: int, min_steps: int = 90) -> list[events.Event]:
    raw = raw_events(run_dir)
    kinds = {e["type"] for e in raw}
    expected = {cls.TYPE for cls in (events.RunStart, events.Train, events.Eval, events.Halting, events.Samples,
                                     events.Checkpoint, events.Heartbeat, events.RunEnd)}
    assert expected <= kinds, f"missing event types {expected - kinds}"
    for event in raw:
        check_event_schema(event, halt_max_steps=4, seq_len=16)
    all_events = events_of(run_dir)  # every line decodes and checks
    assert len(all_events) == len(raw)
    assert isinstance(all_events[0], events.RunStart) and isinstance(all_events[-1], events.RunEnd)
    assert all_events[-1].status == RunStatus.FINISHED
    start = all_events[0]
    assert start.world_size == world_size and len(start.devices) == world_size and start.device_type == "cpu"

    # Train steps are logged every step, in order, with finite losses that go down on this easy task.
    train = events_of(run_dir, events.Train)
    steps = [e.step for e in train]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > min_steps
    first, last = train[0].metrics["lm_loss"], train[-1].metrics["lm_loss"]
    assert math.isfinite(first) and last < first
    # No ETA from the warm-up steps: null ("estimating") until the step rate has settled (training/eta.py).
    assert all(e.eta_s is None for e in train[: WARMUP_STEPS + SETTLE_STEPS])
    assert {e.phase for e in events_of(run_dir, events.Halting)} == {events.HaltingPhase.TRAIN, events.HaltingPhase.EVAL}
    # Heartbeats carry the progress clock: the phase and the time of the last progress, never in the future.
    beats = events_of(run_dir, events.Heartbeat)
    assert beats and all(b.progress_time <= b.time and b.stall_after_s > 0 for b in beats)
    assert events.Phase.TRAIN in {b.phase for b in beats}
    # Eval: one per pass (epochs / eval_interval = 2), each followed by a checkpoint (checkpoint_every_eval).
    assert len(events_of(run_dir, events.Eval)) == 2
    checkpoints = events_of(run_dir, events.Checkpoint)
    assert len(checkpoints) == 2 and all((Path(c.path) / "COMPLETE").is_file() for c in checkpoints)
    samples = events_of(run_dir, events.Samples)[0].samples
    assert samples and all(s.name.startswith("puzzle_") for s in samples)  # names from identifiers.json

    # The other files of the run directory.
    config = yaml.safe_load((run_dir / "all_config.yaml").read_text())
    assert config["global_batch_size"] == 8 and config["arch"]["hidden_size"] == 32
    assert config["checkpoint_path"] == str(run_dir)
    command = json.loads((run_dir / "command.json").read_text())
    assert command["world_size"] == world_size and "global_batch_size=8" in command["overrides"]
    weights = torch.load(Path(checkpoints[-1].path) / "model.pt", weights_only=True)
    assert "model.inner.puzzle_emb.weights" in weights  # the original's key layout
    return all_events


def test_tiny_run_writes_the_run_directory(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    # A few hundred steps (~330), two evaluations.
    result = run_trainer(pretrain_argv(tiny_overrides(tiny_data, run_dir, "heartbeat_interval_s=0.2", epochs=60,
                                                      eval_interval=30)))
    assert result.returncode == 0, result.stderr
    _check_run_dir(run_dir, world_size=1, min_steps=300)
    # Rank 0's readable line per log interval (plain lines: stdout is a pipe here).
    step_lines = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    assert len(step_lines) > 300 and "lr " in step_lines[-1] and "ex/s" in step_lines[-1] and "ETA" in step_lines[-1]


def test_tiny_run_under_torchrun_with_two_processes(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    result = run_trainer(torchrun_argv(2, tiny_overrides(tiny_data, run_dir, "heartbeat_interval_s=0.2")), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    _check_run_dir(run_dir, world_size=2)
    last = Path(events_of(run_dir, events.Checkpoint)[-1].path)
    assert (last / "rank_0.pt").is_file() and (last / "rank_1.pt").is_file()
    # Only rank 0 prints step lines.
    assert sum(line.startswith("step 1/") for line in result.stdout.splitlines()) == 1


def test_a_crash_is_recorded_as_failed_with_its_traceback(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    result = run_trainer(pretrain_argv(tiny_overrides(tiny_data, run_dir)), env=trainer_env(HRM_TEST_CRASH_AT_STEP="5"))
    assert result.returncode == 1
    message = "a crash injected at step 5"
    assert message in result.stderr  # an unexpected exception: its traceback goes to stderr too
    end = events_of(run_dir)[-1]
    assert isinstance(end, events.RunEnd) and end.status == RunStatus.FAILED
    assert "Traceback" in end.error and message in end.error


def test_step_line_is_a_progress_bar_on_a_terminal_and_plain_lines_otherwise():
    import io

    from hrm_core.training.console import Console, format_step_line

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    line = format_step_line(step=50, total_steps=200, epoch=1.5, metrics={"lm_loss": 0.5, "accuracy": 0.9}, lr=1e-4,
                            examples_per_s=1234.0, eta_s=3725)
    assert line.startswith("step 50/200 (25%) | epoch 1.50 | loss 0.5000") and "ETA 1h 02m" in line and "1234 ex/s" in line
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        console = Console(enabled=True, stream=stream)
        console.progress("step 1")
        console.progress("step 2")
        console.message("[hrm] eval")
    assert terminal.getvalue() == "\r\x1b[2Kstep 1\r\x1b[2Kstep 2\n[hrm] eval\n"
    assert pipe.getvalue() == "step 1\nstep 2\n[hrm] eval\n"
    # Whatever a message quotes (a run name, a path, an error's last line) cannot act on the terminal.
    hostile, out = "run \x1b]0;pwned\x07name\x1b[2J\x1bc", io.StringIO()
    Console(enabled=True, stream=out).message(f"[hrm] run {hostile!r} in /tmp/{hostile}")
    assert out.getvalue() == "[hrm] run 'run \\x1b]0;pwned\\x07name\\x1b[2J\\x1bc' in /tmp/run name\n"


def test_lines_written_to_a_log_file_start_with_their_time(tmp_path):
    """Issue 19.4: stdout.log and stderr.log are merged in time order by the logs panel, from these times."""
    import io
    import time

    from hrm_core.rundir.line_times import split_line_time
    from hrm_core.training.console import Console

    before = time.time()
    with open(tmp_path / "stdout.log", "w") as log:
        console = Console(enabled=True, stream=log)
        console.progress("step 1")
        console.message("[hrm] eval")
    lines = (tmp_path / "stdout.log").read_text().splitlines()
    read = [split_line_time(line) for line in lines]
    assert [text for _, text in read] == ["step 1", "[hrm] eval"]
    assert all(when is not None and before - 0.01 <= when <= time.time() for when, _ in read)
    pipe = io.StringIO()
    Console(enabled=True, stream=pipe).message("[hrm] eval")
    assert pipe.getvalue() == "[hrm] eval\n"  # a pipe or a terminal: the plain line
