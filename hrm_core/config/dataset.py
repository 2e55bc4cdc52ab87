"""What needs the file system: the dataset check before a run, and the run's names and directory."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from hrm_core.config.errors import DATASET_BUILDERS, ConfigError
from hrm_core.config.schema import TrainConfig

if TYPE_CHECKING:  # the loader (and torch) are imported only when a dataset is checked
    from hrm_core.data.format import DatasetMetadata


def dataset_keys(cfg: TrainConfig | DictConfig | Mapping[str, Any]) -> tuple[str, list[str], str, list[str]]:
    """(train key, train folders, test key, test folders): the key names what errors point at.

    Training reads `data_paths` (TRM's key) or else `data_path` (HRM's); evaluation `data_paths_test` or else
    the training folders.
    """
    if isinstance(cfg, TrainConfig):
        data_paths, data_path, test_paths = list(cfg.data_paths), cfg.data_path, list(cfg.data_paths_test)
    else:
        data_paths = [str(p) for p in (cfg.get("data_paths") or [])]
        data_path = cfg.get("data_path")
        test_paths = [str(p) for p in (cfg.get("data_paths_test") or [])]
    train_key, train = ("data_paths", data_paths) if data_paths else ("data_path", [str(data_path)] if data_path is not None else [])
    test_key, test = ("data_paths_test", test_paths) if test_paths else (train_key, train)
    return train_key, train, test_key, test


def check_dataset(cfg: TrainConfig | DictConfig | Mapping[str, Any]) -> DatasetMetadata:
    """Opens the train split of the training folders and the test split of the evaluation folders (and their
    identifiers.json) as the trainer will; returns the (merged) train split's metadata.

    Raises ConfigError for a missing dataset (with `build_command` / `build_argv`, the builder to run), for
    a broken one (a missing or unreadable array, a dataset.json field of the wrong type, arrays that disagree,
    a token or puzzle id out of range, no identifiers.json), for datasets of data_paths that cannot be
    merged, for a test split the model cannot read (another seq_len or vocabulary, puzzle ids beyond the
    training table), and for a global_batch_size larger than what one pass over the training set holds, so
    that each is a message at its key before the run directory exists rather than a failed run. The
    structure checks read headers and end points only; the range check reads every token once (vectorised,
    about the time it takes to read the arrays).
    """
    from hrm_core.data.format import BLANK_PUZZLE_NAME, IDENTIFIERS_FILE, DatasetFormatError, load_identifiers
    from hrm_core.data.loader import PuzzleSplit, check_value_ranges

    train_key, train_paths, test_key, test_paths = dataset_keys(cfg)
    needed: dict[str, tuple[str, list[str]]] = {}  # folder -> (the key naming it, the splits it must have)
    for key, paths, split in ((train_key, train_paths, "train"), (test_key, test_paths, "test")):
        for data_path in paths:
            needed.setdefault(data_path, (key, []))[1].append(split)
    for data_path, (key, splits) in needed.items():
        missing = [split for split in splits if not (Path(data_path) / split / "dataset.json").is_file()]
        if missing:
            raise _missing_dataset_error(key, data_path, missing)
    opened = {}
    for key, paths, split in ((train_key, train_paths, "train"), (test_key, test_paths, "test")):
        try:
            opened[split] = PuzzleSplit(paths, split)
            for data_path in paths:
                if load_identifiers(data_path) is None:
                    raise DatasetFormatError(
                        f"{Path(data_path) / IDENTIFIERS_FILE} is missing: the trainer names puzzles by it (index = "
                        f"puzzle id, {BLANK_PUZZLE_NAME!r} first) and every dataset builder writes it; rebuild the "
                        "dataset, or write that JSON list for a dataset of your own")
            check_value_ranges(opened[split])
        except DatasetFormatError as e:
            raise ConfigError(str(e), key=key, hint=DATASET_BUILDERS) from None
    train, test = opened["train"].metadata, opened["test"].metadata
    for name in ("seq_len", "vocab_size"):
        if getattr(test, name) != getattr(train, name):
            raise ConfigError(f"the test split ({', '.join(test_paths)}) has {name}={getattr(test, name)}, the train split "
                              f"({', '.join(train_paths)}) {name}={getattr(train, name)}: the model reads both",
                              key=test_key, hint="evaluate on a dataset built with the same encoding")
    if test.num_puzzle_identifiers > train.num_puzzle_identifiers:
        raise ConfigError(f"the test split ({', '.join(test_paths)}) has {test.num_puzzle_identifiers} puzzle identifiers, "
                          f"the model's puzzle-embedding table (sized by the train split) {train.num_puzzle_identifiers}",
                          key=test_key, hint="evaluate on the test split of the training dataset, or one built with "
                                             "the same puzzle identifiers")
    _check_batch_fits(cfg, opened["train"])
    return train


def _missing_dataset_error(key: str, data_path: str, missing: list[str]) -> ConfigError:
    build_argv = _suggest_build_command(data_path)
    build_command = shlex.join(build_argv) if build_argv else None
    what = ("does not exist" if not Path(data_path).exists()
            else f"has no built {' / '.join(missing)} split ({missing[0]}/dataset.json is missing)")
    hint = (f"build it with:\n    {build_command}" if build_command
            else f"point {key} at a folder built by a dataset builder: {DATASET_BUILDERS}")
    return ConfigError(f"dataset folder `{data_path}` {what}", key=key, hint=hint, build_command=build_command,
                       build_argv=build_argv, dataset_path=data_path)


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
        examples = sum(train.num_examples(name) for name in train.metadata.sets)
        raise ConfigError(
            f"global_batch_size={batch_size} is larger than the training set: a pass of {epochs_per_pass} epoch(s) "
            f"(eval_interval) draws about {per_pass} examples ({metadata.total_groups} groups x "
            f"{metadata.mean_puzzle_examples:g} examples per puzzle per epoch; {examples} examples in "
            f"{', '.join(str(path / train.split) for path in train.dataset_paths)}), so the run would plan 0 steps",
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
    from hrm_core.names import default_project_name, default_run_name

    get = (lambda k: getattr(cfg, k)) if isinstance(cfg, TrainConfig) else (lambda k: cfg.get(k))
    arch_name = cfg.arch.name if isinstance(cfg, TrainConfig) else str(cfg["arch"]["name"])
    train_key, train_paths = dataset_keys(cfg)[:2]
    # Named as the original whose dataset key the config uses: HRM's "<Folder> ACT-torch", TRM's "-ACT-torch".
    separator = "-" if train_key == "data_paths" else " "
    project = get("project_name") or default_project_name(train_paths[0] if train_paths else "", separator)
    run = get("run_name") or default_run_name(arch_name)
    checkpoint_path = get("checkpoint_path") or os.path.join("checkpoints", project, run)
    return project, run, checkpoint_path
