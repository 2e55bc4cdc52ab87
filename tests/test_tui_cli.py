"""The `hrm-tui` command line: help for every flag, `runs` for scripts, `launch` without the form, `attach`,
and clean errors (exit status 2, no traceback) for user mistakes."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hrm_core.rundir.index import index_dir
from hrm_tui.cli import UserError, build_parser, main, print_runs, resolve_run
from tests.tui_launch_helpers import make_fixture_runs, write_events


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TZ": "UTC"}
    return subprocess.run([sys.executable, "-m", "hrm_tui", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    return [s for action in parser._actions for s in action.option_strings if s.startswith("--")]


def test_help_documents_every_flag_of_every_command(tmp_path: Path):
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) == {"runs", "launch", "attach", "solve"}
    for name, sub in [("", parser), *subparsers.choices.items()]:
        help_text = run_cli(*([name] if name else []), "--help", cwd=tmp_path).stdout
        for flag in option_strings(sub):
            assert flag in help_text, f"hrm-tui {name} --help does not mention {flag}"
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{action.option_strings} has no help text"
    assert shutil.which("hrm-tui") is not None  # the console script is installed


def test_runs_prints_a_table_and_json(tmp_path: Path):
    root = tmp_path / "checkpoints"
    runs = make_fixture_runs(root)
    # The live run beats and makes progress now (the fixture's times are fixed in the past, for the snapshots;
    # without this it would rightly show as stalled: alive, but no progress for months).
    now = time.time()
    write_events(runs["running"], [{"type": "heartbeat", "time": now, "step": 1200, "phase": "train", "progress_time": now}])
    result = run_cli("runs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAME", "PRESET", "STATUS", "STEP"]
    assert "swift-seal" in lines[1] and " running " in lines[1] and "1200/1875" in lines[1]
    assert "2025-01-01 11:30" in lines[1]
    statuses = {json.loads(line)["name"].split()[-1]: json.loads(line)["status"] for line in run_cli("runs", "--json", cwd=tmp_path).stdout.splitlines()}
    assert statuses == {
        "swift-seal": "running", "quiet-moose": "lost", "keen-lynx": "stopped",
        "calm-heron": "failed", "tidy-wombat": "failed", "brave-otter": "finished",
    }  # fmt: skip
    out = io.StringIO()
    assert print_runs(tmp_path / "nothing-here", out=out) == 0
    # Nothing found: it says which absolute folder and which index were searched.
    assert out.getvalue() == f"no runs found: searched {tmp_path / 'nothing-here'} and the index of runs {index_dir()}\n"


def test_launch_dry_run_prints_the_command_and_starts_nothing(tmp_path: Path):
    result = run_cli("launch", "+experiment=demo", "lr=7e-5", "--omp-num-threads", "2", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    command = result.stdout.strip()
    assert command.startswith("PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 ")
    assert " -m hrm_core.pretrain +experiment=demo lr=7e-5 \"+project_name='Demo-sudoku-4x4 ACT-torch'\" " in command
    assert "+checkpoint_path='checkpoints/Demo-sudoku-4x4 ACT-torch/HierarchicalReasoningModel_ACTV1 " in command
    assert not (tmp_path / "checkpoints").exists()

    multi = run_cli("launch", "+experiment=demo", "--nproc-per-node", "4", "--nnodes", "2", "--rdzv-endpoint", "n0:29500", "--dry-run", "--runs-root", "runs", cwd=tmp_path)
    assert multi.returncode == 0, multi.stderr
    first, other = multi.stdout.strip().splitlines()
    assert "--nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint n0:29500 --rdzv-id " in first
    assert other == "on node 1: " + first  # c10d numbers the nodes: every node runs the same command
    assert "+checkpoint_path='runs/Demo-sudoku-4x4 ACT-torch/" in first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["launch", "lrr=1", "--dry-run"], "unknown key `lrr`"),
        (["launch", "lr=fast", "--dry-run"], "expected a number"),
        (["launch", "+experiment=sudoku_extreme_1k", "--dry-run"], "build it with: "),
        (["launch", "+experiment=demo", "--nnodes", "2", "--dry-run"], "HOST:PORT"),
        (["launch", "+experiment=demo", "--gpus", "zero", "--dry-run"], "--gpus takes GPU indices"),
        (["attach", "no-such-run"], "no run 'no-such-run'"),
        (["--theme", "nosuch"], "unknown theme 'nosuch'; choose one of: "),
        (["--theme", "nosuch", "runs"], "unknown theme 'nosuch'; choose one of: "),
        (["--preset", "nosuch"], "unknown preset 'nosuch' (config/experiment/); choose one of: "),
        (["--config-dir", "does/not/exist", "runs"], None),  # runs does not need the config tree
    ],
)
def test_user_mistakes_exit_2_with_a_message_and_no_traceback(tmp_path: Path, args, message):
    result = run_cli(*args, cwd=tmp_path)
    if message is None:
        assert result.returncode == 0
        return
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("hrm-tui: ")


def test_a_missing_config_dir_is_a_clear_error(tmp_path: Path, capsys):
    assert main(["--config-dir", str(tmp_path / "nope"), "launch", "--dry-run"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_attach_finds_a_run_by_path_name_or_the_end_of_its_name(tmp_path: Path):
    root = tmp_path / "checkpoints"
    runs = make_fixture_runs(root)
    assert resolve_run(str(runs["finished"]), root) == runs["finished"]
    assert resolve_run("Demo-sudoku-4x4 ACT-torch/HierarchicalReasoningModel_ACTV1 brave-otter", root) == runs["finished"]
    assert resolve_run("brave-otter", root) == runs["finished"]
    twin = root / "Other ACT-torch" / runs["finished"].name
    twin.mkdir(parents=True)
    (twin / "events.jsonl").write_text("")
    with pytest.raises(UserError, match="matches several runs"):
        resolve_run("brave-otter", root)


def test_attach_on_a_folder_without_a_run_says_so_and_lists_the_runs_below(tmp_path: Path):
    """Issue 19.1: a folder that exists but holds no run (an empty folder, a project folder above its runs)
    once opened a monitor with a false "Run lost" alert and exited 0."""
    (tmp_path / "empty").mkdir()
    result = run_cli("attach", "empty", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == "hrm-tui: empty holds no run (no events.jsonl or launch.json in it)\n"
    runs = make_fixture_runs(tmp_path / "checkpoints")
    project = runs["finished"].parent
    result = run_cli("attach", str(project), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{project} holds no run" in result.stderr
    assert f"  {runs['finished']}" in result.stderr  # the runs below it, by path
    assert "open one with: hrm-tui attach '" in result.stderr
    assert f"or list them with: hrm-tui runs --runs-root '{project}'" in result.stderr


def test_version_prints_the_package_and_torch_versions(tmp_path: Path):
    from importlib.metadata import version

    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"hrm {version('hrm')}, torch {version('torch')}\n"


def test_the_help_example_path_is_the_demo_presets_real_run_path(tmp_path: Path):
    """The example path in --help is where the demo preset's runs go (project and run as the trainer names
    them), not a made-up folder."""
    from hrm_core.config import resolve_run_names
    from hrm_tui.forms.config_tree import ConfigTree

    project, run, checkpoint_path = resolve_run_names(ConfigTree.load(None).compose(["+experiment=demo"]))
    example = next(line for line in build_parser().format_help().splitlines() if "hrm-tui attach 'checkpoints/" in line)
    shown = example.split("'")[1]
    assert shown.startswith(f"checkpoints/{project}/{run.rsplit(' ', 1)[0]} ")
    assert checkpoint_path == f"checkpoints/{project}/{run}"


def test_attach_with_several_runs_names_the_one_it_cannot_find(tmp_path: Path):
    """hrm-tui attach A B: every run is resolved before the app opens; an unknown one is a user error."""
    make_fixture_runs(tmp_path / "checkpoints")
    result = run_cli("attach", "brave-otter", "no-such-run", cwd=tmp_path)
    assert result.returncode == 2 and "no run 'no-such-run'" in result.stderr and "Traceback" not in result.stderr
    parsed = build_parser().parse_args(["attach", "brave-otter", "calm-heron"])
    assert parsed.runs == ["brave-otter", "calm-heron"]


def test_runs_into_a_closed_pipe_stops_quietly(tmp_path: Path):
    """`hrm-tui runs --json | head -1`: the reader leaving early is not an error worth a traceback."""
    make_fixture_runs(tmp_path / "checkpoints")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "hrm_tui", "runs", "--json"],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
    assert result.returncode == 0


def test_bad_flags_list_the_valid_choices(tmp_path: Path):
    theme = run_cli("--theme", "nosuch", cwd=tmp_path)
    assert theme.returncode == 2 and "textual-dark" in theme.stderr and "textual-light" in theme.stderr
    preset = run_cli("--preset", "nosuch", cwd=tmp_path)
    assert preset.returncode == 2 and "demo, " in preset.stderr and "sudoku_extreme_1k" in preset.stderr and preset.stderr.rstrip().endswith("none")
    screen = run_cli("--screen", "nosuch", cwd=tmp_path)
    assert screen.returncode == 2 and "invalid choice: 'nosuch' (choose from 'form', 'runs')" in screen.stderr
    assert "Traceback" not in theme.stderr + preset.stderr + screen.stderr


def test_launch_passes_the_config_dir_to_the_trainer(tmp_path: Path):
    presets = tmp_path / "my-configs" / "experiment"
    presets.mkdir(parents=True)
    (presets / "mine.yaml").write_text("# @package _global_\ndefaults:\n  - demo\n  - _self_\nepochs: 2\neval_interval: 1\n")
    result = run_cli("launch", "--config-dir", "my-configs", "+experiment=mine", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f" -m hrm_core.pretrain --config-dir {tmp_path / 'my-configs'} +experiment=mine " in result.stdout
    # Without it, the same preset is an error that names it, before anything starts.
    missing = run_cli("launch", "+experiment=mine", "--dry-run", cwd=tmp_path)
    assert missing.returncode == 2 and "mine" in missing.stderr
