"""The launch options as the user typed them: the one state behind every view of them.

The side pane, the ctrl+o dialog, the command panel and the strip all show this one value, and a change
made in any of them replaces it (see screens/launch.py). It keeps the text of each field, not only the
parsed `LaunchOptions`, so that a field that reads `abc` reads `abc` everywhere, and the command panel says
the command cannot be built instead of quietly showing the last valid number.

The target is `local` (this machine; the layout fields below) or `slurm` (submitted with the SLURM fields,
a `ClusterProfileDraft`; the local layout fields are then not used, and keep their text for a switch back).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from hrm_tui.forms.cluster_profile_draft import ClusterProfileDraft
from hrm_tui.launch_plan import LaunchOptions

LOCAL, SLURM = "local", "slurm"
TARGETS = {LOCAL: "this machine", SLURM: "SLURM (sbatch)"}  # target -> its label in the chooser

# The label each option has in the panels; problems are reported under these names.
OPTION_LABELS = {
    "nproc_per_node": "Processes/node",
    "gpus": "GPUs",
    "omp_num_threads": "OMP threads",
    "compile": "torch.compile",
    "nnodes": "Nodes",
    "rdzv_endpoint": "Rendezvous",
    "target": "Run on",
    "sweep": "Sweep",
}
# The help line for each option (docs/tui.md, "Launch options", says the same at more length).
OPTION_HELP = {
    "nproc_per_node": "Processes/node: 1 runs python -m hrm_core.pretrain; more run torchrun --nproc-per-node N",
    "gpus": "GPUs: the ticked ones become CUDA_VISIBLE_DEVICES (space ticks); none ticked leaves it as it is",
    "omp_num_threads": "OMP threads: OMP_NUM_THREADS for the run; empty leaves it as it is (torchrun then sets 1)",
    "compile": "torch.compile: off sets DISABLE_COMPILE=1 (enter or space toggles)",
    "nnodes": "Nodes: more than 1 runs a multi-node torchrun (c10d rendezvous); every node runs the command shown",
    "rdzv_endpoint": "Rendezvous: HOST:PORT on one of the nodes (a free port), where every node meets",
    "sweep": "Sweep: Hydra sweep overrides, e.g. lr=1e-3,2e-3 seed=range(3); each combination is one run, one after another",
    "target": "Run on: this machine, or a SLURM cluster (sbatch; the job's fields follow, and the script shows below)",
}
LOCAL_LAYOUT = ("nproc_per_node", "gpus", "nnodes", "rdzv_endpoint")  # not used with SLURM
TEXT_OPTIONS = ("nproc_per_node", "omp_num_threads", "nnodes", "rdzv_endpoint", "sweep")
_WHOLE_NUMBERS = ("nproc_per_node", "omp_num_threads", "nnodes")


@dataclass(frozen=True)
class LaunchOptionsDraft:
    nproc_per_node: str = "1"
    omp_num_threads: str = ""  # empty: leave OMP_NUM_THREADS as it is
    nnodes: str = "1"
    rdzv_endpoint: str = ""
    sweep: str = ""  # sweep overrides as typed (`lr=1e-3,2e-3 seed=range(3)`); empty: one run
    gpus: tuple[int, ...] | None = None  # None: leave CUDA_VISIBLE_DEVICES as it is
    compile: bool = True
    target: str = LOCAL
    slurm: ClusterProfileDraft = ClusterProfileDraft()

    @classmethod
    def of(cls, options: LaunchOptions) -> LaunchOptionsDraft:
        target = SLURM if options.slurm is not None else LOCAL
        slurm = ClusterProfileDraft.of(options.slurm) if options.slurm is not None else ClusterProfileDraft()
        return cls(
            target=target,
            slurm=slurm,
            nproc_per_node=str(options.nproc_per_node),
            omp_num_threads="" if options.omp_num_threads is None else str(options.omp_num_threads),
            nnodes=str(options.nnodes),
            rdzv_endpoint=options.rdzv_endpoint,
            gpus=options.gpus,
            compile=options.compile,
        )

    def with_text(self, name: str, text: str) -> LaunchOptionsDraft:
        """`name` is an option's, or `slurm.<field>` for the SLURM target's fields."""
        if name.startswith("slurm."):
            return dataclasses.replace(self, slurm=self.slurm.with_text(name.removeprefix("slurm."), text))
        if name not in TEXT_OPTIONS:
            raise KeyError(name)
        return dataclasses.replace(self, **{name: text})

    def text(self, name: str) -> str:
        """The text of a field: an option's, or `slurm.<field>`."""
        if name.startswith("slurm."):
            return getattr(self.slurm, name.removeprefix("slurm."))
        return getattr(self, name)

    @property
    def on_slurm(self) -> bool:
        return self.target == SLURM

    def parse(self) -> tuple[LaunchOptions | None, dict[str, str]]:
        """(options, problems): the options when every field reads as its type, and what is wrong, per option
        name (a field that does not parse, or a combination LaunchOptions refuses)."""
        problems: dict[str, str] = {}
        numbers: dict[str, int | None] = {}
        if self.on_slurm:
            return self._parse_slurm()
        for name in _WHOLE_NUMBERS:
            text = getattr(self, name).strip()
            if name == "omp_num_threads" and not text:
                numbers[name] = None
                continue
            try:
                numbers[name] = int(text)
            except ValueError:
                problems[name] = f"{OPTION_LABELS[name]}: {text!r} is not a whole number"
        if problems:
            return None, problems
        options = LaunchOptions(
            nproc_per_node=numbers["nproc_per_node"] or 0,
            gpus=self.gpus,
            omp_num_threads=numbers["omp_num_threads"],
            compile=self.compile,
            nnodes=numbers["nnodes"] or 0,
            rdzv_endpoint=self.rdzv_endpoint.strip(),
        )
        problems = options.problems()
        return (None, problems) if problems else (options, {})

    def _parse_slurm(self) -> tuple[LaunchOptions | None, dict[str, str]]:
        """The SLURM target: the profile's fields, and the options that are environment variables (OMP
        threads, compile); problems of the profile under `slurm.<field>`."""
        profile, profile_problems = self.slurm.parse()
        problems = {f"slurm.{key}": message for key, message in profile_problems.items()}
        omp_text = self.omp_num_threads.strip()
        omp = None
        if omp_text:
            try:
                omp = int(omp_text)
            except ValueError:
                problems["omp_num_threads"] = f"{OPTION_LABELS['omp_num_threads']}: {omp_text!r} is not a whole number"
        if problems or profile is None:
            return None, problems
        options = LaunchOptions(omp_num_threads=omp, compile=self.compile, slurm=profile)
        problems = options.problems()
        return (None, problems) if problems else (options, {})

    def summary(self) -> str:
        """The options that differ from the defaults, in a few words ("" when none do)."""
        default = LaunchOptionsDraft()
        if self.on_slurm:
            parts = [self.slurm.summary()]
            if self.omp_num_threads.strip():
                parts.append(f"OMP threads {self.omp_num_threads}")
            if not self.compile:
                parts.append("compile off")
            return " · ".join(parts)
        parts = []
        if self.nnodes.strip() != default.nnodes:
            parts.append(f"{self.nnodes} nodes (rendezvous {self.rdzv_endpoint or '?'})")
        if self.nproc_per_node.strip() != default.nproc_per_node:
            parts.append(f"{self.nproc_per_node} processes/node")
        if self.gpus is not None:
            parts.append(f"GPUs {','.join(str(g) for g in self.gpus)}")
        if self.omp_num_threads.strip():
            parts.append(f"OMP threads {self.omp_num_threads}")
        if not self.compile:
            parts.append("compile off")
        if self.sweep.strip():
            parts.append(f"sweep {self.sweep.strip()}")
        return " · ".join(parts)

    def sweep_overrides(self) -> tuple[list[str], str | None]:
        """(the sweep field's overrides, None) or ([], what is wrong): words split as a shell splits them, so
        a quoted value may hold spaces."""
        import shlex

        try:
            return shlex.split(self.sweep), None
        except ValueError as error:
            return [], f"{OPTION_LABELS['sweep']}: {error} in {self.sweep.strip()!r}"


# --- what an option left as it is comes to --------------------------------------------------------------


def omp_threads_shown(draft: LaunchOptionsDraft, environ: Mapping[str, str]) -> str:
    """What the run gets when the OMP threads field is empty, and from where: a launched run inherits the
    environment, and torchrun sets 1 where it is unset."""
    inherited = environ.get("OMP_NUM_THREADS", "").strip()
    if inherited:
        return f"{inherited} (from the environment)"
    if draft.nproc_per_node.strip() not in ("", "1"):
        return "1 (set by torchrun)"
    return "unset (one thread per core)"


def compile_shown(draft: LaunchOptionsDraft, environ: Mapping[str, str], cuda: bool | None) -> str:
    """What `compile=auto` (the config's default) comes to with this switch, environment and machine
    (hrm_core.training.model_setup.should_compile); `cuda` None while the GPUs are still being looked for."""
    if not draft.compile:
        return "off (sets DISABLE_COMPILE=1)"
    if "DISABLE_COMPILE" in environ:
        return "auto → off: DISABLE_COMPILE is set in the environment"
    if cuda is None:
        return "auto → on with CUDA, off without"
    return "auto → on: CUDA" if cuda else "auto → off: no CUDA"
