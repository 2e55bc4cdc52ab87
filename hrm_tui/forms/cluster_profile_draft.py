"""The SLURM target's fields as the user typed them: a `ClusterProfileDraft`, part of the launch options draft
(forms/launch_options_draft.py), parsed into a `ClusterProfile` (hrm_tui/cluster/profile.py) whose own
`problems()` is the validation the form shows.

Like the rest of the launch options draft, it keeps each field's text, so a field reading `two` reads `two`
in every panel and the command preview says why no script can be built. The two line lists (extra `#SBATCH`
lines, set-up lines) are one text each, a line per entry.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hrm_tui.cluster.profile import ClusterProfile

# field -> the label it has in the panels; problems are reported under these names
PROFILE_LABELS = {
    "name": "Profile name",
    "nodes": "Nodes",
    "gpus_per_node": "GPUs/node",
    "nproc_per_node": "Processes/node",
    "cpus_per_node": "CPUs/node",
    "mem_per_node": "Memory/node",
    "partition": "Partition",
    "account": "Account",
    "qos": "QoS",
    "time_limit": "Time limit",
    "job_name": "Job name",
    "sbatch_lines": "#SBATCH lines",
    "setup_lines": "Set-up lines",
    "requeue_warning_s": "Requeue warning (s)",
}
PROFILE_HELP = {
    "nodes": "Nodes: how many nodes the job asks for (one srun task per node)",
    "gpus_per_node": "GPUs/node: 0 for CPU nodes (no GPU request; the trainer uses gloo)",
    "nproc_per_node": "Processes/node: trainer processes on each node (one per GPU on GPU nodes)",
    "cpus_per_node": "CPUs/node: sbatch --cpus-per-task; empty leaves it to the cluster",
    "mem_per_node": "Memory/node: sbatch --mem, e.g. 64G; empty leaves it to the cluster",
    "partition": "Partition: sbatch --partition; empty: the cluster's default",
    "account": "Account: sbatch --account; empty: your default",
    "qos": "QoS: sbatch --qos; empty: the default",
    "time_limit": "Time limit: sbatch --time, e.g. 1-00:00:00 or 30 (minutes); the job requeues itself before it",
    "job_name": "Job name: empty names the job after the run",
    "sbatch_lines": "#SBATCH lines: extra sbatch options, one per line (e.g. --constraint=a100)",
    "setup_lines": "Set-up lines: shell lines run before the trainer, one per line (module load ..., source venv)",
    "requeue_warning_s": "Requeue warning: SIGTERM this many seconds before the time limit (checkpoint, requeue); 0: none",
    "name": "Profile name: the name `save as profile` stores these fields under (clusters.toml)",
}
_WHOLE_NUMBERS = ("nodes", "gpus_per_node", "nproc_per_node", "cpus_per_node", "requeue_warning_s")
_OPTIONAL_NUMBERS = ("cpus_per_node",)  # empty: None, the cluster's default
_LINE_LISTS = ("sbatch_lines", "setup_lines")


@dataclass(frozen=True)
class ClusterProfileDraft:
    """ClusterProfile's fields as text (the defaults are ClusterProfile's)."""

    name: str = ""
    nodes: str = "1"
    gpus_per_node: str = "0"
    nproc_per_node: str = "1"
    cpus_per_node: str = ""
    mem_per_node: str = ""
    partition: str = ""
    account: str = ""
    qos: str = ""
    time_limit: str = ""
    job_name: str = ""
    sbatch_lines: str = ""  # one line per entry
    setup_lines: str = ""
    requeue_warning_s: str = str(ClusterProfile.requeue_warning_s)

    @classmethod
    def of(cls, profile: ClusterProfile) -> ClusterProfileDraft:
        values = {}
        for f in dataclasses.fields(ClusterProfile):
            value = getattr(profile, f.name)
            if f.name in _LINE_LISTS:
                values[f.name] = "\n".join(value)
            else:
                values[f.name] = "" if value is None else str(value)
        return cls(**values)

    def with_text(self, name: str, text: str) -> ClusterProfileDraft:
        if name not in PROFILE_LABELS:
            raise KeyError(name)
        return dataclasses.replace(self, **{name: text})

    def parse(self) -> tuple[ClusterProfile | None, dict[str, str]]:
        """(profile, problems): the profile when every field reads as its type and ClusterProfile.problems()
        has nothing against it, else the problems by field, each naming its label."""
        problems: dict[str, str] = {}
        values: dict[str, object] = {}
        for f in dataclasses.fields(ClusterProfile):
            text = getattr(self, f.name)
            if f.name in _WHOLE_NUMBERS:
                stripped = text.strip()
                if not stripped and f.name in _OPTIONAL_NUMBERS:
                    values[f.name] = None
                    continue
                try:
                    values[f.name] = int(stripped)
                except ValueError:
                    problems[f.name] = f"{PROFILE_LABELS[f.name]}: {text!r} is not a whole number"
            elif f.name in _LINE_LISTS:
                values[f.name] = tuple(line.strip() for line in text.splitlines() if line.strip())
            else:
                values[f.name] = text.strip()
        if problems:
            return None, problems
        profile = ClusterProfile(**values)  # type: ignore[arg-type]
        problems = {key: f"{PROFILE_LABELS.get(key, key)}: {message}" for key, message in profile.problems().items()}
        return (None, problems) if problems else (profile, {})

    def summary(self) -> str:
        """The job's shape in a few words: "SLURM 2 nodes × 1 process, partition debug, 0:10:00"."""
        processes = self.nproc_per_node.strip() or "?"
        parts = [f"SLURM {self.nodes.strip() or '?'} node(s) × {processes} process(es)"]
        if self.gpus_per_node.strip() not in ("", "0"):
            parts.append(f"{self.gpus_per_node.strip()} GPU(s)/node")
        for name in ("partition", "account", "qos", "time_limit"):
            value = getattr(self, name).strip()
            if value:
                parts.append(f"{PROFILE_LABELS[name].lower()} {value}")
        if self.name.strip():
            parts.append(f"profile {self.name.strip()}")
        return ", ".join(parts)
