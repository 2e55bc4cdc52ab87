"""The typed schema of the training config: every key with its type, default, one-line help and form section.

`TrainConfig` is what the trainer runs on; `schema_fields()`, `field_help()` and `SECTION_ORDER` are what the
TUI and the docs read. Field order follows cfg_pretrain.yaml, then the extensions of this implementation.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

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


def _field(default: Any = MISSING, *, help: str, section: str | None = None, choices: Sequence[str] | None = None,
           factory: Any = None) -> Any:
    """A schema field carrying its one-line help text, its form section (top-level keys and nested nodes; the
    keys of a node inherit it), and its allowed values, for string enums."""
    if section is not None and section not in SECTION_ORDER:
        raise ValueError(f"section {section!r} is not one of SECTION_ORDER")
    metadata = {"help": help, "choices": tuple(choices) if choices else None, "section": section}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)

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
    """The `arch` node: the keys of every architecture (config/arch/*.yaml). Which ones an architecture takes
    is checked against its own config (hrm_core.models.registry.model_config); keys that only some take are
    optional here, so each architecture's configs stay valid."""

    name: str = _field(help="Model, `module@Class` as in the originals: hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1, "
                            "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1, ... (docs/model.md lists them).")
    loss: LossConfig = _field(help="The loss head and its token loss.", factory=lambda: LossConfig(name="losses@ACTLossHead"),
                            section="arch.loss")
    halt_exploration_prob: float = _field(help="Probability that a sequence gets a random minimum number of ACT steps in training.")
    halt_max_steps: int = _field(help="Most ACT steps (segments) a sequence may take; evaluation always runs all of them.")
    H_cycles: int | None = _field(None, help="HRM: high-level updates per ACT step. TRM: recursion cycles per ACT step (all but the last without gradient).")
    L_cycles: int | None = _field(None, help="HRM: low-level updates per high-level update. TRM: latent (z_L) updates per cycle.")
    H_layers: int | None = _field(None, help="Blocks in the high-level module (HRM, transformer baseline); TRM keeps the key and ignores it.")
    L_layers: int | None = _field(None, help="Blocks in the low-level module (HRM), or in TRM's one network.")
    hidden_size: int = _field(help="Model width.")
    num_heads: int = _field(help="Attention heads; each has hidden_size // num_heads channels (as in the originals).")
    expansion: float = _field(help="SwiGLU feed-forward expansion factor.")
    puzzle_emb_ndim: int = _field(help="Width of the per-puzzle embedding (0 = none); defaults to hidden_size.")
    pos_encodings: str = _field(help="Position encoding: rope, learned, or none (TRM and the TRM repository's HRM only).",
                                choices=("rope", "learned", "none"))
    mlp_t: bool | None = _field(None, help="TRM and recursive_reasoning.hrm: an MLP across positions in place of attention (TRM-MLP, for Sudoku).")
    puzzle_emb_len: int | None = _field(None, help="TRM: positions the puzzle embedding fills (unset: 16; 0 = ceil(puzzle_emb_ndim / hidden_size)).")
    no_ACT_continue: bool | None = _field(None, help="TRM: halt when q_halt > 0 and learn no Q-continue (unset: true); false = HRM's halting rule and Q-continue target.")
    act_enabled: bool | None = _field(None, help="Transformer baseline: halt adaptively in training (unset: true).")
    act_inference: bool | None = _field(None, help="Transformer baseline: halt adaptively in evaluation too (unset: false).")
    rms_norm_eps: float | None = _field(None, help="RMSNorm epsilon (unset: the model's default, 1e-5).")
    rope_theta: float | None = _field(None, help="RoPE base (unset: the model's default, 10000).")
    forward_dtype: str | None = _field(None, help="Compute dtype: auto, bfloat16 or float32 (unset/auto: bfloat16 on CUDA, float32 elsewhere).")
    attn_backend: str | None = _field(None, help="Attention kernel: auto, flash3, flash2 or sdpa (unset: auto = FlashAttention when installed).")


@dataclass(kw_only=True)
class TrainConfig:
    arch: ArchConfig = _field(help="The model architecture (config group `arch`, default hrm_v1).", section="arch")
    # Data: one folder (HRM's data_path) or a list trained as one (TRM's data_paths), never both
    data_path: str | None = _field(None, help="Dataset folder built by a dataset builder (holds train/ and test/); "
                                              "unset when data_paths is given.", section="Data")
    data_paths: list[str] = _field(help="TRM's key: dataset folders trained as one, merged as TRM merges them, "
                                        "e.g. [data/arc1concept-aug-1000] (replaces data_path).", factory=list, section="Data")
    data_paths_test: list[str] = _field(help="Dataset folders whose test splits evaluation uses (empty: the "
                                             "training folders' own test splits).", factory=list, section="Data")
    # Hyperparameters
    global_batch_size: int = _field(help="Examples per optimizer step, summed over all processes.", section="Data")
    epochs: int = _field(help="Training epochs (one epoch = one puzzle from every group).", section="Schedule")
    eval_interval: int | None = _field(None, help="Evaluate every this many epochs; must divide epochs (unset: only at the end).", section="Schedule")
    checkpoint_every_eval: bool = _field(False, help="Save a checkpoint after every evaluation (otherwise only at the end).", section="Checkpoints")
    lr: float = _field(help="Peak learning rate of the dense weights (AdamATan2).", section="Optimizer")
    lr_min_ratio: float = _field(help="Cosine schedule floor as a fraction of the peak learning rate (1.0 = constant).", section="Schedule")
    lr_warmup_steps: int = _field(help="Linear warm-up steps from 0 to the peak learning rate.", section="Schedule")
    beta1: float = _field(help="AdamATan2 beta1.", section="Optimizer")
    beta2: float = _field(help="AdamATan2 beta2.", section="Optimizer")
    weight_decay: float = _field(help="Weight decay of the dense weights.", section="Optimizer")
    puzzle_emb_weight_decay: float = _field(help="Weight decay of the puzzle-embedding table.", section="Puzzle embedding")
    puzzle_emb_lr: float = _field(help="Peak learning rate of the puzzle-embedding table (sign SGD).", section="Puzzle embedding")
    # Names (defaults computed by resolve_run_names, as in the original)
    project_name: str | None = _field(None, help="Project name (unset: from the dataset folder, '<Folder> ACT-torch'; TRM's '<Folder>-ACT-torch' with data_paths).", section="Run")
    run_name: str | None = _field(None, help="Run name (unset: the arch class plus a random two-word slug).", section="Run")
    checkpoint_path: str | None = _field(None, help="Run directory for checkpoints and events (unset: checkpoints/<project>/<run>).", section="Run")
    # Extras of the original
    seed: int = _field(0, help="Random seed (rank r seeds torch with seed + r).", section="Run")
    eval_save_outputs: list[str] = _field(help="Eval tensors to save per rank as eval_step_<N>/step_<N>_all_preds.<rank>: any of inputs, labels, puzzle_identifiers, logits, q_halt_logits, q_continue_logits, preds.", factory=list, section="Evaluation")
    # Extensions of this implementation (docs/config.md)
    log_interval: int = _field(1, help="Write a train event and print a step line every this many steps.", section="Logging")
    heartbeat_interval_s: float = _field(30.0, help="Seconds between heartbeat events (written even during evaluation).", section="Logging")
    stall_after_s: float | None = _field(None, help="Seconds without progress (an optimizer step, an eval batch, a checkpoint file) after which a live run shows as stalled (unset: 10x the longest gap seen, at least 180 s; 30 min for a phase's first stretch).", section="Logging")
    compile: str = _field("auto", help="torch.compile the model: auto (on for CUDA unless DISABLE_COMPILE is set), true or false.", choices=COMPILE_CHOICES, section="Run")
    wandb: bool = _field(False, help="Also log to Weights & Biases (pip install wandb; WANDB_MODE=offline works).", section="Logging")
    wandb_mode: str | None = _field(None, help="wandb.init mode: online, offline or disabled (unset: wandb's default).", choices=("online", "offline", "disabled"), section="Logging")
    evaluators: list[dict[str, Any]] = _field(
        help="Extra evaluators run at each evaluation: names or {name: ..., options}, e.g. [arc] for ARC pass@K "
             "or TRM's [{name: arc@ARC}] (docs/evaluation.md).", factory=list, section="Evaluation")
    eval_num_samples: int = _field(4, help="Eval predictions per set recorded in `samples` events for viewers.", section="Evaluation")
    resume: str | None = _field(None, help="Continue a run: auto (newest checkpoint in checkpoint_path, if any), a checkpoint folder or a run directory.", section="Checkpoints")
    load_checkpoint: str | None = _field(None, help="Start a new run from these weights (a checkpoint folder, a run directory or a weights file), e.g. to fine-tune.", section="Checkpoints")
    keep_last_checkpoints: int | None = _field(None, help="Keep only the newest this many checkpoints (unset: keep all).", section="Checkpoints")
    checkpoint_interval: int | None = _field(None, help="Also save a checkpoint every this many steps (unset: only at evaluations / the end).", section="Checkpoints")
    on_nonfinite: str = _field("stop", help="On a NaN/inf loss: stop (status failed, last checkpoint kept) or continue (skip that update).", choices=NONFINITE_CHOICES, section="Run")
    ema: bool = _field(False, help="Keep an exponential moving average of the dense weights, used for eval and checkpoints.", section="Optimizer")
    ema_rate: float = _field(0.999, help="EMA decay per step (ema = rate * ema + (1 - rate) * weights).", section="Optimizer")
    # Keys of the TRM reference (TinyRecursiveModels' pretrain.py)
    min_eval_interval: int = _field(0, help="Skip evaluation (and its checkpoint) for the first this many eval "
                                            "intervals; 0 evaluates from the first one.", section="Schedule")
    freeze_weights: bool = _field(False, help="Train only the puzzle embeddings; the rest of the model stays as "
                                              "loaded (e.g. with load_checkpoint).", section="Optimizer")

    @property
    def arch_kwargs(self) -> dict[str, Any]:
        """The arch node as the plain dict `hrm_core.build_model` takes; unset optional keys are left out."""
        arch = {f.name: getattr(self.arch, f.name) for f in fields(ArchConfig) if f.name != "loss"}
        arch = {k: v for k, v in arch.items() if v is not None}
        arch["loss"] = {"name": self.arch.loss.name, "loss_type": self.arch.loss.loss_type}
        return arch

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


def dataclass_type(tp: Any) -> type | None:
    return tp if isinstance(tp, type) and hasattr(tp, "__dataclass_fields__") else None


def type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def schema_fields(cls: type = TrainConfig, prefix: str = "", section: str = GENERAL_SECTION) -> Iterator[FieldInfo]:
    """Every leaf key of the schema, depth first (arch.loss.name, arch.loss.loss_type, arch.halt_..., ...).
    `section` is the one the keys of this node inherit when they name none."""
    hints = type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        own_section = f.metadata["section"] or section
        nested = dataclass_type(tp)
        if nested is not None:
            yield from schema_fields(nested, prefix=f"{prefix}{f.name}.", section=own_section)
            continue
        default = f.default if f.default is not MISSING else (f.default_factory() if f.default_factory is not MISSING else MISSING)
        yield FieldInfo(f"{prefix}{f.name}", _type_name(tp), default, f.metadata["help"], f.metadata["choices"],
                        own_section)


def section_rank(section: str) -> int:
    """Where a form section goes: SECTION_ORDER's place; a nested node the schema does not know goes after
    the known nested ones (a dotted name, or any unknown name but General), General last."""
    if section in SECTION_ORDER:
        return SECTION_ORDER.index(section)
    if section == GENERAL_SECTION:
        return len(SECTION_ORDER)
    return SECTION_ORDER.index("arch.loss")


def field_help(key: str) -> str:
    """The one-line description of a dotted key ("lr", "arch", "arch.hidden_size"); "" for an unknown key."""
    cls: type | None = TrainConfig
    help_text = ""
    for part in key.split("."):
        match = next((f for f in fields(cls) if f.name == part), None) if cls is not None else None
        if match is None:
            return ""
        help_text = match.metadata["help"]
        cls = dataclass_type(type_hints(cls)[part])
    return help_text


def _type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    if is_optional(tp):
        inner = next(a for a in args if a is not type(None))
        return f"{_type_name(inner)} | None"
    if typing.get_origin(tp) is list:
        inner = typing.get_origin(args[0]) or args[0]
        return f"list[{inner.__name__}]"
    return tp.__name__


def is_optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def to_plain_dict(config: TrainConfig) -> dict[str, Any]:
    """The typed config as plain nested dicts (for all_config.yaml, events and checkpoints)."""
    from dataclasses import asdict

    return asdict(config)


def config_keys(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]
