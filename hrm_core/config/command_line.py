"""The command line of `python -m hrm_core.pretrain`: Hydra's flags that fit hrm, and the help that lists the
config tree.

hrm composes the config with Hydra but does not run as a Hydra app, so of Hydra's flags it takes those that
make sense without one (docs/config.md, "Differences from Hydra"):

    --help                 usage, the config groups with their options, the presets with one line each
    --cfg job | all        print the composed config (job), or every key the run will use (all), and exit
    --info [TOPIC]         version, config search path, primary config and config groups; exit
    --version              hrm, torch, hydra-core and Python versions; exit
    -m / --multirun        a sweep: the overrides' sweep values (a,b / range()) expand into runs, run one after
                           another (hrm_core/sweep_runner.py); without it, a sweep value is refused (compose.py)

`parse_args` returns the namespace; `--cfg`'s argument is optional on the command line (a bare `--cfg` is
`--cfg job`, as hrm has always taken it), which argparse cannot say by itself: `_normalise` rewrites it first.
"""

from __future__ import annotations

import argparse
import platform
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from hrm_core.config.errors import ConfigError

PROG = "python -m hrm_core.pretrain"
CFG_CHOICES = ("job", "all")
# Hydra's `--info` topics; hrm prints the same summary for each.
INFO_TOPICS = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")
SWEEPS_NOT_SUPPORTED = "a sweep runs one training per value: add -m (--multirun) to run it, as with Hydra"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parses the command line; raises ConfigError for `--cfg hydra`, and for `-m` with `--cfg`."""
    argv = _normalise(list(argv))
    config_dir = _peek_config_dir(argv)
    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a Hierarchical Reasoning Model. The config is Hydra's: config/cfg_pretrain.yaml, changed by "
                    "key=value overrides (docs/config.md).",
        epilog=help_epilog(config_dir))
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. lr=7e-5 arch.hidden_size=256 +experiment=sudoku_extreme_1k")
    parser.add_argument("--config-dir", "-cd", default=None, help="an extra config tree, searched before the installed one")
    parser.add_argument("--config-name", "-cn", default=None, help="primary config name (default cfg_pretrain)")
    parser.add_argument("--cfg", "-c", choices=CFG_CHOICES, default=None,
                        help="print the config and exit: job = the composed config (a bare --cfg), all = every key the "
                             "run will use, schema defaults included")
    parser.add_argument("--info", "-i", choices=INFO_TOPICS, default=None, metavar="TOPIC",
                        help="print the version, config search path, primary config and config groups, and exit "
                             "(Hydra's topics are accepted; each prints the same)")
    parser.add_argument("--version", action="store_true", help="print the versions of hrm, torch, hydra-core and Python, and exit")
    parser.add_argument("--multirun", "-m", action="store_true",
                        help="run a sweep: every combination of the sweep values (lr=1e-3,2e-3 seed=range(3)) is one run, "
                             "the runs one after another (docs/config.md, \"Sweeps\")")
    args = parser.parse_args(argv)
    if args.multirun and args.cfg:
        raise ConfigError("--cfg prints one run's config: drop -m and give one value per key")
    return args


def _normalise(argv: list[str]) -> list[str]:
    """`--cfg` / `--info` with their optional argument as one `--flag=value` word, so that argparse does not
    take the first override for it: `--cfg` -> `--cfg=job`, `--cfg all` -> `--cfg=all`, `--info` ->
    `--info=all`. `--cfg hydra` (Hydra's own config) is refused: hrm has none."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        following = argv[i + 1] if i + 1 < len(argv) else None
        if word in ("--cfg", "-c", "--info", "-i"):
            flag, choices, default = ("--cfg", CFG_CHOICES, "job") if word in ("--cfg", "-c") else ("--info", INFO_TOPICS, "all")
            if following == "hydra" and flag == "--cfg":
                raise ConfigError("--cfg hydra: hrm has no Hydra app config to print; " + HYDRA_INSTEAD)
            if following in choices:
                out.append(f"{flag}={following}")
                i += 2
                continue
            out.append(f"{flag}={default}")
        elif word in ("--cfg=hydra", "-c=hydra"):
            raise ConfigError("--cfg hydra: hrm has no Hydra app config to print; " + HYDRA_INSTEAD)
        else:
            out.append(word)
        i += 1
    return out


def _peek_config_dir(argv: list[str]) -> str | None:
    """`--config-dir` before argparse has run, so that `--help` lists the user's presets too."""
    for i, word in enumerate(argv):
        if word in ("--config-dir", "-cd") and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith("--config-dir="):
            return word.split("=", 1)[1]
    return None


# What every refused hydra.* key and `--cfg hydra` say instead (compose.py refuses the keys).
HYDRA_INSTEAD = ("hrm runs without Hydra's app runner: every run writes its checkpoints, events.jsonl, "
                 "all_config.yaml and command.json to its run directory, checkpoint_path (default "
                 "checkpoints/<project>/<run>), and never changes the working directory; set checkpoint_path=DIR instead")


# ---------------------------------------------------------------------------------------------------------
# The config tree, as --help and --info show it


def config_search_path(config_dir: str | None) -> list[Path]:
    """The folders Hydra composes from, first found wins: `--config-dir`, then the installed tree."""
    installed = Path(str(resources.files("hrm_config")))
    return [Path(config_dir).expanduser().resolve(), installed] if config_dir else [installed]


def config_groups(config_dir: str | None) -> dict[str, dict[str, str]]:
    """group -> option -> one-line description (from the option file's leading comment)."""
    groups: dict[str, dict[str, str]] = {}
    for folder in reversed(config_search_path(config_dir)):  # the user's tree last, so its files win
        if not folder.is_dir():
            continue
        for group in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
            for option in sorted(group.glob("*.yaml")):
                groups.setdefault(group.name, {})[option.stem] = _describe(option)
    return {name: dict(sorted(options.items())) for name, options in sorted(groups.items())}


def default_choices(config_dir: str | None, config_name: str) -> dict[str, str]:
    """The primary config's defaults list: group -> the option chosen without an override (arch -> hrm_v1)."""
    import yaml

    for folder in config_search_path(config_dir):
        primary = folder / f"{config_name}.yaml"
        if primary.is_file():
            try:
                defaults = (yaml.safe_load(primary.read_text()) or {}).get("defaults") or []
            except (yaml.YAMLError, OSError, AttributeError):
                return {}
            return {k: str(v) for entry in defaults if isinstance(entry, dict) for k, v in entry.items()}
    return {}


def _describe(path: Path) -> str:
    """The first sentence of a config file's leading comment (without Hydra's `@package` line), or its
    `name:` (an arch file without a comment), or ''."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    words = []
    for line in lines:
        if not line.startswith("#"):
            break
        text = line[1:]
        if text.strip().startswith("@package") or not text.strip():
            continue
        if text.startswith("   "):  # an indented example command ends the description
            break
        words.append(text.strip())
    description = " ".join(words)
    description = re.split(r"(?<=[a-z0-9)])\. ", description, maxsplit=1)[0].rstrip(".")
    description = re.sub(r",? e\.g\.?:?$", "", description).strip()
    if len(description) > 100 and " (" in description:
        description = description.split(" (", 1)[0]
    if description:
        return description
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("name:")), "")
    return f"model {name}" if name else ""


def help_epilog(config_dir: str | None, config_name: str = "cfg_pretrain") -> str:
    groups = config_groups(config_dir)
    defaults = default_choices(config_dir, config_name)
    lines = ["config groups (choose one option with GROUP=OPTION; +GROUP=OPTION for a group the primary config "
             "does not name):"]
    for group, options in groups.items():
        selector = f"+{group}=" if group not in defaults else f"{group}="
        lines.append(f"  {selector}OPTION" + (f"   (default {defaults[group]})" if group in defaults else ""))
        width = max(len(option) for option in options) if options else 0
        for option, description in options.items():
            lines.append(f"    {option:<{width}}  {description}".rstrip())
    lines += [
        "",
        "keys: every key with its type, default and meaning is in docs/config.md (\"Every key\"); "
        "--cfg all prints them with the values this command line gives.",
        "",
        "examples:",
        f"  {PROG} +experiment=demo                      train the CPU demo",
        f"  {PROG} +experiment=sudoku_extreme_1k lr=7e-5",
        f"  {PROG} --cfg job arch=trm                     print the composed config",
        f"  torchrun --nproc-per-node 8 -m hrm_core.pretrain +experiment=arc_2",
        "",
        f"  {PROG} -m +experiment=demo lr=1e-3,2e-3 seed=range(2)   a sweep of 4 runs, one after another",
        "",
        "not Hydra's app runner: hydra.* keys are refused (a run writes to its run directory, checkpoint_path); "
        "see docs/config.md, \"Differences from Hydra\" and \"Sweeps\".",
    ]
    return "\n".join(lines)


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return f"hrm {installed('hrm')} (torch {installed('torch')}, hydra-core {installed('hydra-core')}, Python {platform.python_version()})"


def info_text(config_dir: str | None, config_name: str) -> str:
    defaults = default_choices(config_dir, config_name)
    lines = [version_text(), "", "config search path (first found wins):"]
    lines += [f"  {folder}" for folder in config_search_path(config_dir)]
    lines += ["", f"primary config: {config_name}", "defaults list: " + (", ".join(f"{k}={v}" for k, v in defaults.items()) or "(none)"),
              "", "config groups:"]
    lines += [f"  {group}: {', '.join(options)}" for group, options in config_groups(config_dir).items()]
    lines += ["", "run directory: checkpoint_path (default checkpoints/<project>/<run>); docs/run-directory.md"]
    return "\n".join(lines)
