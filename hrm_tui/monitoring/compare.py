"""Comparing runs: the names their curves are labelled with, and the config keys in which they differ.

Two runs of the same arch are named alike (`HierarchicalReasoningModel_ACTV1 brave-otter`,
`HierarchicalReasoningModel_ACTV1 calm-heron`): a legend a few cells wide would show both as `…`. So a
compared run is labelled by what tells it apart: its name less the words every compared name starts with.

    short_labels(["HierarchicalReasoningModel_ACTV1 brave-otter", "HierarchicalReasoningModel_ACTV1 calm-heron"])
    -> ["brave-otter", "calm-heron"]

The config diff reads each run's resolved config (`all_config.yaml`, or its `run_start` event's `config`
when the file is missing or unreadable), flattens it to dotted keys, and keeps the keys whose values are not
all the same (a key one run lacks counts as differing). Two things would make a resumed run differ from its
own original without differing in what it trains: path keys written relative in one config and absolute in
the other (compared resolved, against the run's recorded working directory), and `resume`, which only says
how a run was started (left out). Nothing here raises on a file's content: a run whose
config cannot be read says why, in `RunConfig.problem`. Values are returned as read; whoever draws them
passes them through `safe_text`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from hrm_core.rundir.events import Resume, RunStart
from hrm_core.rundir.files import COMMAND_FILE, CONFIG_FILE, LAUNCH_FILE
from hrm_core.rundir.reader import read_head_and_tail, read_record
from hrm_core.rundir.records import CommandRecord, LaunchRecord
from hrm_core.rundir.tail import open_regular

WORD_ENDS = " _-/."  # a shared prefix is cut after one of these, never inside a word
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a resolved config is a few kB; a larger file is not one
# Top-level keys naming files or folders (a string, or a list of them): compared as absolute paths.
PATH_KEYS = frozenset({"checkpoint_path", "data_path", "data_paths", "data_paths_test", "load_checkpoint"})
# Keys that say how a run was started, not what it trains (`resume=auto` on the resumed session).
START_ONLY_KEYS = frozenset({"resume"})


def short_labels(names: Sequence[str]) -> list[str]:
    """Each name less the whole words all the names start with; a name that would be left empty stays whole.
    Fewer than two names: as given."""
    if len(names) < 2:
        return list(names)
    prefix = os.path.commonprefix(list(names))
    cut = max((prefix.rfind(c) for c in WORD_ENDS), default=-1) + 1
    if cut == 0 or any(len(name) <= cut for name in names):
        return list(names)
    return [name[cut:] for name in names]


def run_labels(run_dirs: Sequence[Path]) -> list[str]:
    """The labels of compared runs: folder names (with the parent's where two runs share one), shortened."""
    names = []
    for run_dir in run_dirs:
        twins = sum(1 for d in run_dirs if d.name == run_dir.name)
        names.append(run_dir.name if twins == 1 else f"{run_dir.parent.name}/{run_dir.name}")
    return short_labels(names)


# --- the config diff -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    """One run's resolved config as dotted keys (`arch.hidden_size`), or None with the reason in `problem`."""

    run_dir: Path
    values: dict[str, str] | None
    problem: str = ""


@dataclass(frozen=True)
class DiffRow:
    """A key whose values differ: one value per run, in the runs' order (None: the run has no such key)."""

    key: str
    values: tuple[str | None, ...]


def read_run_config(run_dir: Path) -> RunConfig:
    """The run's config from all_config.yaml, else from its first run_start/resume event; never raises."""
    config, problem = _read_config_file(run_dir / CONFIG_FILE)
    if config is None:
        config = _config_from_events(run_dir)
        if config is None:
            return RunConfig(run_dir, None, f"{problem}, and no run_start event records the config")
    return RunConfig(run_dir, flatten_config(comparable_config(config, _working_dir(run_dir))))


def comparable_config(config: Mapping, working_dir: Path | None) -> dict:
    """The config less START_ONLY_KEYS, with PATH_KEYS made absolute against `working_dir` (left as written
    when it is unknown)."""
    def absolute(value: object) -> object:
        if isinstance(value, str) and value and working_dir is not None:
            return os.path.normpath(os.path.join(working_dir, os.path.expanduser(value)))
        if isinstance(value, list):
            return [absolute(item) for item in value]
        return value

    return {key: absolute(value) if key in PATH_KEYS else value
            for key, value in config.items() if key not in START_ONLY_KEYS}


def _working_dir(run_dir: Path) -> Path | None:
    """Where the run's relative paths start: the trainer's recorded working directory, else the launcher's."""
    for name, record_type in ((COMMAND_FILE, CommandRecord), (LAUNCH_FILE, LaunchRecord)):
        record = read_record(run_dir / name, record_type).record
        if record is not None and record.cwd:
            return Path(record.cwd)
    return None


def _read_config_file(path: Path) -> tuple[Mapping | None, str]:
    try:
        with open_regular(path) as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return None, f"no {CONFIG_FILE}"
    except OSError as error:
        return None, f"{CONFIG_FILE} unreadable ({error.strerror or type(error).__name__})"
    if len(data) > MAX_CONFIG_BYTES:
        return None, f"{CONFIG_FILE} is larger than {MAX_CONFIG_BYTES // 2**20} MiB"
    try:
        config = yaml.safe_load(data)
    except (yaml.YAMLError, ValueError, RecursionError):
        return None, f"{CONFIG_FILE} is not valid YAML"
    if not isinstance(config, Mapping):
        return None, f"{CONFIG_FILE} does not hold a mapping"
    return config, ""


def _config_from_events(run_dir: Path) -> Mapping | None:
    for event in read_head_and_tail(run_dir, tail_bytes=0).head:
        if isinstance(event, (RunStart, Resume)) and isinstance(event.config, Mapping):
            return event.config
    return None


def flatten_config(config: Mapping, prefix: str = "") -> dict[str, str]:
    """{"arch": {"hidden_size": 512}} -> {"arch.hidden_size": "512"}; lists and scalars as JSON text."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return flat


def config_diff(configs: Sequence[RunConfig]) -> list[DiffRow]:
    """The keys whose values are not the same in every readable config, sorted by key."""
    readable = [c.values for c in configs if c.values is not None]
    keys = sorted({key for values in readable for key in values})
    rows = []
    for key in keys:
        values = tuple(values.get(key) for values in readable)
        if len(set(values)) > 1:
            rows.append(DiffRow(key, values))
    return rows
