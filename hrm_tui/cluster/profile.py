"""Cluster profiles: what a SLURM job asks for (nodes, GPUs, partition, time, ...), saved under a name in the
user's config folder and reused (docs/clusters.md, "Profiles").

    $XDG_CONFIG_HOME/hrm/clusters.toml   (default ~/.config/hrm/clusters.toml)

    [profiles.a100]
    nodes = 2
    gpus_per_node = 8
    nproc_per_node = 8
    partition = "gpu"
    time_limit = "1-00:00:00"
    setup_lines = ["module load cuda/12.4", "source ~/venvs/hrm/bin/activate"]

Every key is optional (the defaults are ClusterProfile's). The file is read with `tomllib` and written with
`tomli_w` (a small, pure-Python package; TOML's string escapes are easy to get subtly wrong by hand). A
damaged file gives one `ProfileError` naming the file, the profile and the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from hrm_core.checking import Minimum, record_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with tomli, tomllib's origin
    import tomli as tomllib

PROFILES_TABLE = "profiles"
# A profile's name is a TOML key and a word on the command line (`--slurm NAME`): keep it plain.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# `#SBATCH` lines are read by sbatch, not by a shell, so their values are not quoted: they must be one word.
_ONE_WORD = re.compile(r"^[^\s'\"\\#]+$")
_MEMORY = re.compile(r"^\d+[KMGT]?$")
ONE_WORD_FIELDS = ("partition", "account", "qos", "time_limit", "job_name")


class ProfileError(Exception):
    """A profile file or a profile that cannot be used, with a message for the user."""


@dataclass(frozen=True)
class ClusterProfile:
    """What a SLURM job asks for. Empty strings and None leave a setting to the cluster's defaults."""

    name: str = ""
    nodes: int = 1
    gpus_per_node: int = 0  # 0: CPU nodes, no GPU request, the trainer uses gloo
    nproc_per_node: int = 1  # trainer processes per node (one per GPU on GPU nodes)
    cpus_per_node: int | None = None  # sbatch --cpus-per-task (one task per node)
    mem_per_node: str = ""  # sbatch --mem, e.g. 64G
    partition: str = ""
    account: str = ""
    qos: str = ""
    time_limit: str = ""  # sbatch --time, e.g. 1-00:00:00 or 30 (minutes)
    job_name: str = ""  # default: the run's name
    sbatch_lines: tuple[str, ...] = ()  # extra `#SBATCH` lines, e.g. "--constraint=a100" or "--begin=now+1hour"
    setup_lines: tuple[str, ...] = ()  # shell lines run before the trainer (`module load ...`, activating a venv)
    requeue_warning_s: int = 120  # SIGTERM this long before the time limit (checkpoint, then requeue); 0: none

    def problems(self) -> dict[str, str]:
        """Field name -> what is wrong with it (what the form shows under the field). Empty when usable.

        What only the cluster knows (a partition's name, the node count it has, the time syntax it takes) is
        left to sbatch, whose own error is reported naming the field (submit.py)."""
        out: dict[str, str] = {}
        if self.name and not _NAME.match(self.name):
            out["name"] = "a profile name is letters, digits, '_', '.' or '-' (at most 64), starting with a letter or digit"
        if self.nodes < 1:
            out["nodes"] = "the number of nodes must be at least 1"
        if self.gpus_per_node < 0:
            out["gpus_per_node"] = "GPUs per node must be 0 (CPU nodes) or more"
        if self.nproc_per_node < 1:
            out["nproc_per_node"] = "processes per node must be at least 1"
        elif self.gpus_per_node > 0 and self.nproc_per_node > self.gpus_per_node:
            out["nproc_per_node"] = (f"{self.nproc_per_node} processes per node but {self.gpus_per_node} GPU(s) "
                                     "per node: one process per GPU at most")
        if self.cpus_per_node is not None and self.cpus_per_node < 1:
            out["cpus_per_node"] = "CPUs per node must be at least 1 (or empty for the cluster's default)"
        if self.mem_per_node and not _MEMORY.match(self.mem_per_node):
            out["mem_per_node"] = "memory per node is a number with an optional unit K, M, G or T, e.g. 64G"
        for name in ONE_WORD_FIELDS:
            value = getattr(self, name)
            if value and not _ONE_WORD.match(value):
                out[name] = f"{name.replace('_', ' ')} must be one word, without spaces, quotes, '\\' or '#'"
        for name in ("sbatch_lines", "setup_lines"):
            for line in getattr(self, name):
                if "\n" in line or "\r" in line or "\0" in line:
                    out[name] = "each line must be a single line (no line breaks)"
                    break
        bad = [line for line in self.sbatch_lines if not sbatch_option(line).startswith("-")]
        if bad and "sbatch_lines" not in out:
            out["sbatch_lines"] = f"an #SBATCH line is an sbatch option such as --constraint=a100, not {bad[0]!r}"
        if self.requeue_warning_s < 0:
            out["requeue_warning_s"] = "the warning before the time limit must be 0 (none) or more seconds"
        return out

    @property
    def processes(self) -> int:
        """Trainer processes in all."""
        return self.nodes * self.nproc_per_node

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["sbatch_lines"] = list(self.sbatch_lines)
        data["setup_lines"] = list(self.setup_lines)
        return data

    @classmethod
    def from_json(cls, data: Any) -> ClusterProfile:
        """A profile from `to_json`'s form (slurm.json, the profile file). Each field is checked
        (`_RecordedProfile`); an unknown key or a field that does not fit raises ValueError naming every such
        key, instead of surfacing later as a crash."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a profile is a table of keys, not a {type(data).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        problems = []
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
                problems.append(f"{key}: unknown key" + (f" (did you mean {close[0]}?)" if close else ""))
        record, rejected = record_spec(_RecordedProfile).build_lenient(dict(data))
        problems += rejected
        if problems or record is None:
            raise ValueError("; ".join(problems) or "unusable")
        values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        values["sbatch_lines"] = tuple(values["sbatch_lines"])
        values["setup_lines"] = tuple(values["setup_lines"])
        return cls(**values)


@dataclass(kw_only=True, slots=True)
class _RecordedProfile:
    """A profile as the checker reads it (hrm_core.checking): ClusterProfile's fields with types and bounds.
    The one check of a profile from a file (clusters.toml and slurm.json both use `from_json`)."""

    name: str = ""
    nodes: Annotated[int, Minimum(1)] = 1
    gpus_per_node: Annotated[int, Minimum(0)] = 0
    nproc_per_node: Annotated[int, Minimum(1)] = 1
    cpus_per_node: Annotated[int, Minimum(1)] | None = None
    mem_per_node: str = ""
    partition: str = ""
    account: str = ""
    qos: str = ""
    time_limit: str = ""
    job_name: str = ""
    sbatch_lines: list[str] = dataclasses.field(default_factory=list)
    setup_lines: list[str] = dataclasses.field(default_factory=list)
    requeue_warning_s: Annotated[int, Minimum(0)] = 120


def sbatch_option(line: str) -> str:
    """An extra `#SBATCH` line as the user may type it (`--begin=now+1hour` or `#SBATCH --begin=now+1hour`),
    without the `#SBATCH` prefix."""
    line = line.strip()
    if line.upper().startswith("#SBATCH"):
        line = line[len("#SBATCH"):].strip()
    return line


# --- the profile file -------------------------------------------------------------------------------------


def profiles_file() -> Path:
    """`$XDG_CONFIG_HOME/hrm/clusters.toml` (default `~/.config/hrm/clusters.toml`)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hrm" / "clusters.toml"


def load_profiles(path: str | os.PathLike[str] | None = None) -> dict[str, ClusterProfile]:
    """Every profile in the file, by name (empty when there is no file). ProfileError names the file and the
    key of anything that does not fit."""
    path = Path(path) if path is not None else profiles_file()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(f"cannot read the cluster profiles {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"{path} is not valid TOML: {error}; fix or remove it") from None
    unknown = [key for key in data if key != PROFILES_TABLE]
    if unknown:
        raise ProfileError(f"{path}: unknown table or key {unknown[0]!r}; profiles go under [{PROFILES_TABLE}.NAME]")
    table = data.get(PROFILES_TABLE, {})
    if not isinstance(table, dict):
        raise ProfileError(f"{path}: `{PROFILES_TABLE}` must be a table of profiles ([{PROFILES_TABLE}.NAME])")
    profiles = {}
    for name, content in table.items():
        where = f"{path}: [{PROFILES_TABLE}.{name}]"
        if not isinstance(content, dict):
            raise ProfileError(f"{where} must be a table of keys")
        if "name" in content:
            raise ProfileError(f"{where}: name: the profile's name is its table's name; remove the key")
        try:
            profile = ClusterProfile.from_json({**content, "name": name})
        except ValueError as error:
            raise ProfileError(f"{where}: {error}") from None
        problems = profile.problems()
        if problems:
            key, message = next(iter(problems.items()))
            raise ProfileError(f"{where}: {key}: {message}")
        profiles[name] = profile
    return profiles


def load_profile(name: str, path: str | os.PathLike[str] | None = None) -> ClusterProfile:
    """The profile called `name`; ProfileError listing the saved ones when there is none."""
    profiles = load_profiles(path)
    if name not in profiles:
        where = Path(path) if path is not None else profiles_file()
        saved = ", ".join(sorted(profiles)) or "none"
        raise ProfileError(f"no cluster profile {name!r} in {where} (saved: {saved}); "
                           "save one with hrm-tui launch --slurm ... --save-profile NAME")
    return profiles[name]


def save_profile(profile: ClusterProfile, path: str | os.PathLike[str] | None = None) -> Path:
    """Adds or replaces the profile under its name in the file; returns the file. The other profiles are kept
    as they are (a damaged file is not overwritten: its ProfileError is raised)."""
    import tomli_w

    if not profile.name:
        raise ProfileError("a profile needs a name to be saved")
    problems = profile.problems()
    if problems:
        key, message = next(iter(problems.items()))
        raise ProfileError(f"profile {profile.name!r} not saved: {key}: {message}")
    path = Path(path) if path is not None else profiles_file()
    profiles = load_profiles(path)
    profiles[profile.name] = profile
    table = {name: _toml_table(p) for name, p in sorted(profiles.items())}
    text = tomli_w.dumps({PROFILES_TABLE: table})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a file
    return path


def _toml_table(profile: ClusterProfile) -> dict[str, Any]:
    """The profile's keys for the file: those that differ from the defaults (TOML has no null, and a short
    file is easier to edit by hand)."""
    default = ClusterProfile().to_json()
    return {key: value for key, value in profile.to_json().items()
            if key != "name" and value is not None and value != default[key]}
