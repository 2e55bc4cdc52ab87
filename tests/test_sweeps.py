"""Sweeps as Hydra users write them (issue 16, item 7): `python -m hrm_core.pretrain -m` with Hydra's grammar,
expanded by Hydra's own parser and basic sweeper, run one after another, each run in its own directory of the
sweep's folder and recording its sweep in run_start."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from hrm_core.config import ConfigError
from hrm_core.config.sweep import expand_sweep, member_names
from hrm_core.rundir.events import RunEnd, RunStart
from hrm_tui.screens.monitor import MonitorScreen
from hrm_tui.screens.runs import RunsScreen
from tests.training_helpers import events_of, tiny_overrides, trainer_env, write_tiny_dataset
from tests.tui_launch_helpers import async_test, make_app, settle, wait_for
from tests.tui_monitor_helpers import as_text


def test_expansion_is_hydras_basic_sweeper():
    assert expand_sweep(["lr=1e-3,2e-3", "seed=range(2)", "+experiment=demo"]) == [
        ["lr=0.001", "seed=0", "+experiment=demo"], ["lr=0.001", "seed=1", "+experiment=demo"],
        ["lr=0.002", "seed=0", "+experiment=demo"], ["lr=0.002", "seed=1", "+experiment=demo"]]
    assert expand_sweep(["lr=1"]) == [["lr=1"]]
    assert expand_sweep(["lr=1,2", "lr=3"]) == [["lr=3"]]  # a key given twice: the last value, as Hydra
    with pytest.raises(ConfigError, match="'lr=1,,2'"):
        expand_sweep(["lr=1,,2"])


def test_runs_of_a_sweep_are_named_in_its_folder():
    assert member_names(["lr=1,2"], "sw", 1, "P") == {"run_name": "sw-1", "checkpoint_path": "checkpoints/P/sw/1"}
    assert member_names(["lr=1,2", "checkpoint_path=/x"], "sw", 0, "P")["checkpoint_path"] == "/x/0"
    assert member_names(["checkpoint_path=/a,/b"], "sw", 0, "P") == {"run_name": "sw-0"}  # varied by the sweep


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """`python -m hrm_core.pretrain -m` over 2 x 2 tiny runs (a few steps each)."""
    base = tmp_path_factory.mktemp("sweep")
    data = write_tiny_dataset(base / "data", train_groups=6)
    folder = base / "sweep"
    overrides = tiny_overrides(data, folder, "run_name=grid", "lr=1e-3,2e-3", "seed=range(2)", epochs=2, eval_interval=2)
    result = subprocess.run([sys.executable, "-m", "hrm_core.pretrain", "-m", *overrides], env=trainer_env(),
                            capture_output=True, text=True, timeout=300, cwd=base)
    return result, folder


def test_a_sweep_runs_every_run_in_its_own_directory(swept):
    result, folder = swept
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[hrm] sweep 'grid': 4 runs, one after another" in result.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["0", "1", "2", "3"]
    for index, (lr, seed) in enumerate([(1e-3, 0), (1e-3, 1), (2e-3, 0), (2e-3, 1)]):
        [start] = events_of(folder / str(index), RunStart)
        assert (start.sweep, start.sweep_index, start.sweep_size) == ("grid", index, 4)
        assert start.run_name == f"grid-{index}" and (start.config["lr"], start.config["seed"]) == (lr, seed)
        assert [e.status for e in events_of(folder / str(index), RunEnd)] == ["finished"]


def test_a_failed_run_does_not_stop_the_others_and_the_sweep_says_so(tmp_path: Path):
    """Hydra's basic launcher runs every job of the sweep and then fails: the same here (exit status 1)."""
    data = write_tiny_dataset(tmp_path / "data", train_groups=6)
    overrides = tiny_overrides(data, tmp_path / "sweep", "run_name=halfway", epochs=1, eval_interval=1)
    overrides = [o for o in overrides if not o.startswith("data_path=")] + [f"data_path={tmp_path / 'missing'},{data}"]
    result = subprocess.run([sys.executable, "-m", "hrm_core.pretrain", "-m", *overrides], env=trainer_env(),
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[hrm] sweep 'halfway': run 0 failed (of 2)" in result.stdout
    assert [e.status for e in events_of(tmp_path / "sweep" / "1", RunEnd)] == ["finished"]


def hrm_tui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hrm_tui", *args], cwd=cwd, env=trainer_env(TZ="UTC"),
                          capture_output=True, text=True, timeout=120)


def test_hrm_tui_runs_lists_the_sweep_as_one_group(swept):
    _, folder = swept
    listed = hrm_tui("runs", "--json", "--runs-root", str(folder), cwd=folder.parent)
    assert listed.returncode == 0, listed.stderr
    runs = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["sweep"], r["sweep_index"], r["sweep_size"], r["status"]) for r in runs] == [
        ("grid", i, 4, "finished") for i in range(4)]
    table = hrm_tui("runs", "--runs-root", str(folder), cwd=folder.parent).stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "SWEEP"]
    assert [line.split()[1:4] for line in table[1:5]] == [["grid", f"#{i}", "of"] for i in range(4)]


@async_test
async def test_the_runs_screen_groups_the_sweep_and_w_marks_it_for_comparing(swept, tmp_path: Path):
    _, folder = swept
    app = make_app(tmp_path, start_mode="runs", runs_root=folder)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.runs_screen.table.summaries) == 4,
                       30, "the sweep's runs")
        screen = app.runs_screen
        names = [as_text(screen.table.get_cell_at((row, 0))).strip() for row in range(4)]
        assert names == [f"grid #{i} of 4" for i in range(4)]
        await pilot.press("w")
        assert screen.view.marked == tuple(folder / str(i) for i in range(4))
        await pilot.press("enter")  # the marked runs, overlaid in one monitor
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        assert [v.run_dir for v in app.screen.views] == [folder / str(i) for i in range(4)]


def test_hrm_tui_launch_m_runs_the_sweep_detached_one_after_another(tmp_path: Path):
    data = write_tiny_dataset(tmp_path / "data", train_groups=6)
    overrides = [o for o in tiny_overrides(data, tmp_path, epochs=1, eval_interval=1) if not o.startswith("checkpoint_path=")]
    dry = hrm_tui("launch", "-m", *overrides, "run_name=tui", "lr=1e-3,2e-3", "seed=range(2)", "--dry-run",
                  "--runs-root", "runs", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    header, *commands = dry.stdout.splitlines()
    assert header == f"sweep 'tui': 4 runs, one after another, in {tmp_path / 'runs' / 'Data ACT-torch' / 'tui'}"
    assert len(commands) == 4 and all("HRM_SWEEP=tui" in c and "++" not in c for c in commands)
    assert not (tmp_path / "runs").exists()

    started = hrm_tui("launch", "-m", *overrides, "run_name=tui", "lr=1e-3,2e-3", "seed=range(2)", "--runs-root", "runs",
                      cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    [folder] = (tmp_path / "runs").iterdir()
    folder = folder / "tui"
    log_file = folder / "sweep-tui.log"  # the driver's: it says when the sweep is done
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and " done: " not in (log_file.read_text() if log_file.exists() else ""):
        time.sleep(0.5)
    for index in range(4):
        [start] = events_of(folder / str(index), RunStart)
        assert (start.sweep, start.sweep_index, start.sweep_size, start.run_name) == ("tui", index, 4, f"tui-{index}")
        assert [e.status for e in events_of(folder / str(index), RunEnd)] == ["finished"]
        assert (folder / str(index) / "launch.json").exists() and (folder / str(index) / "stdout.log").stat().st_size
    assert "sweep 'tui' done: all 4 runs finished" in log_file.read_text()


def test_hrm_tui_launch_m_with_a_bad_sweep_names_it(tmp_path: Path):
    result = hrm_tui("launch", "-m", "+experiment=demo", "lr=1e-3,,2e-3", "--dry-run", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot parse the sweep override 'lr=1e-3,,2e-3'" in result.stderr


@async_test
async def test_the_forms_sweep_field_shows_the_run_count_and_ctrl_l_starts_the_sweep(tmp_path: Path):
    data = write_tiny_dataset(tmp_path / "data", train_groups=6)
    overrides = [o for o in tiny_overrides(data, tmp_path, epochs=1, eval_interval=1) if not o.startswith("checkpoint_path=")]
    app = make_app(tmp_path, overrides=overrides, runs_root=tmp_path / "runs")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        screen.query_one("#opt-omp", Input).value = "1"
        await settle(pilot, screen)  # one edit at a time, as typing makes them
        screen.query_one("#opt-sweep", Input).value = "lr=1e-3,2e-3"
        await settle(pilot, screen)
        assert screen.preview.sweep == ("lr=1e-3,2e-3",) and screen.preview.sweep_runs == 2
        side = str(screen.query_one("#panel-side .panel-body", Static).render())
        assert "Sweep" in side and "2 runs, one after another: lr=1e-3,2e-3" in side
        await pilot.press("ctrl+l")
        project = tmp_path / "runs" / "Data ACT-torch"
        await wait_for(pilot, lambda: any(project.glob("sweep-*/sweep-sweep-*.log")), 60, "the sweep's driver")
    [log_file] = project.glob("sweep-*/sweep-sweep-*.log")  # a sweep without a run_name is named sweep-<slug>
    folder = log_file.parent
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and " done: " not in log_file.read_text():
        time.sleep(0.5)
    for index, lr in enumerate((1e-3, 2e-3)):
        [start] = events_of(folder / str(index), RunStart)
        assert (start.sweep, start.sweep_index, start.config["lr"]) == (folder.name, index, lr)
        assert [e.status for e in events_of(folder / str(index), RunEnd)] == ["finished"]


def test_a_sweep_submitted_to_the_cluster_lists_as_one_group_and_every_run_finishes(slurm_cluster, tiny_data: Path,
                                                                                      tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no cluster profile of the user's
    folder = tmp_path / "grid"
    overrides = [o for o in tiny_overrides(tiny_data, folder, epochs=1, eval_interval=1) if not o.startswith("global_batch")]
    args = ["launch", "-m", "--slurm", "--nodes", "1", "--nproc-per-node", "1", "--partition", "debug", "--time", "10",
            *overrides, "global_batch_size=20", "run_name=grid", "lr=1e-3,2e-3", "seed=range(2)"]
    dry = hrm_tui(*args, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0] == f"sweep 'grid': 4 runs x 1 node x 10 = 0.6667 node-hours, one job per run, in {folder}"
    assert dry.stdout.count("#!/bin/bash") == 4 and not folder.exists()

    submitted = hrm_tui(*args, cwd=tmp_path)
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.count("submitted job ") == 4

    def listed() -> list[dict]:
        result = hrm_tui("runs", "--json", "--runs-root", str(folder), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not all(r["status"] == "finished" for r in listed() or [{"status": ""}]):
        time.sleep(1)
    runs = listed()
    assert [(r["sweep"], r["sweep_index"], r["status"]) for r in runs] == [("grid", i, "finished") for i in range(4)]
    assert all(r["job_id"] for r in runs)


def test_a_sweep_under_torchrun_is_refused_with_the_way_to_run_it(tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "hrm_core.pretrain", "-m", "+experiment=demo", "lr=1e-3,2e-3"],
                            env=trainer_env(LOCAL_RANK="0", RANK="0"), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("config error: -m runs a sweep from one process, not under torchrun")


def test_a_runs_names_replace_those_given_for_the_sweep():
    from hrm_core.config.sweep import without_keys

    assert without_keys(["run_name=grid", "lr=1", "+checkpoint_path=/x", "seed=0"], {"run_name", "checkpoint_path"}) == [
        "lr=1", "seed=0"]
