"""Validation: the composed config checked key by key into a typed `TrainConfig`, errors naming the override."""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hrm_core.config.compose import closest_key, unknown_key_error
from hrm_core.config.errors import ConfigError
from hrm_core.config.schema import (
    EVAL_OUTPUTS,
    ArchConfig,
    TrainConfig,
    config_keys,
    dataclass_type,
    field_help,
    is_optional,
    type_hints,
)


def _override_for(key: str, overrides: Sequence[str]) -> str | None:
    """The override that set `key`: the last one naming it, since the last one wins."""
    for text in reversed(overrides):
        lhs = text.split("=", 1)[0].lstrip("+~")
        if lhs == key:
            return text
    return None


def _check_value(value: Any, tp: Any, key: str, choices: tuple[str, ...] | None, overrides: Sequence[str]) -> Any:
    """Checks (and mildly coerces: int -> float, list-likes -> list) one value against its annotation."""

    def fail(expected: str) -> ConfigError:
        override = _override_for(key, overrides)
        where = f"the override {override!r}" if override else f"`{key}: {value!r}`"
        return ConfigError(f"{where}: expected {expected}, got {type(value).__name__} {value!r}", key=key,
                           hint=f"{key}: {field_help(key)}")

    if is_optional(tp):
        if value is None:
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if tp is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        value = float(value)
    elif tp is str:
        if key == "compile" and isinstance(value, bool):  # `compile=true` parses as a bool
            value = "true" if value else "false"
        if not isinstance(value, str):
            raise fail("a string")
    elif typing.get_origin(tp) is list:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise fail("a list of strings, e.g. [a,b]")
        value = list(value)
    if choices is not None and value not in choices:
        override = _override_for(key, overrides)
        where = f"the override {override!r}" if override else f"`{key}: {value!r}`"
        raise ConfigError(f"{where}: must be one of {', '.join(choices)}", key=key, hint=field_help(key))
    return value


def _build(cls: type, data: Mapping[str, Any], prefix: str, overrides: Sequence[str]) -> Any:
    hints = type_hints(cls)
    names = [f.name for f in fields(cls)]
    for key in data:
        if key not in names:
            raise unknown_key_error(f"{prefix}{key}", override=_override_for(f"{prefix}{key}", overrides))
    kwargs = {}
    for f in fields(cls):
        dotted = f"{prefix}{f.name}"
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ConfigError(f"required key `{dotted}` is missing", key=dotted, hint=f"set it, e.g. {dotted}=... ({f.metadata['help']})")
            continue
        value = data[f.name]
        nested = dataclass_type(hints[f.name])
        if dotted == "evaluators":
            kwargs[f.name] = _evaluator_entries(value, overrides)
        elif nested is not None:
            if not isinstance(value, Mapping):
                raise ConfigError(f"`{dotted}` must be a section of keys, got {value!r}", key=dotted)
            kwargs[f.name] = _build(nested, value, f"{dotted}.", overrides)
        else:
            kwargs[f.name] = _check_value(value, hints[f.name], dotted, f.metadata["choices"], overrides)
    return cls(**kwargs)


def validate(cfg: DictConfig | Mapping[str, Any], overrides: Sequence[str] = ()) -> TrainConfig:
    """Checks every key and value; returns the typed config. Raises ConfigError (never a traceback).

    `overrides` (the command line's) only improve messages: a bad value is reported as the override that
    set it. The dataset is not looked at here (see check_dataset).
    """
    if isinstance(cfg, DictConfig):
        try:
            data = OmegaConf.to_container(cfg, resolve=True)
        except Exception as e:  # interpolation errors: `${.hiden_size}` and friends
            raise ConfigError(f"cannot resolve the config: {str(e).splitlines()[0]}") from None
    else:
        data = dict(cfg)
    data.pop("hydra", None)
    config: TrainConfig = _build(TrainConfig, data, "", overrides)
    _check_ranges(config, overrides)
    return config


def _finite(value: float) -> bool:
    return math.isfinite(value)


# The range of every numeric key: (keys, test, what the value must be). Unset optional keys are not checked.
# The cycle and layer counts are checked by the architecture (_check_arch): TRM has H_layers 0, the baseline no L_*.
_RANGES: list[tuple[tuple[str, ...], Callable[[Any], bool], str]] = [
    (("global_batch_size", "epochs", "eval_interval", "log_interval", "keep_last_checkpoints", "checkpoint_interval",
      "arch.hidden_size", "arch.num_heads", "arch.halt_max_steps"), lambda v: v > 0, "positive"),
    (("eval_num_samples", "lr_warmup_steps", "min_eval_interval", "arch.puzzle_emb_ndim"), lambda v: v >= 0,
     "0 or more"),
    (("lr", "puzzle_emb_lr", "weight_decay", "puzzle_emb_weight_decay"), lambda v: _finite(v) and v >= 0,
     "a finite number, 0 or more"),
    (("beta1", "beta2", "ema_rate"), lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    (("lr_min_ratio",), lambda v: 0.0 <= v <= 1.0, "between 0 and 1"),
    (("arch.halt_exploration_prob",), lambda v: 0.0 <= v <= 1.0, "a probability, between 0 and 1"),
    (("arch.expansion", "arch.rms_norm_eps", "arch.rope_theta", "heartbeat_interval_s", "stall_after_s"),
     lambda v: _finite(v) and v > 0, "a positive finite number"),
    (("seed",), lambda v: 0 <= v < 2**32, "between 0 and 4294967295 (numpy's seed range)"),
]


def _check_ranges(c: TrainConfig, overrides: Sequence[str] = ()) -> None:
    for keys, test, requirement in _RANGES:
        for key in keys:
            value = c
            for part in key.split("."):
                value = getattr(value, part)
            if value is not None and not test(value):
                override = _override_for(key, overrides)
                where = f" (the override {override!r})" if override else ""
                raise ConfigError(f"`{key}` must be {requirement}, got {value!r}{where}", key=key,
                                  hint=f"{key}: {field_help(key)}")
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
    _check_arch(c)


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
                          hint="data_path=DIR, or data_paths=[DIR,...] (docs/datasets.md lists the builders)")
    for key, paths in (("data_paths", c.data_paths), ("data_paths_test", c.data_paths_test)):
        if any(not path for path in paths):
            raise ConfigError(f"`{key}` holds an empty folder name: {list(paths)}", key=key, hint=field_help(key))


def _check_arch(c: TrainConfig) -> None:
    """The model's own checks (names in the registry, hyperparameter values), without building it."""
    from hrm_core.models import registry  # imports torch: only here, after the cheap checks passed

    arch = c.arch_kwargs
    for key, name, known in (("arch.name", arch["name"], registry.MODELS), ("arch.loss.name", arch["loss"]["name"], registry.LOSS_HEADS)):
        if name not in known:
            suggestion = closest_key(name, list(known))
            raise ConfigError(f"{key}={name!r} is not a known {'model' if key == 'arch.name' else 'loss head'}", key=key,
                              hint=f"did you mean {suggestion!r}?" if suggestion else f"known: {', '.join(known)}")
    try:
        # Dataset-dependent sizes do not matter for these checks.
        config = registry.model_config(arch, batch_size=1, seq_len=1, vocab_size=2, num_puzzle_identifiers=1)
        import torch

        config.resolved_dtype(torch.device("cpu"))
    except ValueError as e:
        text = str(e)
        # The key the message names first (a message may mention another key in its hint).
        named = [(text.find(f"arch.{name}"), -len(name), f"arch.{name}") for name in config_keys(ArchConfig) if f"arch.{name}" in text]
        key = min(named)[2] if named else None
        raise ConfigError(text, key=key) from None


def _evaluator_entries(value: Any, overrides: Sequence[str]) -> list[dict[str, Any]]:
    """`evaluators` as a list of `{"name": ..., **options}`: names (`[arc]`) or TRM's mappings
    (`[{name: arc@ARC}]`), resolved and checked by hrm_core.evaluators."""
    from hrm_core import evaluators  # imports torch: only when the key is set

    override = _override_for("evaluators", overrides)
    where = f"the override {override!r}" if override else "`evaluators`"
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of evaluators, e.g. [arc] or [{{name: arc@ARC}}], got {value!r}",
                          key="evaluators", hint=field_help("evaluators"))
    entries = []
    for index, entry in enumerate(value):
        try:
            entries.append(evaluators.resolve_entry(entry))
        except ValueError as e:
            raise ConfigError(f"{where}, entry {index}: {e}", key="evaluators",
                              hint="docs/evaluation.md lists the evaluators and their options") from None
    return entries
