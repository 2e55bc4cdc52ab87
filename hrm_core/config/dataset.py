"""What needs the file system: the dataset check before a run, and the run's names and directory."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from hrm_core.config.errors import ConfigError
from hrm_core.config.schema import TrainConfig

if TYPE_CHECKING:  # the loader (and torch) are imported only when a dataset is checked
    from hrm_core.data.format import DatasetMetadata


def _data_path(cfg: TrainConfig | DictConfig | Mapping[str, Any]) -> str:
    return cfg.data_path if isinstance(cfg, TrainConfig) else str(cfg["data_path"])


def check_dataset(cfg: TrainConfig | DictConfig | Mapping[str, Any]) -> DatasetMetadata:
    """Opens data_path's train and test splits and identifiers.json as the trainer will; returns the train
    split's metadata.

    Raises ConfigError for a missing dataset (with `build_command` / `build_argv`, the builder to run), for
    a broken one (a missing or unreadable array, a dataset.json field of the wrong type, arrays that disagree,
    a token or puzzle id out of range, no identifiers.json), and for a global_batch_size larger than what one
    epoch of the training set holds, so that each is a message at its key before the run directory exists
    rather than a failed run. The structure checks read headers and end points only; the range check reads
    every token once (vectorised, about the time it takes to read the arrays).
    """
    from hrm_core.data.format import BLANK_PUZZLE_NAME, IDENTIFIERS_FILE, DatasetFormatError, load_identifiers
    from hrm_core.data.loader import PuzzleSplit, check_value_ranges

    data_path = _data_path(cfg)
    missing = [split for split in ("train", "test") if not (Path(data_path) / split / "dataset.json").is_file()]
    if missing:
        build_argv = _suggest_build_command(data_path)
        build_command = shlex.join(build_argv) if build_argv else None
        what = "does not exist" if not Path(data_path).exists() else f"has no built {' / '.join(missing)} split ({missing[0]}/dataset.json is missing)"
        hint = f"build it with:\n    {build_command}" if build_command else "point data_path at a folder built by one of the dataset builders (docs/datasets.md)"
        raise ConfigError(f"dataset folder `{data_path}` {what}", key="data_path", hint=hint, build_command=build_command,
                          build_argv=build_argv)
    try:
        train = PuzzleSplit(data_path, "train")
        test = PuzzleSplit(data_path, "test")
        if load_identifiers(data_path) is None:
            raise DatasetFormatError(
                f"{Path(data_path) / IDENTIFIERS_FILE} is missing: the trainer names puzzles by it (index = puzzle id, "
                f"{BLANK_PUZZLE_NAME!r} first) and every dataset builder writes it; rebuild the dataset, or write that "
                "JSON list for a dataset of your own")
        check_value_ranges(train)
        check_value_ranges(test)
    except DatasetFormatError as e:
        raise ConfigError(str(e), key="data_path", hint="docs/datasets.md lists the dataset builders and their commands") from None
    _check_batch_fits(cfg, train)
    return train.metadata


def _check_batch_fits(cfg: TrainConfig | DictConfig | Mapping[str, Any], train: Any) -> None:
    """Global batches are filled from one pass's draw (one puzzle per group and epoch, for eval_interval
    epochs; an incomplete last batch is dropped): a batch larger than that trains nothing at all."""
    get = (lambda key: getattr(cfg, key)) if isinstance(cfg, TrainConfig) else cfg.get
    batch_size, epochs, eval_interval = get("global_batch_size"), get("epochs"), get("eval_interval")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (batch_size, epochs)):
        return  # the schema check reports a bad value
    epochs_per_pass = eval_interval if isinstance(eval_interval, int) and eval_interval > 0 else epochs
    metadata = train.metadata
    per_epoch = metadata.total_groups * metadata.mean_puzzle_examples
    per_pass = int(per_epoch * epochs_per_pass)
    if batch_size > per_pass:
        examples = sum(train.num_examples(name) for name in train.sets)
        raise ConfigError(
            f"global_batch_size={batch_size} is larger than the training set: a pass of {epochs_per_pass} epoch(s) "
            f"(eval_interval) draws about {per_pass} examples ({metadata.total_groups} groups x "
            f"{metadata.mean_puzzle_examples:g} examples per puzzle per epoch; {examples} examples in "
            f"{train.split_dir}), so the run would plan 0 steps",
            key="global_batch_size",
            hint=f"use global_batch_size={per_pass} or less (or a larger eval_interval, or a larger dataset)")


def _suggest_build_command(data_path: str) -> list[str] | None:
    try:
        from hrm_core.data.known import suggest_build_command
    except ImportError:
        return None
    try:
        argv = suggest_build_command(data_path)
        return [str(a) for a in argv] if argv else None
    except Exception:  # a helper for messages must never hide the real error
        return None


def resolve_run_names(cfg: TrainConfig | DictConfig | Mapping[str, Any]) -> tuple[str, str, str]:
    """(project_name, run_name, checkpoint_path), filling the unset ones the way the original does.

    The run name's random slug comes from the OS entropy source, never from the training RNGs. Call it once
    (on rank 0) and share the result: each call draws a new slug.
    """
    from hrm_core.training.names import default_project_name, default_run_name

    get = (lambda k: getattr(cfg, k)) if isinstance(cfg, TrainConfig) else (lambda k: cfg.get(k))
    arch_name = cfg.arch.name if isinstance(cfg, TrainConfig) else str(cfg["arch"]["name"])
    project = get("project_name") or default_project_name(_data_path(cfg))
    run = get("run_name") or default_run_name(arch_name)
    checkpoint_path = get("checkpoint_path") or os.path.join("checkpoints", project, run)
    return project, run, checkpoint_path
