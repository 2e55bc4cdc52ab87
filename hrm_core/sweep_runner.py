"""`python -m hrm_core.pretrain -m OVERRIDES...`: a sweep, run one training after another in this terminal, as
Hydra's basic launcher runs a multirun (docs/config.md, "Sweeps").

Every run is its own `python -m hrm_core.pretrain` process with its own run directory (named by
hrm_core/config/sweep.py: `<sweep folder>/<i>`, run name `<sweep>-<i>`) and its sweep in its environment, so
its `run_start` records `sweep`, `sweep_index` and `sweep_size`.

As in Hydra: every run's config is composed before the first starts, and a mistake in any stops the sweep
there (exit 2, nothing started); a run that fails does not stop the others, and the sweep then exits 1 naming
the runs that failed. Ctrl-C stops the run in progress (it saves a checkpoint, as any run does) and starts no
further run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from hrm_core.rundir.sanitize import safe_text

EXIT_CONFIG_ERROR = 2


@dataclass(frozen=True)
class PlannedRun:
    index: int
    overrides: list[str]  # the run's overrides, its names included
    run_dir: str


def plan_sweep(overrides: Sequence[str], *, config_dir: str | None, config_name: str) -> tuple[str, list[PlannedRun]]:
    """(sweep name, its runs), each run's config composed and validated. Raises ConfigError naming the run."""
    from hrm_core.config import ConfigError, Launch, compose, resolve_run_names, validate
    from hrm_core.config.sweep import expand_sweep, given_value, member_names, member_overrides, sweep_name, without_keys

    runs = expand_sweep(overrides)
    name = sweep_name(overrides)
    planned = []
    for index, run in enumerate(runs):
        try:
            config = validate(compose(run, config_dir=config_dir, config_name=config_name), run, Launch.of_this_process())
        except ConfigError as e:
            raise ConfigError(f"run {index} of the sweep ({' '.join(run)}): {e.message}", key=e.key, hint=e.hint) from None
        names = member_names(overrides, name, index, project=resolve_run_names(config)[0])
        run_dir = names.get("checkpoint_path") or given_value(run, "checkpoint_path") or ""
        planned.append(PlannedRun(index, without_keys(run, names) + member_overrides(names), run_dir))
    return name, planned


def run_sweep(overrides: Sequence[str], *, config_dir: str | None, config_name: str | None) -> int:
    from hrm_core.config import CONFIG_NAME, ConfigError
    from hrm_core.rundir.sweeps import SweepMember

    try:
        name, runs = plan_sweep(overrides, config_dir=config_dir, config_name=config_name or CONFIG_NAME)
    except ConfigError as e:
        print(safe_text(e.render(), multiline=True), file=sys.stderr, flush=True)
        return EXIT_CONFIG_ERROR
    _say(f"sweep {name!r}: {len(runs)} run{'s' if len(runs) != 1 else ''}, one after another")
    flags = ([f"--config-dir={config_dir}"] if config_dir else []) + ([f"--config-name={config_name}"] if config_name else [])
    failed: list[int] = []
    for run in runs:
        _say(f"sweep {name!r} run {run.index}/{len(runs)}: {' '.join(run.overrides)} -> {run.run_dir}")
        env = {**os.environ, **SweepMember(name, run.index, len(runs)).env()}
        process = subprocess.Popen([sys.executable, "-m", "hrm_core.pretrain", *flags, *run.overrides], env=env)
        try:
            code = process.wait()
        except KeyboardInterrupt:  # the run got the same SIGINT (one process group): it saves and ends
            process.wait()
            _say(f"sweep {name!r} stopped during run {run.index}; runs after it were not started")
            return 1
        if code != 0:
            failed.append(run.index)
    if failed:
        _say(f"sweep {name!r}: run{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))} failed "
             f"(of {len(runs)}); each run's directory says why")
        return 1
    _say(f"sweep {name!r}: all {len(runs)} runs finished")
    return 0


def _say(text: str) -> None:
    print(safe_text(f"[hrm] {text}"), flush=True)
