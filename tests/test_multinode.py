"""Multi-node training without a scheduler, as the launch panel shows it: two torchrun processes on this machine
act as two nodes meeting through a c10d rendezvous on 127.0.0.1 (item 6 of issue 16), and a "node" whose run
directory is not the others' (its own mount namespace with a tmpfs over the runs folder) is refused at start-up
with the reason (item 8).

Each command is the one `plan_launch` builds for the panel (`plan.argv` for this node, `plan.other_nodes` for
the other), run as it is.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hrm_core.rundir.events import RunEnd, RunStart
from hrm_tui.launch_plan import LaunchOptions, plan_launch
from tests.training_helpers import events_of, tiny_overrides, trainer_env, write_tiny_dataset

PRIVATE_MOUNT = Path(__file__).with_name("private_mount.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_node_plan(data: Path, run_dir: Path):
    options = LaunchOptions(nproc_per_node=1, nnodes=2, rdzv_endpoint=f"127.0.0.1:{free_port()}")
    overrides = tiny_overrides(data, run_dir, epochs=4, eval_interval=2)
    return plan_launch(overrides, options, names=("multinode", run_dir.name, str(run_dir)), present=set(), cwd=run_dir.parent.parent)


def run_nodes(first: list[str], second: list[str], env: dict[str, str], cwd: Path) -> list[subprocess.CompletedProcess]:
    """Starts both nodes' commands at once and waits for both (each with its output captured)."""
    procs = [subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for argv in (first, second)]
    results = []
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, ""))
    return results


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("multinode-data") / "data")


def test_two_nodes_on_one_machine_finish_one_run_with_the_commands_shown(data: Path, tmp_path: Path):
    run_dir = tmp_path / "runs" / "two-nodes"
    plan = two_node_plan(data, run_dir)
    [(node, other)] = plan.other_nodes
    assert node == 1 and "--rdzv-backend" in plan.argv and plan.argv[plan.argv.index("--rdzv-backend") + 1] == "c10d"
    first, second = run_nodes(plan.argv, other, trainer_env(**plan.env), plan.cwd)
    assert first.returncode == 0 and second.returncode == 0, first.stdout + second.stdout

    [start] = events_of(run_dir, RunStart)  # one events.jsonl, written by rank 0, for the two nodes
    assert start.world_size == 2 and start.devices == ["cpu", "cpu"]
    assert [e.status for e in events_of(run_dir, RunEnd)] == ["finished"]
    checkpoints = sorted(run_dir.glob("step_*"))
    assert checkpoints and {p.name for p in checkpoints[-1].glob("rank_*.pt")} == {"rank_0.pt", "rank_1.pt"}


def test_a_node_that_does_not_see_the_run_directory_is_refused_at_the_start(data: Path, tmp_path: Path):
    if shutil.which("unshare") is None or os.geteuid() != 0:
        message = "needs root and unshare(1) to give the second node a mount namespace of its own"
        print(message, file=sys.stderr)
        pytest.skip(message)
    runs = tmp_path / "runs"
    run_dir = runs / "unshared"
    plan = two_node_plan(data, run_dir)
    [(_, other)] = plan.other_nodes
    # Node 1 sees an empty tmpfs where the runs folder is: its run directory is its own, as on a node's local disk.
    node_1 = ["unshare", "-m", "--propagation", "private", "--", sys.executable, str(PRIVATE_MOUNT), str(runs), *other]
    first, second = run_nodes(plan.argv, node_1, trainer_env(**plan.env), plan.cwd)
    assert first.returncode != 0 and second.returncode != 0
    reason = f"checkpoint_path {run_dir} is not on storage every node sees"
    # The trainer's own words come first; torchrun's summary of a failed process (its own traceback) follows.
    trainer_says = re.split(r"^[EWI]\d{4} ", first.stdout, maxsplit=1, flags=re.MULTILINE)[0]
    assert reason in trainer_says and "Traceback" not in trainer_says, first.stdout
    [end] = events_of(run_dir, RunEnd)
    assert end.status == "failed" and reason in end.error and "Traceback" not in end.error
    assert not list(run_dir.glob("step_*")) and not list(run_dir.glob(".tmp_step_*"))
