"""The training configuration: a typed schema, Hydra composition, and validation with readable errors.

The config tree is the original HRM's (`config/cfg_pretrain.yaml` + `config/arch/hrm_v1.yaml`), installed as
the package `hrm_config`. This module is the one place that knows every key:

    compose(overrides)       -> DictConfig      same result as `python -m hrm_core.pretrain <overrides>`
    validate(cfg)            -> TrainConfig     typed, checked; raises ConfigError naming the key and the fix
    check_dataset(cfg)                          raises ConfigError for a missing (with `build_command`) or broken dataset
    resolve_run_names(cfg)   -> (project_name, run_name, checkpoint_path)
    field_help("arch.hidden_size")  -> one-line description (the TUI shows these as help text)
    schema_fields()          -> every key with its type, default and help

Keys the original does not have (log_interval, ema, resume, ...) are optional and default in the schema, so
`cfg_pretrain.yaml` stays exactly the original's. They can be overridden like any other key
(`log_interval=10`): `compose` turns a plain override of a schema key into Hydra's add-or-override form.
docs/config.md describes every key.
"""

from __future__ import annotations

import difflib
import os
import shlex
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:  # the loader (and torch) are imported only when a dataset is checked
    from hrm_core.data.format import DatasetMetadata

CONFIG_MODULE = "hrm_config"  # the installed package holding the config tree (pyproject maps it to config/)
CONFIG_NAME = "cfg_pretrain"
CONFIG_GROUPS = ("arch", "experiment")  # Hydra config groups: `arch=hrm_v1`, `+experiment=sudoku_extreme_1k`

COMPILE_CHOICES = ("auto", "true", "false")
# What an evaluation can save per rank (eval_save_outputs, evaluate's save_outputs): the batch's tensors and the
# model's outputs, plus `preds` (the argmax of the logits).
EVAL_OUTPUTS = ("inputs", "labels", "puzzle_identifiers", "logits", "q_halt_logits", "q_continue_logits", "preds")
NONFINITE_CHOICES = ("stop", "continue")


class ConfigError(ValueError):
    """A user mistake in the configuration: printed as a clean message, never as a traceback.

    `key` is the dotted config key at fault (or None), `message` says what is wrong, `hint` how to fix it.
    `build_command` (a shell line) and `build_argv` (a list) are set for a missing dataset: the command that
    builds it.
    """

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None, build_command: str | None = None,
                 build_argv: list[str] | None = None):
        self.key = key
        self.message = message
        self.hint = hint
        self.build_command = build_command  # for people: one shell line
        self.build_argv = build_argv  # for programs (the TUI): the same command as an argv list
        super().__init__(self.render())

    def render(self) -> str:
        text = f"config error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


def _field(default: Any = MISSING, *, help: str, choices: Sequence[str] | None = None, factory: Any = None) -> Any:
    """A schema field carrying its one-line help text (and allowed values, for string enums)."""
    metadata = {"help": help, "choices": tuple(choices) if choices else None}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


# ---------------------------------------------------------------------------------------------------------
# The schema. Field order follows cfg_pretrain.yaml, then the extensions.

@dataclass(kw_only=True)
class LossConfig:
    name: str = _field(help="Loss head, `module@Class` as in the original (losses@ACTLossHead).")
    loss_type: str = _field(
        "stablemax_cross_entropy",
        help="Token loss: stablemax_cross_entropy (original default) or softmax_cross_entropy.",
        choices=("stablemax_cross_entropy", "softmax_cross_entropy"),
    )


@dataclass(kw_only=True)
class ArchConfig:
    name: str = _field(help="Model, `module@Class` as in the original (hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1).")
    loss: LossConfig = _field(help="The loss head and its token loss.", factory=lambda: LossConfig(name="losses@ACTLossHead"))
    halt_exploration_prob: float = _field(help="Probability that a sequence gets a random minimum number of ACT steps in training.")
    halt_max_steps: int = _field(help="Most ACT steps (segments) a sequence may take; evaluation always runs all of them.")
    H_cycles: int = _field(help="High-level (slow) module updates per ACT step.")
    L_cycles: int = _field(help="Low-level (fast) module updates per high-level update.")
    H_layers: int = _field(help="Transformer blocks in the high-level module.")
    L_layers: int = _field(help="Transformer blocks in the low-level module.")
    hidden_size: int = _field(help="Model width.")
    num_heads: int = _field(help="Attention heads (hidden_size must be divisible by it).")
    expansion: float = _field(help="SwiGLU feed-forward expansion factor.")
    puzzle_emb_ndim: int = _field(help="Width of the per-puzzle embedding (0 = none); defaults to hidden_size.")
    pos_encodings: str = _field(help="Position encoding: rope or learned.", choices=("rope", "learned"))
    rms_norm_eps: float | None = _field(None, help="RMSNorm epsilon (unset: the model's default, 1e-5).")
    rope_theta: float | None = _field(None, help="RoPE base (unset: the model's default, 10000).")
    forward_dtype: str | None = _field(None, help="Compute dtype: auto, bfloat16 or float32 (unset/auto: bfloat16 on CUDA, float32 elsewhere).")
    attn_backend: str | None = _field(None, help="Attention kernel: auto, flash3, flash2 or sdpa (unset: auto = FlashAttention when installed).")


@dataclass(kw_only=True)
class TrainConfig:
    arch: ArchConfig = _field(help="The model architecture (config group `arch`, default hrm_v1).")
    # Data
    data_path: str = _field(help="Dataset folder built by a dataset builder (holds train/ and test/).")
    # Hyperparameters
    global_batch_size: int = _field(help="Examples per optimizer step, summed over all processes.")
    epochs: int = _field(help="Training epochs (one epoch = one puzzle from every group).")
    eval_interval: int | None = _field(None, help="Evaluate every this many epochs; must divide epochs (unset: only at the end).")
    checkpoint_every_eval: bool = _field(False, help="Save a checkpoint after every evaluation (otherwise only at the end).")
    lr: float = _field(help="Peak learning rate of the dense weights (AdamATan2).")
    lr_min_ratio: float = _field(help="Cosine schedule floor as a fraction of the peak learning rate (1.0 = constant).")
    lr_warmup_steps: int = _field(help="Linear warm-up steps from 0 to the peak learning rate.")
    beta1: float = _field(help="AdamATan2 beta1.")
    beta2: float = _field(help="AdamATan2 beta2.")
    weight_decay: float = _field(help="Weight decay of the dense weights.")
    puzzle_emb_weight_decay: float = _field(help="Weight decay of the puzzle-embedding table.")
    puzzle_emb_lr: float = _field(help="Peak learning rate of the puzzle-embedding table (sign SGD).")
    # Names (defaults computed by resolve_run_names, as in the original)
    project_name: str | None = _field(None, help="Project name (unset: from the dataset folder, '<Folder> ACT-torch').")
    run_name: str | None = _field(None, help="Run name (unset: the arch class plus a random two-word slug).")
    checkpoint_path: str | None = _field(None, help="Run directory for checkpoints and events (unset: checkpoints/<project>/<run>).")
    # Extras of the original
    seed: int = _field(0, help="Random seed (rank r seeds torch with seed + r).")
    eval_save_outputs: list[str] = _field(help="Eval tensors to save per rank as eval_step_<N>/step_<N>_all_preds.<rank>: any of inputs, labels, puzzle_identifiers, logits, q_halt_logits, q_continue_logits, preds.", factory=list)
    # Extensions of this implementation (docs/config.md)
    log_interval: int = _field(1, help="Write a train event and print a step line every this many steps.")
    heartbeat_interval_s: float = _field(30.0, help="Seconds between heartbeat events (written even during evaluation).")
    compile: str = _field("auto", help="torch.compile the model: auto (on for CUDA unless DISABLE_COMPILE is set), true or false.", choices=COMPILE_CHOICES)
    wandb: bool = _field(False, help="Also log to Weights & Biases (pip install wandb; WANDB_MODE=offline works).")
    wandb_mode: str | None = _field(None, help="wandb.init mode: online, offline or disabled (unset: wandb's default).", choices=("online", "offline", "disabled"))
    evaluators: list[str] = _field(help="Extra evaluators run at each evaluation, e.g. [arc] for ARC pass@K.", factory=list)
    eval_num_samples: int = _field(4, help="Eval predictions per set recorded in `samples` events for viewers.")
    resume: str | None = _field(None, help="Continue a run: auto (newest checkpoint in checkpoint_path, if any), a checkpoint folder or a run directory.")
    load_checkpoint: str | None = _field(None, help="Start a new run from these weights (a checkpoint folder, a run directory or a weights file), e.g. to fine-tune.")
    keep_last_checkpoints: int | None = _field(None, help="Keep only the newest this many checkpoints (unset: keep all).")
    checkpoint_interval: int | None = _field(None, help="Also save a checkpoint every this many steps (unset: only at evaluations / the end).")
    on_nonfinite: str = _field("stop", help="On a NaN/inf loss: stop (status failed, last checkpoint kept) or continue (skip that update).", choices=NONFINITE_CHOICES)
    ema: bool = _field(False, help="Keep an exponential moving average of the dense weights, used for eval and checkpoints.")
    ema_rate: float = _field(0.999, help="EMA decay per step (ema = rate * ema + (1 - rate) * weights).")

    @property
    def arch_kwargs(self) -> dict[str, Any]:
        """The arch node as the plain dict `hrm_core.build_model` takes; unset optional keys are left out."""
        arch = {f.name: getattr(self.arch, f.name) for f in fields(ArchConfig) if f.name != "loss"}
        arch = {k: v for k, v in arch.items() if v is not None}
        arch["loss"] = {"name": self.arch.loss.name, "loss_type": self.arch.loss.loss_type}
        return arch

    @property
    def eval_every_epochs(self) -> int:
        return self.eval_interval if self.eval_interval is not None else self.epochs


# ---------------------------------------------------------------------------------------------------------
# Introspection (help text for the TUI and docs)

@dataclass(frozen=True)
class FieldInfo:
    key: str  # dotted, e.g. "arch.hidden_size"
    type_name: str  # int, float, bool, str, list[str]; "| None" when optional
    default: Any  # MISSING when the config tree must provide it
    help: str
    choices: tuple[str, ...] | None


def _dataclass_type(tp: Any) -> type | None:
    return tp if isinstance(tp, type) and hasattr(tp, "__dataclass_fields__") else None


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def schema_fields(cls: type = TrainConfig, prefix: str = "") -> Iterator[FieldInfo]:
    """Every leaf key of the schema, depth first (arch.loss.name, arch.loss.loss_type, arch.halt_..., ...)."""
    hints = _type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        nested = _dataclass_type(tp)
        if nested is not None:
            yield from schema_fields(nested, prefix=f"{prefix}{f.name}.")
            continue
        default = f.default if f.default is not MISSING else (f.default_factory() if f.default_factory is not MISSING else MISSING)
        yield FieldInfo(f"{prefix}{f.name}", _type_name(tp), default, f.metadata["help"], f.metadata["choices"])


def field_help(key: str) -> str:
    """The one-line description of a dotted key ("lr", "arch", "arch.hidden_size"); "" for an unknown key."""
    cls: type | None = TrainConfig
    help_text = ""
    for part in key.split("."):
        match = next((f for f in fields(cls) if f.name == part), None) if cls is not None else None
        if match is None:
            return ""
        help_text = match.metadata["help"]
        cls = _dataclass_type(_type_hints(cls)[part])
    return help_text


def _type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    if _is_optional(tp):
        inner = next(a for a in args if a is not type(None))
        return f"{_type_name(inner)} | None"
    if typing.get_origin(tp) is list:
        return f"list[{args[0].__name__}]"
    return tp.__name__


def _is_optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


# ---------------------------------------------------------------------------------------------------------
# Composition (Hydra)

def _schema_keys() -> set[str]:
    return {info.key for info in schema_fields()}


def _parse_overrides(overrides: Sequence[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.extend(parser.parse_overrides([text]))
        except OverrideParseException as e:
            raise ConfigError(
                f"cannot parse the override {text!r}: {str(e).splitlines()[0]}",
                hint="overrides look like key=value, e.g. lr=7e-5 or arch.hidden_size=256",
            ) from None
    return parsed


def closest_key(key: str, known: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_key_error(key: str, *, override: str | None = None) -> ConfigError:
    known = sorted(_schema_keys())
    suggestion = closest_key(key, known)
    where = f" (in the override {override!r})" if override else ""
    hint = f"did you mean `{suggestion}`?" if suggestion else "see docs/config.md for every key"
    return ConfigError(f"unknown key `{key}`{where}", key=key, hint=hint)


def _prepare_overrides(overrides: Sequence[str]) -> list[str]:
    """Checks override keys against the schema and rewrites `key=value` of schema keys to `++key=value`.

    The rewrite lets extension keys (absent from cfg_pretrain.yaml, defaulted by the schema) be overridden
    without Hydra's `+` prefix, and gives an unknown key our error (with the closest key) instead of Hydra's.
    Group choices (`arch=...`, `+experiment=...`), additions (`+key`) and deletions (`~key`) pass through.
    """
    known = _schema_keys()
    prepared = []
    for text, override in zip(overrides, _parse_overrides(overrides)):
        key = override.key_or_group
        if override.package is not None or key.split(".")[0] == "hydra" or key in CONFIG_GROUPS:
            prepared.append(text)
            continue
        if override.is_add() or override.is_delete() or override.is_force_add():
            prepared.append(text)  # checked by validate() after composition
            continue
        if key not in known:
            raise unknown_key_error(key, override=text)
        prepared.append("++" + text)
    return prepared


def compose(overrides: Sequence[str] = (), config_dir: str | None = None, config_name: str = CONFIG_NAME) -> DictConfig:
    """Composes the config exactly as the command line does (`python -m hrm_core.pretrain OVERRIDES`).

    `config_dir` adds a user config tree searched before the installed one (Hydra's `--config-dir`), e.g.
    to add `experiment/mine.yaml`. Raises ConfigError for unknown keys, bad overrides and missing configs.
    Returns the composed config without the `hydra` node, interpolations unresolved.
    """
    from hydra._internal.utils import create_config_search_path
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.errors import HydraException
    from hydra._internal.hydra import Hydra
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException

    prepared = _prepare_overrides(list(overrides))
    search_path = create_config_search_path(f"pkg://{CONFIG_MODULE}")
    if config_dir is not None:
        abs_dir = os.path.abspath(config_dir)
        if not os.path.isdir(abs_dir):
            raise ConfigError(f"config directory {abs_dir} does not exist", key=None, hint="--config-dir takes a folder of Hydra configs")
        search_path.prepend(provider="command-line", path=f"file://{abs_dir}", anchor=SearchPathQuery(provider="schema"))

    # Hydra keeps a process-global instance; save and restore it so compose() can be called any number of
    # times (and from inside a Hydra app) without side effects.
    global_hydra = GlobalHydra.instance()
    saved = global_hydra.hydra
    global_hydra.clear()
    try:
        hydra = Hydra.create_main_hydra2(task_name="pretrain", config_search_path=search_path)
        cfg = hydra.compose_config(config_name=config_name, overrides=prepared, run_mode=RunMode.RUN, with_log_configuration=False)
    except (HydraException, OmegaConfBaseException) as e:
        raise _hydra_error(e) from None
    finally:
        global_hydra.clear()
        if saved is not None:
            global_hydra.initialize(saved)

    with _open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


def _hydra_error(e: Exception) -> ConfigError:
    """Hydra's composition errors, reduced to their first line plus the options it lists."""
    text = str(e).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    message = lines[0] if lines else type(e).__name__
    if "experiment" in text and "defaults list" in text:
        return ConfigError(message, key="experiment", hint="select a preset with +experiment=NAME (note the +)")
    if "Available options" in text:
        start = next(i for i, line in enumerate(lines) if line.startswith("Available options"))
        options = []
        for line in lines[start + 1:]:
            if line.startswith("Config search path"):
                break
            options.append(line)
        return ConfigError(message, hint=f"{lines[start]} {', '.join(options)}")
    return ConfigError(message)


class _open_dict:
    def __init__(self, cfg: DictConfig):
        self.cfg = cfg

    def __enter__(self) -> None:
        self.flag = OmegaConf.is_struct(self.cfg)
        OmegaConf.set_struct(self.cfg, False)

    def __exit__(self, *exc: object) -> None:
        OmegaConf.set_struct(self.cfg, self.flag)


# ---------------------------------------------------------------------------------------------------------
# Validation

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

    if _is_optional(tp):
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
    hints = _type_hints(cls)
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
        nested = _dataclass_type(hints[f.name])
        if nested is not None:
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
    _check_ranges(config)
    return config


def _check_ranges(c: TrainConfig) -> None:
    def positive(key: str, value: float | int | None) -> None:
        if value is not None and value <= 0:
            raise ConfigError(f"`{key}` must be positive, got {value}", key=key, hint=field_help(key))

    for key in ("global_batch_size", "epochs", "eval_interval", "log_interval", "heartbeat_interval_s",
                "keep_last_checkpoints", "checkpoint_interval"):
        positive(key, getattr(c, key))
    if c.eval_num_samples < 0:
        raise ConfigError("`eval_num_samples` must be 0 or more", key="eval_num_samples")
    for key in ("H_cycles", "L_cycles", "H_layers", "L_layers", "hidden_size", "num_heads", "halt_max_steps"):
        positive(f"arch.{key}", getattr(c.arch, key))
    if c.lr_warmup_steps < 0:
        raise ConfigError("`lr_warmup_steps` must be 0 or more", key="lr_warmup_steps")
    if not 0.0 <= c.lr_min_ratio <= 1.0:
        raise ConfigError(f"`lr_min_ratio` must be between 0 and 1, got {c.lr_min_ratio}", key="lr_min_ratio", hint=field_help("lr_min_ratio"))
    if not 0.0 <= c.ema_rate < 1.0:
        raise ConfigError(f"`ema_rate` must be in [0, 1), got {c.ema_rate}", key="ema_rate", hint=field_help("ema_rate"))
    if c.eval_interval is not None and c.epochs % c.eval_interval != 0:
        divisors = [d for d in range(c.eval_interval, 0, -1) if c.epochs % d == 0][:1]
        raise ConfigError(
            f"eval_interval={c.eval_interval} does not divide epochs={c.epochs}: evaluation runs every "
            "eval_interval epochs, so epochs must be a multiple of it",
            key="eval_interval",
            hint=f"e.g. eval_interval={divisors[0]} or epochs={(c.epochs // c.eval_interval + 1) * c.eval_interval}",
        )
    if c.arch.hidden_size % c.arch.num_heads:
        raise ConfigError(f"arch.hidden_size={c.arch.hidden_size} is not divisible by arch.num_heads={c.arch.num_heads}", key="arch.num_heads")
    if c.resume is not None and c.load_checkpoint is not None:
        raise ConfigError("resume and load_checkpoint cannot both be set", key="load_checkpoint",
                          hint="resume continues a run (same optimizer state); load_checkpoint starts a new run from weights")
    unknown_outputs = [name for name in c.eval_save_outputs if name not in EVAL_OUTPUTS]
    if unknown_outputs:
        raise ConfigError(f"eval_save_outputs: unknown output {unknown_outputs[0]!r}", key="eval_save_outputs",
                          hint=f"choose from {', '.join(EVAL_OUTPUTS)}")
    for name in c.evaluators:
        _check_evaluator(name)
    _check_arch(c)


def _check_arch(c: TrainConfig) -> None:
    """The model's own checks (names in the registry, hyperparameter values), without building it."""
    from hrm_core import registry  # imports torch: only here, after the cheap checks passed

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
        key = next((f"arch.{name}" for name in sorted(config_keys(ArchConfig), key=len, reverse=True) if f"arch.{name}" in text), None)
        raise ConfigError(text, key=key) from None


def config_keys(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _check_evaluator(name: str) -> None:
    try:
        from hrm_core import evaluators  # written alongside `hrm_core.evaluate`
    except ImportError:
        raise ConfigError(f"unknown evaluator {name!r}: this installation has no evaluators", key="evaluators") from None
    known = list(getattr(evaluators, "EVALUATORS", {}))
    if known and name not in known:
        raise ConfigError(f"unknown evaluator {name!r}", key="evaluators", hint=f"known evaluators: {', '.join(known)}")


# ---------------------------------------------------------------------------------------------------------
# Dataset and names

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


def to_plain_dict(config: TrainConfig) -> dict[str, Any]:
    """The typed config as plain nested dicts (for all_config.yaml, events and checkpoints)."""
    from dataclasses import asdict

    return asdict(config)
