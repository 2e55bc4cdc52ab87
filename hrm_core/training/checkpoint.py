"""Checkpoint folders: atomic writes, discovery, pruning, and loading (docs/checkpoints.md).

    <run_dir>/step_<N>/
        model.pt            the model's state dict in the original's key layout (EMA weights when ema is on);
                            plain `torch.load(path, weights_only=True)` reads it
        training_state.pt   everything else that survives a restart (rank 0's view, shared by all ranks)
        rank_<r>.pt         per-rank state: RNG states and the ACT carry
        COMPLETE            written last; a folder without it is not a checkpoint

Writing: every file goes into `.tmp_step_<N>/` first, the folder is renamed to `step_<N>`, and the COMPLETE
marker is written (and fsynced) last. A process killed at any moment leaves either no `step_<N>` or one
without COMPLETE, which every reader ignores; the previous checkpoint is untouched.
"""

from __future__ import annotations

import os
import pickle
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hrm_core.rundir.checkpoints import is_complete, latest_checkpoint, list_checkpoints
from hrm_core.rundir.errors import RunDirError, write_error
from hrm_core.rundir.files import (
    COMPLETE_MARKER,
    MODEL_FILE,
    TRAINING_STATE_FILE,
    checkpoint_dir_name,
    checkpoint_step,
    deleting_checkpoint_dir_name,
    is_leftover_dir_name,
    rank_file,
    temp_checkpoint_dir_name,
)
from hrm_core.training.distributed import DistContext, first_error

CHECKPOINT_FORMAT = 1

# Test hook: when writing the checkpoint of this step, sleep (a minute, or PAUSE_SECONDS_ENV seconds) with the
# files written but before the rename (tests kill the process, or start a second trainer, in that window).
# With PAUSE_UNTIL_ENV naming a file, the pause ends as soon as the test creates that file: a test that is done
# with the window says so, instead of both sides guessing how long a loaded machine needs.
PAUSE_AT_STEP_ENV = "HRM_TEST_CHECKPOINT_PAUSE_AT_STEP"
PAUSE_SECONDS_ENV = "HRM_TEST_CHECKPOINT_PAUSE_S"
PAUSE_UNTIL_ENV = "HRM_TEST_CHECKPOINT_PAUSE_UNTIL"


def _pause_for_a_test() -> None:
    deadline = time.monotonic() + float(os.environ.get(PAUSE_SECONDS_ENV, "60"))
    release = os.environ.get(PAUSE_UNTIL_ENV)
    while time.monotonic() < deadline and not (release and os.path.exists(release)):
        time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))


class CheckpointWriteError(RunDirError):
    """A checkpoint could not be written (full disk, read-only file system, ...); the message says which
    file, why, and that the previous checkpoint is intact."""


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / checkpoint_dir_name(step)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not support fsync on directories
    finally:
        os.close(fd)


def _save(obj: Any, path: Path) -> None:
    """torch.save through a Python file, so that a failed write surfaces as its OSError (ENOSPC, EROFS)
    behind torch's RuntimeError, not only as "unexpected pos"; fsynced."""
    with open(path, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def _write_marker(folder: Path) -> None:
    marker = folder / COMPLETE_MARKER
    with open(marker, "w") as f:
        f.write(f"format {CHECKPOINT_FORMAT}\n")
        f.flush()
        os.fsync(f.fileno())


@dataclass
class CheckpointPayload:
    """What one rank contributes to a checkpoint. `model_state`/`training_state` only matter on rank 0."""

    model_state: dict[str, torch.Tensor] | None
    training_state: dict[str, Any] | None
    rank_state: dict[str, Any]


def write_checkpoint(ctx: DistContext, run_dir: str | Path, step: int, payload: CheckpointPayload,
                     on_file: Callable[[], None] | None = None) -> Path:
    """Collective: every rank calls it. Returns the finished folder; `on_file` is called after each file.

    When any rank fails to write (a full disk, a read-only file system), every rank raises the same
    CheckpointWriteError after the half-written folder is removed; earlier checkpoints are untouched.
    """
    run_dir = Path(run_dir)
    tmp = run_dir / temp_checkpoint_dir_name(step)
    final = checkpoint_dir(run_dir, step)
    done = on_file or (lambda: None)

    def attempt(path: Path, action: Callable[[], None]) -> str | None:
        try:
            action()
        except Exception as e:  # OSError, or torch's RuntimeError wrapping one
            return str(write_error(path, e, fix=_write_fix(run_dir, step)))
        done()
        return None

    def prepare() -> None:
        shutil.rmtree(tmp, ignore_errors=True)  # left by a process killed mid-write
        tmp.mkdir(parents=True)

    def publish() -> None:
        assert payload.model_state is not None and payload.training_state is not None
        _save(payload.model_state, tmp / MODEL_FILE)
        done()
        _save(payload.training_state, tmp / TRAINING_STATE_FILE)
        if os.environ.get(PAUSE_AT_STEP_ENV) == str(step):
            _pause_for_a_test()
        _fsync_dir(tmp)
        if final.exists():  # an incomplete folder of an earlier, killed attempt at the same step
            _remove_checkpoint(final)
        os.replace(tmp, final)
        _fsync_dir(run_dir)
        _write_marker(final)
        _fsync_dir(final)

    error = first_error(ctx, attempt(tmp, prepare) if ctx.is_main else None)
    if error is None:
        rank_path = tmp / rank_file(ctx.rank)
        error = first_error(ctx, attempt(rank_path, lambda: _save(payload.rank_state, rank_path)))
    if error is None:
        error = first_error(ctx, attempt(tmp, publish) if ctx.is_main else None)
    if error is not None:
        if ctx.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            if final.exists() and not is_complete(final):
                shutil.rmtree(final, ignore_errors=True)
        raise CheckpointWriteError(error)
    return final


def _write_fix(run_dir: Path, step: int) -> str:
    previous = latest_checkpoint(run_dir)
    kept = f"the previous checkpoint, {previous.name}, is intact" if previous is not None else "no earlier checkpoint exists"
    return (f"the checkpoint of step {step} was not written and its partial folder is removed; {kept}. "
            "Free space (or fix the mount), then continue with resume=auto")


def _remove_checkpoint(path: Path) -> None:
    """Takes the folder out of sight atomically (rename), then deletes it."""
    doomed = path.with_name(deleting_checkpoint_dir_name(path.name, time.time_ns()))
    os.replace(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def prune_checkpoints(run_dir: str | Path, keep_last: int | None) -> list[Path]:
    """Deletes all but the newest `keep_last` complete checkpoints (rank 0 only). Returns those removed."""
    if keep_last is None:
        return []
    checkpoints = list_checkpoints(run_dir)
    doomed = [path for _, path in checkpoints[:-keep_last]] if len(checkpoints) > keep_last else []
    for path in doomed:
        _remove_checkpoint(path)
    return doomed


def clean_stale_temporaries(run_dir: str | Path) -> None:
    """Removes half-written and half-deleted folders left by killed processes.

    Only the run directory's owner may call it (rank 0 holding the lock, hrm_core.rundir.lock): a
    `.tmp_step_<N>` of a live writer must never be deleted under it.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return
    for child in run_dir.iterdir():
        if child.is_dir() and is_leftover_dir_name(child.name):
            shutil.rmtree(child, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------
# Loading

class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the path and what is wrong."""


def resolve_checkpoint(path: str | Path) -> Path:
    """A complete checkpoint folder from a folder path (or a run directory: its newest checkpoint)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.is_file():
        raise CheckpointError(f"{path} is a file; a checkpoint is a step_<N>/ folder (or give the run directory for its "
                              "newest one). Bare weights files can start a new run with load_checkpoint=PATH")
    if checkpoint_step(path.name) is None and not is_complete(path):
        newest = latest_checkpoint(path)
        if newest is None:
            raise CheckpointError(f"{path} holds no complete checkpoint (step_<N>/ folders with a COMPLETE marker)")
        return newest
    if not is_complete(path):
        raise CheckpointError(f"{path} is an incomplete checkpoint (no {COMPLETE_MARKER} marker: its writer was killed); use an earlier one")
    return path


def load_model_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Model weights from a checkpoint folder (or a run directory: its newest checkpoint) or a bare weights file
    (this project's model.pt or the original's step_<N>). Raises CheckpointError naming the file."""
    path = Path(path)
    file = resolve_checkpoint(path) / MODEL_FILE if path.is_dir() else path
    if not file.is_file():
        raise CheckpointError(f"{file} does not exist")
    state = _load_file(file, "model weights")
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{file} does not hold model weights (a state dict of tensors, as model.pt or the "
                              "original's step_<N> files do)")
    prefix = "_orig_mod."  # saved from a torch.compile'd model, as the original's checkpoints on CUDA are
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def _load_file(file: Path, what: str) -> Any:
    """torch.load(weights_only=True), with every way a file can be unreadable as a CheckpointError naming it."""
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{file} does not exist") from None
    except pickle.UnpicklingError:
        raise CheckpointError(f"{file} is not readable as {what}: it is not a file of tensors saved by torch.save "
                              "(or it holds Python objects, which weights_only=True refuses to load)") from None
    except Exception as e:  # RuntimeError (truncated zip), KeyError/EOFError (an old-format file cut short), ...
        first_line = (str(e).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{file} is not readable as {what} (corrupt or truncated?): {type(e).__name__} {first_line}") from None


def load_training_state(path: Path) -> dict[str, Any]:
    state = _load_file(path / TRAINING_STATE_FILE, "a training state")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else None
        raise CheckpointError(f"{path} has checkpoint format {found}, this version reads {CHECKPOINT_FORMAT}")
    return state


# Keys that must match for a resume to make sense; others (learning rates, log_interval, ...) may change.
# "data_path/data_paths" is the list of training folders, however it was given.
RESUME_FIXED_KEYS = ("arch", "data_path/data_paths", "global_batch_size", "epochs", "eval_interval", "seed", "freeze_weights")


def _fixed_value(config: dict[str, Any], key: str) -> Any:
    if key == "data_path/data_paths":
        return list(config.get("data_paths") or []) or [config.get("data_path")]
    if key == "freeze_weights":  # absent from checkpoints written before the key existed
        return bool(config.get(key, False))
    return config.get(key)


def resume_mismatches(saved_config: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Human-readable differences in the keys a resume cannot change ([] when compatible)."""
    out = []
    for key in RESUME_FIXED_KEYS:
        if _fixed_value(saved_config, key) != _fixed_value(config, key):
            if key == "arch":
                changed = sorted(k for k in set(saved_config.get("arch", {})) | set(config.get("arch", {}))
                                 if saved_config.get("arch", {}).get(k) != config.get("arch", {}).get(k))
                out.append("arch." + "/".join(changed) + " differ")
            else:
                out.append(f"{key}: {_fixed_value(saved_config, key)!r} -> {_fixed_value(config, key)!r}")
    return out


def load_rank_state(path: Path, rank: int) -> dict[str, Any] | None:
    file = path / rank_file(rank)
    if not file.is_file():
        return None
    return _load_file(file, "a per-rank training state")


def verify_resume_files(path: Path, state: dict[str, Any], world_size: int) -> None:
    """Checks up front every file a resume from `path` will read, so that a damaged checkpoint is refused
    before anything is written (the run it belongs to stays untouched). `state` is its loaded
    training_state.pt. Raises CheckpointError naming the file.

    model.pt and the per-rank files are checked for structure, not loaded: a file cut short (a copy or a
    disk that filled up) has lost the zip directory torch.save writes at its end, and an entry that runs
    past the end of the file is caught too. This reads only the directories, whatever the model's size.
    """
    files = [path / MODEL_FILE]
    if state.get("world_size") == world_size:  # another world size restarts the carry: rank files are not read
        files += [path / rank_file(rank) for rank in range(world_size)]
    for file in files:
        _check_whole(file)


def _check_whole(file: Path) -> None:
    try:
        size = file.stat().st_size
        with zipfile.ZipFile(file) as archive:
            entries = archive.infolist()
    except FileNotFoundError:
        raise CheckpointError(f"{file} is missing") from None
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{file} is cut short or damaged ({first_line})") from None
    if not entries or any(entry.header_offset + entry.compress_size > size for entry in entries):
        raise CheckpointError(f"{file} is cut short or damaged (its entries run past the end of the file)")
