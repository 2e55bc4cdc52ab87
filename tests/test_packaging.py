"""Packaging: every package is listed in pyproject.toml, and a plain (non-editable) install finds the
Hydra config tree and composes the default config."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_namespace_packages

from tests.conftest import REPO_ROOT


def listed_packages() -> set[str]:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return set(pyproject["tool"]["setuptools"]["packages"])


def test_every_package_in_the_tree_is_listed():
    on_disk = {p for p in find_namespace_packages(str(REPO_ROOT), include=["hrm_core*", "hrm_tui*"])
               if (REPO_ROOT / p.replace(".", "/") / "__init__.py").exists()}
    config = REPO_ROOT / "config"
    config_dirs = {"hrm_config"} | {"hrm_config." + ".".join(d.relative_to(config).parts)
                                    for d in config.rglob("*") if d.is_dir() and any(d.glob("*.yaml"))}
    missing = (on_disk | config_dirs) - listed_packages()
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"


def test_non_editable_install_finds_the_config_tree(tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(REPO_ROOT)],
        check=True, timeout=300, capture_output=True,
    )
    probe = (
        "import hrm_core, hrm_config, hrm_core.config as c;"
        "assert hrm_core.__file__.startswith(%r), hrm_core.__file__;"
        "cfg = c.compose([]);"
        "print(cfg.arch.name, cfg.global_batch_size, cfg.arch.puzzle_emb_ndim)" % str(target)
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.split() == ["hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", "768", "512"]


def test_the_recorded_lower_bound_run_names_pyprojects_bounds():
    """tools/check_min_versions.py installs pyproject's lower bounds; docs/install.md records its last run. A
    bound changed without running the script again (and recording the run) fails here."""
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    try:
        import check_min_versions as script
    finally:
        sys.path.remove(str(REPO_ROOT / "tools"))
    bounds = script.lower_bounds()
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(bounds) == len(declared)  # every dependency has a lower bound the script installs
    prefix = "installed at their lower bounds: "
    recorded_line = next(line for line in (REPO_ROOT / "docs" / "install.md").read_text().splitlines()
                         if line.startswith(prefix))
    recorded = dict(pin.split("==") for pin in recorded_line[len(prefix):].split(", "))
    assert set(recorded) == set(bounds)
    assert {name: script.release_numbers(v) for name, v in recorded.items()} == {name: script.release_numbers(v) for name, v in bounds.items()}
