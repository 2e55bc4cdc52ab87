"""The form validates through the trainer's own checks: a missing or broken dataset shows at data_path."""

from __future__ import annotations

import sys
from pathlib import Path

from hrm_tui.forms.config_tree import ConfigTree
from tests.training_helpers import TINY_ARCH, write_tiny_dataset


def overrides(data_path: Path) -> list[str]:
    return [f"data_path={data_path}", "global_batch_size=8", "epochs=2", "eval_interval=1", *TINY_ARCH]


def test_a_missing_dataset_names_data_path_and_its_builder(tmp_path: Path):
    problems = ConfigTree.load().validate(overrides(tmp_path / "sudoku-extreme-1k-aug-1000"))
    assert [p.key for p in problems] == ["data_path"]
    build = problems[0].build_command
    assert build is not None and build[0] == sys.executable and "hrm_core.data.build_sudoku_dataset" in build


def test_a_broken_dataset_is_a_problem_at_data_path_not_a_failed_run(tmp_path: Path):
    data = write_tiny_dataset(tmp_path / "data")
    assert ConfigTree.load().validate(overrides(data)) == []
    (data / "train" / "all__labels.npy").unlink()
    problems = ConfigTree.load().validate(overrides(data))
    assert [p.key for p in problems] == ["data_path"] and "all__labels.npy" in problems[0].message
