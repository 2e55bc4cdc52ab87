"""Hydra composition: `compose(overrides)` gives the same config as `python -m hrm_core.pretrain <overrides>`."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hrm_core.config.errors import KEYS_REFERENCE, ConfigError
from hrm_core.config.schema import schema_fields

CONFIG_MODULE = "hrm_config"  # the installed package holding the config tree (pyproject maps it to config/)
CONFIG_NAME = "cfg_pretrain"
CONFIG_GROUPS = ("arch", "experiment")  # Hydra config groups: `arch=hrm_v1`, `+experiment=sudoku_extreme_1k`


def schema_keys() -> set[str]:
    return {info.key for info in schema_fields()}


def parse_overrides(overrides: Sequence[str], *, what: str = "override",
                     hint: str = "overrides look like key=value, e.g. lr=7e-5 or arch.hidden_size=256") -> list[Any]:
    """Hydra's parse of each override; ConfigError naming the first one it cannot read (`what`: how to call
    it in the message, `hint`: the fix)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.extend(parser.parse_overrides([text]))
        except OverrideParseException as e:
            raise ConfigError(f"cannot parse the {what} {text!r}: {str(e).splitlines()[0]}", hint=hint) from None
    return parsed


def closest_key(key: str, known: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_key_error(key: str, *, override: str | None = None) -> ConfigError:
    known = sorted(schema_keys())
    suggestion = closest_key(key, known)
    where = f" (in the override {override!r})" if override else ""
    hint = f"did you mean `{suggestion}`?" if suggestion else KEYS_REFERENCE
    return ConfigError(f"unknown key `{key}`{where}", key=key, hint=hint)


def _prepare_overrides(overrides: Sequence[str]) -> list[str]:
    """Checks override keys against the schema and rewrites `key=value` of schema keys to `++key=value`.

    The rewrite lets extension keys (absent from cfg_pretrain.yaml, defaulted by the schema) be overridden
    without Hydra's `+` prefix, and gives an unknown key our error (with the closest key) instead of Hydra's.
    Group choices (`arch=...`, `+experiment=...`), additions (`+key`) and deletions (`~key`) pass through.
    `hydra.*` keys and sweeps are refused first (`_refuse_hydra_only`), so no message shows the `++`.
    """
    known = schema_keys()
    prepared = []
    for text, override in zip(overrides, parse_overrides(overrides)):
        key = override.key_or_group
        _refuse_hydra_only(text, override)
        if override.package is not None or key in CONFIG_GROUPS:
            prepared.append(text)
            continue
        if override.is_add() or override.is_delete() or override.is_force_add():
            prepared.append(text)  # checked by validate() after composition
            continue
        if key not in known:
            raise unknown_key_error(key, override=text)
        prepared.append("++" + text)
    return prepared


def _refuse_hydra_only(text: str, override: Any) -> None:
    """Refuses what only Hydra's app runner would act on, one way each (docs/config.md, "Differences from Hydra"):
    a `hydra.*` key or `hydra/...` group, in any form (`hydra.x=`, `+hydra.x=`, `~hydra.x`, `hydra/job_logging=`),
    and a sweep value (`a,b`, `range()`, `choice()`, `glob()`, `interval()`), detected by Hydra's own parser."""
    from hrm_core.config.command_line import HYDRA_INSTEAD, SWEEPS_NOT_SUPPORTED

    key = override.key_or_group
    if re.split(r"[./]", key, maxsplit=1)[0] == "hydra" or (override.package or "").split(".")[0] == "hydra":
        raise ConfigError(f"`{key}` is a Hydra setting (in the override {text!r}); {HYDRA_INSTEAD}", key=key)
    if override.is_sweep_override():
        raise ConfigError(f"{text!r} is a sweep over `{key}`{_sweep_values(override)}: {SWEEPS_NOT_SUPPORTED}"
                          f"{_one_run_example(key, override)}", key=key)


def _sweep_values(override: Any) -> str:
    from hydra.errors import HydraException

    try:
        values = list(override.sweep_string_iterator())
    except HydraException:  # glob() and interval() sweeps have no list of values without the config
        return ""
    return f" ({len(values)} values)"


def _one_run_example(key: str, override: Any) -> str:
    from hydra.errors import HydraException

    try:
        first = next(iter(override.sweep_string_iterator()))
    except HydraException:
        return ""
    return f"; for one run give one value, e.g. {key}={first}"


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
    import yaml

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

        def primary() -> DictConfig:
            return hydra.compose_config(config_name=config_name, overrides=[], run_mode=RunMode.RUN, with_log_configuration=False)

        cfg = hydra.compose_config(config_name=config_name, overrides=prepared, run_mode=RunMode.RUN, with_log_configuration=False)
        with _open_dict(cfg):
            cfg.pop("hydra", None)
            _drop_default_data_path(cfg, overrides, primary)
    except (HydraException, OmegaConfBaseException) as e:
        raise _hydra_error(e) from None
    except yaml.YAMLError as e:  # a config file (a preset, a user tree's) that is not valid YAML
        raise ConfigError(f"a config file is not valid YAML: {' '.join(str(e).split())}",
                          hint="fix the file named above (YAML: `key: value`, one per line)") from None
    finally:
        global_hydra.clear()
        if saved is not None:
            global_hydra.initialize(saved)
    return cfg


def _drop_default_data_path(cfg: DictConfig, overrides: Sequence[str], primary: Any) -> None:
    """A config that names its datasets with TRM's `data_paths` does not also train on the primary config's
    default `data_path` (HRM's key, `data/arc-aug-1000` in cfg_pretrain.yaml): that default is unset.

    A data_path the user chose (an override, or a preset or user config that changes it) stays, and
    validation then asks which of the two to keep.
    """
    if not cfg.get("data_paths") or cfg.get("data_path") is None:
        return
    if any(override.key_or_group == "data_path" for override in parse_overrides(overrides)):
        return
    if cfg.get("data_path") == primary().get("data_path"):
        cfg.data_path = None


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
