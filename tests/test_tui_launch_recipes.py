"""What a run is launched with survives into its resume and its clone: `--config-dir` (passed to the trainer,
shown in the command, recorded in launch.json) and the launch options. The first test drives the real
trainer from the form; the others read run directories as the trainer and the launcher leave them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from textual.widgets import Select

from hrm_tui.forms.config_tree import ConfigTree
from hrm_tui.runs.discovery import same_run
from hrm_tui.launch_plan import LaunchOptions
from hrm_tui.runs.launcher import run_recipe
from hrm_tui.runs.resume import plan_resume
from tests.tui_launch_helpers import (
    NOW,
    PROJECT,
    RUN_NAME,
    async_test,
    make_app,
    notifications,
    settle,
    start_event,
    stop_runs_left_running,
    wait_for,
    write_events,
    write_launch,
)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def user_config_dir(root: Path) -> Path:
    """A user's own config folder with one preset, `mine`: the demo, shortened to a few seconds."""
    (root / "experiment").mkdir(parents=True)
    (root / "experiment" / "mine.yaml").write_text(textwrap.dedent(
        """\
        # @package _global_
        defaults:
          - demo
          - _self_
        epochs: 2
        eval_interval: 1
        """
    ))
    return root


@pytest.fixture()
def stop_leftovers(tmp_path: Path):
    yield
    stop_runs_left_running(tmp_path / "checkpoints")


@async_test
async def test_config_dir_reaches_the_trainer_and_stays_for_resume_and_clone(tmp_path: Path, stop_leftovers):
    config_dir = user_config_dir(tmp_path / "my-configs")
    run_dir = tmp_path / "checkpoints" / PROJECT / RUN_NAME
    app = make_app(tmp_path, preset="mine", config_tree=ConfigTree.load(config_dir), runs_root=Path("checkpoints"))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        screen.set_options(screen.options_draft.with_text("omp_num_threads", "1"))
        await settle(pilot, screen)
        assert screen.plan().argv[1:5] == ["-m", "hrm_core.pretrain", "--config-dir", str(config_dir)]
        assert f"--config-dir {config_dir}" in screen.preview.command_line()  # shown in the command
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: (run_dir / "launch.json").exists(), 60, "the launch")
    launch = json.loads((run_dir / "launch.json").read_text())
    assert launch["config_dir"] == str(config_dir) and launch["options"]["omp_num_threads"] == 1

    def ended() -> bool:
        events = (run_dir / "events.jsonl").read_text() if (run_dir / "events.jsonl").exists() else ""
        return '"type":"run_end"' in events

    import time

    deadline = time.monotonic() + 300
    while not ended():  # without the folder, the trainer would stop at once: Could not find 'experiment/mine'
        assert time.monotonic() < deadline, (run_dir / "stderr.log").read_text()[-2000:]
        time.sleep(0.5)
    end = json.loads((run_dir / "events.jsonl").read_text().splitlines()[-1])
    assert end["status"] == "finished", (run_dir / "stderr.log").read_text()[-2000:]

    # Resume keeps the folder and the options.
    resume = plan_resume(run_dir, launch["overrides"]).plan
    assert resume.argv[1:6] == ["-P", "-m", "hrm_core.pretrain", "--config-dir", str(config_dir)]
    assert resume.env["OMP_NUM_THREADS"] == "1"

    # Clone, from an app opened without --config-dir: the form switches to the run's folder and options.
    app = make_app(tmp_path, runs_root=Path("checkpoints"), start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.runs_screen is not None and len(app.runs_screen.table.summaries) == 1, 30, "the run")
        assert same_run(app.runs_screen.table.selected.path, run_dir)
        await pilot.press("c")
        await wait_for(pilot, lambda: any("launch options" in m and str(config_dir) in m for m in notifications(app)), 10, "the clone notice")
        await wait_for(pilot, lambda: app.launch_screen is not None and app.launch_screen.model is not None, 30, "the form")
        screen = app.launch_screen
        await settle(pilot, screen)
        assert screen.config_tree.user_dir == config_dir
        assert screen.query_one("#preset", Select).value == "mine"
        assert screen.options_draft.omp_num_threads == "1"
        assert screen.plan().argv[3:5] == ["--config-dir", str(config_dir)]


@async_test
async def test_clone_restores_the_launch_options_and_says_when_a_run_has_none(tmp_path: Path):
    root = tmp_path / "checkpoints"
    project = root / PROJECT
    tuned = project / "HierarchicalReasoningModel_ACTV1 tuned-run"
    write_launch(tuned, pid=1, create_time=1.0, cmdline=["python"], overrides=["+experiment=demo", "lr=3e-4"], time_=NOW - 60)
    record = json.loads((tuned / "launch.json").read_text())
    record["options"] = LaunchOptions(omp_num_threads=3, compile=False).to_json()
    (tuned / "launch.json").write_text(json.dumps(record))
    write_events(tuned, [start_event(NOW - 60, ["+experiment=demo", "lr=3e-4"], 100), {"type": "run_end", "time": NOW - 30, "status": "finished"}])
    by_hand = project / "HierarchicalReasoningModel_ACTV1 by-hand"  # no launch.json: started from a shell
    write_events(by_hand, [start_event(NOW - 90, ["+experiment=demo", "beta1=0.8"], 100), {"type": "run_end", "time": NOW - 80, "status": "finished"}])

    app = make_app(tmp_path, runs_root=root, start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.runs_screen is not None and len(app.runs_screen.table.summaries) == 2, 30, "the runs")
        assert same_run(app.runs_screen.table.selected.path, tuned)  # newest first
        await pilot.press("c")
        await wait_for(pilot, lambda: app.launch_screen is not None and app.launch_screen.model is not None, 30, "the form")
        screen = app.launch_screen
        await settle(pilot, screen)
        assert screen.model.overrides() == ["+experiment=demo", "lr=3e-4"]
        assert (screen.options_draft.omp_num_threads, screen.options_draft.compile) == ("3", False)
        assert screen.plan().env == {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "3", "DISABLE_COMPILE": "1"}

        await pilot.press("f3")
        await pilot.pause()
        await pilot.press("down", "c")  # the run started by hand
        await wait_for(pilot, lambda: any("started by hand" in m for m in notifications(app)), 10, "the clone notice")
        await wait_for(pilot, lambda: screen.model.overrides() == ["+experiment=demo", "beta1=0.8"], 30, "the second clone")
        await settle(pilot, screen)
        assert screen.options_draft.omp_num_threads == "" and screen.options_draft.compile  # the defaults again


def test_a_run_started_by_hand_keeps_its_config_dir_from_the_recorded_command(tmp_path: Path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    command = {"argv": ["python", "-m", "hrm_core.pretrain", "--config-dir", "my-configs", "+experiment=mine"],
               "overrides": ["+experiment=mine"], "cwd": str(tmp_path)}
    (run_dir / "command.json").write_text(json.dumps(command))
    recipe = run_recipe(run_dir, ["+experiment=mine"])
    assert recipe.config_dir == tmp_path / "my-configs" and recipe.options is None and "started by hand" in recipe.note
    (tmp_path / "my-configs").mkdir()
    assert plan_resume(run_dir, ["+experiment=mine"]).plan.argv[4:6] == ["--config-dir", str(tmp_path / "my-configs")]
    # A damaged launch.json is said so, not a crash.
    (run_dir / "launch.json").write_text(json.dumps({"options": {"nproc_per_node": "lots"}}))
    recipe = run_recipe(run_dir, ["+experiment=mine"])
    assert recipe.options is None and "damaged" in recipe.note and "nproc_per_node" in recipe.note
