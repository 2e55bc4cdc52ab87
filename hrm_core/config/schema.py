"""The typed schema of the training config: every key with its type and range, default, one-line help and form
section, declared once (`setting`, checked by hrm_core.checking).

`TrainConfig` is what the trainer runs on. Its `arch` is the architecture's own config class, which declares
the `arch.*` keys the same way (hrm_core.models: ACTConfig and its subclasses), chosen by `arch.name`.
`schema_fields()`, `field_help()` and `SECTION_ORDER` are what the TUI, `python -m hrm_core.config` and the
docs read. Field order follows cfg_pretrain.yaml, then the extensions of this implementation.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterator
from dataclasses import MISSING, dataclass
from typing import Annotated, Any

from hrm_core.checking import (Above, Below, Finite, Maximum, Minimum, OneOf, Says, SettingError, setting,
                               settings_fields, settings_to_dict)

COMPILE_CHOICES = ("auto", "true", "false")
# What an evaluation can save per rank (eval_save_outputs, evaluate's save_outputs): the batch's tensors and the
# model's outputs, plus `preds` (the argmax of the logits).
EVAL_OUTPUTS = ("inputs", "labels", "puzzle_identifiers", "logits", "q_halt_logits", "q_continue_logits", "preds")
NONFINITE_CHOICES = ("stop", "continue")

# The form's sections (hrm-tui's launcher), in the order a researcher usually edits them. Every top-level key
# names its section; a nested node (`arch`, `arch.loss`) names the section of all its keys. A key no schema
# field describes (a user's own config tree) shows in GENERAL_SECTION, or, nested, in its node's section.
SECTION_ORDER = ("Data", "Schedule", "Optimizer", "Puzzle embedding", "arch", "arch.loss", "Evaluation", "Checkpoints",
                 "Logging", "Run")
GENERAL_SECTION = "General"


# The ranges these keys share (the words say what a refused value must be).
Positive = Annotated[int, Minimum(1), Says("positive")]
NonNegative = Annotated[int, Minimum(0), Says("0 or more")]
Rate = Annotated[float, Finite(), Minimum(0), Says("a finite number, 0 or more")]
Decay = Annotated[float, Minimum(0), Below(1), Says("in [0, 1)")]
Seconds = Annotated[float, Finite(), Above(0), Says("a positive finite number")]


def _arch_class(arch: Any) -> type:
    """The config class of the architecture the `arch` node names (imports torch: only when a config is checked)."""
    from hrm_core.models.registry import config_class

    return config_class(arch)


def _arch_classes(name: str | None) -> list[type]:
    """The config class of the architecture `name`; every architecture's (each once) for None or an unknown name."""
    from hrm_core.models.registry import MODELS

    if name in MODELS:
        return [MODELS[name].config]
    return list(dict.fromkeys(entry.config for entry in MODELS.values()))


def _compile_text(key: str, value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value  # `compile=true` parses as a bool


def _evaluator_entries(key: str, value: Any) -> Any:
    """`evaluators` as a list of `{"name": ..., **options}`: names (`[arc]`) or TRM's mappings
    (`[{name: arc@ARC}]`), resolved and checked by hrm_core.evaluators."""
    from hrm_core import evaluators  # imports torch: only when the key is set

    if not isinstance(value, (list, tuple)):
        raise SettingError(key, "expected a list of evaluators, e.g. [arc] or [{name: arc@ARC}]", value=value,
                           hint=f"{key}: {field_help(key)}")
    entries = []
    for index, entry in enumerate(value):
        try:
            entries.append(evaluators.resolve_entry(entry))
        except ValueError as e:
            raise SettingError(key, f"`{key}`, entry {index}: {e}",
                               hint=f"{key}: {field_help(key)}") from None
    return entries


# The schema. Field order follows cfg_pretrain.yaml, then the extensions.

@dataclass(kw_only=True)
class TrainConfig:
    # The architecture's own config class (an hrm_core.models ACTConfig: HRMConfig, TRMConfig, ...), chosen by
    # `arch.name`; typed Any here so that importing the schema does not import torch.
    arch: Any = setting(help="The model architecture (config group `arch`, default hrm_v1).", section="arch",
                       choose=_arch_class, variants=_arch_classes)
    # Data: one folder (HRM's data_path) or a list trained as one (TRM's data_paths), never both
    data_path: str | None = setting(None, help="Dataset folder built by a dataset builder (holds train/ and test/); "
                                              "unset when data_paths is given.", section="Data")
    data_paths: list[str] = setting(help="TRM's key: dataset folders trained as one, merged as TRM merges them, "
                                        "e.g. [data/arc1concept-aug-1000] (replaces data_path).", factory=list, section="Data")
    data_paths_test: list[str] = setting(help="Dataset folders whose test splits evaluation uses (empty: the "
                                             "training folders' own test splits).", factory=list, section="Data")
    # Hyperparameters
    global_batch_size: Positive = setting(help="Examples per optimizer step, summed over all processes.", section="Data")
    epochs: Positive = setting(help="Training epochs (one epoch = one puzzle from every group).", section="Schedule")
    eval_interval: Positive | None = setting(None, help="Evaluate every this many epochs; must divide epochs (unset: only at the end).", section="Schedule")
    checkpoint_every_eval: bool = setting(False, help="Save a checkpoint after every evaluation (otherwise only at the end).", section="Checkpoints")
    lr: Rate = setting(help="Peak learning rate of the dense weights (AdamATan2).", section="Optimizer")
    lr_min_ratio: Annotated[float, Minimum(0), Maximum(1), Says("between 0 and 1")] = setting(help="Cosine schedule floor as a fraction of the peak learning rate (1.0 = constant).", section="Schedule")
    lr_warmup_steps: NonNegative = setting(help="Linear warm-up steps from 0 to the peak learning rate.", section="Schedule")
    beta1: Decay = setting(help="AdamATan2 beta1.", section="Optimizer")
    beta2: Decay = setting(help="AdamATan2 beta2.", section="Optimizer")
    weight_decay: Rate = setting(help="Weight decay of the dense weights.", section="Optimizer")
    puzzle_emb_weight_decay: Rate = setting(help="Weight decay of the puzzle-embedding table.", section="Puzzle embedding")
    puzzle_emb_lr: Rate = setting(help="Peak learning rate of the puzzle-embedding table (sign SGD).", section="Puzzle embedding")
    # Names (defaults computed by resolve_run_names, as in the original)
    project_name: str | None = setting(None, help="Project name (unset: from the dataset folder, '<Folder> ACT-torch'; TRM's '<Folder>-ACT-torch' with data_paths).", section="Run")
    run_name: str | None = setting(None, help="Run name (unset: the arch class plus a random two-word slug).", section="Run")
    checkpoint_path: str | None = setting(None, help="Run directory for checkpoints and events (unset: checkpoints/<project>/<run>).", section="Run")
    # Extras of the original
    seed: Annotated[int, Minimum(0), Below(2**32), Says("between 0 and 4294967295 (numpy's seed range)")] = setting(0, help="Random seed (rank r seeds torch with seed + r).", section="Run")
    eval_save_outputs: list[str] = setting(help="Eval tensors to save per rank as eval_step_<N>/step_<N>_all_preds.<rank>: any of inputs, labels, puzzle_identifiers, logits, q_halt_logits, q_continue_logits, preds.", factory=list, section="Evaluation")
    # Extensions of this implementation (docs/config.md)
    log_interval: Positive = setting(1, help="Write a train event and print a step line every this many steps.", section="Logging")
    heartbeat_interval_s: Seconds = setting(30.0, help="Seconds between heartbeat events (written even during evaluation).", section="Logging")
    stall_after_s: Seconds | None = setting(None, help="Seconds without progress (an optimizer step, an eval batch, a checkpoint file) after which a live run shows as stalled (unset: 10x the longest gap seen, at least 180 s; 30 min for a phase's first stretch).", section="Logging")
    compile: Annotated[str, OneOf(COMPILE_CHOICES)] = setting("auto", help="torch.compile the model: auto (on for CUDA unless DISABLE_COMPILE is set), true or false.", section="Run", convert=_compile_text)
    wandb: bool = setting(False, help="Also log to Weights & Biases (pip install wandb; WANDB_MODE=offline works).", section="Logging")
    wandb_mode: Annotated[str, OneOf(("online", "offline", "disabled"))] | None = setting(None, help="wandb.init mode: online, offline or disabled (unset: wandb's default).", section="Logging")
    evaluators: list[dict[str, Any]] = setting(
        help="Extra evaluators run at each evaluation: names or {name: ..., options}, e.g. [arc] for ARC pass@K "
             "or TRM's [{name: arc@ARC}].", factory=list, section="Evaluation",
        convert=_evaluator_entries)
    eval_num_samples: NonNegative = setting(4, help="Eval predictions per set recorded in `samples` events for viewers.", section="Evaluation")
    resume: str | None = setting(None, help="Continue a run: auto (newest checkpoint in checkpoint_path, if any), a checkpoint folder or a run directory.", section="Checkpoints")
    load_checkpoint: str | None = setting(None, help="Start a new run from these weights (a checkpoint folder, a run directory or a weights file), e.g. to fine-tune.", section="Checkpoints")
    keep_last_checkpoints: Positive | None = setting(None, help="Keep only the newest this many checkpoints (unset: keep all).", section="Checkpoints")
    checkpoint_interval: Positive | None = setting(None, help="Also save a checkpoint every this many steps (unset: only at evaluations / the end).", section="Checkpoints")
    on_nonfinite: Annotated[str, OneOf(NONFINITE_CHOICES)] = setting("stop", help="On a NaN/inf loss: stop (status failed, last checkpoint kept) or continue (skip that update).", section="Run")
    ema: bool = setting(False, help="Keep an exponential moving average of the dense weights, used for eval and checkpoints.", section="Optimizer")
    ema_rate: Decay = setting(0.999, help="EMA decay per step (ema = rate * ema + (1 - rate) * weights).", section="Optimizer")
    # Keys of the TRM reference (TinyRecursiveModels' pretrain.py)
    min_eval_interval: NonNegative = setting(0, help="Skip evaluation (and its checkpoint) for the first this many eval "
                                            "intervals; 0 evaluates from the first one.", section="Schedule")
    freeze_weights: bool = setting(False, help="Train only the puzzle embeddings; the rest of the model stays as "
                                              "loaded (e.g. with load_checkpoint).", section="Optimizer")

    @property
    def train_data_paths(self) -> list[str]:
        """The dataset folders training reads: data_paths, or data_path alone."""
        return list(self.data_paths) if self.data_paths else [self.data_path] if self.data_path is not None else []

    @property
    def test_data_paths(self) -> list[str]:
        """The dataset folders whose test splits evaluation reads: data_paths_test, else the training folders."""
        return list(self.data_paths_test) if self.data_paths_test else self.train_data_paths

    @property
    def evaluator_names(self) -> list[str]:
        return [entry["name"] for entry in self.evaluators]

    @property
    def eval_every_epochs(self) -> int:
        return self.eval_interval if self.eval_interval is not None else self.epochs


# Introspection (help text for the TUI and docs)

@dataclass(frozen=True)
class FieldInfo:
    key: str  # dotted, e.g. "arch.hidden_size"
    type_name: str  # int, float, bool, str, list[str]; "| None" when optional
    default: Any  # MISSING when the config tree must provide it
    help: str
    choices: tuple[str, ...] | None
    section: str  # the form section it is shown in (one of SECTION_ORDER)


def schema_fields(arch: str | None = None) -> Iterator[FieldInfo]:
    """Every leaf key of the schema, depth first (arch.name, arch.loss.name, arch.loss.loss_type, ...).

    The `arch.*` keys are those of the architecture `arch` names (`arch.name`'s value), read from its config
    class; with no (or an unknown) name, those of every architecture, each key once (its first description).
    """
    return iter(_schema(arch))


@functools.cache
def _schema(arch: str | None) -> tuple[FieldInfo, ...]:
    return tuple(_fields_of(TrainConfig, "", GENERAL_SECTION, arch))


def _fields_of(cls: type, prefix: str, section: str, arch: str | None) -> Iterator[FieldInfo]:
    """The leaves of one settings class; `section` is the one its keys inherit when they name none."""
    hints = typing.get_type_hints(cls, include_extras=True)
    seen: set[str] = set()
    for f in settings_fields(cls):
        key = f"{prefix}{f.name}"
        nested = _nested_classes(f, hints[f.name], arch)
        if nested:
            # A nested node names its section, or is one (arch.loss), or shows in its parent's.
            own = f.metadata.get("section") or (key if key in SECTION_ORDER else section)
            for nested_cls in nested:
                for info in _fields_of(nested_cls, f"{key}.", own, arch):
                    if info.key not in seen:
                        seen.add(info.key)
                        yield info
            continue
        default = f.default if f.default is not MISSING else (f.default_factory() if f.default_factory is not MISSING else MISSING)
        yield FieldInfo(key, _type_name(hints[f.name]), default, f.metadata["help"], _choices(hints[f.name]),
                        f.metadata.get("section") or section)


def _nested_classes(f: Any, tp: Any, arch: str | None) -> list[type]:
    if "variants" in f.metadata:
        return f.metadata["variants"](arch)
    return [tp] if isinstance(tp, type) and dataclasses.is_dataclass(tp) else []


def section_rank(section: str) -> int:
    """Where a form section goes: SECTION_ORDER's place; a nested node the schema does not know goes after
    the known nested ones (a dotted name, or any unknown name but General), General last."""
    if section in SECTION_ORDER:
        return SECTION_ORDER.index(section)
    if section == GENERAL_SECTION:
        return len(SECTION_ORDER)
    return SECTION_ORDER.index("arch.loss")


def field_help(key: str, arch: str | None = None) -> str:
    """The one-line description of a dotted key ("lr", "arch", "arch.hidden_size"); "" for an unknown key."""
    for info in schema_fields(arch):
        if info.key == key:
            return info.help
    return _node_help(key, arch)


def _node_help(key: str, arch: str | None) -> str:
    """The help of a nested node ("arch", "arch.loss")."""
    classes: list[type] = [TrainConfig]
    help_text = ""
    for part in key.split("."):
        match = next((f for cls in classes for f in settings_fields(cls) if f.name == part), None)
        if match is None:
            return ""
        help_text = match.metadata["help"]
        owner = next(cls for cls in classes if match in settings_fields(cls))
        classes = _nested_classes(match, typing.get_type_hints(owner, include_extras=True)[part], arch)
    return help_text


def _base_type(tp: Any) -> Any:
    return typing.get_args(tp)[0] if typing.get_origin(tp) is Annotated else tp


def _type_name(tp: Any) -> str:
    tp = _base_type(tp)
    args = typing.get_args(tp)
    if is_optional(tp):
        inner = next(a for a in args if a is not type(None))
        return f"{_type_name(inner)} | None"
    if typing.get_origin(tp) is list:
        inner = typing.get_origin(args[0]) or args[0]
        return f"list[{inner.__name__}]"
    return getattr(tp, "__name__", str(tp))


def _choices(tp: Any) -> tuple[str, ...] | None:
    """The closed set of values of a key (its OneOf), for the form's select."""
    if is_optional(tp):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is Annotated:
        return next((tuple(c.values) for c in typing.get_args(tp)[1:] if isinstance(c, OneOf)), None)
    return None


def is_optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def to_plain_dict(config: TrainConfig) -> dict[str, Any]:
    """The typed config as plain nested dicts (for all_config.yaml, events and checkpoints): every key with its
    value, the arch keys resolved to the architecture's defaults, so that the originals read it too."""
    return settings_to_dict(config)


def _check_sections() -> None:
    for f in settings_fields(TrainConfig):
        if f.metadata.get("section") not in (*SECTION_ORDER, None):
            raise ValueError(f"section {f.metadata['section']!r} of {f.name} is not one of SECTION_ORDER")


_check_sections()
