"""Realistic run directories without training anything: for the monitor's benchmark, tests and demos.

`SyntheticRun` produces the event stream a trainer writes (docs/run-directory.md), built from the same typed
payloads (hrm_core.rundir.events): run_start, a train event per step with plausible HRM curves, train
halting histograms, and at every eval an eval event, an eval halting histogram, sample predictions of
real-looking Sudoku / ARC / maze puzzles and a checkpoint, plus heartbeats and a run_end. It is
deterministic: a seed and a synthetic clock (`start_time`, `seconds_per_step`) fix every byte, so a
snapshot test can draw the same screen on any machine.

`write_run` writes a whole run quickly (a million events in ~10 s); tests that follow a live run write the
same events one by one with `hrm_core.rundir.writer.EventWriter`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hrm_core.rundir import events as ev
from hrm_core.rundir.files import EVENTS_FILE, STDERR_FILE, STDOUT_FILE
from hrm_core.rundir.stall import STALL_FLOOR_S
from hrm_core.rundir.status import RunStatus
from hrm_core.training.eta import SETTLE_STEPS, WARMUP_STEPS

PUZZLES: dict[str, dict[str, Any]] = {  # hrm_core.rundir.events.PuzzleDescription fields
    "sudoku": {"kind": "sudoku", "grid_shape": [9, 9], "vocab_offset": 1, "pad_id": 0, "ignore_label_id": 0, "vocab_size": 11, "seq_len": 81},
    "arc": {"kind": "arc", "grid_shape": [30, 30], "vocab_offset": 2, "pad_id": 0, "ignore_label_id": 0, "vocab_size": 12, "seq_len": 900},
    "maze": {"kind": "maze", "grid_shape": [30, 30], "vocab_offset": 1, "pad_id": 0, "ignore_label_id": 0, "vocab_size": 6, "seq_len": 900, "charset": "# SGo"},
}


@dataclass
class SyntheticRun:
    kind: str = "sudoku"
    total_steps: int = 1000
    eval_interval: int = 100  # steps between evals
    halting_interval: int = 20  # steps per train halting window
    heartbeat_every_s: float = 30.0
    samples_per_eval: int = 4
    halt_max_steps: int = 16
    seed: int = 0
    start_time: float = 1_700_000_000.0
    seconds_per_step: float = 0.1
    host: str = "synthetic-host"
    pid: int | None = None
    end_status: str | None = RunStatus.FINISHED.value  # finished, stopped or failed; None: still going (no run_end)

    def __post_init__(self) -> None:
        if self.kind not in PUZZLES:
            raise ValueError(f"unknown puzzle kind {self.kind!r}; use one of {', '.join(PUZZLES)}")
        self.puzzle = PUZZLES[self.kind]
        self._rng = random.Random(self.seed)

    @property
    def puzzle_description(self) -> ev.PuzzleDescription:
        return ev.PuzzleDescription(**self.puzzle)

    # -- the event stream --------------------------------------------------------------------------------

    def events(self, first_step: int = 0, last_step: int | None = None, with_start: bool = True, with_end: bool = True) -> Iterator[ev.Event]:
        """Events of steps [first_step, last_step] in the order a trainer writes them."""
        last_step = self.total_steps if last_step is None else last_step
        if with_start:
            yield self.run_start()
        next_beat = self.time_at(first_step) + self.heartbeat_every_s
        for step in range(max(first_step, 1), last_step + 1):
            yield self.train(step)
            if step % self.halting_interval == 0:
                yield ev.Halting(**self._at(step), phase=ev.HaltingPhase.TRAIN, window_steps=self.halting_interval,
                                 counts=self.halting_counts(step, train=True))
            if step % self.eval_interval == 0:
                yield from self.evaluation(step)
            if self.time_at(step) >= next_beat:
                yield ev.Heartbeat(**self._at(step), phase=ev.Phase.TRAIN, progress_time=self._time(step),
                                   stall_after_s=STALL_FLOOR_S, interval_s=self.heartbeat_every_s)
                next_beat += self.heartbeat_every_s
        if with_end and self.end_status is not None and last_step >= self.total_steps:
            failed = self.end_status == RunStatus.FAILED
            error = 'Traceback (most recent call last):\n  File "pretrain.py", line 1\nRuntimeError: synthetic failure'
            yield ev.RunEnd(**self._at(last_step), status=RunStatus(self.end_status),
                            elapsed_s=self.time_at(last_step) - self.start_time, error=error if failed else None)

    def time_at(self, step: int) -> float:
        return self.start_time + 5.0 + step * self.seconds_per_step

    def epoch_at(self, step: int) -> float:
        return round(step / max(self.eval_interval, 1), 4)

    def _time(self, step: int) -> float:
        return round(self.time_at(step), 3)

    def _at(self, step: int) -> dict[str, Any]:
        """The fields every event of a step has: time, step, epoch."""
        return {"time": self._time(step), "step": step, "epoch": self.epoch_at(step)}

    def run_start(self) -> ev.RunStart:
        return ev.RunStart(
            time=self.start_time, step=0, epoch=0.0,
            config={"data_path": f"data/{self.kind}-synthetic", "global_batch_size": 768, "lr": 1e-4, "eval_interval": self.eval_interval,
                    "arch": {"name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", "halt_max_steps": self.halt_max_steps}},
            world_size=1, devices=["cpu"], device_type="cpu", num_params=27_275_266, num_puzzle_emb_params=512_000,
            host=self.host, pid=self.pid, argv=["-m", "hrm_core.pretrain"], overrides=[], total_steps=self.total_steps,
            halt_max_steps=self.halt_max_steps, puzzle=self.puzzle_description, project_name=f"{self.kind} synthetic",
            run_name="synthetic", compiled=False,
        )

    def progress(self, step: int) -> float:
        return step / max(self.total_steps, 1)

    def eta_s(self, step: int) -> float | None:
        """What the trainer writes: null ("estimating") until its step rate has settled (training/eta.py)."""
        if step < WARMUP_STEPS + SETTLE_STEPS:
            return None
        return round((self.total_steps - step) * self.seconds_per_step, 2)

    def train(self, step: int) -> ev.Train:
        rng = self._rng
        p = self.progress(step)
        loss = 0.2 + 1.8 * math.exp(-5 * p) + 0.05 * rng.random()
        warmup = min(1.0, step / max(1, self.total_steps // 20))
        examples_per_s = 7000 + 400 * rng.random()
        return ev.Train(
            **self._at(step), total_steps=self.total_steps,
            lr=round(1e-4 * warmup * (0.5 + 0.5 * math.cos(math.pi * p)), 10),
            metrics={
                "lm_loss": round(loss, 5),
                "q_halt_loss": round(0.05 + 0.3 * math.exp(-4 * p) + 0.01 * rng.random(), 5),
                "q_continue_loss": round(0.04 + 0.2 * math.exp(-3 * p) + 0.01 * rng.random(), 5),
                "accuracy": round(min(1.0, 0.3 + 0.69 * (1 - math.exp(-4 * p)) + 0.01 * rng.random()), 5),
                "exact_accuracy": round(min(1.0, 0.6 * p * p + 0.02 * rng.random()), 5),
                "q_halt_accuracy": round(0.7 + 0.25 * p + 0.02 * rng.random(), 5),
                "steps": round(self.mean_halting_step(step) + 0.3 * rng.random(), 4),
                "count": 768,
            },
            examples_per_s=round(examples_per_s, 1), tokens_per_s=round(examples_per_s * self.puzzle["seq_len"], 1),
            elapsed_s=round(step * self.seconds_per_step, 2), eta_s=self.eta_s(step),
        )

    def mean_halting_step(self, step: int) -> float:
        """ACT thinks less as it learns: the mean halting step falls from ~12 to ~4 over the run."""
        return 4.0 + 8.0 * math.exp(-3 * self.progress(step))

    def halting_counts(self, step: int, train: bool) -> list[int]:
        mean, spread = self.mean_halting_step(step), 2.0 if train else 1.5
        weights = [math.exp(-((k - mean) ** 2) / (2 * spread**2)) for k in range(1, self.halt_max_steps + 1)]
        total = 768 * (self.halting_interval if train else 1)
        return [int(total * w / sum(weights)) for w in weights]

    def evaluation(self, step: int) -> Iterator[ev.Event]:
        p = self.progress(step)
        exact = round(min(1.0, 0.5 * p * p + 0.01 * (step // self.eval_interval % 3)), 5)
        yield ev.Eval(**self._at(step), set="all", metrics={
            "lm_loss": round(0.3 + 1.6 * math.exp(-4 * p), 5), "q_halt_loss": round(0.1 + 0.2 * math.exp(-3 * p), 5),
            "q_continue_loss": round(0.05 + 0.1 * math.exp(-3 * p), 5), "accuracy": round(0.35 + 0.6 * (1 - math.exp(-3 * p)), 5),
            "exact_accuracy": exact, "q_halt_accuracy": round(0.75 + 0.2 * p, 5), "steps": round(self.mean_halting_step(step), 4), "count": 1000,
        })
        yield ev.Halting(**self._at(step), phase=ev.HaltingPhase.EVAL, set="all", counts=self.halting_counts(step, train=False))
        yield ev.Samples(**self._at(step), set="all", puzzle=self.puzzle_description,
                         samples=[self.sample(step, i) for i in range(self.samples_per_eval)])
        yield ev.Checkpoint(**self._at(step), path=f"step_{step}", seconds=1.5)

    # -- puzzles -----------------------------------------------------------------------------------------

    def sample(self, step: int, index: int) -> ev.Sample:
        """One eval prediction; later evals get more cells right, and sample 0 of the last eval is exact."""
        rng = random.Random(self.seed * 1_000_003 + index)  # the same puzzle at every eval, like a fixed eval set
        inputs, labels = getattr(self, f"_{self.kind}_puzzle")(rng)
        error_rate = max(0.0, 0.3 * (1 - self.progress(step)) - 0.05 * index)
        noise = random.Random(step * 7919 + index)
        prediction = [self._perturb(t, noise, error_rate) for t in labels]
        q_halt = round(4 * self.progress(step) - 2 + index * 0.1, 4)
        return ev.Sample(
            name=f"{self.kind}_{index:04d}", puzzle_id=index + 1, input=inputs, label=labels, prediction=prediction,
            q_halt=q_halt, q_halt_prob=round(1 / (1 + math.exp(-q_halt)), 4), steps=max(1, round(self.mean_halting_step(step)) - index),
            exact=prediction == labels,
        )

    def _perturb(self, token: int, rng: random.Random, error_rate: float) -> int:
        """A label token, or with probability `error_rate` a wrong value of the same kind."""
        offset = self.puzzle["vocab_offset"]
        if token < offset or rng.random() >= error_rate:
            return token
        value = token - offset
        if self.kind == "maze":  # predicted path where there is none, or a missed path cell
            return {1: 4, 4: 1}.get(value, value) + offset
        if self.kind == "sudoku":  # digits 1-9
            return offset + 1 + (value - 1 + rng.randint(1, 8)) % 9
        return offset + (value + rng.randint(1, 9)) % 10  # ARC colours 0-9

    def _sudoku_puzzle(self, rng: random.Random) -> tuple[list[int], list[int]]:
        digits = list(range(1, 10))
        rng.shuffle(digits)
        solution = [digits[(r * 3 + r // 3 + c) % 9] for r in range(9) for c in range(9)]
        given = [d if rng.random() < 0.3 else 0 for d in solution]
        return [g + 1 for g in given], [s + 1 for s in solution]

    def _arc_puzzle(self, rng: random.Random) -> tuple[list[int], list[int]]:
        rows, cols = rng.randint(3, 8), rng.randint(3, 8)
        source = [[rng.randrange(10) for _ in range(cols)] for _ in range(rows)]
        target = [row[::-1] for row in source]  # the "rule": mirror left-right
        return _arc_canvas(source), _arc_canvas(target)

    def _maze_puzzle(self, rng: random.Random) -> tuple[list[int], list[int]]:
        size = 30
        wall, open_, start, goal, path = 1, 2, 3, 4, 5  # tokens: charset index + 1
        grid = [[wall if r in (0, size - 1) or c in (0, size - 1) or (r % 4 == 0 and c % 7 != rng.randrange(7)) else open_ for c in range(size)] for r in range(size)]
        column = rng.randrange(2, size - 2)
        for r in range(1, size - 1):
            grid[r][column] = open_
        grid[1][column], grid[size - 2][column] = start, goal
        inputs = [t for row in grid for t in row]
        labels = [path if t == open_ and i % size == column else t for i, t in enumerate(inputs)]
        return inputs, labels


def _arc_canvas(grid: list[list[int]]) -> list[int]:
    """An ARC grid on the 30x30 canvas: colours are tokens 2-11, EOS (1) closes the grid, PAD (0) elsewhere."""
    rows, cols = len(grid), len(grid[0])
    canvas = [[0] * 30 for _ in range(30)]
    for r in range(rows):
        for c in range(cols):
            canvas[r][c] = grid[r][c] + 2
        canvas[r][cols] = 1
    for c in range(cols + 1):
        canvas[rows][c] = 1
    return [t for row in canvas for t in row]


def write_run(run_dir: str | Path, run: SyntheticRun, *, last_step: int | None = None, max_events: int | None = None,
              stdout_lines: int = 50) -> int:
    """Writes `run`'s events to `run_dir/events.jsonl` (up to `last_step` or `max_events`: a run still going),
    plus stdout.log and stderr.log.

    Lines are encoded exactly as EventWriter does (`encode_event`), in large batches. Returns the number of events.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(run_dir / EVENTS_FILE, "wb") as f:
        batch: list[bytes] = []
        for event in run.events(last_step=last_step):
            if max_events is not None and written >= max_events:
                break
            batch.append(ev.encode_event(event))
            written += 1
            if len(batch) >= 10000:
                f.write(b"".join(batch))
                batch.clear()
        if batch:
            f.write(b"".join(batch))
    last = run.total_steps if last_step is None else last_step
    step_every = max(1, last // max(stdout_lines, 1))
    (run_dir / STDOUT_FILE).write_text("".join(
        f"step {s}/{run.total_steps} lm_loss {0.2 + 1.8 * math.exp(-5 * run.progress(s)):.4f} lr 1e-4\n"
        for s in range(0, last + 1, step_every)
    ))
    (run_dir / STDERR_FILE).write_text("warning: synthetic run, no model was trained\n")
    return written
