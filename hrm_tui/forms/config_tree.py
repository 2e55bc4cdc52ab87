"""The Hydra config tree as the launcher's form sees it: groups, presets, and one typed field per key.

The form never parses YAML itself. It asks Hydra to compose the config (through the trainer's own
`hrm_core.config.compose`, so the app and `python -m hrm_core.pretrain` see the same thing) and turns the
composed `DictConfig` into a flat list of `FieldSpec`s: one per leaf key, with its type, its default, and,
for an interpolation such as `arch.puzzle_emb_ndim: ${.hidden_size}`, both the interpolation and its
resolved value.

Validation also goes through the trainer (`compose` + `validate` + `check_dataset`), and its errors are
turned into `Problem`s that name the key they belong to, so the form can show each one at its field.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

PRIMARY_CONFIG = "cfg_pretrain"
PRESET_GROUP = "experiment"

# Hydra keeps global state while composing: one composition at a time, whichever thread asks.
_COMPOSE_LOCK = threading.Lock()

# Field kinds the form knows how to edit.
INT, FLOAT, BOOL, STR, LIST, DICT, ANY = "int", "float", "bool", "str", "list", "dict", "any"

@dataclass(frozen=True)
class FieldSpec:
    """One editable key: a leaf of the composed config, or a schema key the config tree leaves at its default."""

    key: str  # dotted, e.g. "arch.loss.loss_type"
    section: str  # the schema's section metadata (hrm_core.config.SECTION_ORDER), or the node it sits in
    kind: str  # INT, FLOAT, BOOL, STR, LIST, DICT or ANY (a null default with no schema type)
    default: Any  # the raw default; an interpolation is its "${...}" string
    resolved: Any = None  # the value after resolving interpolations (== default for plain values)
    interpolation: str | None = None  # "${.hidden_size}" when the default is an interpolation
    choices: tuple[str, ...] | None = None  # a closed set of values: shown as a select
    optional: bool = False  # may be null
    help: str = ""
    in_config: bool = True  # False for schema keys absent from the YAML: overriding them needs `+key=`

    @property
    def name(self) -> str:
        """The last part of the key, as a label."""
        return self.key.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Problem:
    """A validation error, attached to a key when the trainer names one."""

    key: str | None
    message: str
    hint: str = ""
    build_command: tuple[str, ...] | None = None  # for a missing dataset: the argv that builds it
    dataset_path: str | None = None  # for a missing dataset: the folder that command builds

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@dataclass
class ConfigTree:
    """The Hydra config tree: the installed one, plus the user's `--config-dir` searched first (as Hydra does)."""

    user_dir: Path | None = None
    groups: dict[str, list[str]] = field(default_factory=dict)  # group -> option names, e.g. arch -> [hrm_v1]
    default_choices: dict[str, str] = field(default_factory=dict)  # from the primary config's defaults list

    @classmethod
    def load(cls, config_dir: str | Path | None = None) -> ConfigTree:
        user_dir = Path(config_dir).expanduser().resolve() if config_dir is not None else None
        if user_dir is not None and not user_dir.is_dir():
            raise FileNotFoundError(f"--config-dir {user_dir} does not exist (it takes a folder of Hydra configs)")
        search = [d for d in (user_dir, installed_config_dir()) if d is not None]
        groups: dict[str, list[str]] = {}
        for directory in search:
            for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
                options = [p.stem for p in sub.glob("*.yaml")]
                if options:
                    groups[sub.name] = sorted(set(groups.get(sub.name, [])) | set(options))
        groups.setdefault(PRESET_GROUP, [])
        primary = next(d / f"{PRIMARY_CONFIG}.yaml" for d in search if (d / f"{PRIMARY_CONFIG}.yaml").is_file())
        return cls(user_dir, groups, _default_choices(primary))

    @property
    def presets(self) -> list[str]:
        return self.groups.get(PRESET_GROUP, [])

    def group_override(self, group: str, choice: str | None) -> str | None:
        """`arch=x`, or `+experiment=x` for a group the defaults list does not name; None for no change."""
        default = self.default_choices.get(group)
        if choice is None or choice == default:
            return None
        return f"{group}={choice}" if group in self.default_choices else f"+{group}={choice}"

    def compose(self, overrides: Sequence[str]) -> DictConfig:
        """The composed config, exactly as `python -m hrm_core.pretrain OVERRIDES` composes it."""
        from hrm_core.config import compose

        with _COMPOSE_LOCK:
            return compose(list(overrides), config_dir=str(self.user_dir) if self.user_dir else None)

    def fields(self, cfg: DictConfig) -> list[FieldSpec]:
        """One FieldSpec per key, sections in a stable, readable order."""
        return build_fields(cfg)

    def validate(self, overrides: Sequence[str], *, check_data: bool = True, launch: Any = None) -> list[Problem]:
        """Runs the trainer's own checks on these overrides. An empty list means the trainer will accept them.

        `launch` (hrm_core.config.Launch: the processes the run will have) adds the trainer's checks that depend
        on how it is started; the default is one process."""
        from hrm_core.config import ConfigError, Launch, check_dataset, validate

        try:
            cfg = self.compose(overrides)
            typed = validate(cfg, overrides, launch or Launch())
            if check_data and not all(builds_itself(path) for path in typed.train_data_paths + typed.test_data_paths):
                check_dataset(typed)
        except ConfigError as error:
            return [problem_from_error(error)]
        return []


def launch_of(options: Any) -> Any:
    """What the trainer's checks need to know about a launch (hrm_tui.launch_plan.LaunchOptions): its world
    size (`processes`: nnodes x nproc_per_node, or the SLURM profile's nodes x processes per node)."""
    from hrm_core.config import Launch

    return Launch(processes=options.processes)


def builds_itself(data_path: str) -> bool:
    """True for the demo dataset, which the trainer builds on first use (so its absence is no error)."""
    try:
        from hrm_core.data.demo import DEMO_DATA_PATH
    except ImportError:
        return False
    return Path(data_path) == Path(DEMO_DATA_PATH)


def installed_config_dir() -> Path:
    """The installed `hrm_config` package: the project's `config/` tree, also found in a non-editable install."""
    return Path(str(resources.files("hrm_config")))


def flatten(cfg: DictConfig, *, resolve: bool = False) -> dict[str, Any]:
    """Dotted key -> leaf value. With resolve=False an interpolation stays its "${...}" string."""
    container = OmegaConf.to_container(cfg, resolve=resolve, throw_on_missing=False)
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                walk(value, dotted + ".")
            else:
                out[dotted] = value

    walk(container, "")
    return out


def build_fields(cfg: DictConfig) -> list[FieldSpec]:
    """FieldSpecs for every leaf of `cfg`, then every schema key with a default that `cfg` does not set and
    that the chosen architecture takes (an `arch.*` key of another architecture is not shown).

    Sections come from the schema's section metadata (`hrm_core.config.SECTION_ORDER`); a key the schema does
    not know (a user's config tree, an arch group's own key) shows in its node's section, or in General.
    """
    from hrm_core.config import GENERAL_SECTION, schema_fields, section_rank

    raw = flatten(cfg, resolve=False)
    arch_name = OmegaConf.select(cfg, "arch.name", default=None)
    schema = {info.key: info for info in schema_fields(arch_name if isinstance(arch_name, str) else None)}
    takes = arch_keys_taken(cfg)

    def shown_from_schema(key: str, info: Any) -> bool:
        """A schema key the config does not set: shown when it has a default and, for an arch key, when the
        architecture takes it."""
        if key in raw or info.default is dataclasses.MISSING:
            return False
        return not key.startswith("arch.") or takes is None or key in takes

    keys = list(raw) + [key for key, info in schema.items() if shown_from_schema(key, info)]
    specs = []
    for key in keys:
        info = schema.get(key)
        in_config = key in raw
        default = raw[key] if in_config else info.default
        interpolation = default if in_config and isinstance(default, str) and _is_interpolation(cfg, key) else None
        resolved = _resolve(cfg, key) if interpolation else default
        kind, optional = _kind_from_type_name(info.type_name) if info else (None, default is None)
        specs.append(
            FieldSpec(
                key=key,
                section=info.section if info else (key.rpartition(".")[0] or GENERAL_SECTION),
                kind=kind or _kind_of(resolved),
                default=default,
                resolved=resolved,
                interpolation=interpolation,
                choices=tuple(info.choices) if info and info.choices else None,
                optional=optional,
                help=info.help if info else "",
                in_config=in_config,
            )
        )
    first_seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        first_seen.setdefault(spec.section, i)
    return sorted(specs, key=lambda spec: (section_rank(spec.section), first_seen[spec.section]))


def arch_keys_taken(cfg: DictConfig | None = None, arch_name: str | None = None) -> set[str] | None:
    """The dotted `arch.*` keys the architecture `arch.name` takes (its name, its loss head's keys and
    `hrm_core.models.registry.MODELS[name].config.arch_keys()`); None when it names no known architecture."""
    from hrm_core.models.registry import MODELS  # imports torch: called from the form's worker threads

    if arch_name is None:
        arch_name = str(OmegaConf.select(cfg, "arch.name", default=None)) if cfg is not None else None
    entry = MODELS.get(arch_name) if arch_name else None
    if entry is None:
        return None
    return {"arch.name", "arch.loss.name", "arch.loss.loss_type"} | {f"arch.{key}" for key in entry.config.arch_keys()}


def foreign_arch_keys(cfg: DictConfig) -> list[str]:
    """`arch.*` keys of `cfg` that some architecture takes but the chosen one does not: a preset written for
    hrm_v1 (`arch.L_cycles`) with arch=transformers_baseline chosen. The form deletes them (`~arch.L_cycles`)."""
    taken = arch_keys_taken(cfg)
    if taken is None:
        return []
    known = schema_arch_keys()
    return [key for key in flatten(cfg) if key in known and key not in taken]


def schema_arch_keys() -> set[str]:
    """Every `arch.*` key of the schema: the keys of all architectures together."""
    from hrm_core.config import schema_fields

    return {info.key for info in schema_fields() if info.key.startswith("arch.")}


def problem_from_error(error: BaseException) -> Problem:
    """The trainer's ConfigError as a Problem, with the argv of its dataset builder when it names one."""
    build = getattr(error, "build_argv", None)
    return Problem(
        key=getattr(error, "key", None),
        message=str(getattr(error, "message", None) or error),
        hint=str(getattr(error, "hint", None) or ""),
        build_command=tuple(build) if build else None,
        dataset_path=getattr(error, "dataset_path", None),
    )


# ----------------------------------------------------------------------------------------------------------


def _default_choices(primary: Path) -> dict[str, str]:
    defaults = OmegaConf.load(primary).get("defaults", [])
    choices = {}
    for entry in defaults:
        if isinstance(entry, (dict, DictConfig)):
            for group, choice in entry.items():
                group = str(group).removeprefix("optional ").strip()
                if choice is not None and "@" not in group:
                    choices[group] = str(choice)
    return choices


def _is_interpolation(cfg: DictConfig, key: str) -> bool:
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    return isinstance(parent, DictConfig) and OmegaConf.is_interpolation(parent, leaf)


def _resolve(cfg: DictConfig, key: str) -> Any:
    try:
        value = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
    except Exception:
        return None
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STR
    if isinstance(value, list):
        return LIST
    if isinstance(value, dict):
        return DICT
    return ANY


def _kind_from_type_name(type_name: str) -> tuple[str | None, bool]:
    """("float", True) for the schema's "float | None"; kind None when the type is not a simple one."""
    optional = type_name.endswith(" | None")
    base = type_name.removesuffix(" | None")
    if base.startswith("list["):
        return LIST, optional
    return {"int": INT, "float": FLOAT, "bool": BOOL, "str": STR, "dict": DICT}.get(base), optional
