"""What a run writes into its run directory besides checkpoints (docs/run-directory.md).

`RunLog` is rank 0's handle: the event log (thread-safe, since the heartbeat thread writes too), the
`all_config.yaml` / `command.json` files, and the optional Weights & Biases mirror. On other ranks every
method is a no-op, so the loop can call it without checking the rank.

A failed write raises RunDirError naming the file (a full disk, a read-only file system). `emit_quietly` is
for the last event of a run that is failing anyway: it must not hide the error that ended the run.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from hrm_core.rundir.errors import RunDirError
from hrm_core.rundir.events import Event
from hrm_core.rundir.files import COMMAND_FILE, CONFIG_FILE
from hrm_core.rundir.records import CommandRecord
from hrm_core.rundir.writer import EventWriter, write_file_atomic, write_json_record

# What a write error advises: the run's checkpoints are intact, so it can continue once the cause is fixed.
WRITE_ERROR_FIX = "free space (or fix the mount), then continue the run with resume=auto from its last checkpoint"


class RunLog:
    def __init__(self, run_dir: str | os.PathLike[str], *, enabled: bool):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._lock = threading.Lock()
        self._writer = EventWriter(self.run_dir, fix=WRITE_ERROR_FIX) if enabled else None
        self._wandb: Any = None

    def emit(self, event: Event) -> None:
        if self._writer is None:
            return
        with self._lock:
            self._writer.write(event)

    def emit_quietly(self, event: Event) -> RunDirError | None:
        """`emit`, returning a write error instead of raising it."""
        try:
            self.emit(event)
        except RunDirError as e:
            return e
        return None

    def write_run_files(self, config: dict[str, Any], *, argv: list[str], overrides: list[str], world_size: int) -> None:
        if not self.enabled:
            return
        write_file_atomic(self.run_dir / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False).encode("utf-8"))
        command = CommandRecord(argv=argv, overrides=overrides, cwd=os.getcwd(), world_size=world_size, python=sys.executable)
        write_json_record(self.run_dir / COMMAND_FILE, command)

    # --- Weights & Biases (optional; the JSONL log is always written) ----------------------------------

    def start_wandb(self, *, project: str, name: str, config: dict[str, Any], mode: str | None, resume_id: str | None = None) -> None:
        if not self.enabled:
            return
        import wandb  # checked at config validation time; installed separately (pip install wandb)

        self._wandb = wandb.init(project=project, name=name, config=config, mode=mode, dir=str(self.run_dir),
                                 id=resume_id, resume="allow" if resume_id else None)

    @property
    def wandb_run_id(self) -> str | None:
        return None if self._wandb is None else self._wandb.id

    def wandb_log(self, metrics: dict[str, float], step: int) -> None:
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)

    def close(self) -> None:
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None
        if self._writer is not None:
            with self._lock:
                self._writer.close()
