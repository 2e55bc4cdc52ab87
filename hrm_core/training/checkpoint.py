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
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hrm_core.training.distributed import DistContext, barrier

MODEL_FILE = "model.pt"
TRAINING_STATE_FILE = "training_state.pt"
COMPLETE_MARKER = "COMPLETE"
CHECKPOINT_FORMAT = 1
_STEP_DIR = re.compile(r"^step_(\d+)$")

# Test hook: when writing the checkpoint of this step, sleep a minute with the files written but before the
# rename (tests kill the process in that window).
PAUSE_AT_STEP_ENV = "HRM_TEST_CHECKPOINT_PAUSE_AT_STEP"


def rank_file(rank: int) -> str:
    return f"rank_{rank}.pt"


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / f"step_{step}"


def is_complete(path: str | Path) -> bool:
    return (Path(path) / COMPLETE_MARKER).is_file()


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run directory as (step, folder), oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for child in run_dir.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and child.is_dir() and is_complete(child):
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1][1] if checkpoints else None


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


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
    torch.save(obj, path)
    _fsync_file(path)


@dataclass
class CheckpointPayload:
    """What one rank contributes to a checkpoint. `model_state`/`training_state` only matter on rank 0."""

    model_state: dict[str, torch.Tensor] | None
    training_state: dict[str, Any] | None
    rank_state: dict[str, Any]


def write_checkpoint(ctx: DistContext, run_dir: str | Path, step: int, payload: CheckpointPayload) -> Path:
    """Collective: every rank calls it. Returns the finished folder."""
    run_dir = Path(run_dir)
    tmp = run_dir / f".tmp_step_{step}"
    final = checkpoint_dir(run_dir, step)
    if ctx.is_main:
        shutil.rmtree(tmp, ignore_errors=True)  # left by a process killed mid-write
        tmp.mkdir(parents=True)
    barrier(ctx)

    _save(payload.rank_state, tmp / rank_file(ctx.rank))
    barrier(ctx)

    if ctx.is_main:
        assert payload.model_state is not None and payload.training_state is not None
        _save(payload.model_state, tmp / MODEL_FILE)
        _save(payload.training_state, tmp / TRAINING_STATE_FILE)
        if os.environ.get(PAUSE_AT_STEP_ENV) == str(step):
            time.sleep(60)
        _fsync_dir(tmp)
        if final.exists():  # an incomplete folder of an earlier, killed attempt at the same step
            _remove_checkpoint(final)
        os.replace(tmp, final)
        _fsync_dir(run_dir)
        marker = final / COMPLETE_MARKER
        marker.write_text(f"format {CHECKPOINT_FORMAT}\n")
        _fsync_file(marker)
        _fsync_dir(final)
    barrier(ctx)
    return final


def _remove_checkpoint(path: Path) -> None:
    """Takes the folder out of sight atomically (rename), then deletes it."""
    doomed = path.with_name(f".deleting_{path.name}_{time.time_ns()}")
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
    """Removes half-written and half-deleted folders left by killed processes (rank 0, at start)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return
    for child in run_dir.iterdir():
        if child.is_dir() and (child.name.startswith(".tmp_step_") or child.name.startswith(".deleting_step_")):
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
    if not _STEP_DIR.match(path.name) and not is_complete(path):
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
