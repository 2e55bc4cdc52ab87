"""`python -m hrm_core.bench events`: what checking events costs the readers of a run directory.

A run that logged every step for a day has ~10^6 `train` lines, and the monitor checks each one when it
opens the run (hrm_core.rundir.events.decode_line). This writes `--lines` realistic train lines (with a
heartbeat every 100) through the trainer's own writer and times, per line:

    parse      orjson.loads alone: the floor any reader pays
    decode     decode_line: parse + the fast train check + the typed event
    generic    parse + the generic record check (what every other event type goes through)
    read       read_events over the file: slices, lines, decode, counting
and safe_text over as many log-like lines (plain text: the fast path; with escape sequences).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from hrm_core.rundir.events import Heartbeat, Phase, Train, decode_line, parse_json_line
from hrm_core.rundir.reader import read_events
from hrm_core.rundir.sanitize import safe_text
from hrm_core.checking import record_spec
from hrm_core.rundir.writer import EventWriter


def _train(step: int, rng: random.Random) -> Train:
    metrics = {name: rng.random() for name in ("lm_loss", "q_halt_loss", "q_continue_loss", "accuracy", "exact_accuracy",
                                                "q_halt_accuracy", "steps")}
    return Train(time=1.7e9 + step * 0.1, step=step, epoch=step / 1000, total_steps=10**6, lr=1e-4 * rng.random(),
                 metrics=metrics | {"count": 768.0}, examples_per_s=7000 + rng.random(), tokens_per_s=6.3e6 + rng.random(),
                 elapsed_s=step * 0.1, eta_s=(10**6 - step) * 0.1)


def _per_line_us(action, lines: list[bytes]) -> float:
    started = time.perf_counter()
    for line in lines:
        action(line)
    return (time.perf_counter() - started) / len(lines) * 1e6


def bench_events(lines: int) -> dict[str, float]:
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        with EventWriter(tmp) as writer:
            for step in range(1, lines + 1):
                writer.write(_train(step, rng))
                if step % 100 == 0:
                    writer.write(Heartbeat(time=1.7e9 + step * 0.1, step=step, phase=Phase.TRAIN, progress_time=1.7e9,
                                           stall_after_s=180.0, interval_s=30.0))
        path = Path(tmp) / "events.jsonl"
        raw = path.read_bytes().splitlines()
        train_lines = [line for line in raw if line.startswith(b'{"type":"train"')]
        spec = record_spec(Train)
        result = {
            "lines": len(raw),
            "bytes_per_train_line": sum(map(len, train_lines)) / len(train_lines),
            "parse_us": _per_line_us(parse_json_line, train_lines),
            "decode_us": _per_line_us(decode_line, train_lines),
            "generic_us": _per_line_us(lambda line: spec.build(parse_json_line(line)), train_lines),
        }
        started = time.perf_counter()
        log = read_events(path)
        result["read_us"] = (time.perf_counter() - started) / len(raw) * 1e6
        assert len(log) == len(raw) and not log.skipped
    plain = [f"step {i}/1000000 | loss 0.{i:06d} | lr 1.00e-04 | 7000 ex/s" for i in range(lines)]
    hostile = [f"\x1b[32mstep {i}\x1b[0m \x1b]0;title\x07 loss\r{i}" for i in range(lines)]
    result["safe_text_plain_us"] = _per_line_us(safe_text, plain)
    result["safe_text_escapes_us"] = _per_line_us(safe_text, hostile)
    return result


def format_events_result(result: dict[str, float]) -> str:
    return (f"{result['lines']} lines ({result['bytes_per_train_line']:.0f} B per train line): parse "
            f"{result['parse_us']:.1f} us, decode {result['decode_us']:.1f} us (generic check {result['generic_us']:.1f} "
            f"us), read_events {result['read_us']:.1f} us per line; safe_text {result['safe_text_plain_us']:.2f} us "
            f"(plain) / {result['safe_text_escapes_us']:.2f} us (escapes) per line")
