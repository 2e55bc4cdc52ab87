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

    Raises ConfigError for a missing dataset (with `build_command` / `build_argv`, the builder to run) and for
    a broken one (a missing or unreadable array, a dataset.json field of the wrong type, arrays that disagree),
    so that either is a message at `data_path` rather than a failed run. The checks read headers and end
    points only: their cost does not grow with the dataset.
    """
    from hrm_core.data.format import DatasetFormatError, load_identifiers
    from hrm_core.data.loader import PuzzleSplit

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
        PuzzleSplit(data_path, "test")
        load_identifiers(data_path)
    except DatasetFormatError as e:
        raise ConfigError(str(e), key="data_path", hint="docs/datasets.md lists the dataset builders and their commands") from None
    return train.metadata


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
