"""Does every rank see the run directory? Checked once at start-up, before anything depends on it.

A checkpoint is written by every rank into one folder that rank 0 creates (`.tmp_step_N/rank_<r>.pt`), so
nodes that do not share the run directory's disk used to fail at the first checkpoint, long after the start
(`cannot write .../.tmp_step_8/rank_1.pt: No such file or directory`). hrm refuses such a run instead, at
the start and with the reason: `checkpoint_path` must be on storage that every node sees (docs/clusters.md,
"File systems"; a per-node layout is not supported).

The check: rank 0 writes a marker holding a fresh random token into the run directory; the others, once it
is written, look for that token. A node that does not find it (no file, or an older run's token on a local
disk that happens to have the same path) does not share the folder. The ranks then agree on the first
problem, and every rank raises it.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path

from hrm_core.rundir.errors import RunDirError
from hrm_core.rundir.files import SHARED_STORAGE_MARKER
from hrm_core.rundir.writer import write_file_atomic
from hrm_core.training.distributed import DistContext, broadcast_object, first_error

# A network file system's client may answer "no such file" from its cache for a moment after another node
# wrote the file; the marker is looked for again until this much time has passed.
MARKER_WAIT_S = 3.0
MARKER_POLL_S = 0.2


class RunDirNotShared(RunDirError):
    """The run directory is not the same folder on every node."""


def check_run_dir_shared(ctx: DistContext, run_dir: Path) -> None:
    """Raises RunDirNotShared on every rank when some rank does not see rank 0's run directory (a collective:
    every rank calls it). Single-process runs pass at once."""
    if not ctx.distributed:
        return
    marker = Path(run_dir) / SHARED_STORAGE_MARKER
    token, problem = None, None
    if ctx.is_main:
        token = secrets.token_hex(16)
        try:
            write_file_atomic(marker, token.encode("ascii"))
        except RunDirError as e:
            problem = str(e)
    token = broadcast_object(ctx, token)  # after rank 0's write: the others look only once it is there
    if problem is None and not ctx.is_main and not _sees_token(marker, token):
        problem = (f"checkpoint_path {run_dir} is not on storage every node sees: rank {ctx.rank} on "
                   f"{socket.gethostname()} does not find the file rank 0 wrote there ({SHARED_STORAGE_MARKER}), so "
                   "its checkpoint files would be lost\n  hint: set checkpoint_path to a folder on the shared file "
                   "system that every node mounts at the same path (docs/clusters.md, \"File systems\")")
    problem = first_error(ctx, problem)
    if ctx.is_main:
        try:
            marker.unlink(missing_ok=True)
        except OSError:
            pass  # a leftover marker is harmless: the next check writes a new token over it
    if problem is not None:
        raise RunDirNotShared(problem)


def _sees_token(marker: Path, token: str) -> bool:
    deadline = time.monotonic() + MARKER_WAIT_S
    while True:
        try:
            os.listdir(marker.parent)  # makes a network file system's client look at the folder again
            if marker.read_text(encoding="ascii") == token:
                return True
        except (OSError, UnicodeDecodeError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(MARKER_POLL_S)
