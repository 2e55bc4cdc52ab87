"""Cluster profiles (their file and checks) and the batch script generated from a plan and a profile
(hrm_tui/cluster/profile.py, batch_script.py). No cluster needed: tests/test_slurm_*.py submit for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hrm_tui.cluster.batch_script import batch_script
from hrm_tui.cluster.profile import ClusterProfile, ProfileError, load_profile, load_profiles, profiles_file, save_profile
from hrm_tui.launch_plan import LaunchError, LaunchOptions, plan_launch

NAMES_PRESENT = {"project_name", "run_name", "checkpoint_path"}


def _plan(tmp_path: Path, run_dir: str = "runs/p/r one", overrides: tuple[str, ...] = ("lr=1e-3",)):
    return plan_launch(list(overrides), LaunchOptions(compile=False), names=("p", "r", run_dir), present=NAMES_PRESENT,
                       cwd=tmp_path)


def _sbatch_lines(script: str) -> list[str]:
    return [line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH ")]


def test_one_process_runs_the_trainer_under_srun_without_torchrun(tmp_path):
    script = batch_script(_plan(tmp_path), ClusterProfile(partition="debug", time_limit="10"))
    options = _sbatch_lines(script)
    assert script.startswith("#!/bin/bash\n")
    assert "--nodes=1" in options and "--ntasks-per-node=1" in options
    assert "--partition=debug" in options and "--time=10" in options
    assert f'--output="{tmp_path}/runs/p/r one/stdout.log"' in options
    assert f'--error="{tmp_path}/runs/p/r one/stderr.log"' in options
    assert "--open-mode=append" in options and "--requeue" in options and "--signal=TERM@120" in options
    assert not any(o.startswith("--gpus") for o in options)  # CPU nodes ask for no GPU
    assert "torch.distributed.run" not in script and "torchrun" not in script
    last = script.rstrip().splitlines()[-1]
    assert last.startswith("srun ") and f"{sys.executable} -m hrm_core.pretrain" in last
    assert last.endswith("resume=auto")
    assert "\"checkpoint_path='runs/p/r one'\"" in last  # values quoted for the shell (Hydra's quotes kept)
    assert f"cd {tmp_path}" in script
    assert "export DISABLE_COMPILE=1" in script
    check = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr


def test_two_nodes_run_torchrun_with_a_c10d_rendezvous_per_job(tmp_path):
    profile = ClusterProfile(nodes=2, nproc_per_node=1, setup_lines=("module load x", "source ~/venv/bin/activate"))
    script = batch_script(_plan(tmp_path), profile)
    assert "--nodes=2" in _sbatch_lines(script)
    last = script.rstrip().splitlines()[-1]
    assert last.startswith('srun --nodes "$SLURM_JOB_NUM_NODES" --ntasks-per-node 1')
    for part in ('--nnodes "$SLURM_JOB_NUM_NODES"', "--nproc-per-node 1", "--rdzv-backend c10d",
                 '--rdzv-endpoint "${head_addr:-$head_node}:$rdzv_port"', '--rdzv-id "$SLURM_JOB_ID"',
                 "-m hrm_core.pretrain"):
        assert part in last
    assert "rdzv_port=$((20000 + SLURM_JOB_ID % 20000))" in script
    assert script.index("module load x") < script.index("srun ")
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


def test_gpu_nodes_ask_for_gpus_and_run_one_process_per_gpu(tmp_path):
    profile = ClusterProfile(nodes=1, gpus_per_node=4, nproc_per_node=4, cpus_per_node=32, mem_per_node="200G",
                             account="proj", qos="normal", job_name="big", requeue_warning_s=0,
                             sbatch_lines=("#SBATCH --constraint=a100", "--exclusive"))
    script = batch_script(_plan(tmp_path), profile)
    options = _sbatch_lines(script)
    for option in ("--gpus-per-node=4", "--cpus-per-task=32", "--mem=200G", "--account=proj", "--qos=normal",
                   "--job-name=big", "--constraint=a100", "--exclusive"):
        assert option in options
    assert not any(o.startswith("--signal") for o in options)  # 0: no warning signal
    assert "--nproc-per-node 4" in script


def test_percent_signs_in_the_run_directory_are_not_sbatch_patterns(tmp_path):
    script = batch_script(_plan(tmp_path, "runs/100%j"), ClusterProfile())
    assert f'--output="{tmp_path}/runs/100%%j/stdout.log"' in _sbatch_lines(script)
    with pytest.raises(LaunchError, match="double quote"):
        batch_script(_plan(tmp_path, 'runs/a"b'), ClusterProfile())


def test_a_user_resume_override_is_kept(tmp_path):
    script = batch_script(_plan(tmp_path, overrides=("resume=/elsewhere",)), ClusterProfile())
    assert "resume=/elsewhere" in script and "resume=auto" not in script


@pytest.mark.parametrize(
    ("profile", "field"),
    [
        (ClusterProfile(nodes=0), "nodes"),
        (ClusterProfile(gpus_per_node=2, nproc_per_node=3), "nproc_per_node"),
        (ClusterProfile(partition="a b"), "partition"),
        (ClusterProfile(time_limit="1'0"), "time_limit"),
        (ClusterProfile(mem_per_node="lots"), "mem_per_node"),
        (ClusterProfile(setup_lines=("a\nb",)), "setup_lines"),
        (ClusterProfile(sbatch_lines=("echo hi",)), "sbatch_lines"),
        (ClusterProfile(name="my profile"), "name"),
        (ClusterProfile(requeue_warning_s=-1), "requeue_warning_s"),
    ],
)
def test_profile_problems_name_the_field_and_refuse_the_script(tmp_path, profile, field):
    assert field in profile.problems()
    with pytest.raises(LaunchError, match=field):
        batch_script(_plan(tmp_path), profile)


def test_profiles_round_trip_through_the_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert profiles_file() == tmp_path / "cfg" / "hrm" / "clusters.toml"
    assert load_profiles() == {}
    first = ClusterProfile(name="a100", nodes=2, gpus_per_node=8, nproc_per_node=8, partition="gpu",
                           time_limit="1-00:00:00", setup_lines=('module load "cuda"', "echo \\ é"))
    second = ClusterProfile(name="cpu.small", cpus_per_node=4, sbatch_lines=("--comment=\t\x7f\x1b'\"\\ ü 🚀",))
    save_profile(first)
    save_profile(second)
    assert load_profiles() == {"a100": first, "cpu.small": second}  # every character written back as it was
    assert load_profile("cpu.small") == second
    text = profiles_file().read_text()
    assert "[profiles.a100]" in text and "requeue_warning_s" not in text  # defaults are left out
    assert ClusterProfile.from_json(first.to_json()) == first
    with pytest.raises(ProfileError, match="no cluster profile 'gpu'.*saved: a100, cpu.small"):
        load_profile("gpu")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[profiles.x]\nnodes = 'two'\n", r"\[profiles.x\]: nodes: expected an integer"),
        ("[profiles.x]\nnode = 2\n", r"\[profiles.x\]: node: unknown key \(did you mean nodes\?\)"),
        ("[profiles.x]\nnodes = 0\n", r"\[profiles.x\]: nodes: must be at least 1"),
        ("[profiles.x]\npartition = 'a b'\n", r"\[profiles.x\]: partition: partition must be one word"),
        ("[profiles.x\n", "is not valid TOML"),
        ("nodes = 2\n", "unknown table or key 'nodes'"),
        ("[profiles]\nx = 3\n", r"\[profiles.x\] must be a table"),
    ],
)
def test_a_damaged_profile_file_names_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "clusters.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=message) as caught:
        load_profiles(path)
    assert str(path) in str(caught.value)
    with pytest.raises(ProfileError):  # never overwritten while damaged
        save_profile(ClusterProfile(name="y"), path)
    assert path.read_text() == text


def test_dry_run_prints_the_batch_script_and_submits_nothing(tiny_data: Path, tmp_path: Path, capsys, monkeypatch):
    from hrm_tui.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "dry"
    code = main(["launch", "--slurm", f"data_path={tiny_data}", f"checkpoint_path={run_dir}", "global_batch_size=8",
                 "--nodes", "2", "--partition", "debug", "--time", "30", "--setup-line", "module load x",
                 "--save-profile", "two", "--dry-run"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.startswith("#!/bin/bash\n#SBATCH --job-name=dry\n#SBATCH --nodes=2\n")
    assert "--rdzv-backend c10d" in captured.out and "module load x" in captured.out
    assert not run_dir.exists()  # nothing submitted
    assert "saved cluster profile 'two'" in captured.err
    assert load_profile("two") == ClusterProfile(name="two", nodes=2, partition="debug", time_limit="30",
                                                 setup_lines=("module load x",))
    # The saved profile is reused, and a flag overrides it; a SLURM flag without --slurm is refused.
    assert main(["launch", "--slurm", "two", "--nodes", "1", f"data_path={tiny_data}", f"checkpoint_path={run_dir}",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --nodes=1" in out and "#SBATCH --partition=debug" in out and "torch.distributed.run" not in out
    assert main(["launch", "--partition", "debug", f"data_path={tiny_data}", "--dry-run"]) == 2
    assert "--partition is a SLURM setting: add --slurm" in capsys.readouterr().err
    assert main(["launch", "--slurm", "nope", f"data_path={tiny_data}", "--dry-run"]) == 2
    assert "no cluster profile 'nope'" in capsys.readouterr().err


def test_without_slurm_on_this_host_a_submitted_run_is_never_lost_nor_a_crash(tmp_path: Path, monkeypatch):
    """A SLURM run looked at from a host without SLURM's programs (an empty PATH here): queued while it has no
    event, judged by its events after that, and the scheduler's absence said."""
    from hrm_core.rundir.files import SLURM_FILE
    from hrm_core.rundir.scheduler import query_jobs
    from hrm_core.rundir.status import RunStatus
    from hrm_core.rundir.summary import summarize_run
    from tests.tui_launch_helpers import write_events

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    view = query_jobs(["12"])
    assert not view.reachable and "scheduler not reachable from here" in view.note
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / SLURM_FILE).write_text('{"job_id": "12", "submit_time": 1.0}')
    summary = summarize_run(run_dir, scheduler=view)
    assert summary.status is RunStatus.QUEUED and summary.job_id == "12" and summary.scheduler_source == "events"
    assert "scheduler not reachable from here" in summary.detail
    write_events(run_dir, [{"type": "run_start", "time": 100.0, "total_steps": 10},
                           {"type": "run_end", "time": 105.0, "step": 10, "status": "finished"}])
    assert summarize_run(run_dir, scheduler=view).status is RunStatus.FINISHED


@pytest.mark.parametrize("job_id", ["--full", "12; rm -rf ~", "1,2", "", "12\n13", "\x1b[2J"])
def test_a_job_id_that_is_not_one_never_reaches_the_scheduler(tmp_path: Path, job_id: str):
    """slurm.json comes from a run directory: an id that is not a SLURM job id is not a SLURM run's."""
    import json

    from hrm_core.rundir.files import SLURM_FILE
    from hrm_core.rundir.scheduler import is_job_id, query_jobs
    from hrm_core.rundir.summary import slurm_job_id

    (tmp_path / SLURM_FILE).write_text(json.dumps({"job_id": job_id}))
    assert slurm_job_id(tmp_path) is None and not is_job_id(job_id)
    assert query_jobs([job_id]).jobs == {} and query_jobs([job_id]).note == ""  # nothing asked
    assert all(is_job_id(j) for j in ("12", "12_3", "12+1"))


def test_a_sweeps_total_on_the_cluster_shows_before_anything_is_submitted(tmp_path):
    """The form's sweep line (CommandPreview.sweep_line): runs x GPUs x time limit with the SLURM target, the
    run count alone without it."""
    import dataclasses

    from hrm_tui.forms.command_preview import CommandPreview

    profile = ClusterProfile(partition="debug", nodes=2, gpus_per_node=4, nproc_per_node=4, time_limit="12:00:00")
    local = _plan(tmp_path)
    on_cluster = dataclasses.replace(local, options=dataclasses.replace(local.options, slurm=profile))
    sweep = ("lr=1e-3,2e-3", "seed=range(2)")
    line = CommandPreview(overrides=(), plan=on_cluster, sweep=sweep, sweep_runs=4).sweep_line
    assert line.startswith("4 runs x 8 GPUs x 12:00:00 = 384 GPU-hours, one SLURM job per run: lr=1e-3,2e-3")
    assert CommandPreview(overrides=(), plan=local, sweep=sweep, sweep_runs=4).sweep_line.startswith(
        "4 runs, one after another: ")
