"""The status of a run, as `hrm-tui runs`, the runs screen, the monitor and users' tools show it.

A `str` enum: `RunStatus.FINISHED == "finished"`, and it is written to JSON as the plain string.

    running    the trainer is alive and making progress
    stalled    the trainer is alive (or still beating) but has made no progress for longer than its
               `stall_after_s` (a frozen rank, a hung collective, a stopped process)
    finished   the run logged `run_end` with status finished
    stopped    ... with status stopped (SIGINT/SIGTERM: a checkpoint was saved)
    failed     ... with status failed (an exception or a non-finite loss), or the launched process
               exited before the trainer logged its start
    queued     a SLURM job waiting to run: pending (its reason: Priority, Resources, ...) or requeued and
               waiting to run again; never lost while the scheduler has it (docs/clusters.md)
    lost       no `run_end`, and its process is gone (SIGKILL, out of memory, the machine went down)
    missing    not a run's state but an index entry's: the per-user index of runs (index.py) names a folder
               that has gone or holds no run any more (`hrm-tui runs --prune` removes such entries)

How each one is decided from a run directory is `hrm_core.rundir.summary.summarize_run`'s job
(docs/run-directory.md, "Statuses").
"""

from __future__ import annotations

from enum import Enum


class RunStatus(str, Enum):
    RUNNING = "running"
    STALLED = "stalled"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    LOST = "lost"
    QUEUED = "queued"
    MISSING = "missing"

    def __str__(self) -> str:  # "finished", not "RunStatus.FINISHED", in messages and f-strings
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def is_active(self) -> bool:
        """The trainer is (as far as can be told) still there: running or stalled."""
        return self in (RunStatus.RUNNING, RunStatus.STALLED)


# The statuses a `run_end` event may carry: how a trainer says it ended.
END_STATUSES = (RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.FAILED)
