"""The runs screen: every run of this user (the index of runs and the runs root), newest first, and what can
be done with one.

enter opens the monitor, s stops (after a confirmation, once the run's processes are found and verified),
r resumes (after a confirmation that shows the command, its working directory and environment), c clones the
run's config into the launch form, n goes to the form for a new run, x forgets the index entries of missing
runs (after a confirmation saying how many). The list, obtained through `list_all_runs`, refreshes every
couple of seconds from a worker thread (reading run directories never blocks the UI).

Everything shown about a run (its path, name, detail, the messages about it) comes from its directory and
is drawn as sanitised plain text (`safe_text`, never markup).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from hrm_core.rundir.files import EVENTS_FILE
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import RunSummary
from hrm_tui.runs.discovery import RunListing, list_all_runs
from hrm_tui.runs.launcher import LaunchError, reap_children, run_recipe
from hrm_tui.runs.process_control import RunProcesses, StopError, find_run_processes, stop_run
from hrm_tui.runs.resume import ResumePlan, plan_resume, start_resume
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
        Binding("x", "prune", "Prune missing"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._select_next: Path | None = None
        self._listing: RunListing | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="runs-title")
        yield RunsTable(clock=self.app.clock, id="runs-table")
        yield Static("", id="run-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        root = Path(self.app.runs_root)
        self.query_one("#runs-title", Static).update(
            Text(safe_text(f"Runs in the index of runs and under {root}  (newest first)")))
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
        listing = list_all_runs(self.app.runs_root, now=self.app.clock())
        self.app.call_from_thread(self._show_runs, listing)

    def _show_runs(self, listing: RunListing) -> None:
        self._listing = listing
        select, self._select_next = self._select_next, None
        self.table.show_runs(listing.runs, select=select)
        if not listing.runs:
            self.query_one("#run-detail", Static).update(
                Text(f"No runs yet ({listing.searched()}). Press n to set one up, or start the demo from the form.")
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
        text = Text(safe_text(run.path))
        text.append(f"\nstarted {format_time(run.start_time)}")
        if run.detail:
            text.append(f" · {run.status}: ")
            text.append(safe_text(run.detail), style="bold" if run.status is RunStatus.STALLED else "")
        if run.skipped_lines:
            text.append(f" · {run.skipped_lines:,} invalid line{'s' if run.skipped_lines != 1 else ''} of {EVENTS_FILE} skipped")
        for note in self._listing.notes() if self._listing is not None else []:
            text.append(f"\n{note}", style="italic")
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
        if run is not None and run.status is RunStatus.MISSING:
            self.notify(f"{_name(run)}: {run.detail}", severity="warning", markup=False)
        elif run is not None:
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
            self.notify(f"{_name(run)} is not running ({run.status})", markup=False)
            return
        self._plan_stop(run)

    @work(thread=True, group="stop")
    def _plan_stop(self, run: RunSummary) -> None:
        """Finds and verifies the run's processes off the UI thread; says why it cannot be stopped before asking."""
        try:
            processes = find_run_processes(run.path)
        except StopError as error:
            self.app.call_from_thread(self.notify, f"{_name(run)} cannot be stopped from here: {safe_text(error)}",
                                      severity="error", markup=False)
            return
        if processes is None:
            self.app.call_from_thread(self.notify, f"{_name(run)}: its process is not running any more", markup=False)
            return
        self.app.call_from_thread(self._confirm_stop, run, processes)

    def _confirm_stop(self, run: RunSummary, processes: RunProcesses) -> None:
        from hrm_tui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._stop(run.path)

        message = (
            f"Stop {_name(run)}?\n{processes.describe()}\n\nIt gets SIGINT: it finishes its step, saves a checkpoint and "
            "ends with status stopped. If it is still running after the grace period it gets SIGTERM, then SIGKILL."
        )
        self.app.push_screen(ConfirmScreen("Stop run", message, yes="Stop"), answered)

    @work(thread=True, group="stop")
    def _stop(self, run_dir: Path) -> None:
        name = safe_text(run_dir.name)

        def progress(message: str) -> None:
            self.app.call_from_thread(self.notify, f"{name}: {safe_text(message)}", markup=False)

        try:
            result = stop_run(run_dir, grace_s=self.app.stop_grace_s, on_progress=progress)
        except StopError as error:
            self.app.call_from_thread(self.notify, safe_text(error), severity="error", markup=False)
            return
        self.app.call_from_thread(self.notify, f"{name}: {safe_text(result)}", markup=False)
        self.app.call_from_thread(self.action_refresh)

    def action_prune(self) -> None:
        """Forgets the index entries of missing runs, after a confirmation that says how many go."""
        from hrm_tui.screens.confirm import ConfirmScreen

        missing = self._listing.missing if self._listing is not None else []
        if not missing:
            self.notify("No missing runs to prune: every indexed run's folder is there")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._prune()

        shown = "\n".join(f"  {run.name}" for run in missing[:5]) + (f"\n  ... and {len(missing) - 5} more" if len(missing) > 5 else "")
        message = (f"Remove {len(missing)} entr{'y' if len(missing) == 1 else 'ies'} from the index of runs?\n\n{shown}\n\n"
                   "Their folders have gone (or hold no run any more). Nothing else is deleted.")
        self.app.push_screen(ConfirmScreen("Prune missing runs", message, yes="Prune"), answered)

    @work(thread=True, group="prune")
    def _prune(self) -> None:
        from hrm_core.rundir.index import prune_index

        removed = prune_index()
        self.app.call_from_thread(self.notify, f"Removed {len(removed)} index entr{'y' if len(removed) == 1 else 'ies'} of missing runs")
        self.app.call_from_thread(self.action_refresh)

    def action_resume(self) -> None:
        run = self._selected_or_say()
        if run is None:
            return
        if run.is_active or run.status == RunStatus.FINISHED:
            self.notify(f"{_name(run)} is {run.status}: nothing to resume", markup=False)
            return
        self._plan_resume(run)

    @work(thread=True, group="resume")
    def _plan_resume(self, run: RunSummary) -> None:
        """Plans the resume (reads launch.json) off the UI thread, then asks for a confirmation."""
        try:
            plan = plan_resume(run.path, run.overrides)
        except LaunchError as error:
            self.app.call_from_thread(self.notify, f"Not resumed: {safe_text(error)}", severity="error", markup=False)
            return
        self.app.call_from_thread(self._confirm_resume, run, plan)

    def _confirm_resume(self, run: RunSummary, plan: ResumePlan) -> None:
        from hrm_tui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._start_resume(plan)

        message = f"Resume {_name(run)} from its newest checkpoint?\n\n{plan.describe()}"
        self.app.push_screen(ConfirmScreen("Resume run", message, yes="Resume"), answered)

    @work(thread=True, group="resume")
    def _start_resume(self, plan: ResumePlan) -> None:
        """Checks that the run is not alive (status, owner lock, launch record) and starts it."""
        name = safe_text(plan.run_dir.name)
        try:
            start_resume(plan)
        except LaunchError as error:
            self.app.call_from_thread(self.notify, f"Not resumed: {safe_text(error)}", severity="error", markup=False)
            return
        self.app.call_from_thread(self.notify, f"Resuming {name} from its newest checkpoint", markup=False)
        self.app.call_from_thread(self.select_run, plan.run_dir)


def _name(run: RunSummary) -> str:
    """The run's folder name, safe to show."""
    return safe_text(run.path.name)
