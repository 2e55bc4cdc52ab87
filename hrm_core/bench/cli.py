"""The `python -m hrm_core.bench` command line: the `step`, `check`, `loop`, `events` and `solve` subcommands."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import torch

import hrm_core.bench as bench_package
from hrm_core.bench.step import SIZES, bench_step, default_device, format_result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hrm_core.bench", description=bench_package.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    step = sub.add_parser("step", help="time the training step")
    step.add_argument("--size", choices=list(SIZES), default="tiny", metavar="SIZE",
                      help="; ".join(f"{name}: {size.about}" for name, size in SIZES.items()))
    step.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
    step.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                      help="torch.compile the model (auto: on for CUDA, off elsewhere)")
    step.add_argument("--batch-size", type=int, default=None, help="override the size's per-process batch")
    step.add_argument("--attn-backend", choices=["auto", "flash3", "flash2", "sdpa"], default="auto")
    step.add_argument("--forward-dtype", default="auto", help="auto (bf16 on CUDA, fp32 elsewhere), bfloat16, float32")
    step.add_argument("--warmup", type=int, default=3)
    step.add_argument("--steps", type=int, default=10)
    step.add_argument("--json", action="store_true", help="print one JSON object instead of a line")
    check = sub.add_parser("check", help="replay the reference rollout on a device (fp32, bf16, compiled)")
    check.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    check.add_argument("--fixture", default=None,
                       help="a reference fixture (.pt) or a folder of them, e.g. tests/fixtures of a clone "
                            "(default: the repository's tests/fixtures/hrm_reference_tiny.pt when it is there)")
    loop = sub.add_parser("loop", help="run hrm_core.pretrain on random data and compare its throughput to `step`")
    loop.add_argument("--size", choices=sorted(SIZES), default="tiny")
    loop.add_argument("--steps", type=int, default=200, help="approximate training steps of the pretrain run")
    loop.add_argument("--log-interval", type=int, default=10)
    events = sub.add_parser("events", help="time checking events.jsonl lines (what the monitor pays per line)")
    events.add_argument("--lines", type=int, default=200_000)
    events.add_argument("--json", action="store_true", help="print one JSON object instead of a line")
    solve = sub.add_parser("solve", help="puzzles per second of python -m hrm_core.solve (random weights)")
    from hrm_core.bench.solve import SOLVE_CASES

    solve.add_argument("--case", choices=list(SOLVE_CASES), action="append", metavar="CASE",
                       help="; ".join(f"{name}: {case.about}" for name, case in SOLVE_CASES.items())
                            + " (default: all; repeat the flag for several)")
    solve.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    solve.add_argument("--repeats", type=int, default=3, help="timed runs per case; the best is reported")
    solve.add_argument("--json", action="store_true", help="print one JSON object per case instead of a line")
    args = parser.parse_args(argv)

    if args.command == "solve":
        from hrm_core.bench.solve import bench_solve, format_solve_result

        for name in args.case or list(SOLVE_CASES):
            result = bench_solve(SOLVE_CASES[name], torch.device(args.device), repeats=args.repeats)
            print(json.dumps({"case": name} | result) if args.json else format_solve_result(name, result), flush=True)
        return 0

    if args.command == "events":
        from hrm_core.bench.event_decoding import bench_events, format_events_result

        result = bench_events(args.lines)
        print(json.dumps(result) if args.json else format_events_result(result))
        return 0

    if args.command == "loop":
        from hrm_core.bench.loop_throughput import compare_loop_to_step

        print(compare_loop_to_step(args.size, steps=args.steps, log_interval=args.log_interval))
        return 0
    if args.command == "check":
        device = torch.device(args.device) if args.device else default_device()
        from hrm_core.bench.check import check_device

        try:
            lines = check_device(device, args.fixture)
        except FileNotFoundError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        for line in lines:
            print(line)
        return 0

    device = torch.device(args.device) if args.device else default_device()
    size = SIZES[args.size]
    arch = dict(size.arch, attn_backend=args.attn_backend, forward_dtype=args.forward_dtype)
    if args.batch_size:
        size = dataclasses.replace(size, batch_size=args.batch_size)
    compile_model = device.type == "cuda" if args.compile == "auto" else args.compile == "on"
    try:
        result = bench_step(size, arch, device, compile_model, args.warmup, args.steps)
    except ValueError as e:  # bad --attn-backend / --forward-dtype combination
        print(f"error: {e}", file=sys.stderr)
        return 2
    result["size"] = args.size
    print(json.dumps(result) if args.json else format_result(args.size, result))
    return 0
