"""Comparing runs: marking them in the runs list, one monitor overlaying them, legends that tell them apart,
and the config diff (only the keys that differ), from the runs list and from the compared monitor."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from hrm_tui.monitoring.compare import config_diff, read_run_config, run_labels, short_labels
from hrm_tui.screens.config_diff import ConfigDiffScreen
from hrm_tui.screens.monitor import MonitorScreen
from hrm_tui.screens.runs import RunsScreen
from tests.tui_launch_helpers import async_test, make_app, make_fixture_runs, notifications, wait_for
from tests.tui_monitor_helpers import as_text

ARCH = "HierarchicalReasoningModel_ACTV1"


def write_config(run_dir: Path, **changes: object) -> None:
    config = {"lr": 1e-4, "global_batch_size": 768, "arch": {"name": ARCH, "hidden_size": 512, "H_cycles": 2},
              "run_name": f"{ARCH} {run_dir.name.split()[-1]}"}
    for key, value in changes.items():
        section, _, name = key.rpartition("__")
        (config[section] if section else config)[name] = value
    (run_dir / "all_config.yaml").write_text(yaml.safe_dump(config))


def test_labels_drop_the_words_every_compared_name_starts_with():
    assert short_labels([f"{ARCH} brave-otter", f"{ARCH} calm-heron"]) == ["brave-otter", "calm-heron"]
    assert short_labels([f"{ARCH} brave-otter", f"{ARCH} brave-owl"]) == ["otter", "owl"]  # never inside a word
    assert short_labels(["run", "run 2"]) == ["run", "run 2"]  # one would be left empty: names stay whole
    assert short_labels(["alpha", "beta"]) == ["alpha", "beta"]
    assert short_labels([f"{ARCH} brave-otter"]) == [f"{ARCH} brave-otter"]  # one run: its whole name


def test_runs_with_the_same_folder_name_are_told_apart_by_their_project(tmp_path: Path):
    a, b = tmp_path / "Sudoku ACT-torch" / f"{ARCH} x", tmp_path / "Maze ACT-torch" / f"{ARCH} x"
    assert run_labels([a, b]) == [f"Sudoku ACT-torch/{ARCH} x", f"Maze ACT-torch/{ARCH} x"]


def test_the_config_diff_keeps_only_the_keys_that_differ(tmp_path: Path):
    runs = make_fixture_runs(tmp_path)
    write_config(runs["finished"])
    write_config(runs["failed"], lr=1.0, arch__hidden_size=256)
    rows = config_diff([read_run_config(runs["finished"]), read_run_config(runs["failed"])])
    assert [(r.key, r.values) for r in rows] == [
        ("arch.hidden_size", ("512", "256")),
        ("lr", ("0.0001", "1.0")),
        ("run_name", (f"{ARCH} brave-otter", f"{ARCH} calm-heron")),
    ]


def test_a_resumed_runs_config_diff_leaves_out_how_it_was_started_and_compares_resolved_paths(tmp_path: Path):
    """Issue 19.8: `checkpoint_path` relative against absolute and `resume` null against auto were listed as
    differences between a run and its resumed session."""
    runs = make_fixture_runs(tmp_path / "work")
    first, resumed = runs["finished"], runs["failed"]
    relative = first.relative_to(tmp_path / "work").as_posix()
    write_config(first, checkpoint_path=relative, data_path="data/demo", resume=None)
    write_config(resumed, checkpoint_path=str(first), data_path=str(tmp_path / "work" / "data" / "demo"), resume="auto",
                 lr=1.0)
    for run_dir in (first, resumed):
        (run_dir / "command.json").write_text(json.dumps({"argv": ["pretrain"], "cwd": str(tmp_path / "work")}))
    rows = config_diff([read_run_config(first), read_run_config(resumed)])
    assert [r.key for r in rows] == ["lr", "run_name"]
    # A relative path elsewhere is still a different folder.
    write_config(resumed, checkpoint_path="elsewhere/run")
    rows = config_diff([read_run_config(first), read_run_config(resumed)])
    assert ("checkpoint_path", (str(first), str(tmp_path / "work" / "elsewhere" / "run"))) in [(r.key, r.values) for r in rows]


def test_a_config_that_cannot_be_read_says_why_and_falls_back_to_the_run_start_event(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    assert read_run_config(run).problem == "no all_config.yaml, and no run_start event records the config"
    (run / "all_config.yaml").write_text("a: [unclosed\n")
    assert "not valid YAML" in read_run_config(run).problem
    (run / "all_config.yaml").write_text("- a list\n")
    assert "does not hold a mapping" in read_run_config(run).problem
    event = {"v": 1, "type": "run_start", "time": 1.0, "config": {"lr": 0.5, "arch": {"name": "x"}}}
    (run / "events.jsonl").write_text(json.dumps(event) + "\n")
    read = read_run_config(run)
    assert read.values == {"lr": "0.5", "arch.name": "x"} and read.problem == ""


@async_test
async def test_marked_runs_open_one_monitor_that_overlays_them_with_distinct_labels(tmp_path: Path):
    make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.runs_screen.table.summaries) == 6, 10, "the runs")
        screen = app.runs_screen
        order = [s.path for s in screen.table.summaries]
        await pilot.press("space", "space")  # marks the first run, moves down, marks the second
        assert screen.view.marked == tuple(order[:2])
        title = as_text(screen.query_one("#runs-title").content)
        assert "2 marked" in title
        assert as_text(screen.table.get_cell_at((0, 0))).startswith("◆ ")
        await pilot.press("k", "enter")  # the cursor on the second marked run: it comes first
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        assert [v.run_dir for v in app.screen.views] == [order[1], order[0]]
        await pilot.press("q")
        await wait_for(pilot, lambda: app.screen is screen, 10, "the runs list again")
        await pilot.press("g", "enter")  # the first marked run first
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        monitor = app.screen
        assert [v.run_dir for v in monitor.views] == order[:2]
        labels = [v.label for v in monitor.views]
        assert len(set(labels)) == 2 and not any(label.startswith(ARCH) for label in labels)
        assert len({v.color for v in monitor.views}) == 2
        await pilot.press("q")
        await wait_for(pilot, lambda: app.screen is screen, 10, "the runs list again")
        assert screen.view.marked == tuple(order[:2])  # the marks stay
        await pilot.press("escape")  # no filter: esc unmarks
        assert screen.view.marked == ()


@async_test
async def test_the_config_diff_from_the_runs_list_and_from_the_compared_monitor(tmp_path: Path):
    runs = make_fixture_runs(tmp_path / "checkpoints")
    write_config(runs["finished"])
    write_config(runs["failed"], lr=1.0)
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.runs_screen.table.summaries) == 6, 10, "the runs")
        screen = app.runs_screen
        await pilot.press("d")
        assert any("Mark two or more runs" in m for m in notifications(app))
        assert not isinstance(app.screen, ConfigDiffScreen)
        for run in (runs["finished"], runs["failed"]):
            row = next(i for i, s in enumerate(screen.table.summaries) if s.path == run)
            screen.table.move_cursor(row=row)
            await pilot.press("space")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigDiffScreen) and app.screen.configs is not None, 10, "the diff")
        diff = app.screen
        assert [r.key for r in diff.rows] == ["lr", "run_name"]
        assert "2 keys differ between 2 runs" in as_text(diff.query_one("#diff-title").content)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.screen is screen, 10, "the runs list again")

        await pilot.press("enter")  # the marked runs, overlaid
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        monitor = app.screen
        assert len(monitor.views) == 2
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigDiffScreen) and app.screen.configs is not None, 10, "the diff")
        assert [r.key for r in app.screen.rows] == ["lr", "run_name"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is monitor, 10, "the monitor again")


@async_test
async def test_attach_with_several_runs_overlays_them_and_a_run_without_a_config_is_named(tmp_path: Path):
    runs = make_fixture_runs(tmp_path / "checkpoints")
    write_config(runs["finished"])
    app = make_app(tmp_path, attach=[runs["finished"], runs["stopped"]])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 10, "the monitor")
        assert [v.run_dir for v in app.screen.views] == [runs["finished"], runs["stopped"]]
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigDiffScreen) and app.screen.configs is not None, 10, "the diff")
        title = as_text(app.screen.query_one("#diff-title").content)
        assert "keen-lynx: not compared, no all_config.yaml" in title
        await pilot.press("q", "q")  # closes the diff, then quits from the attached monitor
        await wait_for(pilot, lambda: not app.is_running, 10, "the app to exit")
