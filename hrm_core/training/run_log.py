"""What a run writes into its run directory besides checkpoints (docs/run-directory.md).

`RunLog` is rank 0's handle: the event log (thread-safe, since the heartbeat thread writes too), the
`all_config.yaml` / `command.json` files, and the optional Weights & Biases mirror. On other ranks every
method is a no-op, so the loop can call it without checking the rank.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from hrm_core.events import EventWriter

CONFIG_FILE = "all_config.yaml"  # the original's name
COMMAND_FILE = "command.json"


class RunLog:
    def __init__(self, run_dir: str | os.PathLike[str], *, enabled: bool):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._lock = threading.Lock()
        self._writer = EventWriter(self.run_dir) if enabled else None
        self._wandb: Any = None

    def emit(self, event_type: str, **fields: Any) -> None:
        if self._writer is None:
            return
        with self._lock:
            self._writer.emit(event_type, **fields)

    def write_run_files(self, config: dict[str, Any], *, argv: list[str], overrides: list[str], world_size: int) -> None:
        if not self.enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
        command = {"argv": argv, "overrides": overrides, "cwd": os.getcwd(), "world_size": world_size, "python": sys.executable}
        (self.run_dir / COMMAND_FILE).write_text(json.dumps(command, indent=2) + "\n")

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
