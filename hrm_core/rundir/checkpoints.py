"""Finding a run directory's complete checkpoints: `step_<N>/` folders holding the COMPLETE marker.

Writing and loading them is hrm_core.training.checkpoint's job (it needs torch); finding them needs only
the file names, so readers (the runs list, the no-overwrite check) use this module.
"""

from __future__ import annotations

import os
from pathlib import Path

from hrm_core.rundir.files import COMPLETE_MARKER, checkpoint_step


def is_complete(path: str | os.PathLike[str]) -> bool:
    """A checkpoint folder whose writer finished (the marker is written last)."""
    try:
        return (Path(path) / COMPLETE_MARKER).is_file()
    except OSError:
        return False


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run directory as (step, folder), oldest first; [] if unreadable."""
    found = []
    try:
        children = list(os.scandir(run_dir))
    except OSError:
        return []
    for child in children:
        step = checkpoint_step(child.name)
        try:
            is_dir = child.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if step is not None and is_dir and is_complete(child.path):
            found.append((step, Path(child.path)))
    return sorted(found)


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1][1] if checkpoints else None
