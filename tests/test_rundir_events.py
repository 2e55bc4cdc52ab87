"""The event codec of hrm_core.rundir: typed payloads round-trip, and a corpus of hostile lines is rejected
with a short reason (never an exception), while unknown types and fields are ignored."""

from __future__ import annotations

import json
import math

import pytest

from hrm_core.rundir import events as ev
from hrm_core.rundir.events import Rejected, decode_line, encode_event
from hrm_core.checking import record_spec
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.tail import MAX_LINE_BYTES

GOOD_TRAIN = {"type": "train", "time": 1.5, "v": 1, "step": 3, "epoch": 0.5, "total_steps": 10, "lr": 1e-3,
              "metrics": {"lm_loss": 0.5, "count": 8}, "examples_per_s": 100.0}
PUZZLE = {"kind": "sudoku", "grid_shape": [9, 9], "vocab_offset": 1, "seq_len": 81}


def line(obj) -> bytes:
    return json.dumps(obj).encode()


def with_field(base: dict, **fields) -> bytes:
    return line({**base, **fields})


# Every line here must come back as Rejected (with a reason that holds nothing of the line itself).
HOSTILE = {
    "the issue's run_end with a number for error": b'{"type":"run_end","error":12345}',
    "run_end: error a number, all else fine": with_field({"type": "run_end", "time": 1, "step": 1, "status": "failed"}, error=12345),
    "100,000 nested brackets": b"[" * 100_000,
    "100,000 nested objects": b'{"a":' * 100_000,
    "train metrics a list": with_field(GOOD_TRAIN, metrics=[1, 2]),
    "halting counts with 1e400": b'{"type":"halting","time":1,"step":1,"phase":"train","counts":[1,1e400]}',
    "step null": with_field(GOOD_TRAIN, step=None),
    "eval metrics a string": line({"type": "eval", "time": 1, "step": 1, "metrics": "nope"}),
    "samples a string": line({"type": "samples", "time": 1, "step": 1, "samples": "y"}),
    "invalid UTF-8": b'{"type":"train","time":1,"step":1,"metrics":{},"x":"\xff\xfe"}',
    "a list": b"[1, 2]",
    "a string": b'"train"',
    "a number": b"3",
    "null": b"null",
    "not JSON": b"hello world",
    "cut short": b'{"type":"train","time":1,"ste',
    "no type": b'{"time":1,"step":1}',
    "type a number": b'{"type":5,"time":1}',
    "no time": b'{"type":"heartbeat","step":1}',
    "time a string": line({"type": "heartbeat", "time": "noon", "step": 1}),
    "time infinite": line({"type": "heartbeat", "time": "inf", "step": 1}),
    "step negative": with_field(GOOD_TRAIN, step=-1),
    "step a bool": with_field(GOOD_TRAIN, step=True),
    "step a float": with_field(GOOD_TRAIN, step=1.0),
    "step beyond 64 bits": with_field(GOOD_TRAIN, step=2**70),
    "step of 5000 digits": b'{"type":"train","time":1,"metrics":{},"step":' + b"9" * 5000 + b"}",
    "metric a word": with_field(GOOD_TRAIN, metrics={"lm_loss": "low"}),
    "metric a bool": with_field(GOOD_TRAIN, metrics={"lm_loss": True}),
    "metric an object": with_field(GOOD_TRAIN, metrics={"lm_loss": {"a": 1}}),
    "metric an int beyond floats": b'{"type":"train","time":1,"step":1,"metrics":{"x":' + b"9" * 400 + b"}}",
    "lr a string": with_field(GOOD_TRAIN, lr="fast"),
    "total_steps negative": with_field(GOOD_TRAIN, total_steps=-5),
    "halting counts negative": line({"type": "halting", "time": 1, "step": 1, "phase": "train", "counts": [1, -1]}),
    "halting counts floats": line({"type": "halting", "time": 1, "step": 1, "phase": "train", "counts": [1.5]}),
    "halting phase unknown": line({"type": "halting", "time": 1, "step": 1, "phase": "sideways", "counts": [1]}),
    "samples of numbers": line({"type": "samples", "time": 1, "step": 1, "samples": [1, 2]}),
    "sample input of strings": line({"type": "samples", "time": 1, "step": 1, "samples": [{"input": ["a"], "label": [1]}]}),
    "sample label of floats": line({"type": "samples", "time": 1, "step": 1, "samples": [{"input": [1], "label": [1.5]}]}),
    "sample without label": line({"type": "samples", "time": 1, "step": 1, "samples": [{"input": [1]}]}),
    "puzzle grid of one number": line({"type": "samples", "time": 1, "step": 1, "samples": [], "puzzle": {**PUZZLE, "grid_shape": [9]}}),
    "puzzle grid of zero rows": line({"type": "samples", "time": 1, "step": 1, "samples": [], "puzzle": {**PUZZLE, "grid_shape": [0, 9]}}),
    "puzzle grid of a billion rows": line({"type": "samples", "time": 1, "step": 1, "samples": [], "puzzle": {**PUZZLE, "grid_shape": [10**9, 9]}}),
    "run_end status running": line({"type": "run_end", "time": 1, "step": 1, "status": "running"}),
    "run_end status a number": line({"type": "run_end", "time": 1, "step": 1, "status": 3}),
    "heartbeat progress_time a word": line({"type": "heartbeat", "time": 1, "step": 1, "progress_time": "x"}),
    "heartbeat stall_after_s negative": line({"type": "heartbeat", "time": 1, "step": 1, "stall_after_s": -1}),
    "heartbeat phase unknown": line({"type": "heartbeat", "time": 1, "step": 1, "phase": "napping"}),
    "run_start pid a word": line({"type": "run_start", "time": 1, "pid": "abc"}),
    "run_start config a list": line({"type": "run_start", "time": 1, "config": [1]}),
    "run_start devices a string": line({"type": "run_start", "time": 1, "devices": "cpu"}),
    "resume from a number": line({"type": "resume", "time": 1, "step": 1, "from": 5}),
    "checkpoint path null": line({"type": "checkpoint", "time": 1, "step": 1, "path": None}),
    "arc_score pass_at a list": line({"type": "arc_score", "time": 1, "step": 1, "pass_at": [0.5]}),
    "nonfinite metrics a string": line({"type": "nonfinite", "time": 1, "step": 1, "metrics": "x"}),
    "a line too long": b'{"type":"train","pad":"' + b"x" * MAX_LINE_BYTES + b'"}',
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_lines_are_rejected_with_a_short_reason(case):
    raw = HOSTILE[case]
    decoded = decode_line(raw)
    assert isinstance(decoded, Rejected), f"{case}: decoded as {decoded!r}"
    assert decoded.reason and len(decoded.reason) < 100
    assert "abc" not in decoded.reason and "12345" not in decoded.reason  # no value from the line in the reason


def test_reasons_name_the_event_and_field():
    assert decode_line(HOSTILE["train metrics a list"]).reason == "train.metrics: expected an object of numbers"
    assert decode_line(HOSTILE["step null"]).reason.startswith("train.step:")
    assert decode_line(HOSTILE["sample input of strings"]).reason.startswith("samples.samples.input:")
    assert decode_line(HOSTILE["run_end: error a number, all else fine"]).reason == "run_end.error: expected a string"
    assert decode_line(HOSTILE["invalid UTF-8"]).reason == "invalid UTF-8"
    assert decode_line(HOSTILE["a line too long"]).reason == "line too long"


def test_unknown_types_and_fields_are_ignored_and_blank_lines_are_nothing():
    assert decode_line(line({"type": "from_the_future", "time": 1, "anything": [1]})) is None
    assert decode_line(b"") is None and decode_line(b"   ") is None
    event = decode_line(with_field(GOOD_TRAIN, new_field={"x": 1}, metrics={"lm_loss": 0.5, "new_metric": 2.0}))
    assert isinstance(event, ev.Train) and event.metrics["new_metric"] == 2.0 and not hasattr(event, "new_field")


def test_non_finite_numbers_are_strings_in_the_file_and_floats_when_read():
    event = ev.NonFinite(time=1.0, step=7, metrics={"lm_loss": math.nan, "q_halt_loss": math.inf, "x": -math.inf}, action="stop")
    raw = encode_event(event)
    assert b"NaN" not in raw and b"Infinity" not in raw and json.loads(raw)["metrics"] == {"lm_loss": "nan", "q_halt_loss": "inf", "x": "-inf"}
    back = decode_line(raw)
    assert math.isnan(back.metrics["lm_loss"]) and back.metrics["q_halt_loss"] == math.inf and back.metrics["x"] == -math.inf


def test_every_event_type_round_trips(tmp_path):
    sample = ev.Sample(name="p1", puzzle_id=1, input=[1, 2], label=[2, 3], prediction=[2, 2], q_halt=0.5, q_halt_prob=0.6,
                       steps=3, exact=False)
    puzzle = ev.PuzzleDescription(**PUZZLE)
    originals = [
        ev.RunStart(time=1.0, config={"lr": 1e-4, "arch": {"hidden_size": 32}}, world_size=2, devices=["cpu", "cpu"],
                    device_type="cpu", num_params=10, num_puzzle_emb_params=0, host="h", pid=42, argv=["x"], overrides=["lr=1"],
                    total_steps=100, halt_max_steps=4, puzzle=puzzle, project_name="p", run_name="r", compiled=False,
                    load_checkpoint=None, notes=["n"]),
        ev.Resume(time=2.0, step=5, epoch=0.5, source="run/step_5", total_steps=100),
        ev.Train(time=3.0, step=6, epoch=0.6, total_steps=100, lr=1e-4, metrics={"lm_loss": 0.1}, examples_per_s=5.0,
                 tokens_per_s=80.0, elapsed_s=3.0, eta_s=None),
        ev.Eval(time=4.0, step=6, set="all", metrics={"exact_accuracy": 0.5}),
        ev.Halting(time=5.0, step=6, phase=ev.HaltingPhase.TRAIN, window_steps=6, counts=[1, 2, 3, 0]),
        ev.Samples(time=6.0, step=6, set="all", puzzle=puzzle, samples=[sample]),
        ev.Checkpoint(time=7.0, step=6, path="run/step_6", seconds=0.1),
        ev.Heartbeat(time=8.0, step=6, phase=ev.Phase.EVAL, progress_time=7.5, stall_after_s=180.0, interval_s=30.0),
        ev.NonFinite(time=9.0, step=7, metrics={"lm_loss": 1.0}, action="continue"),
        ev.ArcScore(time=10.0, step=7, pass_at={"1": 0.5}, num_puzzles=3),
        ev.RunEnd(time=11.0, step=7, status=RunStatus.FAILED, elapsed_s=10.0, error="Traceback\nboom"),
    ]
    assert {type(e) for e in originals} == set(ev.EVENT_TYPES.values())  # every registered type is covered
    for original in originals:
        raw = encode_event(original)
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1
        assert json.loads(raw)["type"] == original.TYPE
        assert decode_line(raw) == original, original.TYPE
    assert json.loads(encode_event(originals[1]))["from"] == "run/step_5"  # the JSON key of Resume.source


def test_the_train_fast_path_is_the_generic_check():
    cases = [GOOD_TRAIN, {**GOOD_TRAIN, "metrics": {"a": "nan", "b": 2}}, {**GOOD_TRAIN, "lr": 1, "time": 2}]
    for obj in cases:
        assert ev._decode_train(obj) == record_spec(ev.Train).build(obj)
    for bad in ("train metrics a list", "step null", "metric a word", "lr a string", "total_steps negative", "time a string"):
        obj = json.loads(HOSTILE[bad]) if bad != "time a string" else {**GOOD_TRAIN, "time": "noon"}
        assert isinstance(decode_line(json.dumps(obj)), Rejected), bad


def test_writer_stamps_the_time_and_keeps_a_given_one(tmp_path):
    from hrm_core.rundir.writer import EventWriter

    with EventWriter(tmp_path) as writer:
        stamped = writer.write(ev.Heartbeat(step=1))
        kept = writer.write(ev.Heartbeat(step=2, time=5.0))
    assert stamped.time is not None and stamped.time > 1e9 and kept.time == 5.0
