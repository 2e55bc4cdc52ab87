"""Resume from the runs screen cannot run code the run directory chooses, and cannot damage a live run.

The trap: launch.json records a working directory holding a planted `hrm_core/` package (and `torch/`)
that would write a marker file if imported. `r` and `y` on the runs screen must resume the real trainer
(the installed package, this interpreter) in that directory (its relative data path still resolves there),
and the marker must never appear.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hrm_core.rundir.events import Resume, RunEnd
from hrm_core.rundir.lock import acquire_lock
from hrm_core.rundir.status import RunStatus
from hrm_tui.runs.launcher import LaunchOptions
from hrm_tui.runs.resume import ResumeError, plan_resume, start_resume
from hrm_tui.screens.confirm import ConfirmScreen
from tests.training_helpers import events_of, pretrain_argv, tiny_overrides, trainer_env, write_tiny_dataset
from tests.tui_launch_helpers import async_test, make_app, wait_for

PLANTED_CODE = "import pathlib; pathlib.Path({marker!r}).write_text('imported from the run directory')\n"


def plant(folder: Path, marker: Path) -> None:
    """Packages that shadow the real ones if the working directory is on sys.path."""
    for package in ("hrm_core", "torch"):
        (folder / package).mkdir(parents=True)
        (folder / package / "__init__.py").write_text(PLANTED_CODE.format(marker=str(marker)))
    (folder / "hrm_core" / "pretrain.py").write_text(PLANTED_CODE.format(marker=str(marker)))


@pytest.fixture()
def stopped_run(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """A real run stopped at step 5 (a checkpoint), launched from `trap/` with a relative data path."""
    trap = tmp_path / "trap"
    write_tiny_dataset(trap / "data")
    run_dir = tmp_path / "checkpoints" / "Tiny" / "trapped-run"
    overrides = tiny_overrides(Path("data"), run_dir, epochs=4, eval_interval=2)
    result = subprocess.run(pretrain_argv(overrides), cwd=trap, env=trainer_env(HRM_TEST_STOP_AT_STEP="5"),
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert events_of(run_dir, RunEnd)[-1].status == RunStatus.STOPPED
    (run_dir / "launch.json").write_text(json.dumps({
        "pid": 999_999_999, "pgid": 999_999_999, "create_time": 1.0, "cmdline": ["python"], "host": os.uname().nodename,
        "cwd": str(trap), "time": 1.0, "overrides": overrides, "options": LaunchOptions().to_json()}))
    return trap, run_dir, overrides


@async_test
async def test_resume_never_imports_from_the_recorded_working_directory(stopped_run, tmp_path: Path, monkeypatch):
    trap, run_dir, _ = stopped_run
    marker = tmp_path / "MARKER"
    plant(trap, marker)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    app = make_app(tmp_path, start_mode="runs", runs_root=tmp_path / "checkpoints")
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.runs_screen.table
        await wait_for(pilot, lambda: len(table.summaries) == 1 and table.selected is not None, 30, "the run")
        assert table.selected.status is RunStatus.STOPPED
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 30, "the confirmation")
        message = app.screen._message
        assert f"{sys.executable} -P -m hrm_core.pretrain" in message or "python -P -m hrm_core.pretrain" in message
        assert f"in {trap}" in message and "PYTHONSAFEPATH=1" in message and "++resume=auto" in message
        await pilot.press("y")
        await wait_for(pilot, lambda: marker.exists() or (run_dir / "events.jsonl").read_text().count('"run_end"') >= 2,
                       240, "the resumed run's end")
        assert not marker.exists(), "the planted package in the recorded working directory was imported"
    resumes = events_of(run_dir, Resume)
    assert len(resumes) == 1 and resumes[0].step == 5  # the real trainer continued the run from its checkpoint
    assert events_of(run_dir, RunEnd)[-1].status == RunStatus.FINISHED
    assert not marker.exists(), "the planted package in the recorded working directory was imported"
    launch = json.loads((run_dir / "launch.json").read_text())
    assert launch["resume"] is True and launch["argv"][:4] == [sys.executable, "-P", "-m", "hrm_core.pretrain"]
    assert launch["cwd"] == str(trap) and launch["env"]["PYTHONSAFEPATH"] == "1"


def test_resume_refuses_a_live_owner_and_writes_nothing(tmp_path: Path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = json.dumps({"pid": 999_999_999, "create_time": 1.0, "cmdline": ["python"], "cwd": str(tmp_path), "overrides": ["lr=1"]})
    (run_dir / "launch.json").write_text(record)
    plan = plan_resume(run_dir, ["lr=1"])
    with acquire_lock(run_dir):  # a trainer (this process, as far as the lock tells) owns the directory
        with pytest.raises(ResumeError, match=f"pid {os.getpid()}"):
            start_resume(plan)
    assert (run_dir / "launch.json").read_text() == record  # the live run's process record is intact
    assert not (run_dir / "stdout.log").exists() and not (run_dir / "stderr.log").exists()


@pytest.mark.parametrize("launch, overrides, message", [
    ({"options": {"nproc_per_node": "abc"}}, [], "options.*nproc_per_node"),
    ({"options": {"gpus": ["x"]}}, [], "options.*gpus"),
    ({"cwd": "relative/dir"}, [], "not an absolute path"),
    ({}, ["--config-dir=/somewhere/planted"], "an option, not an override"),
    ({}, ["lr"], "cannot be used"),
])
def test_resume_refuses_what_it_cannot_use_safely(tmp_path: Path, launch: dict, overrides: list[str], message: str):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "launch.json").write_text(json.dumps(launch))
    with pytest.raises(ResumeError, match=message):
        plan_resume(run_dir, overrides)


def test_a_recorded_working_directory_must_be_a_plain_directory(tmp_path: Path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    (run_dir / "launch.json").write_text(json.dumps({"cwd": str(tmp_path / "link")}))
    with pytest.raises(ResumeError, match="not a plain directory"):
        plan_resume(run_dir, [])
    (run_dir / "launch.json").write_text(json.dumps({"cwd": str(tmp_path / "gone")}))
    plan = plan_resume(run_dir, [], cwd=real)  # moved or deleted since: relative paths resolve here, and it says so
    assert plan.plan.cwd == real and "is gone" in plan.describe()
