"""`python -m hrm_tui.bench`: how fast the monitor opens a day-long run, and what following a live one costs.

Measures, with the real app in a real pseudo-terminal (so drawing to the terminal is paid for):

1. **open**: a finished run directory with `--events` events (default 1,000,000: a day of per-step
   logging on an ARC run) is generated, then the monitor is started on it in a child process. Reported:
   the time until the curves panel first drew the whole run with every eval in it ("full curves"), until it
   drew exact curves (every train line parsed), both from the screen's mount and from process start, and
   the child's peak RSS. The same for `--small-events` (default 200,000) shows memory is bounded by the
   per-metric history, not by the run's length.
2. **follow**: a run written live at `--rate` events/s (default 100) by this process while the monitor
   follows it; reported: the monitor process's CPU use over `--follow-seconds` after a warm-up, in % of
   one core, and its RSS.

Figures depend on the machine and its load; the page cache is warm for the open (the file was just
written). Run it on an idle machine for numbers worth quoting: on a busy one, the CPU seconds the monitor
used until each stage (also printed) say more than the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from hrm_core.rundir.files import EVENTS_FILE
from hrm_core.rundir.writer import EventWriter
from hrm_tui.bench.synthetic_run import SyntheticRun, write_run
from hrm_tui.bench.terminal import TERMINAL, spawn_in_pty
EVENTS_PER_STEP = 1.0134  # train + halting/100 + eval block/10000 + heartbeats, for the generated ARC run


# -- the child side: the monitor app, instrumented -------------------------------------------------------


def _child_open(run_dir: Path, result_path: Path, timeout_s: float) -> None:
    """Runs the monitor on `run_dir` until its curves are exact; writes timings and peak RSS."""
    from textual.app import App

    from hrm_tui.screens.monitor import MonitorScreen
    from hrm_tui.widgets.monitor.curves import CurvesPanel

    process_start = psutil.Process().create_time()

    class OpenBench(App):
        def on_mount(self) -> None:
            self.mounted_at = time.perf_counter()
            self.mounted_wall = time.time()
            self.screen_ = MonitorScreen(run_dir)
            self.push_screen(self.screen_)
            self.cpu_at_stage: dict[str, float] = {}
            self.set_interval(0.02, self.check)
            self.set_timer(timeout_s, self.exit)

        def check(self) -> None:
            drawn = self.screen_.query_one(CurvesPanel).first_drawn
            for stage in drawn:  # CPU time of the whole process (all threads), to within one check
                self.cpu_at_stage.setdefault(stage, time.process_time())
            if "exact" in drawn:
                since_mount = {stage: t - self.mounted_at for stage, t in drawn.items()}
                startup = self.mounted_wall - process_start
                result = {
                    "since_mount_s": since_mount,
                    "since_process_start_s": {stage: t + startup for stage, t in since_mount.items()},
                    "cpu_since_process_start_s": self.cpu_at_stage,
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                }
                result_path.write_text(json.dumps(result))
                self.exit()

    OpenBench().run()


def _child_follow(run_dir: Path, seconds: float) -> None:
    from textual.app import App

    from hrm_tui.screens.monitor import MonitorScreen

    class FollowBench(App):
        def on_mount(self) -> None:
            self.push_screen(MonitorScreen(run_dir))
            self.set_timer(seconds, self.exit)

    FollowBench().run()


# -- the parent side -------------------------------------------------------------------------------------


def generate_finished_run(run_dir: Path, events: int) -> int:
    steps = int(events / EVENTS_PER_STEP)
    run = SyntheticRun(kind="arc", total_steps=steps, eval_interval=10_000, halting_interval=100, seconds_per_step=0.08)
    return write_run(run_dir, run)


def measure_open(run_dir: Path, timeout_s: float) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "result.json"
        child, reader = spawn_in_pty([sys.executable, "-m", "hrm_tui.bench", "--child-open", str(run_dir), str(result_path), str(timeout_s)])
        child.wait(timeout=timeout_s + 30)
        reader.join(timeout=5)
        if not result_path.exists():
            raise SystemExit(f"the monitor did not draw exact curves within {timeout_s:.0f}s (exit code {child.returncode})")
        return json.loads(result_path.read_text())


def measure_follow(run_dir: Path, rate: float, warmup_s: float, seconds: float) -> dict:
    run = SyntheticRun(kind="arc", total_steps=10_000_000, eval_interval=2_000, halting_interval=100, end_status=None)
    events = run.events()
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        with EventWriter(run_dir) as out:
            next_at = time.perf_counter()
            while not stop.is_set():
                event = next(events)
                event.time = None  # stamped now by the writer: the monitor follows a live run
                out.write(event)
                written[0] += 1
                next_at += 1.0 / rate
                time.sleep(max(0.0, next_at - time.perf_counter()))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    child, reader = spawn_in_pty([sys.executable, "-m", "hrm_tui.bench", "--child-follow", str(run_dir), str(warmup_s + seconds + 5)])
    try:
        monitor = psutil.Process(child.pid)
        time.sleep(warmup_s)
        before, events_before, t0 = monitor.cpu_times(), written[0], time.perf_counter()
        time.sleep(seconds)
        after, events_after, t1 = monitor.cpu_times(), written[0], time.perf_counter()
        rss_mb = monitor.memory_info().rss / 1024**2
    finally:
        stop.set()
        thread.join()
        child.wait(timeout=30)
        reader.join(timeout=5)
    cpu = (after.user + after.system) - (before.user + before.system)
    return {
        "cpu_percent_of_one_core": 100 * cpu / (t1 - t0),
        "events_per_s_written": (events_after - events_before) / (t1 - t0),
        "rss_mb": rss_mb,
    }


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] == ["--child-open"]:
        return _child_open(Path(args[1]), Path(args[2]), float(args[3]))
    if args[:1] == ["--child-follow"]:
        return _child_follow(Path(args[1]), float(args[2]))

    parser = argparse.ArgumentParser(prog="python -m hrm_tui.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the large run (default 1,000,000)")
    parser.add_argument("--small-events", type=int, default=200_000, help="events in the smaller run opened for comparison (0: skip)")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second written while following (default 100)")
    parser.add_argument("--follow-seconds", type=float, default=20.0, help="how long CPU use is measured while following")
    parser.add_argument("--warmup-seconds", type=float, default=5.0, help="following time before measuring starts")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the generated runs (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up opening a run after this many seconds")
    options = parser.parse_args(args)

    with tempfile.TemporaryDirectory(dir=options.dir) as root:
        print(f"monitor benchmark in a {TERMINAL[0]}x{TERMINAL[1]} pseudo-terminal, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        for size in [n for n in (options.small_events, options.events) if n]:
            run_dir = Path(root) / f"open_{size}"
            started = time.perf_counter()
            count = generate_finished_run(run_dir, size)
            megabytes = (run_dir / EVENTS_FILE).stat().st_size / 1024**2
            print(f"\nopen a finished run: {count:,} events, {megabytes:.0f} MB (generated in {time.perf_counter() - started:.0f}s)")
            result = measure_open(run_dir, options.timeout)
            mount, start, cpu = result["since_mount_s"], result["since_process_start_s"], result["cpu_since_process_start_s"]
            for stage, label in (("sampled", "whole-run train curves (middle sampled)"), ("overview", "full curves, every eval in"), ("exact", "exact curves, every line parsed")):
                if stage in mount:
                    print(f"  {label:42s} {mount[stage]:6.2f}s after mount, {start[stage]:6.2f}s after process start"
                          f" ({cpu[stage]:.2f}s of CPU)")
            print(f"  peak RSS                                   {result['peak_rss_mb']:6.0f} MB")

        print(f"\nfollow a live run written at {options.rate:g} events/s for {options.follow_seconds:g}s (after {options.warmup_seconds:g}s warm-up)")
        follow_dir = Path(root) / "follow"
        follow_dir.mkdir()
        result = measure_follow(follow_dir, options.rate, options.warmup_seconds, options.follow_seconds)
        print(f"  events written                             {result['events_per_s_written']:6.1f} /s")
        print(f"  monitor CPU                                {result['cpu_percent_of_one_core']:6.1f} % of one core")
        print(f"  monitor RSS                                {result['rss_mb']:6.0f} MB")


if __name__ == "__main__":
    main()
