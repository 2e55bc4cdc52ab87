"""The runs screen: every run under the runs root, newest first, and what can be done with one.

enter opens the monitor, s stops (after a confirmation), r resumes, c clones the run's config into the
launch form, n goes to the form for a new run. The list refreshes every couple of seconds from a worker
thread (reading run directories never blocks the UI).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import RunSummary
from hrm_tui.runs.discovery import list_runs
from hrm_tui.runs.launcher import LaunchError, plan_resume, reap_children, run_recipe, start
from hrm_tui.runs.process_control import StopError, stop_run
from hrm_tui.widgets.key_footer import KeyFooter
from hrm_tui.widgets.runs_table import RunsTable, format_time

REFRESH_S = 2.0


class RunsScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "monitor", "Monitor"),
        Binding("s", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("c", "clone", "Clone"),
        Binding("n", "new_run", "New run"),
        Binding("g", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._select_next: Path | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="runs-title")
        yield RunsTable(clock=self.app.clock, id="runs-table")
        yield Static("", id="run-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        root = Path(self.app.runs_root)
        self.query_one("#runs-title", Static).update(Text(f"Runs under {root}  (newest first)"))
        self.action_refresh()
        if self.app.refresh_runs:
            self.set_interval(REFRESH_S, self.action_refresh)

    @property
    def table(self) -> RunsTable:
        return self.query_one("#runs-table", RunsTable)

    # --- refreshing ----------------------------------------------------------------------------------

    def select_run(self, run_dir: Path) -> None:
        """Selects this run at the next refresh (e.g. right after launching it)."""
        self._select_next = Path(run_dir)
        self.action_refresh()

    def action_refresh(self) -> None:
        self._load_runs()

    @work(thread=True, exclusive=True, group="runs")
    def _load_runs(self) -> None:
        reap_children()
        summaries = list_runs(self.app.runs_root, now=self.app.clock())
        self.app.call_from_thread(self._show_runs, summaries)

    def _show_runs(self, summaries: list[RunSummary]) -> None:
        select, self._select_next = self._select_next, None
        self.table.show_runs(summaries, select=select)
        if not summaries:
            self.query_one("#run-detail", Static).update(
                Text(f"No runs under {self.app.runs_root} yet. Press n to set one up, or start the demo from the form.")
            )
        else:
            self._show_detail()

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        run = self.table.selected
        detail = self.query_one("#run-detail", Static)
        if run is None:
            detail.update("")
            return
        text = Text(str(run.path))
        text.append(f"\nstarted {format_time(run.start_time)}")
        if run.detail:
            text.append(f" · {run.status}: {run.detail}")
        detail.update(text)

    # --- actions -------------------------------------------------------------------------------------

    def _selected_or_say(self) -> RunSummary | None:
        run = self.table.selected
        if run is None:
            self.notify("No run selected")
        return run

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_monitor()

    def action_monitor(self) -> None:
        run = self._selected_or_say()
        if run is not None:
            self.app.open_monitor(run.path)

    def action_new_run(self) -> None:
        self.app.switch_mode("launch")

    def action_clone(self) -> None:
        run = self._selected_or_say()
        if run is None:
            return
        if not run.overrides:
            self.notify("This run recorded no overrides to clone", severity="warning")
            return
        self.app.clone_into_form(run_recipe(run.path, run.overrides))

    def action_stop(self) -> None:
        run = self._selected_or_say()
        if run is None:
            return
        if not run.is_active:
            self.notify(f"{run.path.name} is not running ({run.status})", markup=False)
            return
        from hrm_tui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._stop(run.path)

        message = (
            f"Stop {run.path.name}?\n\nIt gets SIGINT: it finishes its step, saves a checkpoint and ends with "
            "status stopped. If it is still running after the grace period it gets SIGTERM, then SIGKILL."
        )
        self.app.push_screen(ConfirmScreen("Stop run", message, yes="Stop"), answered)

    @work(thread=True, group="stop")
    def _stop(self, run_dir: Path) -> None:
        def progress(message: str) -> None:
            self.app.call_from_thread(self.notify, f"{run_dir.name}: {message}", markup=False)

        try:
            result = stop_run(run_dir, grace_s=self.app.stop_grace_s, on_progress=progress)
        except StopError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", markup=False)
            return
        self.app.call_from_thread(self.notify, f"{run_dir.name}: {result}", markup=False)
        self.app.call_from_thread(self.action_refresh)

    def action_resume(self) -> None:
        run = self._selected_or_say()
        if run is None:
            return
        if run.is_active or run.status == RunStatus.FINISHED:
            self.notify(f"{run.path.name} is {run.status}: nothing to resume", markup=False)
            return
        try:
            plan = plan_resume(run.path, run.overrides)
            start(plan, resume=True)
        except LaunchError as error:
            self.notify(f"Not resumed: {error}", severity="error", markup=False)
            return
        self.notify(f"Resuming {run.path.name} from its newest checkpoint", markup=False)
        self.select_run(run.path)
