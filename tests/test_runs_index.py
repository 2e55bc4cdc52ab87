"""The per-user index of runs (hrm_core.rundir.index) and what reads it: runs found wherever they are.

The real trainer registers its run from any folder, `hrm-tui runs` lists it from any other folder, hostile
index files never crash or reach the terminal raw, missing runs are shown and pruned (CLI and the runs
screen's `x`), and the scan of a runs root takes bounded time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hrm_core.rundir.index import (EntryState, entry_file_name, entry_state, index_dir, prune_index, read_index,
                                   register_run)
from hrm_core.rundir.status import RunStatus
from hrm_tui.runs.discovery import list_all_runs, scan_runs_root
from hrm_tui.screens.confirm import ConfirmScreen
from hrm_tui.screens.runs import RunsScreen
from tests.training_helpers import pretrain_argv, run_trainer, tiny_overrides, trainer_env, write_tiny_dataset
from tests.tui_launch_helpers import async_test, make_app, make_fixture_runs, notifications, wait_for, write_events

ESC = "\x1b"


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny-puzzles")


def hrm_tui(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hrm_tui", *args], cwd=cwd, env=env or dict(os.environ, TZ="UTC"),
                          capture_output=True, text=True, timeout=120)


def a_run(run_dir: Path, start: float = 1735725600.0) -> Path:
    write_events(run_dir, [{"type": "run_start", "time": start, "total_steps": 10},
                           {"type": "run_end", "time": start + 5, "step": 10, "status": "finished"}])
    return run_dir


# --- the index itself ----------------------------------------------------------------------------------------


def test_the_index_lives_in_the_xdg_state_directory(private_state_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    assert index_dir() == private_state_home / "hrm" / "runs"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # the XDG spec: a relative path is ignored
    monkeypatch.setenv("HOME", str(tmp_path))
    assert index_dir() == tmp_path / ".local" / "state" / "hrm" / "runs"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert index_dir() == tmp_path / ".local" / "state" / "hrm" / "runs"


def test_register_writes_one_small_file_per_run_and_reads_back(tmp_path: Path):
    first, second = a_run(tmp_path / "a" / "run"), a_run(tmp_path / "b" / "run")
    files = {register_run(first), register_run(second), register_run(first)}  # registering again rewrites its entry
    assert len(files) == 2 and all(f.parent == index_dir() for f in files)
    assert (index_dir() / entry_file_name(first)).is_file()
    entry = json.loads((index_dir() / entry_file_name(first)).read_text())
    assert entry["v"] == 1 and entry["path"] == str(first) and isinstance(entry["time"], float) and entry["host"]
    read = read_index()
    assert {e.path for e in read.entries} == {first, second} and read.skipped == 0 and read.problems == []
    assert read.entries[0].path == first  # newest registration first


def test_a_relative_run_directory_is_indexed_by_its_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    register_run("checkpoints/p/r")
    [entry] = read_index().entries
    assert entry.path == tmp_path / "checkpoints" / "p" / "r"


def test_entry_states_and_prune_removes_only_stale_entries(tmp_path: Path):
    present = a_run(tmp_path / "present")
    gone = a_run(tmp_path / "gone")
    emptied = a_run(tmp_path / "emptied")
    for run_dir in (present, gone, emptied):
        register_run(run_dir)
    for path in gone.iterdir():
        path.unlink()
    gone.rmdir()
    (emptied / "events.jsonl").unlink()
    assert [entry_state(p) for p in (present, gone, emptied)] == [EntryState.PRESENT, EntryState.MISSING, EntryState.EMPTY]
    assert {e.path for e in prune_index()} == {gone, emptied}
    assert [e.path for e in read_index().entries] == [present]
    assert prune_index() == []


HOSTILE_ENTRIES = {
    "garbage.json": b"\x00\xff\xfe not json at all \x1b[2J",
    "escapes.json": json.dumps({"v": 1, "path": f"/nowhere/{ESC}]52;c;cm0gLXJmIH4={ESC}\\{ESC}[2Jrun\u202e", "time": 1.0}).encode(),
    "relative.json": json.dumps({"v": 1, "path": "relative/run"}).encode(),
    "not-an-object.json": b"[1, 2, 3]",
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "huge.json": b'{"path": "/' + b"a" * (2 * 1024 * 1024) + b'"}',
    "bad-time.json": json.dumps({"v": 1, "path": "/nowhere/else", "time": "soon", "host": 7}).encode(),
    f"name-with-{ESC}[31m-escape.json": b"{",
    "notes.txt": b"someone else's file",
}


def make_hostile_index(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in HOSTILE_ENTRIES.items():
        (folder / name).write_bytes(data)
    os.mkfifo(folder / "fifo.json")  # a plain open would block forever
    (folder / "folder.json").mkdir()
    (folder / "dangling.json").symlink_to(folder / "no-such-target")
    unreadable = folder / "unreadable.json"
    unreadable.write_text("{}")
    unreadable.chmod(0)


def test_hostile_index_files_are_skipped_and_described_safely(tmp_path: Path):
    real = a_run(tmp_path / "real")
    register_run(real)
    make_hostile_index(index_dir())
    read = read_index()
    # Only the real entry and the two well-formed absolute paths are entries (a bad time or host is left out).
    assert {str(e.path) for e in read.entries} >= {str(real), "/nowhere/else"}
    assert all(ESC not in p and "\u202e" not in p for p in read.problems)
    assert read.skipped >= 8
    listing = list_all_runs(tmp_path / "no-root")
    shown = [run.name for run in listing.runs] + [run.detail for run in listing.runs] + listing.notes()
    assert all(ESC not in text and "\u202e" not in text for text in shown)
    assert [run.path for run in listing.runs if run.status is not RunStatus.MISSING] == [real]


def test_hrm_tui_runs_survives_a_hostile_index(tmp_path: Path):
    a_run(tmp_path / "real")
    register_run(tmp_path / "real")
    make_hostile_index(index_dir())
    for args in (("runs",), ("runs", "--json"), ("runs", "--prune")):
        result = hrm_tui(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert ESC not in result.stdout + result.stderr and "\u202e" not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
    # The hostile files are still there: prune removes entries of missing runs, never files it cannot read.
    assert (index_dir() / "garbage.json").exists() and (index_dir() / "fifo.json").exists()


@pytest.mark.parametrize("kind", ["fifo", "file"])
def test_an_index_folder_that_is_not_a_folder_is_said_and_does_not_crash(tmp_path: Path, kind: str):
    folder = index_dir()
    folder.parent.mkdir(parents=True)
    os.mkfifo(folder) if kind == "fifo" else folder.write_bytes(b"\x1b[2J")
    read = read_index()
    assert read.entries == [] and read.problems and ESC not in read.problems[0]
    result = hrm_tui("runs", cwd=tmp_path)
    assert result.returncode == 0 and "no runs found" in result.stdout and ESC not in result.stdout


# --- runs found wherever they are ----------------------------------------------------------------------------


def test_a_hand_started_run_elsewhere_is_listed_from_a_third_folder(tiny_data: Path, tmp_path: Path):
    """The real trainer, started by hand from one folder with its own checkpoint_path in another, is listed by
    `hrm-tui runs` run from a third folder (whose ./checkpoints holds nothing)."""
    started_in, elsewhere, third = tmp_path / "started-in", tmp_path / "scratch" / "my-own-place", tmp_path / "third"
    started_in.mkdir()
    third.mkdir()
    result = subprocess.run(pretrain_argv(tiny_overrides(tiny_data, elsewhere, epochs=1, eval_interval=1)), cwd=started_in,
                            env=trainer_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    listed = hrm_tui("runs", cwd=third)
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if str(elsewhere) in line]
    assert " finished " in row
    [run] = [json.loads(line) for line in hrm_tui("runs", "--json", cwd=third).stdout.splitlines()]
    assert run["path"] == str(elsewhere) and run["status"] == "finished"
    # The trainer wrote nothing about the index anywhere but the index.
    assert not (started_in / "checkpoints").exists() and [e.path for e in read_index().entries] == [elsewhere]


def test_a_failure_to_write_the_index_warns_and_never_stops_training(tiny_data: Path, tmp_path: Path):
    blocked = tmp_path / "state-is-a-file"
    blocked.write_text("not a folder")
    run_dir = tmp_path / "run"
    result = run_trainer(pretrain_argv(tiny_overrides(tiny_data, run_dir, epochs=1, eval_interval=1)),
                         env=trainer_env(XDG_STATE_HOME=str(blocked)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warning: could not add this run to the index of runs" in result.stderr
    assert (run_dir / "events.jsonl").is_file()


def test_index_and_scan_are_merged_by_resolved_path_and_missing_runs_come_last(tmp_path: Path):
    root = tmp_path / "checkpoints"
    in_root = a_run(root / "p" / "in-root", start=2000.0)
    outside = a_run(tmp_path / "outside" / "run", start=3000.0)
    (tmp_path / "link").symlink_to(root / "p")
    register_run(tmp_path / "link" / "in-root")  # the same run through a symbolic link: listed once
    register_run(outside)
    register_run(tmp_path / "gone" / "run")
    listing = list_all_runs(root)
    assert [run.path for run in listing.runs[:2]] == [outside, in_root]
    assert [run.status for run in listing.runs] == [RunStatus.FINISHED, RunStatus.FINISHED, RunStatus.MISSING]
    assert listing.runs[0].name == str(outside) and listing.runs[1].name == "p/in-root"
    assert "hrm-tui runs --prune" in listing.notes()[-1]


def test_runs_lists_and_prunes_missing_runs(tmp_path: Path):
    gone = a_run(tmp_path / "gone")
    register_run(gone)
    (gone / "events.jsonl").unlink()
    gone.rmdir()
    result = hrm_tui("runs", cwd=tmp_path)
    assert result.returncode == 0
    [row] = [line for line in result.stdout.splitlines() if str(gone) in line]
    assert " missing " in row and "its folder has gone" in row
    assert "1 indexed run(s) are missing" in result.stdout
    pruned = hrm_tui("runs", "--prune", cwd=tmp_path)
    assert pruned.returncode == 0 and pruned.stdout == f"removed 1 index entry of missing runs:\n  {gone}\n"
    assert hrm_tui("runs", cwd=tmp_path).stdout.startswith("no runs found: searched ")
    assert "nothing to prune" in hrm_tui("runs", "--prune", cwd=tmp_path).stdout


def test_runs_says_how_to_prune_once_below_the_table_not_on_every_missing_row(tmp_path: Path):
    """Issue 19.12: the long sentence on pruning was repeated in DETAIL on each missing row."""
    for name in ("gone-a", "gone-b"):
        gone = a_run(tmp_path / name)
        register_run(gone)
        (gone / "events.jsonl").unlink()
        gone.rmdir()
    lines = hrm_tui("runs", cwd=tmp_path).stdout.splitlines()
    rows = [line for line in lines if " missing " in line and not line.startswith("note:")]
    assert len(rows) == 2 and all(row.rstrip().endswith("its folder has gone") for row in rows)
    assert sum("--prune" in line for line in lines) == 1
    assert lines[-1].startswith("note: 2 indexed run(s) are missing") and "hrm-tui runs --prune" in lines[-1]


def test_attach_finds_an_indexed_run_by_the_end_of_its_name(tmp_path: Path):
    from hrm_tui.cli import resolve_run

    run_dir = a_run(tmp_path / "far" / "away" / "HierarchicalReasoningModel_ACTV1 odd-newt")
    register_run(run_dir)
    assert resolve_run("odd-newt", tmp_path / "checkpoints") == run_dir


# --- a bounded scan --------------------------------------------------------------------------------------------


def test_the_scan_stops_after_its_entry_budget_and_says_so(tmp_path: Path):
    root = tmp_path / "big"
    shallow = a_run(root / "a-shallow-run")
    crowded = root / "crowded"
    crowded.mkdir()
    for i in range(3000):
        (crowded / f"file-{i}").touch()
    a_run(root / "crowded-sub" / "x" / "deeper-run")
    scan = scan_runs_root(root, max_entries=1000)
    assert shallow in scan.dirs and scan.stopped_early and "after 1,000 directory entries" in scan.stopped_early
    complete = scan_runs_root(root)
    assert len(complete.dirs) == 2 and complete.stopped_early is None


def test_runs_says_when_the_scan_did_not_look_deep_enough(tmp_path: Path):
    root = tmp_path / "tree"
    deep = root.joinpath(*[f"d{i}" for i in range(14)])
    a_run(deep)
    a_run(root / "p" / "near")
    result = hrm_tui("runs", "--runs-root", str(root), cwd=tmp_path)
    assert result.returncode == 0
    assert "p/near" in result.stdout and "d13" not in result.stdout.split("note:")[0]
    assert f"note: the scan of {root} stopped early (not deeper than 12 levels below it)" in result.stdout


# --- the runs screen -------------------------------------------------------------------------------------------


@async_test
async def test_the_runs_screen_lists_indexed_runs_and_x_prunes_the_missing_after_saying_how_many(tmp_path: Path):
    make_fixture_runs(tmp_path / "checkpoints")
    outside = a_run(tmp_path / "elsewhere" / "hand-started")
    register_run(outside)
    for name in ("gone-1", "gone-2"):
        register_run(tmp_path / name)
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.table.row_count == 9, 20,
                       "six fixture runs, one indexed elsewhere, two missing")
        screen = app.screen
        statuses = [run.status for run in screen._listing.runs]
        assert statuses.count(RunStatus.MISSING) == 2 and statuses[-2:] == [RunStatus.MISSING] * 2
        assert outside in [run.path for run in screen._listing.runs]
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the prune confirmation")
        assert "Remove 2 entries from the index of runs?" in app.screen._message
        await pilot.press("n")  # no: nothing goes
        await wait_for(pilot, lambda: app.screen is screen, 10, "the runs screen")
        assert len(read_index().entries) == 3
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the prune confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.table.row_count == 7, 20, "the missing runs to go")
        assert [e.path for e in read_index().entries] == [outside]
        assert any("Removed 2 index entries" in n for n in notifications(app))
        await pilot.press("x")
        await wait_for(pilot, lambda: any("No missing runs to prune" in n for n in notifications(app)), 10, "the answer")


def test_an_entry_of_another_host_is_never_judged_missing_from_here(tmp_path: Path):
    """A home folder shared over NFS holds the index of several hosts; another host's run directory may be on
    that host's own disk."""
    (index_dir()).mkdir(parents=True)
    elsewhere = {"v": 1, "path": str(tmp_path / "on-gpu-9-local-disk"), "host": "gpu-9", "time": 5.0}
    (index_dir() / entry_file_name(elsewhere["path"])).write_text(json.dumps(elsewhere))
    shared = a_run(tmp_path / "on-shared-storage")
    (index_dir() / entry_file_name(shared)).write_text(json.dumps({**elsewhere, "path": str(shared)}))
    listing = list_all_runs(tmp_path / "no-root")
    assert [run.path for run in listing.runs] == [shared]  # listed: its folder can be read from here
    assert prune_index() == [] and len(read_index().entries) == 2
