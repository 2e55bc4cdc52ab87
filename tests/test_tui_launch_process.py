"""Starting and stopping processes for real: detached start, argv without a shell, launch.json, the pid
identity check, and SIGINT -> SIGTERM -> SIGKILL escalation (also under torchrun).

Stand-in programs replace the trainer here (a few lines of Python that report the signals they get), so
each test takes a second or two; test_tui_launch_runs.py drives the real trainer.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from hrm_tui.launch_plan import LaunchError, LaunchOptions, LaunchPlan, plan_launch, torchrun_prefix, trainer_argv
from hrm_tui.runs.launcher import start
from hrm_tui.runs.process_control import StopError, find_run_process, stop_run
from hrm_tui.runs.resume import plan_resume
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import process_matches, summarize_run

# A stand-in trainer: records each signal it gets in signals.txt; `mode` says how it reacts.
STAND_IN = textwrap.dedent(
    """
    import os, signal, sys, time
    mode = sys.argv[1]
    tag = os.environ.get("RANK", "main")
    def record(signum, frame):
        with open(f"signals-{tag}.txt", "a") as f:
            f.write(signal.Signals(signum).name + "\\n")
        if mode == "graceful" or (mode == "ignore-int" and signum == signal.SIGTERM):
            sys.exit(0)
    signal.signal(signal.SIGINT, record)
    signal.signal(signal.SIGTERM, record if mode != "ignore-all" else signal.SIG_IGN)
    if mode == "ignore-all":
        signal.signal(signal.SIGINT, lambda s, f: record(s, f))
    open(f"ready-{tag}", "w").close()
    while True:
        time.sleep(0.05)
    """
)


def stand_in_plan(tmp_path: Path, mode: str, argv_prefix: list[str] | None = None) -> LaunchPlan:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    argv = (argv_prefix or [sys.executable]) + [str(script), mode]
    return LaunchPlan(argv=argv, env={}, run_dir=tmp_path / "run", overrides=[], options=LaunchOptions(), cwd=tmp_path)


def wait_for_file(path: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def signals_received(tmp_path: Path, tag: str = "main") -> list[str]:
    path = tmp_path / f"signals-{tag}.txt"
    return path.read_text().split() if path.exists() else []


@pytest.fixture()
def cleanup():
    """Kills (by recorded pid) whatever a test started and left running, so nothing outlives the test."""
    started: list[int] = []
    yield started
    for pid in started:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_values_reach_the_program_as_single_arguments_never_through_a_shell(tmp_path: Path, cleanup):
    echo = "import json, sys; print(json.dumps(sys.argv[1:]))"
    hostile = ["+note='x; touch PWNED'", "x; touch PWNED2", "$(touch PWNED3)", "`touch PWNED4`", "a b", "*"]
    plan = LaunchPlan([sys.executable, "-c", echo, *hostile], {}, tmp_path / "run", hostile, LaunchOptions(), tmp_path)
    record = start(plan)
    cleanup.append(record.pid)
    psutil.Process(record.pid).wait(timeout=30)
    assert json.loads((tmp_path / "run" / "stdout.log").read_text()) == hostile
    assert not list(tmp_path.glob("PWNED*"))


def test_a_started_run_is_detached_and_recorded(tmp_path: Path, cleanup):
    plan = stand_in_plan(tmp_path, "graceful")
    plan.env = {"OMP_NUM_THREADS": "3"}
    record = start(plan)
    cleanup.append(record.pid)
    wait_for_file(tmp_path / "ready-main")
    # Its own session and process group: the terminal's SIGHUP and the app's Ctrl+C do not reach it.
    assert os.getsid(record.pid) == record.pid != os.getsid(0)
    assert os.getpgid(record.pid) == record.pid
    assert psutil.Process(record.pid).environ()["OMP_NUM_THREADS"] == "3"
    launch = json.loads((tmp_path / "run" / "launch.json").read_text())
    assert launch["pid"] == launch["pgid"] == record.pid
    assert launch["create_time"] == pytest.approx(psutil.Process(record.pid).create_time())
    assert launch["argv"] == plan.argv and launch["cmdline"][-2:] == plan.argv[-2:]
    assert launch["env"] == {"OMP_NUM_THREADS": "3"} and launch["cwd"] == str(tmp_path)
    assert (tmp_path / "run" / "stdout.log").exists() and (tmp_path / "run" / "stderr.log").exists()
    assert summarize_run(tmp_path / "run").status == RunStatus.RUNNING
    # A second launch into the same directory is refused.
    with pytest.raises(LaunchError, match="already holds a run"):
        start(plan)
    assert stop_run(tmp_path / "run", grace_s=20) == "stopped gracefully (SIGINT)"
    assert signals_received(tmp_path) == ["SIGINT"]
    assert summarize_run(tmp_path / "run").status != RunStatus.RUNNING


def test_stop_escalates_to_sigterm_then_sigkill(tmp_path: Path, cleanup):
    term = tmp_path / "term"
    term.mkdir()
    record = start(stand_in_plan(term, "ignore-int"))
    cleanup.append(record.pid)
    wait_for_file(term / "ready-main")
    progress: list[str] = []
    assert stop_run(term / "run", grace_s=1, kill_after_s=20, on_progress=progress.append) == "stopped after SIGTERM"
    assert signals_received(term) == ["SIGINT", "SIGTERM"]
    assert any("SIGTERM" in line for line in progress)

    kill = tmp_path / "kill"
    kill.mkdir()
    record = start(stand_in_plan(kill, "ignore-all"))
    cleanup.append(record.pid)
    wait_for_file(kill / "ready-main")
    assert stop_run(kill / "run", grace_s=0.5, kill_after_s=0.5) == "killed (SIGKILL)"
    # (Not `pid_exists`: with pid_max 32768 a busy machine may hand the pid to a new process at once.)
    assert not process_matches(record.pid, record.create_time, json.loads((kill / "run" / "launch.json").read_text())["cmdline"])
    # Killed without a run_end: the runs list calls it lost.
    (kill / "run" / "events.jsonl").write_text(json.dumps({"v": 1, "type": "run_start", "time": time.time()}) + "\n")
    assert summarize_run(kill / "run").status == RunStatus.LOST


def test_a_pid_that_no_longer_belongs_to_the_run_is_never_signalled(tmp_path: Path, cleanup):
    record = start(stand_in_plan(tmp_path, "graceful"))
    cleanup.append(record.pid)
    wait_for_file(tmp_path / "ready-main")
    launch_file = tmp_path / "run" / "launch.json"
    original = json.loads(launch_file.read_text())

    # Same pid, other start time: as if the run died and the pid was reused.
    launch_file.write_text(json.dumps({**original, "create_time": original["create_time"] - 1000}))
    assert find_run_process(tmp_path / "run") is None
    assert stop_run(tmp_path / "run", grace_s=1) == "the run's process is not running"
    # Same pid and start time, other command line.
    launch_file.write_text(json.dumps({**original, "cmdline": ["python", "something-else.py"]}))
    assert stop_run(tmp_path / "run", grace_s=1) == "the run's process is not running"

    time.sleep(0.3)
    assert signals_received(tmp_path) == []  # nothing was sent
    assert psutil.Process(record.pid).is_running()
    launch_file.write_text(json.dumps(original))
    assert stop_run(tmp_path / "run", grace_s=20) == "stopped gracefully (SIGINT)"


def test_a_run_without_launch_record_cannot_be_stopped_from_here(tmp_path: Path):
    (tmp_path / "run").mkdir()
    with pytest.raises(StopError, match="no launch.json and its events.jsonl records no trainer process"):
        stop_run(tmp_path / "run")


def test_torchrun_workers_get_exactly_one_sigint(tmp_path: Path, cleanup):
    """torchrun forwards a signal it receives to its workers; signalling the whole group would give each
    worker two, and the trainer treats a second signal as 'exit now, no checkpoint'."""
    prefix = torchrun_prefix() + ["--standalone", "--nproc-per-node", "2"]
    record = start(stand_in_plan(tmp_path, "graceful", argv_prefix=prefix))
    cleanup.append(record.pid)
    wait_for_file(tmp_path / "ready-0", timeout_s=60)
    wait_for_file(tmp_path / "ready-1", timeout_s=60)
    assert stop_run(tmp_path / "run", grace_s=30) == "stopped gracefully (SIGINT)"
    assert signals_received(tmp_path, "0") == ["SIGINT"]
    assert signals_received(tmp_path, "1") == ["SIGINT"]


def test_argv_for_one_process_torchrun_and_several_nodes():
    one = trainer_argv(["lr=1"], LaunchOptions())
    assert one == [sys.executable, "-m", "hrm_core.pretrain", "lr=1"]
    two = trainer_argv(["lr=1"], LaunchOptions(nproc_per_node=2))
    assert two[-6:] == ["--standalone", "--nproc-per-node", "2", "-m", "hrm_core.pretrain", "lr=1"]
    options = LaunchOptions(nproc_per_node=8, nnodes=2, rdzv_endpoint="node0:29500")
    plan = plan_launch(["lr=1"], options, names=("P", "R", "runs/P/R"), present={"lr"}, cwd="/work")
    prefix = len(torchrun_prefix())  # `torchrun`, or `python -m torch.distributed.run` where no script is installed
    assert plan.argv[prefix:prefix + 10] == ["--nnodes", "2", "--nproc-per-node", "8", "--rdzv-backend", "c10d",
                                             "--rdzv-endpoint", "node0:29500", "--rdzv-id", "P.R"]
    assert plan.overrides == ["lr=1", "+project_name=P", "+run_name=R", "+checkpoint_path=runs/P/R"]
    assert plan.run_dir == Path("/work/runs/P/R")
    [(rank, other)] = plan.other_nodes
    assert rank == 1 and other == plan.argv  # c10d numbers the nodes: every node runs the same command


def test_bad_launch_options_are_refused_with_the_reason():
    with pytest.raises(LaunchError, match="HOST:PORT"):
        plan_launch([], LaunchOptions(nnodes=2), names=("P", "R", "c"), present=set())
    problems = LaunchOptions(nproc_per_node=0, omp_num_threads=0, nnodes=2, rdzv_endpoint="h:", gpus=(0,)).problems()
    assert set(problems) == {"nproc_per_node", "omp_num_threads", "rdzv_endpoint"}
    assert "gpus" in LaunchOptions(nproc_per_node=2, gpus=(0,)).problems()


def test_resume_plan_reuses_the_run(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    options = LaunchOptions(nproc_per_node=2, omp_num_threads=2)
    (run / "launch.json").write_text(json.dumps({"pid": 1, "cwd": str(tmp_path), "options": options.to_json()}))
    resume = plan_resume(run, ["+experiment=demo", "lr=1", "+checkpoint_path=somewhere", "+resume=PATH"])
    plan = resume.plan
    # checkpoint_path is always the run being resumed, whatever the record says.
    assert plan.overrides == ["+experiment=demo", "lr=1", f"++checkpoint_path={run}", "++resume=auto"]
    assert plan.options == options and plan.cwd == tmp_path and plan.env["OMP_NUM_THREADS"] == "2"
    assert plan.env["PYTHONSAFEPATH"] == "1"  # torchrun's workers import nothing from the working directory
    # A run started by hand (no launch.json, no checkpoint_path override) resumes in its own directory.
    bare = plan_resume(tmp_path / "other", ["lr=1"], cwd=tmp_path).plan
    assert bare.overrides == ["lr=1", f"++checkpoint_path={tmp_path / 'other'}", "++resume=auto"]
    assert bare.argv[:4] == [sys.executable, "-P", "-m", "hrm_core.pretrain"]