"""One owner per run directory, with the real trainer: a second trainer on a path is refused (naming the
owner) and the first finishes intact; a new run never overwrites one; resume waits for the owner; a damaged
checkpoint is refused before anything is written; dataset mistakes are refused before the run directory
exists (issue 10, items 3, 6 and 7).

Refusals end before training starts, so most run `hrm_core.pretrain.main` in-process; the trainers that
train, and the concurrent ones, are real subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from hrm_core.pretrain import EXIT_CONFIG_ERROR, main
from hrm_core.rundir import events as ev
from hrm_core.rundir.checkpoints import list_checkpoints
from hrm_core.rundir.files import LOCK_FILE, MODEL_FILE, TRAINING_STATE_FILE, rank_file
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import summarize_run
from tests.training_helpers import events_of, pretrain_argv, tiny_overrides, trainer_env


def _refused(capsys, overrides: list[str]) -> str:
    assert main(overrides) == EXIT_CONFIG_ERROR
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return captured.err


def _snapshot(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Every file of a run directory with its size and modification time: equal means untouched."""
    return {str(p.relative_to(run_dir)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_a_new_run_never_overwrites_a_finished_one(capsys, tiny_data, finished_tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_tiny_run, run_dir)
    before = _snapshot(run_dir)
    error = _refused(capsys, tiny_overrides(tiny_data, run_dir, epochs=4, eval_interval=2))
    assert f"{run_dir} already holds a run: it holds 2 checkpoint(s) (step_11, step_22)" in error
    assert "resume=auto" in error and "checkpoint_path" in error
    assert _snapshot(run_dir) == before  # not a byte changed, not even the lock's record
    assert summarize_run(run_dir).status == RunStatus.FINISHED

    # Events alone (a run killed before its first checkpoint) are a run too; a launcher's files are not.
    started = tmp_path / "started"
    started.mkdir()
    (started / "events.jsonl").write_bytes((finished_tiny_run / "events.jsonl").read_bytes().splitlines(keepends=True)[0])
    assert "its events.jsonl records a run started" in _refused(capsys, tiny_overrides(tiny_data, started))
    launched = tmp_path / "launched"
    launched.mkdir()
    for name in ("launch.json", "stdout.log", "stderr.log"):
        (launched / name).write_text("{}")
    assert main(tiny_overrides(tiny_data, launched, epochs=2, eval_interval=2)) == 0


def test_a_second_trainer_is_refused_and_the_first_finishes_intact(tiny_data, tmp_path):
    """The first trainer pauses inside its second checkpoint (.tmp_step_20 half written); meanwhile a fresh
    run, resume=auto and resume=PATH on the same path all exit 2 naming it, and delete nothing."""
    run_dir = tmp_path / "run"
    overrides = tiny_overrides(tiny_data, run_dir, "checkpoint_interval=10")
    # The first trainer stays in its checkpoint until the test has seen the second ones out (the file `release`).
    release = tmp_path / "release"
    first = subprocess.Popen(pretrain_argv(overrides), env=trainer_env(HRM_TEST_CHECKPOINT_PAUSE_AT_STEP="20",
                                                                        HRM_TEST_CHECKPOINT_PAUSE_S="300",
                                                                        HRM_TEST_CHECKPOINT_PAUSE_UNTIL=str(release)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        half_written = run_dir / ".tmp_step_20" / TRAINING_STATE_FILE
        deadline = time.time() + 120
        while not half_written.exists() and time.time() < deadline and first.poll() is None:
            time.sleep(0.1)
        assert half_written.exists(), "the first trainer never reached its checkpoint of step 20"
        in_progress = _snapshot(run_dir / ".tmp_step_20")
        seconds = [subprocess.Popen(pretrain_argv(o), env=trainer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for o in (overrides, [*overrides, "resume=auto"], [*overrides, f"resume={run_dir / 'step_10'}"])]
        outcomes = [(p.wait(timeout=120), p.communicate()[1]) for p in seconds]
        assert first.poll() is None, "the first trainer should still be in its pause"
        assert _snapshot(run_dir / ".tmp_step_20") == in_progress  # its checkpoint in progress is untouched
        owner = f"{run_dir} is in use by another trainer (pid {first.pid} on {socket.gethostname()} since "
        for (code, stderr), what in zip(outcomes, ("fresh", "resume=auto", "resume=PATH")):
            assert code == EXIT_CONFIG_ERROR, f"{what}: {stderr[-2000:]}"
            assert owner in stderr and f"kill -INT {first.pid}" in stderr and "Traceback" not in stderr, what
        assert "then continue it with resume=auto" in outcomes[0][1]
        assert "a run is resumed once its trainer has ended" in outcomes[1][1]
        release.touch()
        code = first.wait(timeout=180)
        assert code == 0, first.stderr.read()[-3000:]
    finally:
        first.kill()
        first.wait(timeout=30)
    kinds = [type(e) for e in events_of(run_dir)]
    assert kinds.count(ev.RunStart) == 1 and kinds.count(ev.RunEnd) == 1 and kinds[-1] is ev.RunEnd
    assert events_of(run_dir, ev.RunEnd)[-1].status == RunStatus.FINISHED
    assert [e.step for e in events_of(run_dir, ev.Train)] == list(range(1, len(events_of(run_dir, ev.Train)) + 1))
    written = [Path(e.path).name for e in events_of(run_dir, ev.Checkpoint)]
    assert "step_20" in written and [path.name for _, path in list_checkpoints(run_dir)] == sorted(written, key=lambda n: int(n[5:]))
    assert not list(run_dir.glob(".tmp_step_*"))
    assert json.loads((run_dir / LOCK_FILE).read_text())["pid"] == first.pid  # the lock names its last owner


@pytest.mark.parametrize("damaged", [MODEL_FILE, rank_file(0), TRAINING_STATE_FILE])
def test_resume_from_a_truncated_checkpoint_is_refused_and_the_run_untouched(capsys, tiny_data, finished_tiny_run, tmp_path, damaged):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_tiny_run, run_dir)
    checkpoint = run_dir / "step_22"
    with open(checkpoint / damaged, "r+b") as f:  # cut short, as by a full disk or a broken copy
        f.truncate(os.path.getsize(checkpoint / damaged) // 2)
    before = _snapshot(run_dir)
    for resume in (f"resume={checkpoint}", "resume=auto"):
        error = _refused(capsys, [*tiny_overrides(tiny_data, run_dir, epochs=4, eval_interval=2), resume])
        assert f"cannot resume: {checkpoint / damaged}" in error and ("cut short or damaged" in error or "truncated" in error)
        assert "resume from an earlier checkpoint folder" in error
    assert _snapshot(run_dir) == before  # no run_end failed appended, no lock record written
    assert summarize_run(run_dir).status == RunStatus.FINISHED  # it does not list as failed
    assert main([*tiny_overrides(tiny_data, run_dir, epochs=4, eval_interval=2), f"resume={run_dir / 'step_11'}"]) == 0


def _broken_copy(tiny_data: Path, tmp_path: Path, change) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(tiny_data, copy)
    change(copy)
    return copy


def _set_value(split: str, name: str, value: int):
    def change(root: Path) -> None:
        path = root / split / f"all__{name}.npy"
        array = np.load(path)
        array.reshape(-1)[-1] = value  # the very last element: only a check of the whole array finds it
        np.save(path, array)

    return change


@pytest.mark.parametrize("change, words", [
    (_set_value("train", "inputs", 6), ["train/all__inputs.npy: token 6 is outside 0..5 (vocab_size in dataset.json)"]),
    (_set_value("test", "labels", -3), ["test/all__labels.npy: label -3 is outside 0..5"]),
    (_set_value("train", "puzzle_identifiers", 10_000), ["all__puzzle_identifiers.npy: puzzle identifier 10000 is outside",
                                                         "num_puzzle_identifiers"]),
    (lambda root: (root / "identifiers.json").unlink(), ["identifiers.json is missing", "every dataset builder writes it"]),
], ids=["token", "label", "puzzle id", "no identifiers.json"])
def test_a_broken_dataset_is_refused_before_the_run_directory_exists(capsys, tiny_data, tmp_path, change, words):
    data = _broken_copy(tiny_data, tmp_path, change)
    run_dir = tmp_path / "run"
    error = _refused(capsys, tiny_overrides(data, run_dir))
    for word in words:
        assert word in error
    assert not run_dir.exists()


def test_a_batch_larger_than_the_training_set_is_refused(capsys, tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    overrides = [o for o in tiny_overrides(tiny_data, run_dir) if not o.startswith("global_batch_size=")]
    error = _refused(capsys, [*overrides, "global_batch_size=1000000"])
    assert "global_batch_size=1000000 is larger than the training set: a pass of 10 epoch(s) (eval_interval) draws about" in error
    assert "examples in" in error and "so the run would plan 0 steps" in error and "global_batch_size=" in error
    assert not run_dir.exists()


def test_the_trainers_echo_of_names_and_paths_is_sanitised(capsys, tiny_data, tmp_path):
    hostile = "evil\x1b]0;pwned\x07\x1b[2J\x1bc"
    run_dir = tmp_path / f"run {hostile}"
    overrides = [o for o in tiny_overrides(tiny_data, run_dir, epochs=2, eval_interval=2) if not o.startswith("checkpoint_path=")]
    overrides += [f"checkpoint_path='{run_dir}'", f"run_name='{hostile}'"]  # quoted: Hydra takes any character then
    assert main(overrides) == 0
    captured = capsys.readouterr()
    assert "[hrm] run 'evil" in captured.out and f"{tmp_path}/run evil" in captured.out
    for stream in (captured.out, captured.err):
        assert "\x1b" not in stream and "\x07" not in stream
    assert events_of(run_dir, ev.RunStart)[0].run_name == hostile  # the file keeps the name as given
