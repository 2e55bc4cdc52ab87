"""`python -m hrm_tui.bench.slurm_runs`: what SLURM runs cost the cockpit, against a real cluster.

Needs a cluster that takes jobs from here (`sbatch`, `squeue`; `SLURM_CONF` names it as usual). Measures:

1. **submission**: `--runs` runs (default 200) are submitted with `hrm_tui.cluster.submit.submit`, each a
   held job (`--hold`: it never runs, so it costs the cluster nothing), into a temporary folder. Reported:
   the time each `submit` took after sbatch answered (writing slurm.json and launch.json, the index entry),
   median and worst, beside sbatch's own time.
2. **listing**: `hrm-tui runs` and `hrm-tui runs --json` as a user runs them (a new process each, so start-up
   is paid for), over those runs, in a private per-user index; best and median of `--repeats`. One scheduler
   query covers all the runs (hrm_core.rundir.scheduler).

The jobs are cancelled at the end (by their ids). docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hrm_tui.cluster.profile import ClusterProfile
from hrm_tui.cluster.submit import submit
from hrm_tui.launch_plan import LaunchOptions, plan_launch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hrm_tui.bench.slurm_runs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="SLURM runs to make (default: 200)")
    parser.add_argument("--repeats", type=int, default=5, help="timed `hrm-tui runs` calls of each kind (default: 5)")
    parser.add_argument("--partition", default="", help="the partition to submit the held jobs to (default: the cluster's)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hrm-bench-slurm-") as folder:
        figures = run(Path(folder), runs=args.runs, repeats=args.repeats, partition=args.partition)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{figures['runs']} SLURM runs (held jobs), one scheduler query per listing")
        print(f"submit after sbatch answered: median {figures['submit_after_sbatch_ms_median']:.1f} ms, "
              f"worst {figures['submit_after_sbatch_ms_max']:.1f} ms (sbatch itself: median "
              f"{figures['sbatch_ms_median']:.0f} ms)")
        for kind in ("runs", "runs_json"):
            print(f"hrm-tui {kind.replace('_', ' --')}: best {figures[kind + '_s_best']:.2f} s, "
                  f"median {figures[kind + '_s_median']:.2f} s")
    return 0


def run(folder: Path, *, runs: int, repeats: int, partition: str = "") -> dict[str, float]:
    env = dict(os.environ, XDG_STATE_HOME=str(folder / "state"))  # a private index of runs
    os.environ["XDG_STATE_HOME"] = env["XDG_STATE_HOME"]
    profile = ClusterProfile(partition=partition, sbatch_lines=("--hold",), requeue_warning_s=0)
    after: list[float] = []
    sbatch: list[float] = []
    jobs: list[str] = []
    try:
        for i in range(runs):
            run_dir = folder / "checkpoints" / "bench" / f"run-{i:04d}"
            plan = plan_launch([f"+note={i}"], LaunchOptions(), names=("bench", run_dir.name, str(run_dir)),
                               present=set(), cwd=folder)
            started = time.perf_counter()
            job = submit(plan, profile)
            total = time.perf_counter() - started
            jobs.append(job.job_id)
            sbatch.append(job.sbatch_s)
            after.append(total - job.sbatch_s)
        times: dict[str, list[float]] = {"runs": [], "runs_json": []}
        for _ in range(repeats):
            for kind, extra in (("runs", []), ("runs_json", ["--json"])):
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "hrm_tui", "runs", "--runs-root", str(folder / "checkpoints"),
                                       *extra], env=env, capture_output=True, text=True, timeout=120)
                times[kind].append(time.perf_counter() - started)
                if done.returncode != 0:
                    raise SystemExit(f"hrm-tui runs failed: {done.stderr}")
                if kind == "runs_json":
                    listed = [json.loads(line) for line in done.stdout.splitlines()]
                    queued = sum(run["status"] == "queued" and run["scheduler_source"] == "squeue" for run in listed)
                    if queued != runs:
                        raise SystemExit(f"hrm-tui runs --json listed {queued} queued runs of {runs}")
    finally:
        for start in range(0, len(jobs), 100):
            subprocess.run(["scancel", *jobs[start:start + 100]], capture_output=True)
    return {
        "runs": runs,
        "submit_after_sbatch_ms_median": statistics.median(after) * 1000,
        "submit_after_sbatch_ms_max": max(after) * 1000,
        "sbatch_ms_median": statistics.median(sbatch) * 1000,
        **{f"{kind}_s_best": min(values) for kind, values in times.items()},
        **{f"{kind}_s_median": statistics.median(values) for kind, values in times.items()},
    }


if __name__ == "__main__":
    raise SystemExit(main())
