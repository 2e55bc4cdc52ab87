"""Sweeps as Hydra users write them (issue 16, item 7): `python -m hrm_core.pretrain -m` with Hydra's grammar,
expanded by Hydra's own parser and basic sweeper, run one after another, each run in its own directory of the
sweep's folder and recording its sweep in run_start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hrm_core.config import ConfigError
from hrm_core.config.sweep import expand_sweep, member_names
from hrm_core.rundir.events import RunEnd, RunStart
from tests.training_helpers import events_of, tiny_overrides, trainer_env, write_tiny_dataset


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
