"""`python -m hrm_core.pretrain`'s own flags and what it refuses of Hydra's habits, through real subprocesses
(docs/config.md, "Differences from Hydra")."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
import yaml

from hrm_core.config import ConfigError, compose
from hrm_core.config.command_line import HYDRA_INSTEAD, config_groups
from tests.training_helpers import trainer_env


def pretrain(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hrm_core.pretrain", *args], cwd=tmp_path, env=trainer_env(),
                          capture_output=True, text=True, timeout=120)


def assert_one_clean_line(result: subprocess.CompletedProcess, typed: str = "") -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("config error: "), result.stderr
    assert "++" not in lines[0].replace(typed, "")  # compose's internal add-or-override form never shows
    return lines[0]


def test_help_lists_groups_presets_and_where_keys_are(tmp_path):
    result = pretrain(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    groups = config_groups(None)
    assert set(groups) == {"arch", "experiment"}
    for group, options in groups.items():
        for option, description in options.items():
            assert description, f"{group}/{option}.yaml has no description"
            assert f"    {option}" in result.stdout and description in result.stdout
    assert "+experiment=OPTION" in result.stdout and "arch=OPTION   (default hrm_v1)" in result.stdout
    assert "docs/config.md" in result.stdout and "--cfg all" in result.stdout


def test_cfg_job_is_the_composed_config_and_all_adds_every_schema_key(tmp_path):
    bare = pretrain(tmp_path, "--cfg", "+experiment=sudoku_hard_full")
    job = pretrain(tmp_path, "--cfg", "job", "+experiment=sudoku_hard_full")
    assert bare.returncode == job.returncode == 0, bare.stderr + job.stderr
    assert bare.stdout == job.stdout
    composed = yaml.safe_load(job.stdout)
    assert composed["global_batch_size"] == 2304 and "log_interval" not in composed  # an hrm key, not in the tree

    every = pretrain(tmp_path, "--cfg", "all", "+experiment=sudoku_hard_full", "log_interval=7")
    assert every.returncode == 0, every.stderr
    full = yaml.safe_load(every.stdout)
    assert full["global_batch_size"] == 2304 and full["log_interval"] == 7 and full["arch"]["L_cycles"] == 8
    assert not list(tmp_path.iterdir())  # printing writes nothing


def test_cfg_all_still_validates(tmp_path):
    result = pretrain(tmp_path, "--cfg", "all", "lr=-1")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("config error: `lr` must be") and "Traceback" not in result.stderr


def test_version_and_info(tmp_path):
    result = pretrain(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"hrm {version('hrm')} (torch {torch.__version__}, hydra-core {version('hydra-core')}")

    info = pretrain(tmp_path, "--info")
    topic = pretrain(tmp_path, "--info", "searchpath")  # Hydra's topics are accepted
    assert info.returncode == topic.returncode == 0, info.stderr + topic.stderr
    assert info.stdout == topic.stdout
    assert info.stdout.splitlines()[0] == result.stdout.strip()
    installed = Path(str(__import__("hrm_config").__file__)).parent
    assert f"  {installed}" in info.stdout and "defaults list: arch=hrm_v1" in info.stdout
    assert "experiment: arc_2, demo" in info.stdout


HYDRA_ONLY = ["hydra.run.dir=X", "hydra.job.chdir=true", "hydra.verbose=true", "+hydra.x=1", "hydra.x=1", "++hydra.x=1",
              "~hydra.output_subdir", "hydra/job_logging=disabled"]


@pytest.mark.parametrize("override", HYDRA_ONLY)
def test_every_hydra_key_is_refused_one_way(tmp_path, override):
    line = assert_one_clean_line(pretrain(tmp_path, override, "lr=1e-4"), typed=override)
    key = override.lstrip("+~").split("=")[0]
    assert line == f"config error: `{key}` is a Hydra setting (in the override {override!r}); {HYDRA_INSTEAD}"
    assert "checkpoint_path" in line
    assert not list(tmp_path.iterdir())  # no outputs/ folder, no run directory


def test_cfg_hydra_is_refused_the_same_way(tmp_path):
    line = assert_one_clean_line(pretrain(tmp_path, "--cfg", "hydra"))
    assert line.endswith(HYDRA_INSTEAD)


@pytest.mark.parametrize(("override", "example"), [
    ("lr=1e-3,2e-3", "lr=0.001"),
    ("lr=range(1,3)", "lr=1"),
    ("lr=choice(1e-3,2e-3)", "lr=0.001"),
    ("arch=hrm_v1,trm", "arch=hrm_v1"),
    ("lr=glob(*)", None),
    ("lr=interval(1e-4,1e-3)", None),
])
def test_sweeps_name_the_sweep_and_where_sweeps_run(tmp_path, override, example):
    line = assert_one_clean_line(pretrain(tmp_path, override), typed=override)
    assert f"{override!r} is a sweep over `{override.split('=')[0]}`" in line
    assert "a sweep runs one training per value: add -m (--multirun) to run it" in line
    assert (f"for one run give one value, e.g. {example}" in line) if example else "e.g." not in line


@pytest.mark.parametrize(("override", "says"), [
    ("lr=1e-3,,2e-3", "cannot parse the sweep override 'lr=1e-3,,2e-3'"),
    ("lr=interval(1e-4,1e-3)", "cannot expand the sweep in the override 'lr=interval(1e-4,1e-3)'"),
])
def test_a_bad_sweep_gets_hydras_error_naming_the_override(tmp_path, override, says):
    result = pretrain(tmp_path, "-m", "+experiment=demo", override)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    message, hint = result.stderr.strip().splitlines()
    assert message.startswith(f"config error: {says}") and hint.startswith("  hint: ")


def test_compose_refuses_the_same_for_every_caller():
    # The launch form composes through the same function, so it shows the same message.
    with pytest.raises(ConfigError) as error:
        compose(["hydra.job.chdir=true"])
    assert error.value.key == "hydra.job.chdir" and error.value.message.endswith(HYDRA_INSTEAD)
    with pytest.raises(ConfigError, match="is a sweep over `lr`"):
        compose(["lr=1e-3,2e-3"])
