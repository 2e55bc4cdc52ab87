"""A sweep launched from hrm-tui, run one run after another by a small detached process:

    python -m hrm_tui.runs.sweep_driver <sweep folder>/.sweep-<name>.json

`start_sweep(sweep)` writes the sweep's plans to that file and starts this module detached (its own session,
like a run: closing the app does not stop it; its output goes to `<sweep folder>/sweep-<name>.log`). The driver
starts each run exactly as the launcher starts one run (runs/launcher.py `start`: launch.json, stdout.log and
stderr.log in the run's directory, the run in the index), waits for it to end, then starts the next, with
Hydra's basic-launcher semantics: a run that fails does not stop the others. A run that cannot start (its
directory already holds a run) is skipped with a line in the log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from hrm_core.rundir.errors import RunDirError
from hrm_core.rundir.writer import write_file_atomic
from hrm_tui.launch_plan import LaunchError, LaunchOptions, LaunchPlan
from hrm_tui.sweep_plan import SweepPlan


def spec_path(sweep: SweepPlan) -> Path:
    return sweep.folder / f".sweep-{_file_name(sweep.name)}.json"


def log_path(sweep: SweepPlan) -> Path:
    """The driver's own output: which run it started when, and how the sweep ended."""
    return sweep.folder / f"sweep-{_file_name(sweep.name)}.log"


def _file_name(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name)


def start_sweep(sweep: SweepPlan) -> int:
    """Writes the sweep's plans and starts the driver detached; returns its pid."""
    spec = spec_path(sweep)
    try:
        spec.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomic(spec, json.dumps({"name": sweep.name, "plans": [_plan_json(p) for p in sweep.plans]},
                                           indent=1).encode("utf-8"))
    except (OSError, RunDirError) as error:
        raise LaunchError(f"cannot write the sweep's plan {spec}: {error}") from None
    with open(log_path(sweep), "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "hrm_tui.runs.sweep_driver", str(spec)], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=log, start_new_session=True, close_fds=True)
    return process.pid


def _plan_json(plan: LaunchPlan) -> dict:
    return {"argv": plan.argv, "env": plan.env, "run_dir": str(plan.run_dir), "overrides": plan.overrides,
            "options": plan.options.to_json(), "cwd": str(plan.cwd),
            "config_dir": str(plan.config_dir) if plan.config_dir is not None else None}


def _plan_of(data: dict) -> LaunchPlan:
    return LaunchPlan(argv=list(data["argv"]), env=dict(data["env"]), run_dir=Path(data["run_dir"]),
                      overrides=list(data["overrides"]), options=LaunchOptions.from_json(data["options"]),
                      cwd=Path(data["cwd"]), config_dir=Path(data["config_dir"]) if data["config_dir"] else None)


def drive(spec: Path) -> int:
    from hrm_tui.runs.launcher import start

    data = json.loads(spec.read_text(encoding="utf-8"))
    plans = [_plan_of(p) for p in data["plans"]]
    failed = []
    for index, plan in enumerate(plans):
        _say(f"run {index}/{len(plans)}: {plan.run_dir}")
        try:
            record = start(plan)
        except LaunchError as error:
            _say(f"run {index} not started: {error}")
            failed.append(index)
            continue
        _, status = os.waitpid(record.pid, 0)  # the run is this process's child
        if os.waitstatus_to_exitcode(status) != 0:
            failed.append(index)
    _say(f"sweep {data['name']!r} done: " + (f"runs {failed} failed" if failed else f"all {len(plans)} runs finished"))
    return 1 if failed else 0


def _say(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}", flush=True)


if __name__ == "__main__":
    sys.exit(drive(Path(sys.argv[1])))
