"""Run discovery and status: finished / failed / stopped from `run_end`, running and lost from the process
table, for run directories written the way the trainer and the launcher write them.

The fixed runs root (`make_fixture_runs`) lives in tests/tui_launch_helpers.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from hrm_core.rundir.events import RunEnd, RunStart
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import preset_from_overrides, summarize_run
from hrm_core.rundir.writer import EventWriter
from hrm_tui.runs.discovery import list_runs
from tests.tui_launch_helpers import NOW, T0, make_fixture_runs, start_event, training, write_events, write_launch

@pytest.fixture()
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "checkpoints"
    make_fixture_runs(root)
    return root


def test_each_status_is_recognised(runs_root: Path):
    by_name = {Path(s.name).name.split()[-1]: s for s in list_runs(runs_root, now=NOW)}
    assert by_name["brave-otter"].status == RunStatus.FINISHED
    assert by_name["calm-heron"].status == RunStatus.FAILED
    assert "loss is nan" in by_name["calm-heron"].detail
    assert by_name["keen-lynx"].status == RunStatus.STOPPED
    assert by_name["quiet-moose"].status == RunStatus.LOST
    assert by_name["swift-seal"].status == RunStatus.RUNNING
    assert by_name["tidy-wombat"].status == RunStatus.FAILED
    assert "hint: did you mean `lr`?" in by_name["tidy-wombat"].detail


def test_runs_are_listed_newest_first_with_their_position(runs_root: Path):
    runs = list_runs(runs_root)
    assert [Path(r.name).name.split()[-1] for r in runs] == [
        "swift-seal", "quiet-moose", "keen-lynx", "calm-heron", "tidy-wombat", "brave-otter",
    ]  # fmt: skip
    running = runs[0]
    assert (running.step, running.total_steps, running.progress) == (1200, 1875, 1200 / 1875)
    assert running.preset == "demo"
    assert running.last_event_time == NOW - 3
    assert running.start_time == T0 + 5400
    assert running.overrides == ["+experiment=demo", "arch.hidden_size=128"]
    assert runs[2].preset == "sudoku_extreme_1k"


def test_a_run_without_launch_record_falls_back_to_its_heartbeat(tmp_path: Path):
    run = tmp_path / "headless"
    other_host = {"host": "some-other-node", "pid": 4242}
    write_events(run, [{**start_event(T0, [], 100), **other_host}, {"type": "heartbeat", "time": T0 + 60, "step": 5}])
    assert summarize_run(run, now=T0 + 90).status == RunStatus.RUNNING
    lost = summarize_run(run, now=T0 + 3600)
    assert lost.status == RunStatus.LOST and "cannot be checked" in lost.detail


def test_a_partial_last_line_and_garbage_are_ignored(tmp_path: Path):
    run = tmp_path / "run"
    write_events(run, [start_event(T0, [], 100), *training(T0, range(3), 100)])
    with open(run / "events.jsonl", "a") as f:
        f.write("not json\n")
        f.write('{"v":1,"type":"run_end","time":1,"status":"finis')  # the writer died mid-line
    summary = summarize_run(run, now=T0)
    assert summary.step == 2
    assert summary.status == RunStatus.LOST  # no complete run_end, and pid 1 did not start at T0


def test_a_long_event_log_is_summarised_from_its_head_and_tail(tmp_path: Path):
    run = tmp_path / "long"
    events = [start_event(T0, ["+experiment=demo"], 200_000), *training(T0, range(20_000), 200_000)]
    events.append({"type": "run_end", "time": T0 + 10**6, "step": 19_999, "status": "finished"})
    write_events(run, events)
    assert (run / "events.jsonl").stat().st_size > 1_000_000
    started = time.perf_counter()
    summary = summarize_run(run)
    assert time.perf_counter() - started < 0.5  # reads a few hundred KB, not the whole file
    assert (summary.status, summary.step, summary.preset, summary.start_time) == (RunStatus.FINISHED, 19_999, "demo", T0)


def test_a_resumed_run_is_running_again_until_it_ends(tmp_path: Path):
    run = tmp_path / "resumed"
    me = psutil.Process()
    write_events(run, [start_event(T0, [], 100), {"type": "run_end", "time": T0 + 10, "step": 5, "status": "stopped"}])
    # Relaunched: launch.json is newer than the run_end, its process alive, and no `resume` event yet.
    write_launch(run, pid=me.pid, create_time=me.create_time(), cmdline=me.cmdline(), overrides=[], time_=T0 + 20)
    assert summarize_run(run, now=T0 + 21).status == RunStatus.RUNNING
    write_events(run, [{"type": "resume", "time": T0 + 25, "step": 5}, *training(T0 + 25, range(6, 9), 100)])
    assert summarize_run(run, now=T0 + 120).status == RunStatus.RUNNING
    write_events(run, [{"type": "run_end", "time": T0 + 90, "step": 8, "status": "finished"}])
    assert summarize_run(run, now=T0 + 121).status == RunStatus.FINISHED


def test_event_writer_runs_are_found(tmp_path: Path):
    """A run written by the trainer's own EventWriter, nested at any depth, is discovered."""
    run = tmp_path / "a" / "b" / "c"
    with EventWriter(run) as writer:
        writer.write(RunStart(total_steps=10, overrides=["+experiment=demo"], host="elsewhere", pid=1))
        writer.write(RunEnd(step=10, status=RunStatus.FINISHED))
    (run / "step_10").mkdir()  # checkpoint folders are not runs
    (run / "step_10" / "events.jsonl").write_text("")
    runs = list_runs(tmp_path)
    assert [r.name for r in runs] == ["a/b/c"]
    assert runs[0].status == RunStatus.FINISHED


def test_missing_root_is_no_runs(tmp_path: Path):
    assert list_runs(tmp_path / "nope") == []


def test_preset_from_overrides():
    assert preset_from_overrides(["lr=1", "+experiment=demo"]) == "demo"
    assert preset_from_overrides(["experiment=arc_2"]) == "arc_2"
    assert preset_from_overrides(["lr=1"]) is None


def test_fixture_processes_are_what_they_claim():
    """The lost/crashed fixtures rely on pid 1 having started long after Unix time 1-2."""
    assert psutil.Process(1).create_time() > 1000
    assert os.getpid() != 1
