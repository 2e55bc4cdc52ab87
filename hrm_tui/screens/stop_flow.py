"""Stop, as the runs screen (`s`) and the monitor (`S`) offer it: one flow for both screens.

    find the run's processes (or its SLURM job) and verify them, off the UI thread
      -> say why it cannot be stopped, or ask (ConfirmScreen, naming what gets which signal)
      -> stop it in a worker (runs/process_control.stop_run: SIGINT, the checkpoint, then the rest),
         reporting progress as notifications
      -> `run_stopped()`, which the screen overrides to refresh what it shows

A screen mixes `StopsRuns` in and calls `ask_to_stop(run)` with the run's newest summary.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.message import Message

from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import RunSummary
from hrm_tui.runs.process_control import DEFAULT_GRACE_S, RunProcesses, SlurmJob, StopError, find_run_processes, stop_run


class StopsRuns:
    """The stop flow, for a Textual Screen."""

    class StopPlanned(Message):
        """The run's processes (or SLURM job), found and verified: ask before stopping them."""

        def __init__(self, run: RunSummary, processes: RunProcesses | SlurmJob) -> None:
            super().__init__()
            self.run, self.processes = run, processes

    @property
    def stop_grace_s(self) -> float:
        """How long the trainer gets to save its checkpoint after SIGINT (the app's setting where it has one)."""
        return DEFAULT_GRACE_S

    def run_stopped(self) -> None:
        """Called (in the stop's worker thread) once a stop has done what it could."""

    def ask_to_stop(self, run: RunSummary) -> None:
        if not run.is_active and run.status is not RunStatus.QUEUED:
            self.notify(f"{safe_text(run.path.name)} is not running ({run.status})", markup=False)  # type: ignore[attr-defined]
            return
        self._plan_stop(run)

    @work(thread=True, group="stop")
    def _plan_stop(self, run: RunSummary) -> None:
        """Finds and verifies the run's processes off the UI thread; says why it cannot be stopped before asking."""
        try:
            processes = find_run_processes(run.path)
        except StopError as error:
            self.notify(f"{safe_text(run.path.name)} cannot be stopped from here: {safe_text(error)}",  # type: ignore[attr-defined]
                        severity="error", markup=False)
            return
        if processes is None:
            self.notify(f"{safe_text(run.path.name)}: its process is not running any more", markup=False)  # type: ignore[attr-defined]
            return
        self.post_message(self.StopPlanned(run, processes))  # type: ignore[attr-defined]

    def on_stops_runs_stop_planned(self, message: StopPlanned) -> None:
        from hrm_tui.screens.confirm import ConfirmScreen

        run, processes = message.run, message.processes

        def answered(yes: bool | None) -> None:
            if yes:
                self._stop(run.path)

        text = (
            f"Stop {safe_text(run.path.name)}?\n{processes.describe()}\n\nIt gets SIGINT: it finishes its step, saves a checkpoint and "
            "ends with status stopped. If it is still running after the grace period it gets SIGTERM, then SIGKILL."
        ) if isinstance(processes, RunProcesses) else (
            f"Stop {safe_text(run.path.name)}?\n{processes.describe()}.\n\nThe run ends with status stopped; a pending requeue of "
            "it is cancelled too."
        )
        self.app.push_screen(ConfirmScreen("Stop run", text, yes="Stop"), answered)  # type: ignore[attr-defined]

    @work(thread=True, group="stop")
    def _stop(self, run_dir: Path) -> None:
        name = safe_text(run_dir.name)

        def progress(message: str) -> None:
            self.notify(f"{name}: {safe_text(message)}", markup=False)  # type: ignore[attr-defined]

        try:
            result = stop_run(run_dir, grace_s=self.stop_grace_s, on_progress=progress)
        except StopError as error:
            self.notify(safe_text(error), severity="error", markup=False)  # type: ignore[attr-defined]
            return
        self.notify(f"{name}: {safe_text(result)}", markup=False)  # type: ignore[attr-defined]
        self.run_stopped()
