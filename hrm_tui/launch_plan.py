"""What a launch is, decided before anything starts: the launch options, the plan (argv, environment, run
directory) and how the trainer's command line is built from the overrides. No process is started here
(runs/launcher.py starts a plan).

It sits below both the launch form (forms/: the command preview builds a plan to show it) and the runs
package (runs/: the launcher starts a plan, resume rebuilds one), so neither imports the other for these
types. It uses only the override grammar (forms/overrides.py, a leaf module).

    python -m hrm_core.pretrain [--config-dir DIR] OVERRIDES...                 one process
    torchrun --standalone --nproc-per-node N -m hrm_core.pretrain OVERRIDES... several, one node
    torchrun --nnodes M --nproc-per-node N --rdzv-backend c10d --rdzv-endpoint HOST:PORT
             --rdzv-id RUN -m hrm_core.pretrain OVERRIDES...                    several nodes

Several nodes meet through a c10d rendezvous: every node runs the same command, the node at the endpoint's
address serves the rendezvous, and c10d hands out the node ranks, so no node needs to be told its rank. `--rdzv-id` is the run's name, so two runs that share an endpoint never join each other.

With a SLURM target (`LaunchOptions.slurm`, a cluster profile) the plan is submitted instead of started:
its overrides, environment, folder and run directory become a batch script (hrm_tui/cluster/batch_script.py),
and the profile, not the local fields (processes, nodes, rendezvous, GPUs), says how many processes run where.

The command is an argv list and is never given to a shell. The run is named by the plan itself
(`project_name`, `run_name`, `checkpoint_path` overrides), so its directory is known before it starts.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from hrm_core.rundir.processes import TRAINER_MODULE
from hrm_core.rundir.sweeps import SweepMember
from hrm_core.checking import Minimum, record_spec
from hrm_tui.cluster.profile import ClusterProfile
from hrm_tui.forms.overrides import format_override, single_line, split_override

NAME_KEYS = ("project_name", "run_name", "checkpoint_path")
CONFIG_DIR_FLAG = "--config-dir"  # the trainer's flag (also `-cd`), as Hydra's


class LaunchError(Exception):
    """A launch that cannot go ahead, with a message for the user."""


@dataclass
class LaunchOptions:
    """How to run the trainer, as opposed to what to train (the overrides)."""

    nproc_per_node: int = 1
    gpus: tuple[int, ...] | None = None  # CUDA_VISIBLE_DEVICES; None leaves the environment's value alone
    omp_num_threads: int | None = None  # OMP_NUM_THREADS; None leaves it alone (torchrun then sets 1)
    compile: bool = True  # False sets DISABLE_COMPILE=1, which the trainer honours like the original
    nnodes: int = 1
    rdzv_endpoint: str = ""  # HOST:PORT where the c10d rendezvous is served (one of the nodes); required with nnodes > 1
    slurm: ClusterProfile | None = None  # the SLURM target: submit with this profile; None: run here

    def problems(self) -> dict[str, str]:
        """Field name -> what is wrong with it (`slurm.<field>` for the profile's). Empty when usable."""
        out: dict[str, str] = {}
        if self.slurm is not None:  # the local layout fields are not used: the profile says where it runs
            out.update({f"slurm.{key}": message for key, message in self.slurm.problems().items()})
            if self.omp_num_threads is not None and self.omp_num_threads < 1:
                out["omp_num_threads"] = "OMP_NUM_THREADS must be at least 1 (or empty to leave it unset)"
            return out
        if self.nproc_per_node < 1:
            out["nproc_per_node"] = "processes per node must be at least 1"
        if self.omp_num_threads is not None and self.omp_num_threads < 1:
            out["omp_num_threads"] = "OMP_NUM_THREADS must be at least 1 (or empty to leave it unset)"
        if self.nnodes < 1:
            out["nnodes"] = "the number of nodes must be at least 1"
        if self.nnodes > 1:
            host, sep, port = self.rdzv_endpoint.rpartition(":")
            if not sep or not host or not port.isdigit():
                out["rdzv_endpoint"] = "multi-node needs the rendezvous endpoint as HOST:PORT (a port free on one of the nodes)"
        if self.gpus is not None and self.nproc_per_node > len(self.gpus) > 0:
            out["gpus"] = f"{self.nproc_per_node} processes per node but only {len(self.gpus)} GPU(s) chosen"
        return out

    @property
    def uses_torchrun(self) -> bool:
        return self.nproc_per_node > 1 or self.nnodes > 1

    @property
    def processes(self) -> int:
        """Trainer processes in all (the world size the config is checked against)."""
        if self.slurm is not None:
            return max(self.slurm.processes, 1)
        return max(self.nnodes, 1) * max(self.nproc_per_node, 1)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["gpus"] = list(self.gpus) if self.gpus is not None else None
        data["slurm"] = self.slurm.to_json() if self.slurm is not None else None
        return data

    @classmethod
    def from_json(cls, data: Any) -> LaunchOptions:
        """The options as `launch.json` records them (`to_json`). The file comes from a run directory, so each
        field is checked (`_RecordedOptions`): one that does not fit raises ValueError naming every such field,
        instead of surfacing later as a crash."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError(f"options is a {type(data).__name__}, not an object")
        data = dict(data)
        slurm_data = data.pop("slurm", None)
        record, problems = record_spec(_RecordedOptions).build_lenient(data)
        slurm = None
        if slurm_data is not None:
            try:
                slurm = ClusterProfile.from_json(slurm_data)
            except ValueError as error:
                problems = [*problems, f"slurm: {error}"]
        if problems or record is None:
            raise ValueError(f"options: {'; '.join(problems) or 'unusable'}")
        values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        values["gpus"] = tuple(values["gpus"]) if values["gpus"] is not None else None
        return cls(**values, slurm=slurm)


@dataclass(kw_only=True, slots=True)
class _RecordedOptions:
    """launch.json's `options` as the checker reads them (hrm_core.checking): LaunchOptions' fields, each
    with its type and bounds. The one check of recorded options (clone and resume both use `from_json`)."""

    nproc_per_node: Annotated[int, Minimum(1)] = 1
    gpus: list[Annotated[int, Minimum(0)]] | None = None
    omp_num_threads: Annotated[int, Minimum(1)] | None = None
    compile: bool = True
    nnodes: Annotated[int, Minimum(1)] = 1
    rdzv_endpoint: str = ""  # (a launch.json from before c10d also holds node_rank, which is ignored)


@dataclass
class LaunchPlan:
    """Everything about a launch, decided before anything starts."""

    argv: list[str]
    env: dict[str, str]  # only the variables the launcher sets; the rest of the environment is inherited
    run_dir: Path
    overrides: list[str]  # every override passed to the trainer, the run's names included
    options: LaunchOptions
    cwd: Path
    other_nodes: list[tuple[int, list[str]]] = field(default_factory=list)  # (node number, argv) for nodes 1..M-1
    config_dir: Path | None = None  # the extra Hydra config folder passed as --config-dir, if any

    def command_line(self, argv: Sequence[str] | None = None) -> str:
        """The command as one line for a POSIX shell, environment assignments first."""
        env = [f"{k}={v}" for k, v in self.env.items()]
        return single_line([*env, *display_argv(self.argv if argv is None else argv)])


def trainer_argv(
    overrides: Sequence[str],
    options: LaunchOptions,
    *,
    config_dir: str | os.PathLike[str] | None = None,
    rdzv_id: str | None = None,
) -> list[str]:
    """The argv that starts the trainer with these overrides and options (never a shell string). `rdzv_id`:
    the multi-node rendezvous' name (the run's name; every node passes the same)."""
    trainer_args = ([CONFIG_DIR_FLAG, str(config_dir)] if config_dir is not None else []) + list(overrides)
    if not options.uses_torchrun:
        return [sys.executable, "-m", TRAINER_MODULE, *trainer_args]
    argv = torchrun_prefix()
    if options.nnodes > 1:
        argv += [
            "--nnodes", str(options.nnodes),
            "--nproc-per-node", str(options.nproc_per_node),
            "--rdzv-backend", "c10d",
            "--rdzv-endpoint", options.rdzv_endpoint,
            "--rdzv-id", rdzv_id or "hrm",
        ]  # fmt: skip
    else:
        argv += ["--standalone", "--nproc-per-node", str(options.nproc_per_node)]
    return argv + ["-m", TRAINER_MODULE, *trainer_args]


def torchrun_prefix() -> list[str]:
    """`torchrun` from this interpreter's environment, so the trainer runs with the same packages."""
    beside = Path(sys.executable).with_name("torchrun")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    return [sys.executable, "-m", "torch.distributed.run"]


def launch_env(options: LaunchOptions) -> dict[str, str]:
    """The environment variables this launch sets (shown in the command panel; the rest is inherited)."""
    env = {"PYTHONUNBUFFERED": "1"}  # so stdout.log fills as the run goes, not in 8 KB blocks
    if options.gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in options.gpus)
    if options.omp_num_threads is not None:
        env["OMP_NUM_THREADS"] = str(options.omp_num_threads)
    if not options.compile:
        env["DISABLE_COMPILE"] = "1"
    return env


def display_argv(argv: Sequence[str]) -> list[str]:
    """argv with this interpreter and its torchrun written as `python` / `torchrun` when PATH finds those same
    files, so the panel shows what a user would type; otherwise the full paths."""
    shown = list(argv)
    for short in ("python", "python3", "torchrun"):
        found = shutil.which(short)
        if shown and found and _same_file(found, shown[0]):
            shown[0] = short
            break
    return shown


def with_run_names(overrides: Sequence[str], names: tuple[str, str, str], present: set[str]) -> list[str]:
    """`overrides` plus explicit project_name/run_name/checkpoint_path overrides for those not set already.

    `present` holds the keys the composed config has (the others need Hydra's `+key=`).
    """
    already = {split_override(o)[1] for o in overrides}
    out = list(overrides)
    for key, value in zip(NAME_KEYS, names):
        if key not in already:
            out.append(format_override(key, value, add=key not in present))
    return out


def plan_launch(
    overrides: Sequence[str],
    options: LaunchOptions,
    *,
    names: tuple[str, str, str],
    present: set[str],
    cwd: str | os.PathLike[str] | None = None,
    config_dir: str | os.PathLike[str] | None = None,
    sweep: SweepMember | None = None,
) -> LaunchPlan:
    """Decides argv, environment and run directory. `names` = (project_name, run_name, checkpoint_path);
    `config_dir`: the extra Hydra config folder the overrides were checked against (passed on to the trainer);
    `sweep`: the sweep this run is one of (its variables join the environment, so the run records it)."""
    problems = options.problems()
    if problems:
        raise LaunchError("; ".join(problems.values()))
    cwd = Path(cwd or os.getcwd())
    full = with_run_names(overrides, names, present)
    run_dir = Path(names[2])
    run_dir = run_dir if run_dir.is_absolute() else cwd / run_dir
    config_path = resolve_path(config_dir, cwd)
    argv = trainer_argv(full, options, config_dir=config_path, rdzv_id=rendezvous_id(names))
    # c10d gives every node the same command; the panel still lists one per node, so each is there to copy.
    other_nodes = [(node, list(argv)) for node in range(1, options.nnodes)]
    return LaunchPlan(
        argv=argv,
        env={**launch_env(options), **(sweep.env() if sweep is not None else {})},
        run_dir=run_dir,
        overrides=full,
        options=options,
        cwd=cwd,
        other_nodes=other_nodes,
        config_dir=config_path,
    )


def rendezvous_id(names: tuple[str, str, str]) -> str:
    """The c10d rendezvous id of a run: its project and run name, in the characters torchrun takes."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{names[0]}.{names[1]}")


def resolve_path(path: str | os.PathLike[str] | None, base: Path) -> Path | None:
    """`path` with `~` expanded, relative to `base` unless absolute; None stays None."""
    if path is None:
        return None
    path = Path(path).expanduser()
    return path if path.is_absolute() else base / path


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
