"""The events of `events.jsonl`: one typed payload per event type, their registry, and the line codec.

Every line of the log is one JSON object with `type` (a key of `EVENT_TYPES`), `v` (schema version) and
`time` (Unix seconds), plus the fields of its payload class below. docs/run-directory.md describes each
field; the classes are the definition. The trainer builds its events from these classes, and so does the
synthetic-run generator (hrm_tui.bench.synthetic_run), so both write exactly what readers check.

    encode_event(event) -> bytes            one line, newline included; non-finite floats as "nan"/"inf"/"-inf"
    decode_line(line)   -> Event | Rejected | None

Decoding never raises. A line that is not a JSON object, names no type, or holds a known type whose fields
do not fit (a string where a number belongs, `"step": null`, metrics that are a list) comes back as
`Rejected(reason)`; a readers skips it and counts it. An unknown type (written by a newer version) comes
back as None, to be ignored, and so are unknown fields of a known type: new ones may be added without a
version bump. Each payload documents which of its fields are required; the others may be absent (None).

`train` lines, the bulk of a log, have a hand-written fast path (`_decode_train`): a monitor checks up to a
million of them when it opens a long run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar

from hrm_core.checking import (
    INT64_LIMIT,
    FieldError,
    Finite,
    JSONObject,
    Length,
    Maximum,
    Minimum,
    OneOf,
    check_float,
    check_float_dict,
    json_field,
    record_spec,
    to_json_value,
)
from hrm_core.rundir.status import END_STATUSES, RunStatus
from hrm_core.rundir.tail import MAX_LINE_BYTES

try:  # orjson parses a line ~4x faster than json; json gives the same results without it
    import orjson

    def _loads(line: bytes | str) -> Any:
        return orjson.loads(line)

except ImportError:  # pragma: no cover - depends on the environment

    def _loads(line: bytes | str) -> Any:
        return json.loads(line)


SCHEMA_VERSION = 1

Step = Annotated[int, Minimum(0)]  # optimizer steps done so far
Count = Annotated[int, Minimum(0)]
Seconds = Annotated[float, Finite()]
UnixTime = Annotated[float, Finite()]


class Phase(str, Enum):
    """What the trainer is doing: in heartbeats (all four) and halting histograms (train or eval)."""

    SETUP = "setup"  # building the model, loading a checkpoint, the first step's compilation
    TRAIN = "train"
    EVAL = "eval"
    CHECKPOINT = "checkpoint"

    def __str__(self) -> str:
        return self.value


class HaltingPhase(str, Enum):
    TRAIN = "train"
    EVAL = "eval"

    def __str__(self) -> str:
        return self.value


# ---------------------------------------------------------------------------------------------------------
# Nested records


@dataclass(kw_only=True, slots=True)
class PuzzleDescription:
    """What a viewer needs to draw a sequence as a puzzle. Required: kind, grid_shape.

    `grid_shape` is [rows, cols] (the sequence reshaped row-major); cell value = token - vocab_offset (ARC
    colours, Sudoku digits); for mazes token t draws as charset[t - 1] and token 0 is padding.
    """

    kind: str  # arc, sudoku, maze or generic
    grid_shape: Annotated[list[Annotated[int, Minimum(1), Maximum(4096)]], Length(2)]
    vocab_offset: int = 0
    pad_id: int = 0
    ignore_label_id: int | None = None
    vocab_size: Annotated[int, Minimum(1)] | None = None
    seq_len: Annotated[int, Minimum(1)] | None = None
    charset: str | None = None


@dataclass(kw_only=True, slots=True)
class Sample:
    """One eval prediction of a `samples` event. Required: input, label (flat token lists of seq_len)."""

    name: str = "?"  # from identifiers.json, or "example N"
    puzzle_id: int | None = None
    input: list[int]
    label: list[int]
    prediction: list[int] | None = None
    q_halt: float | None = None  # the halting logit
    q_halt_prob: float | None = None  # its sigmoid
    steps: Count | None = None  # ACT steps taken
    exact: bool | None = None


# ---------------------------------------------------------------------------------------------------------
# Events


@dataclass(kw_only=True, slots=True)
class Event:
    """Fields every event has. `time` is stamped by the writer when left None."""

    TYPE: ClassVar[str] = ""
    time: UnixTime | None = None
    v: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The event as the JSON object a line holds (`type` first; unset optional fields left out)."""
        return {"type": self.TYPE, **to_json_value(self)}


@dataclass(kw_only=True, slots=True)
class _StartFields(Event):
    """What run_start and resume both carry: the run's setup."""

    step: Step = 0
    epoch: float | None = 0.0
    config: JSONObject | None = None  # the resolved config, as in all_config.yaml
    world_size: Annotated[int, Minimum(1)] | None = None
    devices: list[str] | None = None  # e.g. ["cuda:0 NVIDIA H100 80GB HBM3"] or ["cpu"]
    device_type: str | None = None  # cuda, cpu or mps
    num_params: Count | None = None  # dense parameters
    num_puzzle_emb_params: Count | None = None
    host: str | None = None  # rank 0's host name and process id
    pid: int | None = None
    create_time: UnixTime | None = None  # rank 0's process start time (psutil's create_time), Unix seconds
    argv: list[str] | None = None
    overrides: list[str] | None = None
    total_steps: Count | None = None  # the schedule's step total: the originals' estimate (it sets the learning rate)
    final_step: Count | None = None  # the step the run ends at, counted from the data (absent: not counted)
    halt_max_steps: Annotated[int, Minimum(1)] | None = None  # the length of every halting histogram
    puzzle: PuzzleDescription | None = None  # of the training set
    project_name: str | None = None
    run_name: str | None = None
    compiled: bool | None = None  # runs under torch.compile
    job_id: str | None = None  # the SLURM job it runs in (SLURM_JOB_ID); absent outside SLURM
    job_segment: Count | None = None  # that job's requeues before this session (SLURM_RESTART_COUNT; 0: its first)
    sweep: str | None = None  # the sweep the run belongs to (its name), absent outside a sweep (hrm_core/config/sweep.py)
    sweep_index: Annotated[int, Minimum(0)] | None = None  # the run's number in it, from 0 (Hydra's job number)
    sweep_size: Annotated[int, Minimum(1)] | None = None  # how many runs the sweep has


@dataclass(kw_only=True, slots=True)
class RunStart(_StartFields):
    """A run starts (written once; a resumed run writes `resume`)."""

    TYPE: ClassVar[str] = "run_start"
    load_checkpoint: str | None = None  # the weights a fine-tuning run started from
    notes: list[str] = field(default_factory=list)  # e.g. a re-initialised puzzle-embedding table


@dataclass(kw_only=True, slots=True)
class Resume(_StartFields):
    """A run continues from a checkpoint. Required: step."""

    TYPE: ClassVar[str] = "resume"
    step: Step
    source: str | None = json_field("from", default=None)  # the checkpoint folder


@dataclass(kw_only=True, slots=True)
class Train(Event):
    """Every `log_interval` steps. Required: step, metrics.

    metrics: lm_loss, q_halt_loss, q_continue_loss, accuracy, exact_accuracy, q_halt_accuracy, steps, count
    (hrm_core.rundir.metrics), normalised as the original does; the per-sequence ones are absent when no
    sequence halted in the window.
    """

    TYPE: ClassVar[str] = "train"
    step: Step
    epoch: float | None = None
    total_steps: Count | None = None
    lr: float | None = None
    metrics: dict[str, float]
    examples_per_s: float | None = None  # throughput over the logging interval (training time only)
    tokens_per_s: float | None = None
    elapsed_s: float | None = None  # wall time since the run (this session) started
    eta_s: float | None = None  # estimate to total_steps


@dataclass(kw_only=True, slots=True)
class Eval(Event):
    """One evaluated set. Required: step, metrics (the train keys but q_continue_loss, divided by count)."""

    TYPE: ClassVar[str] = "eval"
    step: Step
    epoch: float | None = None
    set: str = "all"
    metrics: dict[str, float]


@dataclass(kw_only=True, slots=True)
class Halting(Event):
    """ACT halting-step histogram: counts[i] sequences halted after i + 1 steps. Required: step, phase, counts."""

    TYPE: ClassVar[str] = "halting"
    step: Step
    epoch: float | None = None
    phase: HaltingPhase
    set: str | None = None  # eval only
    window_steps: Count | None = None  # train only: the training steps it covers
    counts: list[Count]


@dataclass(kw_only=True, slots=True)
class Samples(Event):
    """A few eval predictions, enough to draw them. Required: step, samples."""

    TYPE: ClassVar[str] = "samples"
    step: Step
    epoch: float | None = None
    set: str = "all"
    puzzle: PuzzleDescription | None = None
    samples: list[Sample]


@dataclass(kw_only=True, slots=True)
class Checkpoint(Event):
    """A checkpoint folder was completed. Required: step, path."""

    TYPE: ClassVar[str] = "checkpoint"
    step: Step
    epoch: float | None = None
    path: str
    seconds: float | None = None  # time to write it


@dataclass(kw_only=True, slots=True)
class Heartbeat(Event):
    """Every `heartbeat_interval_s` from a thread of rank 0, whatever the loop is doing. Required: step.

    `progress_time` is when the run last made progress (an optimizer step, an eval batch, a checkpoint
    file); `phase` what it is doing; `stall_after_s` how long without progress means stalled (the config's
    `stall_after_s`, or the value derived from the run's own pace: docs/run-directory.md).
    """

    TYPE: ClassVar[str] = "heartbeat"
    step: Step
    epoch: float | None = None
    phase: Phase | None = None
    progress_time: UnixTime | None = None
    stall_after_s: Annotated[float, Minimum(0), Finite()] | None = None
    interval_s: Annotated[float, Minimum(0), Finite()] | None = None  # heartbeat_interval_s


@dataclass(kw_only=True, slots=True)
class NonFinite(Event):
    """A non-finite loss. Required: step, metrics. action: stop or continue (config on_nonfinite)."""

    TYPE: ClassVar[str] = "nonfinite"
    step: Step
    epoch: float | None = None
    metrics: dict[str, float]
    action: str | None = None


@dataclass(kw_only=True, slots=True)
class ArcScore(Event):
    """The ARC evaluator's result at an evaluation. Required: step, pass_at ({"1": 0.41, "2": ...})."""

    TYPE: ClassVar[str] = "arc_score"
    step: Step
    epoch: float | None = None
    set: str = "all"
    evaluator: str = "arc"
    pass_at: dict[str, float]
    pass_at_test_fraction: dict[str, float] | None = None
    num_puzzles: Count | None = None
    num_test_inputs: Count | None = None
    num_predictions: Count | None = None
    num_unmatched: Count | None = None


@dataclass(kw_only=True, slots=True)
class RunEnd(Event):
    """A session's last event. Required: step, status. A failed run carries `error` (text and traceback).

    A run stopped by SIGTERM under SLURM carries `requeue` and `reason`: with `requeue: true` it is not over,
    its job was requeued and the next segment writes `resume` (docs/run-directory.md)."""

    TYPE: ClassVar[str] = "run_end"
    step: Step
    epoch: float | None = None
    status: Annotated[RunStatus, OneOf(END_STATUSES)]  # finished, stopped or failed
    elapsed_s: float | None = None
    error: str | None = None
    requeue: bool | None = None  # stopped under SLURM by a SIGTERM: true when the job is requeued (to continue)
    reason: str | None = None  # why the stop ends this way (the requeue, or why the job could not be requeued)


# The registry: type name -> payload class. Readers ignore types not listed here (forward compatibility).
EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (RunStart, Resume, Train, Eval, Halting, Samples, Checkpoint, Heartbeat, NonFinite, ArcScore, RunEnd)
}
START_TYPES = (RunStart, Resume)  # the events that (re)start a run in a log


# ---------------------------------------------------------------------------------------------------------
# Encoding


def _plain(value: Any) -> Any:
    """JSON-ready: non-finite floats as strings, tensors/numpy values as Python numbers, paths as str."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    tolist = getattr(value, "tolist", None)  # torch.Tensor, numpy arrays and numpy scalars
    if tolist is not None:
        return _plain(tolist())
    return str(value)


def encode_event(event: Event) -> bytes:
    """One strict-JSON line (newline included) for `event`; `time` must be set."""
    line = json.dumps(_plain(event.to_dict()), separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return line.encode("utf-8", errors="replace") + b"\n"


# ---------------------------------------------------------------------------------------------------------
# Decoding


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line that is not a usable event. `reason` is short and holds nothing from the line itself, so it
    can be counted and shown as is (e.g. "train.metrics: expected an object of numbers")."""

    reason: str


def parse_json_line(line: bytes | str) -> Any:
    """The JSON value of one line; raises FieldError with a short reason. Depth, size and encoding are
    checked: neither a 100,000-deep nesting nor invalid UTF-8 gets further than here."""
    if len(line) > MAX_LINE_BYTES:
        raise FieldError("line too long")
    try:
        return _loads(line)
    except RecursionError:
        raise FieldError("nested too deeply") from None
    except (ValueError, TypeError) as e:
        if isinstance(line, bytes):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                raise FieldError("invalid UTF-8") from None
        if "recursion" in str(e).lower():
            raise FieldError("nested too deeply") from None
        raise FieldError("not valid JSON") from None


def decode_line(line: bytes | str) -> Event | Rejected | None:
    """One line (with or without its newline) -> a checked event, a rejection, or None (a blank line or an
    unknown event type, to be ignored). Never raises."""
    try:
        obj = parse_json_line(line)
    except FieldError as e:
        if not line.strip():
            return None
        return Rejected(e.reason)
    return decode_object(obj)


def decode_object(obj: Any) -> Event | Rejected | None:
    """A parsed JSON value -> a checked event, a rejection, or None for an unknown event type."""
    if type(obj) is not dict:
        return Rejected("not a JSON object")
    kind = obj.get("type")
    if type(kind) is not str:
        return Rejected("no event type")
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        return None
    if obj.get("time") is None:
        return Rejected(f"{kind}.time: missing")
    try:
        if cls is Train:
            return _decode_train(obj)
        return record_spec(cls).build(obj)
    except FieldError as e:
        return Rejected(f"{kind}.{e.reason}")
    except Exception:  # a checker bug must not stop a reader; the line is skipped and counted
        return Rejected(f"{kind}: unreadable")


def _as_float(value: Any, key: str) -> float | None:
    """An optional float field that is not already a float (or None): an int, a non-finite string."""
    if value is None or type(value) is float:
        return value
    try:
        return check_float(value)
    except FieldError as e:
        raise FieldError(e.problem, (key,)) from None


_new_event = object.__new__


def _decode_train(obj: dict[str, Any]) -> Train:
    """`record_spec(Train).build(obj)` written out for speed: the same checks and the same result (a test
    holds the two equal). About 3x cheaper than the generic check: the monitor runs it on every train line."""
    get = obj.get
    step = get("step")
    if type(step) is not int or not 0 <= step < INT64_LIMIT:
        raise FieldError("missing" if "step" not in obj else "expected an integer of at least 0", ("step",))
    if "metrics" not in obj:
        raise FieldError("missing", ("metrics",))
    try:
        metrics = check_float_dict(obj["metrics"])
    except FieldError as e:
        raise FieldError(e.problem, ("metrics",)) from None
    time = obj["time"]  # present: decode_object checked
    if type(time) is not float or not -1e300 < time < 1e300:
        time = _as_float(time, "time")
        if not math.isfinite(time):  # type: ignore[arg-type]
            raise FieldError("must be a finite number", ("time",))
    total_steps = get("total_steps")
    if total_steps is not None and (type(total_steps) is not int or not 0 <= total_steps < INT64_LIMIT):
        raise FieldError("expected an integer of at least 0", ("total_steps",))
    version = get("v", SCHEMA_VERSION)
    if type(version) is not int or not -INT64_LIMIT <= version < INT64_LIMIT:
        raise FieldError("expected an integer", ("v",))
    epoch, lr, examples_per_s = get("epoch"), get("lr"), get("examples_per_s")
    tokens_per_s, elapsed_s, eta_s = get("tokens_per_s"), get("elapsed_s"), get("eta_s")
    for value in (epoch, lr, examples_per_s, tokens_per_s, elapsed_s, eta_s):
        if value is not None and type(value) is not float:  # rare: an int or a non-finite string
            epoch, lr, examples_per_s = _as_float(epoch, "epoch"), _as_float(lr, "lr"), _as_float(examples_per_s, "examples_per_s")
            tokens_per_s, elapsed_s = _as_float(tokens_per_s, "tokens_per_s"), _as_float(elapsed_s, "elapsed_s")
            eta_s = _as_float(eta_s, "eta_s")
            break
    # Every field set here, the dataclass __init__ skipped: a third of the cost of a line.
    event = _new_event(Train)
    event.time, event.v, event.step, event.epoch, event.total_steps, event.lr = time, version, step, epoch, total_steps, lr
    event.metrics, event.examples_per_s, event.tokens_per_s = metrics, examples_per_s, tokens_per_s
    event.elapsed_s, event.eta_s = elapsed_s, eta_s
    return event
