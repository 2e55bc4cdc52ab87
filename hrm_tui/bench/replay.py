"""`python -m hrm_tui.bench.replay`: how long the replay screen takes to draw one ACT step at 160x48.

The real replay app (`hrm_tui.screens.replay.ReplayApp`) runs in a child process on a pseudo-terminal of
`--size` (default 160x48), so that drawing to a terminal is paid for. It steps through a trajectory
(→, and Home after the last step) `--draws` times; for each step it records

- `redraw_ms`: the screen's own work, its panels rebuilt for the new step (`ReplayScreen.redraw`);
- `drawn_ms`: from the step's action until the screen has refreshed (Textual's `call_after_refresh`:
  every widget laid out, rendered and written to the terminal), which is what a user waits for;
- `cpu_ms`: the CPU time the app's process spent over the same span (all its threads): on a shared, busy
  machine the wall time above also counts the other processes' turns, this does not.

The trajectories are made up (random predictions, probabilities and Q values: drawing does not depend on
what a model learned), one per puzzle kind at the largest size each is trained on: a 9x9 Sudoku, a 30x30
maze, a 30x30 ARC canvas, each with 16 ACT steps of 2 inner cycles. The target is under 50 ms per step.
Figures depend on the machine and its load: run it on an idle machine for numbers worth quoting.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hrm_tui.bench.terminal import TERMINAL, spawn_in_pty

TARGET_MS = 50.0
KINDS = {  # kind -> (seq_len, vocab_size) of the largest puzzles of that kind
    "sudoku": (81, 11),
    "maze": (900, 6),
    "arc": (900, 12),
}
ACT_STEPS = 16
CYCLES = 2


def synthetic_replay(kind: str, seed: int = 0):
    """(a made-up trajectory, the puzzle description of its kind)."""
    from hrm_core.data.format import DatasetMetadata
    from hrm_core.solve.rollout import Step, Trajectory

    seq_len, vocab_size = KINDS[kind]
    rng = np.random.default_rng(seed)
    puzzle = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=vocab_size, seq_len=seq_len,
                             num_puzzle_identifiers=1, total_groups=1, mean_puzzle_examples=1, sets=["all"],
                             puzzle_kind=kind).puzzle_description()
    inputs = rng.integers(1, vocab_size, seq_len)
    labels = rng.integers(1, vocab_size, seq_len)
    steps, previous = [], inputs
    for _ in range(ACT_STEPS):
        prediction = np.where(rng.random(seq_len) < 0.2, rng.integers(1, vocab_size, seq_len), previous)
        steps.append(Step(prediction=prediction, probability=rng.random(seq_len).astype(np.float32),
                          changed=np.flatnonzero(prediction != previous), q_halt=float(rng.normal()),
                          q_continue=float(rng.normal()), halts=False,
                          cycles=[rng.integers(1, vocab_size, seq_len) for _ in range(CYCLES - 1)] + [prediction]))
        previous = prediction
    return Trajectory(inputs=inputs, labels=labels, puzzle_identifier=0, steps=steps, cycle_unit="H-cycle"), puzzle


# -- the child side: the replay app, instrumented ---------------------------------------------------------


def _child(kind: str, draws: int, result_path: Path) -> None:
    from hrm_tui.screens.replay import ReplayApp, ReplayScreen

    trajectory, puzzle = synthetic_replay(kind)

    class ReplayBench(ReplayApp):
        def on_mount(self) -> None:
            super().on_mount()
            self.redraw_s: list[float] = []
            self.drawn_s: list[float] = []
            self.cpu_s: list[float] = []
            self.set_timer(0.5, self.next_step)  # the first frame drawn, fonts and caches warm

        def next_step(self) -> None:
            screen = self.screen
            assert isinstance(screen, ReplayScreen)
            if len(self.drawn_s) >= draws:
                result_path.write_text(json.dumps({"redraw_s": self.redraw_s, "drawn_s": self.drawn_s,
                                                   "cpu_s": self.cpu_s}))
                self.exit()
                return
            start, cpu_start = time.perf_counter(), time.process_time()
            if screen.index < len(screen.trajectory.steps) - 1:
                screen.index += 1
            else:
                screen.index = 0
            screen.redraw()  # what action_step and action_jump do, timed on its own
            self.redraw_s.append(time.perf_counter() - start)
            self.call_after_refresh(self.drawn, start, cpu_start)

        def drawn(self, start: float, cpu_start: float) -> None:
            self.drawn_s.append(time.perf_counter() - start)
            self.cpu_s.append(time.process_time() - cpu_start)
            self.set_timer(0.02, self.next_step)  # the next step once this frame is out

    ReplayBench(kind, trajectory, puzzle).run()


# -- the parent side -------------------------------------------------------------------------------------


def measure(kind: str, draws: int, size: tuple[int, int], timeout_s: float) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "result.json"
        child, reader = spawn_in_pty([sys.executable, "-m", "hrm_tui.bench.replay", "--child", kind, str(draws),
                                      str(result_path)], size=size)
        try:
            child.wait(timeout=timeout_s)
        except Exception:
            child.kill()
            raise
        reader.join(timeout=5)
        if not result_path.exists():
            raise SystemExit(f"the replay of a {kind} did not finish {draws} draws within {timeout_s:.0f}s "
                             f"(exit code {child.returncode})")
        raw = json.loads(result_path.read_text())
    figures = {"kind": kind, "draws": draws, "size": f"{size[0]}x{size[1]}"}
    for key in ("redraw_s", "drawn_s", "cpu_s"):
        values_ms = [1000 * v for v in raw[key]]
        name = key.removesuffix("_s")
        figures[f"{name}_median_ms"] = statistics.median(values_ms)
        figures[f"{name}_max_ms"] = max(values_ms)
    return figures


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] == ["--child"]:
        return _child(args[1], int(args[2]), Path(args[3]))
    parser = argparse.ArgumentParser(prog="python -m hrm_tui.bench.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=[*KINDS, "all"], default="all", help="which puzzle kind (default: all)")
    parser.add_argument("--draws", type=int, default=48, help="steps drawn per kind (default 48: 3 times through 16)")
    parser.add_argument("--size", default=f"{TERMINAL[0]}x{TERMINAL[1]}", help="terminal COLUMNSxROWS (default 160x48)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on a kind after this many seconds")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object per kind")
    options = parser.parse_args(args)
    try:
        columns, rows = (int(n) for n in options.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be COLUMNSxROWS, e.g. 160x48; got {options.size!r}")
    if options.draws < 1:
        parser.error("--draws must be 1 or more")
    for kind in KINDS if options.kind == "all" else [options.kind]:
        figures = measure(kind, options.draws, (columns, rows), options.timeout)
        if options.json:
            print(json.dumps(figures), flush=True)
        else:
            verdict = "within" if figures["drawn_median_ms"] < TARGET_MS else "OVER"
            print(f"{kind:>6} at {figures['size']}: a step drawn in {figures['drawn_median_ms']:.1f} ms median "
                  f"({figures['drawn_max_ms']:.1f} max; {figures['cpu_median_ms']:.1f} ms of CPU; the screen's own "
                  f"redraw {figures['redraw_median_ms']:.1f} ms), "
                  f"{verdict} the {TARGET_MS:.0f} ms target", flush=True)


if __name__ == "__main__":
    main()
