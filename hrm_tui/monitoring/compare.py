"""Comparing runs: the names their curves are labelled with, and the config keys in which they differ.

Two runs of the same arch are named alike (`HierarchicalReasoningModel_ACTV1 brave-otter`,
`HierarchicalReasoningModel_ACTV1 calm-heron`): a legend a few cells wide would show both as `…`. So a
compared run is labelled by what tells it apart: its name less the words every compared name starts with.

    short_labels(["HierarchicalReasoningModel_ACTV1 brave-otter", "HierarchicalReasoningModel_ACTV1 calm-heron"])
    -> ["brave-otter", "calm-heron"]

The config diff reads each run's resolved config (`all_config.yaml`, or its `run_start` event's `config`
when the file is missing or unreadable), flattens it to dotted keys, and keeps the keys whose values are not
all the same (a key one run lacks counts as differing). Nothing here raises on a file's content: a run whose
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
from hrm_core.rundir.files import CONFIG_FILE
from hrm_core.rundir.reader import read_head_and_tail
from hrm_core.rundir.tail import open_regular

WORD_ENDS = " _-/."  # a shared prefix is cut after one of these, never inside a word
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a resolved config is a few kB; a larger file is not one


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
    return RunConfig(run_dir, flatten_config(config))


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
