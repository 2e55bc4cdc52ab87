"""Hostile run directories (issue 10, items 1 and 2) through the real `hrm-tui runs`, the real app (Pilot: runs
screen, monitor, attach) and the real app in a pseudo-terminal: no escape sequence from a file reaches the
output, markup in a file is text, one bad line or file never crashes or freezes anything, the follower shows
the next good event after each bad line, the runs list covers every directory, and the skip count is shown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hrm_core.rundir.events import Samples
from hrm_core.rundir.sanitize import safe_text
from hrm_tui.bench.synthetic_run import SyntheticRun, write_run
from hrm_tui.monitoring.event_loader import EventLoader, read_samples_event
from hrm_tui.monitoring.run_model import MAX_EVAL_SETS, MAX_METRICS, RunModel
from hrm_tui.screens.monitor import MonitorScreen
from hrm_tui.widgets.monitor.alerts import AlertBanner
from hrm_tui.widgets.monitor.progress import ProgressPanel
from hrm_tui.widgets.monitor.samples import SamplesPanel
from tests.hostile_rundirs import (
    BAD_LINES,
    HOSTILE,
    MARKUP,
    MARKUP_IN_NAME,
    PROJECT,
    STEP_AFTER_BAD,
    assert_no_planted,
    assert_no_planted_bytes,
    make_corpus,
    remove_deep_chain,
    screen_text,
    train,
)
from tests.pty_helpers import CTRL_Q, PtyApp
from tests.tui_launch_helpers import async_test, make_app
from tests.tui_monitor_helpers import MonitorHost, as_text, fast_settings, pilot_test, wait_for


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Iterator[tuple[Path, dict[str, Path]]]:
    root = tmp_path_factory.mktemp("hostile") / "checkpoints"
    yield root, make_corpus(root)
    remove_deep_chain(root)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "TZ": "UTC", "XDG_STATE_HOME": str(cwd / "state")}
    return subprocess.run([sys.executable, "-m", "hrm_tui", *args], cwd=cwd, env=env, capture_output=True, timeout=120)


def shown_name(run_dir: Path, root: Path) -> str:
    return safe_text(run_dir.relative_to(root).as_posix())


# -- hrm-tui runs ----------------------------------------------------------------------------------------------


def test_runs_prints_every_directory_and_no_escape(corpus, tmp_path: Path):
    root, runs = corpus
    result = cli("runs", "--runs-root", str(root), cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == b"", result.stderr.decode(errors="replace")
    out = result.stdout.decode("utf-8")
    assert_no_planted(out, "hrm-tui runs")
    rows = [row for row in out.splitlines()[1:] if not row.startswith("note: ")]
    assert len(rows) == len(runs)  # every run directory, the unreadable ones included; the deep chain holds none
    # The 1500-deep chain is where the bounded scan stopped, and it says so.
    assert f"note: the scan of {root} stopped early (not deeper than 12 levels below it)" in out
    for case, run_dir in runs.items():
        assert any(row.startswith(shown_name(run_dir, root) + " ") for row in rows), f"{case} is not listed"
    names_row = next(row for row in rows if row.startswith(f"{PROJECT}/run "))
    assert MARKUP_IN_NAME in names_row and MARKUP in names_row  # the folder name and the preset, as typed
    assert " failed " in names_row and "RuntimeError: x" in names_row  # the error's last line, sanitised
    bad_row = next(row for row in rows if row.startswith(f"{PROJECT}/bad-lines "))
    assert f"{len(BAD_LINES)} invalid lines skipped" in bad_row and f" {STEP_AFTER_BAD[-1]}/100 " in bad_row


def test_runs_json_is_valid_json_with_every_string_sanitised(corpus, tmp_path: Path):
    root, runs = corpus
    result = cli("runs", "--json", "--runs-root", str(root), cwd=tmp_path)
    # stdout is JSON only; that the scan stopped at the deep chain goes to stderr.
    assert result.returncode == 0 and result.stderr.decode().startswith(f"note: the scan of {root} stopped early")
    assert len(result.stderr.splitlines()) == 1
    out = result.stdout.decode("ascii")  # json.dumps escapes everything else
    objects = [json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not JSON")) for line in out.splitlines()]
    assert sorted(o["name"] for o in objects) == sorted(shown_name(d, root) for d in runs.values())
    for obj in objects:  # what `jq -r` would print: the decoded strings
        assert_no_planted(json.dumps(obj, ensure_ascii=False), f"hrm-tui runs --json ({obj['name']})")
    names = next(o for o in objects if o["name"].startswith(f"{PROJECT}/run "))
    assert names["overrides"][0] == safe_text(f"+experiment={HOSTILE}") and names["preset"] == safe_text(HOSTILE)
    extremes = next(o for o in objects if o["name"].endswith("extremes"))
    assert extremes["start_time"] == 1e300 and extremes["stall_after_s"] == 1e300  # finite: kept


def test_cli_errors_quoting_run_directories_are_sanitised(corpus, tmp_path: Path):
    root, runs = corpus
    twin = runs["names"].parent / ("copy of " + runs["names"].name)
    twin.mkdir(exist_ok=True)
    (twin / "launch.json").write_text("{}")
    try:
        several = cli("attach", MARKUP_IN_NAME, "--runs-root", str(root), cwd=tmp_path)  # ends both names
        assert several.returncode == 2 and b"matches several runs" in several.stderr
        assert_no_planted(several.stderr.decode("utf-8"), "hrm-tui attach (several)")
        unknown = cli("attach", HOSTILE.replace("\x00", ""), "--runs-root", str(root), cwd=tmp_path)
        assert unknown.returncode == 2 and b"no run" in unknown.stderr
        assert_no_planted(unknown.stderr.decode("utf-8"), "hrm-tui attach (unknown)")
    finally:
        (twin / "launch.json").unlink()
        twin.rmdir()


# -- the runs screen -------------------------------------------------------------------------------------------


@async_test
async def test_runs_screen_lists_every_directory_and_draws_no_escape(corpus, tmp_path: Path):
    root, runs = corpus
    app = make_app(tmp_path, start_mode="runs", runs_root=root)
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.runs_screen.table
        await wait_for(pilot, lambda: len(table.summaries) == len(runs), what="every run directory in the table")
        seen = set()
        for row in range(len(runs)):
            table.move_cursor(row=row)
            await pilot.pause(0.05)
            run = table.selected
            seen.add(run.path)
            assert_no_planted(screen_text(app), f"the runs screen on {run.name}")
            detail = as_text(app.runs_screen.query_one("#run-detail").content)
            if run.path == runs["names"]:
                assert MARKUP_IN_NAME in detail  # the path, as typed
            if run.path == runs["bad_lines"]:
                assert f"{len(BAD_LINES)} invalid lines of events.jsonl skipped" in detail
        assert seen == set(runs.values())
        await pilot.press("c")  # clone the hostile run's overrides into the form
        await pilot.pause(0.5)
        assert_no_planted(screen_text(app), "the form after cloning a hostile run")


# -- the monitor -----------------------------------------------------------------------------------------------


@pilot_test
async def test_monitor_draws_every_string_of_a_hostile_run_as_plain_text(corpus):
    _, runs = corpus
    app = MonitorHost(runs["names"], settings=fast_settings())
    async with app.run_test(size=(160, 50)) as pilot:
        screen: MonitorScreen = app.monitor
        await wait_for(pilot, lambda: screen.loaded_stage() == "exact" and screen.status == "failed", what="loaded")
        samples = screen.query_one(SamplesPanel)
        await wait_for(pilot, lambda: samples._drawn is not None, what="the samples drawn")
        assert_no_planted(screen_text(app), "the monitor")
        assert safe_text(MARKUP) in as_text(samples.query_one("#samples-header").content)  # markup shown as typed
        assert_no_planted(screen.sub_title, "the monitor's subtitle")
        banner = as_text(screen.query_one(AlertBanner).render())
        assert "Run failed: RuntimeError: x" in banner and "Non-finite value" in banner
        for keys in (["5", "right"], ["6", "o"], ["6", "o"], ["4"], ["2"], ["1", "e"], ["m"]):
            await pilot.press(*keys)
            await pilot.pause(0.1)
            assert_no_planted(screen_text(app), f"the monitor after {keys}")
        await pilot.press("escape", "1", "c")  # the metric picker lists the log's metric names
        await pilot.pause(0.3)
        assert_no_planted(screen_text(app), "the metric picker")


@pilot_test
async def test_follower_shows_the_next_good_event_after_each_bad_line(tmp_path: Path):
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(120, 40)) as pilot:
        screen: MonitorScreen = app.monitor
        model = screen.run.model
        with open(tmp_path / "events.jsonl", "wb", buffering=0) as log:
            log.write(json.dumps({"type": "run_start", "time": 1.0, "total_steps": 200}).encode() + b"\n")
            for (case, bad), step in zip(BAD_LINES.items(), STEP_AFTER_BAD):
                log.write(bad)
                log.write(json.dumps(train(step)).encode() + b"\n")
                await wait_for(pilot, lambda: model.latest_train_step == step, what=f"step {step} after '{case}'")
        await wait_for(pilot, lambda: model.skipped_total == len(BAD_LINES), what="every bad line counted")
        await pilot.pause(0.2)
        progress = as_text(screen.query_one(ProgressPanel).render())
        assert f"step {STEP_AFTER_BAD[-1]}" in progress
        assert f"skipped {len(BAD_LINES)} invalid lines of events.jsonl" in progress
        banner = screen.query_one(AlertBanner)
        [alert] = [a for a in banner.alerts if a.key == "skipped"]
        assert alert.title == f"{len(BAD_LINES)} lines of events.jsonl skipped (not valid events)"
        assert any("run_end.error: expected a string" in line for line in alert.detail + tuple(model.skipped))
        assert "lines of events.jsonl skipped" in as_text(banner.render())
        assert set(model.skipped) >= {"train.metrics: expected an object of numbers",
                                      "invalid UTF-8", "not a JSON object", "samples.samples: expected a list of Sample objects"}


@pilot_test
async def test_extreme_values_and_over_limit_logs_draw(corpus):
    _, runs = corpus
    for case in ("extremes", "over_limits", "nested_only", "not_regular", "launch_pid_abc", "end_error_int"):
        app = MonitorHost(runs[case], settings=fast_settings())
        async with app.run_test(size=(160, 50)) as pilot:
            screen: MonitorScreen = app.monitor
            await wait_for(pilot, lambda: screen.loaded_stage() == "exact" and screen.status is not None, what=f"{case} loaded")
            for key in ("1", "2", "3", "4", "5", "6", "z", "l"):
                await pilot.press(key)
            await pilot.pause(0.3)
            assert_no_planted(screen_text(app), f"the monitor on {case}")
            model = screen.run.model
            if case == "over_limits":
                assert len([k for k in model.store.keys() if k[0] == "train"]) == MAX_METRICS
                assert len(model.eval_sets()) == MAX_EVAL_SETS
                assert model.halting_train.empty  # 5,000 halting steps: not kept
                assert sum(model.not_shown.values()) >= 3
                assert "values not shown" in as_text(screen.query_one(AlertBanner).render()) or \
                       "not shown" in " ".join(a.title for a in screen.query_one(AlertBanner).alerts)
                assert "too large to draw" in as_text(screen.query_one("#samples-body").content)
            if case == "end_error_int":
                assert model.latest_train_step == 2 and model.skipped == {"run_end.error: expected a string": 1}


@async_test
async def test_attach_to_a_run_whose_end_is_invalid(corpus, tmp_path: Path):
    """`{"type":"run_end","error":12345}` made attach die (with exit status 0): the line is skipped."""
    root, runs = corpus
    app = make_app(tmp_path, runs_root=root, attach=[runs["end_error_int"]])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.loaded_stage() == "exact", what="the monitor")
        monitor = app.screen
        await wait_for(pilot, lambda: monitor.run.model.skipped_total == 1, what="the bad run_end counted")
        assert monitor.run.model.lifecycle.ended is None and monitor.run.model.latest_train_step == 2
        await pilot.press("q")  # an attached monitor is the app's only screen: q quits
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.return_code in (None, 0) and app.crash_error is None


# -- the staged loader on a large log ------------------------------------------------------------------------


def test_large_log_counts_bad_lines_exactly_and_drops_an_invalid_samples_line(tmp_path: Path):
    run = SyntheticRun(kind="sudoku", total_steps=20_000, eval_interval=2000, halting_interval=100)
    write_run(tmp_path, run)
    lines = (tmp_path / "events.jsonl").read_bytes().splitlines(keepends=True)
    middle = len(lines) // 2
    bad_samples = json.dumps({"type": "samples", "time": 1.0, "step": 10_001, "set": "all", "samples": "y"}).encode() + b"\n"
    long_samples = json.dumps({"type": "samples", "time": 1.0, "step": 10_002, "set": "all",
                               "samples": [{"input": [1] * 81, "label": [1] * 81}] * 2000}).encode() + b"\n"  # > 1 MB
    injected = [*BAD_LINES.values(), bad_samples, long_samples]
    (tmp_path / "events.jsonl").write_bytes(b"".join(lines[:middle] + injected + lines[middle:]))
    model = RunModel(tmp_path)
    loader = EventLoader(tmp_path, model, exact_below_bytes=100_000, overview_samples=256, tail_bytes=200_000,
                         scan_window_bytes=256 * 1024)
    loader.open()
    refs = {r.step: r for r in model.sample_refs}
    assert 10_001 in refs and 10_002 in refs  # indexed by the scan without reading them
    bad = read_samples_event(tmp_path, refs[10_001])
    assert not isinstance(bad, Samples) and "samples.samples" in bad.reason
    model.drop_sample_ref(refs[10_001])  # what the samples panel does with it
    assert isinstance(read_samples_event(tmp_path, refs[10_002]), Samples)
    while not loader.refine(max_bytes=256 * 1024):  # slices smaller than the long line
        pass
    assert sum(model.skipped.values()) == len(BAD_LINES) + 1  # every bad line once, the bad samples line too
    assert model.history("train", "", "lm_loss").buckets.count.sum() == 20_000  # the long line did not end the pass
    assert 10_001 not in {r.step for r in model.sample_refs}


# -- the real app in a real terminal -------------------------------------------------------------------------


def test_the_real_app_in_a_pty_writes_none_of_the_planted_sequences(corpus, tmp_path: Path):
    root, runs = corpus
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    app = PtyApp([sys.executable, "-m", "hrm_tui", "attach", str(runs["names"]), "--runs-root", str(root)], cwd=tmp_path, env=env)
    try:
        app.wait_for(b"eval 1/1", 90, "the monitor's samples")
        app.press("5", "\x1b[C", "6", "o", "4", "1", "c")  # samples: next; logs: stdout/stderr; halting; curves: metrics
        app.press("\r", "\x1bOR")  # apply the metric picker; F3: the runs list
        app.wait_for(b"Runs: the index and", 30, "the runs screen")
        app.press(*["\x1b[B"] * 9, pause=0.3)  # down through every row (each draws its detail line)
        app.press(CTRL_Q)
        code = app.wait_exit(60)
    finally:
        app.close()
    assert code == 0, app.output[-3000:]
    assert_no_planted_bytes(app.output)
    assert not (tmp_path / "state" / "hrm").exists()  # no crash, no worker error


@pytest.mark.parametrize("record", [
    {"create_time": "nan", "cmdline": "ME"},  # NaN compared as "not different" from any start time
    {"create_time": "START"},  # no command line to check it against
    {"create_time": "START", "cmdline": []},
])
def test_a_hostile_launch_record_never_names_a_process_to_stop(tmp_path: Path, record: dict):
    """launch.json names this very process (alive): stop must still not take it for the run's."""
    import psutil

    from hrm_tui.runs.process_control import find_run_process

    me = psutil.Process()
    values = {"ME": me.cmdline(), "START": me.create_time()}
    record = {"pid": me.pid, **{k: values.get(v, v) if isinstance(v, str) else v for k, v in record.items()}}
    (tmp_path / "launch.json").write_text(json.dumps(record))
    assert find_run_process(tmp_path) is None
