"""SLURM runs on a real two-node cluster (tests/slurm_cluster.py, the `slurm_cluster` fixture): submitted with
`hrm-tui launch --slurm`, watched through the scheduler in `hrm-tui runs` and the runs screen, stopped
through scancel, and refused by sbatch with its own error. docs/clusters.md describes what is tested here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hrm_core.rundir.events import Eval, RunStart
from hrm_core.rundir.files import BATCH_SCRIPT_FILE, SLURM_FILE, STOP_REQUEST_FILE
from hrm_core.rundir.checkpoints import list_checkpoints
from hrm_core.rundir.scheduler import JobSource, JobState
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import summarize_run
from hrm_tui.cli import main as hrm_tui_main
from hrm_tui.screens.confirm import ConfirmScreen
from hrm_tui.screens.runs import RunsScreen
from tests.training_helpers import TINY_ARCH, events_of
from hrm_tui.widgets.monitor.progress import ProgressPanel
from tests.tui_launch_helpers import async_test, make_app, wait_for
from tests.tui_monitor_helpers import MonitorHost, as_text, fast_settings

POLL_S = 0.2


def run_overrides(data: Path, run_dir: Path, *, epochs: int = 4, eval_interval: int = 2, extra: tuple[str, ...] = ()) -> list[str]:
    """The tiny run of tests/training_helpers.py (global batch 20: whole slices for 1, 2 or 5 processes),
    without torch.compile, one thread per process, a short stall limit."""
    return [f"data_path={data}", f"checkpoint_path={run_dir}", *TINY_ARCH, "global_batch_size=20", f"epochs={epochs}",
            f"eval_interval={eval_interval}", "lr=1e-3", "lr_warmup_steps=10", "log_interval=1", *extra]


def hrm_tui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", DISABLE_COMPILE="1")
    return subprocess.run([sys.executable, "-m", "hrm_tui", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def submit_in_process(args: list[str], cwd: Path, capsys: pytest.CaptureFixture[str] | None = None) -> int:
    """`hrm-tui launch ...` through the CLI's own entry point, in this process (cheaper than a subprocess)."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return hrm_tui_main(["launch", *args])
    finally:
        os.chdir(old)


def runs_json(cwd: Path) -> dict[str, dict]:
    result = hrm_tui("runs", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return {Path(run["path"]).name: run for run in map(json.loads, result.stdout.splitlines())}


def wait_until(condition, timeout_s: float, what: str, run_dir: Path | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(POLL_S)
    seen = f"; the run now: {summarize_run(run_dir)}" if run_dir is not None else ""
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}{seen}")


def job_id_of(run_dir: Path) -> str:
    return json.loads((run_dir / SLURM_FILE).read_text())["job_id"]


@pytest.fixture(autouse=True)
def no_compile(monkeypatch, tmp_path):
    monkeypatch.setenv("DISABLE_COMPILE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no test reads the user's cluster profiles


def test_a_two_node_run_goes_queued_running_finished(slurm_cluster, tiny_data: Path, tmp_path: Path):
    run_dir = tmp_path / "two-nodes"
    result = hrm_tui("launch", "--slurm", "--nodes", "2", "--nproc-per-node", "1", "--partition", "debug",
                     "--time", "10", "--sbatch-line=--hold", *run_overrides(tiny_data, run_dir, epochs=40, eval_interval=20),
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    job_id = job_id_of(run_dir)
    assert f"submitted job {job_id}" in result.stdout
    assert (run_dir / BATCH_SCRIPT_FILE).read_text().startswith("#!/bin/bash\n")

    held = runs_json(tmp_path)["two-nodes"]  # listed at once, queued with the scheduler's reason
    assert (held["status"], held["job_id"], held["scheduler_state"]) == ("queued", job_id, "queued")
    assert held["reason"] == "JobHeldUser" and held["scheduler_source"] == "squeue"
    table = hrm_tui("runs", cwd=tmp_path).stdout
    assert "JOB" in table.splitlines()[0] and f"{job_id} queued JobHeldUser (squeue)" in table

    slurm_cluster.run("scontrol", "release", job_id)
    running = wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.RUNNING and s.step and s, 120,
                         "the job to run and train")
    assert running.scheduler_state is JobState.RUNNING and running.nodes == "node[1-2]"
    listed = runs_json(tmp_path)["two-nodes"]  # the CLI's view while it trains
    assert (listed["status"], listed["scheduler_state"], listed["nodes"]) == ("running", "running", "node[1-2]")
    finished = wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.FINISHED and s, 180, "the run to finish")
    assert finished.nodes == "node[1-2]" and finished.scheduler_state in (JobState.RUNNING, JobState.FINISHED)
    assert len(list(run_dir.glob("events.jsonl*"))) == 1
    starts = events_of(run_dir, RunStart)
    assert len(starts) == 1 and starts[0].world_size == 2
    done = wait_until(lambda: (run := runs_json(tmp_path)["two-nodes"])["scheduler_state"] == "finished" and run, 60,
                      "the job to end")
    assert (done["status"], done["nodes"], done["job_id"]) == ("finished", "node[1-2]", job_id)
    assert "[hrm] run finished" in (run_dir / "stdout.log").read_text()  # the job's output is in the run directory


@async_test
async def test_a_job_waiting_for_its_begin_time_is_queued_with_its_reason_and_stop_cancels_it(
        slurm_cluster, tiny_data: Path, tmp_path: Path):
    run_dir = tmp_path / "checkpoints" / "later"
    assert submit_in_process(["--slurm", "--sbatch-line=--begin=now+1hour",
                              *run_overrides(tiny_data, run_dir)], tmp_path) == 0
    job_id = job_id_of(run_dir)
    run = runs_json(tmp_path)["later"]
    assert (run["status"], run["scheduler_state"], run["reason"]) == ("queued", "queued", "BeginTime")
    assert 3000 < run["expected_start"] - time.time() < 3700  # the scheduler's estimate: in an hour

    monitor_host = MonitorHost(run_dir, settings=fast_settings(clock=time.time))
    async with monitor_host.run_test(size=(160, 40)) as pilot:  # the monitor's header shows the job
        panel = monitor_host.monitor.query_one(ProgressPanel)
        await wait_for(pilot, lambda: panel.status == RunStatus.QUEUED, 30, "the monitor's status")
        await pilot.pause(0.2)
        header = as_text(panel.render())
        assert "● queued" in header and f"SLURM job {job_id} queued BeginTime (squeue)" in header

    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.table.row_count == 1, 30,
                       "the queued run in the list")
        screen = app.screen
        summary = screen.table.selected
        assert summary.status is RunStatus.QUEUED and summary.reason == "BeginTime"
        row = [str(cell) for cell in screen.table.get_row_at(0)]
        assert "… queued" in row and f"{job_id} queued BeginTime (squeue)" in row  # the Job column
        await pilot.pause()
        shown = str(screen.query_one("#run-detail").render())
        assert f"SLURM job {job_id} queued BeginTime (squeue)" in shown and "waiting (BeginTime)" in shown
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 20, "the stop confirmation")
        assert f"SLURM job {job_id}, queued" in app.screen._message
        await pilot.press("y")
        await wait_for(pilot, lambda: summarize_run(run_dir).status is RunStatus.STOPPED, 60, "the job to be cancelled")
    stopped = summarize_run(run_dir)
    assert stopped.scheduler_state is JobState.CANCELLED and (run_dir / STOP_REQUEST_FILE).exists()
    assert runs_json(tmp_path)["later"]["status"] == "stopped"


@async_test
async def test_stop_from_the_monitor_cancels_a_queued_job(slurm_cluster, tiny_data: Path, tmp_path: Path):
    """S in the monitor is the runs list's Stop (screens/stop_flow.py): verified, asked, done."""
    run_dir = tmp_path / "checkpoints" / "watched"
    assert submit_in_process(["--slurm", "--sbatch-line=--begin=now+1hour", *run_overrides(tiny_data, run_dir)],
                             tmp_path) == 0
    job_id = job_id_of(run_dir)
    monitor_host = MonitorHost(run_dir, settings=fast_settings(clock=time.time))
    async with monitor_host.run_test(size=(160, 40)) as pilot:
        monitor = monitor_host.monitor
        await wait_for(pilot, lambda: monitor.summary is not None and monitor.summary.status is RunStatus.QUEUED, 30,
                       "the monitor's status")
        await pilot.press("S")
        await wait_for(pilot, lambda: isinstance(monitor_host.screen, ConfirmScreen), 20, "the stop confirmation")
        assert f"SLURM job {job_id}, queued" in monitor_host.screen._message
        await pilot.press("y")
        await wait_for(pilot, lambda: summarize_run(run_dir).status is RunStatus.STOPPED, 60, "the job to be cancelled")
    assert summarize_run(run_dir).scheduler_state is JobState.CANCELLED


@async_test
async def test_stop_on_a_running_two_node_job_saves_a_checkpoint_and_ends_stopped(slurm_cluster, tiny_data: Path,
                                                                                  tmp_path: Path):
    run_dir = tmp_path / "checkpoints" / "long"
    assert submit_in_process(["--slurm", "--nodes", "2", *run_overrides(tiny_data, run_dir, epochs=400, eval_interval=40)],
                             tmp_path) == 0
    wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.RUNNING and (s.step or 0) >= 30, 180,
               "the job to train a few steps")
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.table.row_count == 1, 30,
                       "the running run in the list")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 20, "the stop confirmation")
        assert "its trainer gets SIGINT through scancel" in app.screen._message
        await pilot.press("y")
        await wait_for(pilot, lambda: summarize_run(run_dir).status is RunStatus.STOPPED, 120, "the run to stop")
    evals = [e.step for e in events_of(run_dir, Eval)]
    newest_checkpoint = list_checkpoints(run_dir)[-1][0]
    assert newest_checkpoint > max(evals, default=0)  # saved on the stop, after the last evaluation
    ends = [e for e in events_of(run_dir) if type(e).__name__ == "RunEnd"]
    assert [e.status for e in ends] == [RunStatus.STOPPED]
    wait_until(lambda: summarize_run(run_dir).scheduler_state not in (JobState.RUNNING, None), 60, "the job to end")
    assert summarize_run(run_dir).status is RunStatus.STOPPED


def test_a_sigstopped_trainer_is_stalled_and_a_killed_one_failed_never_running(slurm_cluster, tiny_data: Path, tmp_path: Path):
    run_dir = tmp_path / "frozen"
    extra = ("stall_after_s=3", "heartbeat_interval_s=1")
    assert submit_in_process(["--slurm", *run_overrides(tiny_data, run_dir, epochs=400, eval_interval=400, extra=extra)],
                             tmp_path) == 0
    job_id = job_id_of(run_dir)
    # Running, and beating: a heartbeat carries the run's stall_after_s (3 s here) to the readers.
    wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.RUNNING and s.stall_after_s == 3, 120,
               "the job to train and beat", run_dir)
    trainer = events_of(run_dir, RunStart)[0].pid
    os.kill(trainer, signal.SIGSTOP)  # the job stays RUNNING; its heartbeat stops
    try:
        stalled = wait_until(lambda: (s := summarize_run(run_dir)).status is RunStatus.STALLED and s, 30, "stalled",
                             run_dir)
        assert stalled.scheduler_state is JobState.RUNNING and "no progress for" in stalled.detail
    finally:
        # SIGKILL the trainer itself: `scancel --signal=KILL` would not do here, since SLURM turns a KILL to a
        # whole job into its cancel sequence (SIGCONT, SIGTERM, KillWait, SIGKILL), and the trainer saves a
        # checkpoint on the SIGTERM and ends `stopped` (docs/clusters.md, "Stopping").
        os.kill(trainer, signal.SIGKILL)
    ended = wait_until(lambda: (s := summarize_run(run_dir)).scheduler_state not in (JobState.RUNNING, None) and s, 60,
                       "the killed job to end", run_dir)
    assert ended.status is RunStatus.FAILED and ended.scheduler_state in (JobState.CANCELLED, JobState.FAILED)
    assert f"job {job_id} ended {ended.scheduler_state.value.upper()} without the run logging its end" in ended.detail
    assert runs_json(tmp_path)["frozen"]["status"] == "failed"


def test_a_job_killed_with_scancel_signal_kill_is_cancelled_never_running(slurm_cluster, tiny_data: Path, tmp_path: Path):
    """`scancel --signal=KILL` on a whole job is SLURM's cancel sequence (SIGCONT, SIGTERM, KillWait, SIGKILL):
    whatever the trainer manages in the grace time, the run ends and the job reads cancelled, never running."""
    run_dir = tmp_path / "killed"
    assert submit_in_process(["--slurm", *run_overrides(tiny_data, run_dir, epochs=400, eval_interval=400)], tmp_path) == 0
    job_id = job_id_of(run_dir)
    wait_until(lambda: summarize_run(run_dir).status is RunStatus.RUNNING and events_of(run_dir, RunStart), 120,
               "the job to train", run_dir)
    slurm_cluster.run("scancel", "--signal=KILL", job_id)
    ended = wait_until(lambda: (s := summarize_run(run_dir)).scheduler_state not in (JobState.RUNNING, None) and s, 60,
                       "the killed job to end", run_dir)
    assert ended.scheduler_state is JobState.CANCELLED
    assert ended.status in (RunStatus.STOPPED, RunStatus.FAILED), ended
    assert runs_json(tmp_path)["killed"]["status"] == ended.status.value


@pytest.mark.parametrize(
    ("flags", "field", "said"),
    [
        (["--partition", "nope"], "partition", "invalid partition"),
        (["--nodes", "5"], "nodes", "More processors requested than permitted"),
        (["--time", "soon"], "time_limit", "Invalid --time specification"),
    ],
)
def test_sbatch_refusals_are_named_and_leave_no_run(slurm_cluster, tiny_data: Path, tmp_path: Path, capsys, flags,
                                                    field, said):
    run_dir = tmp_path / "refused" / "run"
    assert submit_in_process(["--slurm", *flags, *run_overrides(tiny_data, run_dir)], tmp_path) == 2
    err = capsys.readouterr().err
    assert f"sbatch refused the job (profile field {field})" in err and said in err and "Traceback" not in err
    assert not (tmp_path / "refused").exists()  # what the submission made is gone again
    assert runs_json(tmp_path) == {}


def test_the_slurm_runs_benchmark_submits_lists_and_cancels(slurm_cluster):
    """`python -m hrm_tui.bench.slurm_runs` (docs/benchmarks.md has its figures for 200 runs), kept working
    with a few runs."""
    result = subprocess.run([sys.executable, "-m", "hrm_tui.bench.slurm_runs", "--runs", "3", "--repeats", "1", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["runs"] == 3 and figures["submit_after_sbatch_ms_max"] < 1000 and figures["runs_json_s_best"] > 0
    left = slurm_cluster.run("squeue", "-h", "-o", "%i").stdout.split()
    assert left == []  # its held jobs were cancelled


def test_one_scheduler_query_covers_every_listed_run(slurm_cluster, tmp_path: Path):
    """`hrm-tui runs` asks squeue once for all its SLURM runs, not once per run: a logging wrapper in front
    of the real squeue counts the calls."""
    from hrm_tui.cluster.profile import ClusterProfile
    from hrm_tui.cluster.submit import submit
    from hrm_tui.launch_plan import LaunchOptions, plan_launch

    profile = ClusterProfile(sbatch_lines=("--hold",))
    jobs = [submit(plan_launch(["+x=1"], LaunchOptions(), names=("p", name, str(tmp_path / "checkpoints" / name)),
                               present=set(), cwd=tmp_path), profile).job_id for name in ("a", "b", "c")]
    try:
        _list_with_a_counted_squeue(tmp_path)
    finally:
        slurm_cluster.run("scancel", *jobs)


def _list_with_a_counted_squeue(tmp_path: Path) -> None:
    shim = tmp_path / "bin"
    shim.mkdir()
    log = tmp_path / "squeue.calls"
    real = subprocess.run(["which", "squeue"], capture_output=True, text=True).stdout.strip()
    (shim / "squeue").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (shim / "squeue").chmod(0o755)
    env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "hrm_tui", "runs", "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    runs = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(run["status"] for run in runs) == ["queued"] * 3
    assert len(log.read_text().splitlines()) == 1


def test_a_job_the_controller_forgot_is_read_from_the_job_completion_file(slurm_cluster, tmp_path: Path, monkeypatch):
    """After MinJobAge the controller forgets an ended job (squeue: "Invalid job id specified"); this cluster
    has no accounting database (plain sacct fails), so the state comes from `sacct -c`. squeue is replaced
    here by a script answering as squeue does for forgotten jobs (waiting 5 minutes would cost too much);
    sacct is the real one."""
    from hrm_core.rundir.scheduler import query_jobs

    job_id = slurm_cluster.run("sbatch", "--parsable", "--wrap", "true", "-o", "/dev/null").stdout.strip()
    wait_until(lambda: (j := query_jobs([job_id]).job(job_id)) is not None and j.state.ended, 30, "the job to end")
    assert slurm_cluster.run("sacct", "-X", "-n", "-j", job_id, check=False).returncode != 0  # accounting is off
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "squeue").write_text('#!/bin/sh\necho "slurm_load_jobs error: Invalid job id specified" >&2\nexit 1\n')
    (shim / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    view = query_jobs([job_id, "999999"])
    job = view.job(job_id)
    assert view.reachable and job is not None
    assert (job.state, job.slurm_state, job.source) == (JobState.FINISHED, "COMPLETED", JobSource.JOBCOMP)
    assert job.nodes in ("node1", "node2")
    assert view.job("999999") is None  # known nowhere: the caller goes by the run's events
