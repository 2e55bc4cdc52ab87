"""Validation: the composed config checked into a typed `TrainConfig`, errors naming the key and the override.

Every key is checked by the one checker (hrm_core.checking.check_settings) against its declaration: the
training keys in schema.py, the `arch` keys in the architecture's own config class (hrm_core.models), which
also runs its checks across keys. What is left here are the checks across training keys and, when the
launch is known, those that depend on it (`Launch`: how many processes, what is installed).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hrm_core.checking import SettingError, check_settings
from hrm_core.config.errors import DATASET_BUILDERS, KEYS_REFERENCE, ConfigError
from hrm_core.config.schema import EVAL_OUTPUTS, TrainConfig, field_help


@dataclass(frozen=True)
class Launch:
    """How the run will be started: what the trainer checks that the config alone does not say. The trainer
    reads it from its own environment (`Launch.of_this_process`); the launcher from its options."""

    processes: int = 1  # the world size: nnodes x nproc_per_node

    @classmethod
    def of_this_process(cls) -> Launch:
        import os

        return cls(processes=int(os.environ.get("WORLD_SIZE", "1")))


def _override_for(key: str, overrides: Sequence[str]) -> str | None:
    """The override that set `key`: the last one naming it, since the last one wins."""
    for text in reversed(overrides):
        lhs = text.split("=", 1)[0].lstrip("+~")
        if lhs == key:
            return text
    return None


def config_error(error: SettingError, overrides: Sequence[str] = ()) -> ConfigError:
    """The checker's error as the config's: the same key, quoting the override that set the value."""
    override = _override_for(error.key, overrides)
    if error.unknown:
        message = error.problem + (f" (in the override {override!r})" if override else "")
    else:
        message = error.describe(f"the override {override!r}" if override else None)
    return ConfigError(message, key=error.key, hint=error.hint or (KEYS_REFERENCE if error.unknown else None))


def validate(cfg: DictConfig | Mapping[str, Any], overrides: Sequence[str] = (), launch: Launch | None = None) -> TrainConfig:
    """Checks every key and value; returns the typed config. Raises ConfigError (never a traceback).

    `overrides` (the command line's) only improve messages: a bad value is reported as the override that
    set it. With `launch`, what depends on how the run is started is checked too (the batch split, wandb).
    The dataset is not looked at here (see check_dataset).
    """
    if isinstance(cfg, DictConfig):
        try:
            data = OmegaConf.to_container(cfg, resolve=True)
        except Exception as e:  # interpolation errors: `${.hiden_size}` and friends
            raise ConfigError(f"cannot resolve the config: {str(e).splitlines()[0]}") from None
    else:
        data = dict(cfg)
    data.pop("hydra", None)
    try:
        config: TrainConfig = check_settings(TrainConfig, data)
    except SettingError as e:
        raise config_error(e, overrides) from None
    _check_across_keys(config)
    if launch is not None:
        check_launch(config, launch)
    return config


def check_launch(c: TrainConfig, launch: Launch) -> None:
    """What the launch decides: every process takes an equal slice of each batch, and wandb=true needs wandb
    importable where the run starts."""
    if c.global_batch_size % launch.processes:
        below = c.global_batch_size // launch.processes * launch.processes
        fits = " or ".join(f"global_batch_size={n}" for n in (below, below + launch.processes) if n > 0)
        raise ConfigError(f"global_batch_size={c.global_batch_size} is not divisible by the {launch.processes} processes",
                          key="global_batch_size", hint=f"every process takes an equal slice of each global batch: {fits}")
    if c.wandb and not module_available("wandb"):
        raise ConfigError("wandb=true but the wandb package is not installed", key="wandb",
                          hint="pip install wandb (or wandb=false)")


def module_available(name: str) -> bool:
    """Whether `import name` can find the package (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: a module in sys.modules without a spec
        return False


def _check_across_keys(c: TrainConfig) -> None:
    if c.eval_interval is not None and c.epochs % c.eval_interval != 0:
        divisors = [d for d in range(c.eval_interval, 0, -1) if c.epochs % d == 0][:1]
        raise ConfigError(
            f"eval_interval={c.eval_interval} does not divide epochs={c.epochs}: evaluation runs every "
            "eval_interval epochs, so epochs must be a multiple of it",
            key="eval_interval",
            hint=f"e.g. eval_interval={divisors[0]} or epochs={(c.epochs // c.eval_interval + 1) * c.eval_interval}",
        )
    if c.resume is not None and c.load_checkpoint is not None:
        raise ConfigError("resume and load_checkpoint cannot both be set", key="load_checkpoint",
                          hint="resume continues a run (same optimizer state); load_checkpoint starts a new run from weights")
    unknown_outputs = [name for name in c.eval_save_outputs if name not in EVAL_OUTPUTS]
    if unknown_outputs:
        raise ConfigError(f"eval_save_outputs: unknown output {unknown_outputs[0]!r}", key="eval_save_outputs",
                          hint=f"choose from {', '.join(EVAL_OUTPUTS)}")
    _check_data_keys(c)
    if c.freeze_weights and c.arch.puzzle_emb_ndim == 0:
        raise ConfigError("freeze_weights=true trains only the puzzle embeddings, but this model has none "
                          "(arch.puzzle_emb_ndim=0): nothing would train", key="freeze_weights",
                          hint="freeze_weights=false, or a model with puzzle embeddings (arch.puzzle_emb_ndim > 0)")


def _check_data_keys(c: TrainConfig) -> None:
    """One dataset key: HRM's data_path (one folder) or TRM's data_paths (a list), not both, not neither."""
    if c.data_path is not None and c.data_paths:
        raise ConfigError(
            f"data_path (HRM's key: one folder) and data_paths (TRM's key: folders trained as one) are both set: "
            f"data_path={c.data_path}, data_paths=[{','.join(c.data_paths)}]", key="data_paths",
            hint=f"keep one: data_path=null trains on data_paths alone, data_paths=[] on {c.data_path} alone, "
                 f"data_paths=[{','.join([c.data_path, *c.data_paths])}] on all of them")
    if c.data_path is None and not c.data_paths:
        raise ConfigError("no dataset: data_path and data_paths are both unset", key="data_path",
                          hint=f"data_path=DIR, or data_paths=[DIR,...]; {DATASET_BUILDERS}")
    for key, paths in (("data_paths", c.data_paths), ("data_paths_test", c.data_paths_test)):
        if any(not path for path in paths):
            raise ConfigError(f"`{key}` holds an empty folder name: {list(paths)}", key=key, hint=field_help(key))


def arch_as_written(arch: Any) -> Any:
    """An `arch` node read back from a run (all_config.yaml, a checkpoint's config) as this version writes it:
    unset keys resolved to the architecture's defaults. An older run wrote null for them, so that comparing
    the two (a resume) sees the same model. A node that does not check is returned as it is."""
    from hrm_core.checking import settings_to_dict
    from hrm_core.models.registry import arch_config

    if not isinstance(arch, Mapping):
        return arch
    try:
        return settings_to_dict(arch_config(arch))
    except SettingError:
        return arch
