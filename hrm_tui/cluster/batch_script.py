"""The SLURM batch script of a launch: a `LaunchPlan` (what to train, where the run directory is) and a
`ClusterProfile` (what to ask the cluster for) make one bash script (docs/clusters.md shows one).

    #SBATCH lines      nodes, one task per node, CPUs/memory/GPUs per node, partition, account, QoS, time,
                       job name, stdout/stderr appended to the run directory's logs, --requeue, and
                       --signal=TERM@<requeue_warning_s> (the trainer checkpoints on it and the job requeues)
    cd <cwd>           where the launch was planned, so relative paths mean the same
    setup lines        the profile's (module load ..., activating an environment)
    srun ...           one task per node: torchrun with a c10d rendezvous on the first node's address when
                       there is more than one process, else the trainer itself; `resume=auto`, so a requeued
                       job continues from the newest checkpoint

The trainer always runs as a job step under `srun`, even alone: `scancel --signal=INT` (stop) and the
`--signal` warning reach a job's steps, not its batch shell.

The script is a shell script by nature: every value in it is quoted for the shell (overrides.shell_quote,
shlex's rules). `#SBATCH` lines are read by sbatch, which understands double quotes only: paths there are
double-quoted and `%` doubled (sbatch would expand `%j`), and the profile's other values are one word
(ClusterProfile.problems).
"""

from __future__ import annotations

import sys

from hrm_core.rundir.files import STDERR_FILE, STDOUT_FILE
from hrm_core.rundir.processes import TRAINER_MODULE
from hrm_tui.cluster.profile import ClusterProfile, sbatch_option
from hrm_tui.forms.overrides import shell_quote, split_override
from hrm_tui.launch_plan import CONFIG_DIR_FLAG, LaunchError, LaunchPlan, torchrun_prefix

# The rendezvous port is derived from the job id, so that two jobs sharing a node (or, in the tests, two
# jobs on one host) do not pick the same one: 20000 + id % 20000 stays in the unprivileged, non-ephemeral range.
RDZV_PORT_BASE = 20000
RDZV_PORT_SPAN = 20000
# The variables the launch sets that make no sense on a compute node (SLURM chooses the GPUs).
_NOT_EXPORTED = ("CUDA_VISIBLE_DEVICES",)


def batch_script(plan: LaunchPlan, profile: ClusterProfile) -> str:
    """The whole batch script for this plan on this profile. LaunchError when the profile has a problem or
    the run directory cannot be written in an `#SBATCH` line."""
    problems = profile.problems()
    if problems:
        raise LaunchError("; ".join(f"{key}: {message}" for key, message in problems.items()))
    lines = ["#!/bin/bash", *(f"#SBATCH {option}" for option in sbatch_options(plan, profile)), ""]
    lines.append("# Written by hrm-tui (docs/clusters.md). Submitted with sbatch; a requeued job runs it again.")
    lines.append("set -e")
    lines += [f"export {key}={shell_quote(value)}" for key, value in plan.env.items() if key not in _NOT_EXPORTED]
    lines.append(f"cd {shell_quote(str(plan.cwd))}")
    if profile.setup_lines:
        lines += ["", "# set-up lines of the profile", *profile.setup_lines]
    lines.append("")
    trainer = trainer_args(plan)
    step = ["srun", "--nodes", "\"$SLURM_JOB_NUM_NODES\"", "--ntasks-per-node", "1", "--kill-on-bad-exit=1"]
    if profile.processes == 1:
        command = [sys.executable, "-m", TRAINER_MODULE, *trainer]
        lines.append(" ".join([*step, *(shell_quote(a) for a in command)]))
        return "\n".join(lines) + "\n"
    lines += [
        "# c10d rendezvous on the first node's address (its NodeAddr: a node's name need not resolve)",
        'head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)',
        'head_addr=$(scontrol show node "$head_node" -o | sed -n \'s/.*NodeAddr=\\([^ ]*\\).*/\\1/p\')',
        f"rdzv_port=$(({RDZV_PORT_BASE} + SLURM_JOB_ID % {RDZV_PORT_SPAN}))",
    ]
    torchrun = [*(shell_quote(a) for a in torchrun_prefix()),
                "--nnodes", '"$SLURM_JOB_NUM_NODES"', "--nproc-per-node", str(profile.nproc_per_node),
                "--rdzv-backend", "c10d", "--rdzv-endpoint", '"${head_addr:-$head_node}:$rdzv_port"',
                "--rdzv-id", '"$SLURM_JOB_ID"', "-m", TRAINER_MODULE, *(shell_quote(a) for a in trainer)]
    lines.append(" ".join([*step, *torchrun]))
    return "\n".join(lines) + "\n"


def sbatch_options(plan: LaunchPlan, profile: ClusterProfile) -> list[str]:
    """The `#SBATCH` options, in the order the script shows them."""
    options = [
        f"--job-name={profile.job_name or _job_name(plan)}",
        f"--nodes={profile.nodes}",
        "--ntasks-per-node=1",
    ]
    if profile.cpus_per_node is not None:
        options.append(f"--cpus-per-task={profile.cpus_per_node}")
    if profile.mem_per_node:
        options.append(f"--mem={profile.mem_per_node}")
    if profile.gpus_per_node > 0:
        options.append(f"--gpus-per-node={profile.gpus_per_node}")
    for flag, value in (("--partition", profile.partition), ("--account", profile.account),
                        ("--qos", profile.qos), ("--time", profile.time_limit)):
        if value:
            options.append(f"{flag}={value}")
    options += [
        f"--output={_sbatch_path(plan, STDOUT_FILE)}",
        f"--error={_sbatch_path(plan, STDERR_FILE)}",
        "--open-mode=append",  # a requeued job adds to the same logs
        "--requeue",
    ]
    if profile.requeue_warning_s > 0:
        options.append(f"--signal=TERM@{profile.requeue_warning_s}")
    options += [sbatch_option(line) for line in profile.sbatch_lines]
    return options


def trainer_args(plan: LaunchPlan) -> list[str]:
    """The trainer's arguments: the plan's config folder and overrides, plus `resume=auto` unless the
    overrides already say how to resume."""
    args = [CONFIG_DIR_FLAG, str(plan.config_dir)] if plan.config_dir is not None else []
    args += plan.overrides
    if not any(_key(o) == "resume" for o in plan.overrides):
        args.append("resume=auto")
    return args


def _key(override: str) -> str:
    try:
        return split_override(override)[1]
    except ValueError:
        return ""


def _job_name(plan: LaunchPlan) -> str:
    """The run's name as one word (the default job name)."""
    name = "".join(c if c.isalnum() or c in "_.-" else "-" for c in plan.run_dir.name).strip("-")
    return name[:64] or "hrm"


def _sbatch_path(plan: LaunchPlan, name: str) -> str:
    path = str(plan.run_dir if plan.run_dir.is_absolute() else plan.cwd / plan.run_dir) + "/" + name
    if any(c in path for c in '"\n\r\0'):
        raise LaunchError(f"the run directory {plan.run_dir} cannot be named in an #SBATCH line "
                          "(it holds a double quote or a line break): choose another run_name or checkpoint_path")
    return '"' + path.replace("%", "%%") + '"'


