"""The runs screen: every run of this user (the index of runs and the runs root), newest first, and what can
be done with one.

enter opens the monitor, s stops (after a confirmation, once the run's processes are found and verified),
r resumes (after a confirmation that shows the command, its working directory and environment), c clones the
run's config into the launch form, p replays the first puzzle of its dataset's test split at its newest
checkpoint (n/p there step through the split, e opens the puzzle editor), n goes to the form for a new run, x forgets the index entries of missing
runs (after a confirmation saying how many). The list, obtained through `list_all_runs`, refreshes every
couple of seconds from a worker thread (reading run directories never blocks the UI).

Comparing: space marks runs (◆), w every run of the selected run's sweep; enter then opens one monitor with the marked runs' curves overlaid, and d
shows the config keys in which they differ. `/` filters the list (esc clears the filter, then the marks);
`>` and `<` choose the column it is sorted by, `I` reverses it (htop's keys), and the title says how it
is sorted. j/k/g/G move; q quits (the runs list has nothing below it). The keys `x` is left for pruning.

The screen's settings (the runs root, the clock, whether to refresh, the stop grace period) come from the
app's `AppContext`. It asks the app for navigation with typed messages (`OpenMonitor`, `OpenReplay`, `CloneRun`,
`ShowForm`) and takes `SelectRun` from it (after a launch or a resume); it calls none of the app's methods.

Everything shown about a run (its path, name, detail, the messages about it) comes from its directory and
is drawn as sanitised plain text (`safe_text`, never markup).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from hrm_core.rundir.files import EVENTS_FILE
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.summary import RunSummary
from hrm_tui.context import AppContext
from hrm_tui.messages import CloneRun, OpenConfigDiff, OpenMonitor, OpenReplay, SelectRun, ShowForm
from hrm_tui.replay_loading import ReplaySource
from hrm_tui.runs.discovery import RunListing, list_all_runs
from hrm_tui.launch_plan import LaunchError
from hrm_tui.runs.launcher import reap_children, run_recipe
from hrm_tui.runs.resume import ResumePlan, plan_resume, start_resume
from hrm_tui.widgets.key_footer import KeyFooter
from hrm_tui.runs.view import RunsView
from hrm_tui.screens.stop_flow import StopsRuns
from hrm_tui.widgets.runs_table import RunsTable, format_time, job_text

REFRESH_S = 2.0


class RunsScreen(StopsRuns, Screen[None]):
    """The runs list. Its workers (listing, stopping, resuming, pruning) post what they found in the messages
    below and call `notify` (thread-safe) for what they have to say; the handlers run on the UI thread."""

    AUTO_FOCUS = "#runs-table"
    BINDINGS = [
        Binding("enter", "monitor", "Monitor"),
        Binding("space", "mark", "Mark"),
        Binding("w", "mark_sweep", "Mark the sweep", show=False),
        Binding("d", "config_diff", "Diff"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "stop", "Stop"),
        Binding("r", "resume", "Resume"),
        Binding("c", "clone", "Clone"),
        Binding("p", "replay", "Replay"),
        Binding("n", "new_run", "New run"),
        Binding("greater_than_sign", "sort(1)", "Sort by next column", show=False),
        Binding("less_than_sign", "sort(-1)", "Sort by previous column", show=False),
        Binding("I", "reverse_sort", "Reverse the sort", show=False),
        Binding("escape", "clear", "Clear the filter, then the marks", show=False),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
        Binding("q", "app.close", "Quit"),  # the runs list is a screen with nothing below it
        Binding("x", "prune", "Prune missing"),
    ]

    class RunsListed(Message):
        """The runs as just read; `select`: a run to select in the list (one just resumed)."""

        def __init__(self, listing: RunListing, select: Path | None = None) -> None:
            super().__init__()
            self.listing, self.select = listing, select

    class ResumePlanned(Message):
        """How the run would be resumed: ask before starting it."""

        def __init__(self, run: RunSummary, plan: ResumePlan) -> None:
            super().__init__()
            self.run, self.plan = run, plan

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.context = context
        self.view = RunsView()  # sort, filter and marks: the user's, kept across refreshes
        self.all_runs: list[RunSummary] = []  # as last read, before the filter
        self._select_next: Path | None = None
        self._listing: RunListing | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="runs-title")
        box = Input(placeholder="filter: part of a name, preset, status or folder (enter: keep, esc: clear)",
                    id="runs-filter", compact=True)
        box.display = False  # until / opens it
        yield box
        yield RunsTable(clock=self.context.clock, id="runs-table")
        yield Static("", id="run-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._show_title()
        self.action_refresh()
        if self.context.refresh_runs:
            self.set_interval(REFRESH_S, self.action_refresh)

    @property
    def table(self) -> RunsTable:
        return self.query_one("#runs-table", RunsTable)

    # --- refreshing ----------------------------------------------------------------------------------

    def on_select_run(self, message: SelectRun) -> None:
        """Selects this run at the next refresh (e.g. right after launching it)."""
        self._select_next = message.run_dir
        self.action_refresh()

    def action_refresh(self) -> None:
        self._load_runs()

    @work(thread=True, exclusive=True, group="runs")
    def _load_runs(self) -> None:
        self._post_runs()

    def _post_runs(self, select: Path | None = None) -> None:
        """Reads the runs (in a worker thread: the one place they come from — the index of runs and the
        bounded scan of the runs root) and posts them to the screen."""
        reap_children()
        self.post_message(self.RunsListed(list_all_runs(self.context.runs_root, now=self.context.clock()), select))

    def on_runs_screen_runs_listed(self, message: RunsListed) -> None:
        if not self.query("#runs-table"):  # the screen closed (the app is quitting) while the worker listed
            return
        if message.select is not None:
            self._select_next = message.select
        listing = message.listing
        self._listing = listing
        summaries = listing.runs
        self.all_runs = summaries
        present = {s.path for s in summaries}
        marked = tuple(p for p in self.view.marked if p in present)  # a run that has gone is no longer marked
        if marked != self.view.marked:
            self.view = dataclasses.replace(self.view, marked=marked)
        self._redraw()

    def _redraw(self) -> None:
        """The list as read, through the user's view (filter, sort, marks), and the title that says so."""
        select, self._select_next = self._select_next, None
        if select is not None and self.view.filter:
            self._set_filter("")  # a run just launched or resumed is shown even if the filter hid it
        self.table.show_runs(self.view.apply(self.all_runs), select=select, view=self.view)
        self._show_title()
        detail = self.query_one("#run-detail", Static)
        if not self.all_runs:
            searched = self._listing.searched() if self._listing is not None else "not listed yet"
            detail.update(Text(f"No runs yet ({searched}). Press n to set one up, or start the demo from the form."))
        elif not self.table.summaries:
            detail.update(Text(safe_text(f"No run matches the filter {self.view.filter!r}; esc clears it.")))
        else:
            self._show_detail()

    def _show_title(self) -> None:
        """`Runs: the index and checkpoints · Name ▲ · 5 of 6 shown · 2 marked` (the filter
        itself is in its box)."""
        parts = [f"Runs: the index and {self.context.runs_root}", self.view.describe()]
        if self.view.filter:
            parts.append(f"{len(self.table.summaries)} of {len(self.all_runs)} shown")
        if self.view.marked:
            parts.append(f"{len(self.view.marked)} marked")  # the footer says what to do with them (enter, d)
        self.query_one("#runs-title", Static).update(Text(safe_text(" · ".join(parts))))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    # --- the view: marks, filter, sort ---------------------------------------------------------------

    def action_mark(self) -> None:
        run = self._selected_or_say()
        if run is None:
            return
        self.view = self.view.toggle_mark(run.path)
        self.table.show_runs(self.table.summaries, view=self.view)
        self._show_title()
        self.table.action_cursor_down()  # as in a file manager: space marks and moves on

    def action_mark_sweep(self) -> None:
        """Marks every run of the selected run's sweep (grouped together in the list), to compare them."""
        run = self._selected_or_say()
        if run is None:
            return
        self.view = self.view.with_sweep_marked(self.table.summaries, run)
        self.table.show_runs(self.table.summaries, view=self.view)
        self._show_title()

    def action_sort(self, step: int) -> None:
        self.view = self.view.next_sort(step)
        self._redraw()

    def action_reverse_sort(self) -> None:
        self.view = self.view.reversed()
        self._redraw()

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.display = True
        self.set_focus(box)  # now: keys typed right after / (one read over a slow link) go into the box

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.view = dataclasses.replace(self.view, filter=event.value)
        self._redraw()

    @on(Input.Submitted, "#runs-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        box = self.query_one("#runs-filter", Input)
        box.display = bool(box.value)
        self.set_focus(self.table)

    def action_clear(self) -> None:
        """esc: in the filter box or with a filter, clears the filter; else unmarks the runs."""
        if self.view.filter or self.focused is self.query_one("#runs-filter", Input):
            self._set_filter("")
            self.set_focus(self.table)
        elif self.view.marked:
            self.view = dataclasses.replace(self.view, marked=())
        self._redraw()

    def _set_filter(self, text: str) -> None:
        box = self.query_one("#runs-filter", Input)
        with box.prevent(Input.Changed):
            box.value = text
        box.display = bool(text)
        self.view = dataclasses.replace(self.view, filter=text)

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
        if run.job_id:
            text.append(f"\nSLURM job {job_text(run)}")
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
        """The selected run's monitor; with runs marked, one monitor overlaying them (the selected first
        when it is one of them)."""
        marked = self._marked_in_order()
        if len(marked) > 1:
            self.post_message(OpenMonitor(marked))
            return
        run = self._selected_or_say()
        if run is not None and run.status is RunStatus.MISSING:
            self.notify(f"{_name(run)}: {run.detail}", severity="warning", markup=False)
        elif run is not None:
            self.post_message(OpenMonitor([run.path]))

    def action_config_diff(self) -> None:
        marked = self._marked_in_order()
        if len(marked) < 2:
            self.notify("Mark two or more runs with space to compare their configs")
            return
        self.post_message(OpenConfigDiff(marked))

    def _marked_in_order(self) -> list[Path]:
        marked = list(self.view.marked)
        run = self.table.selected
        if run is not None and run.path in marked:
            marked.remove(run.path)
            marked.insert(0, run.path)
        return marked

    def action_replay(self) -> None:
        """The selected run's newest checkpoint on the first puzzle of its test split (loaded by the app's
        worker, which says so when the run has no checkpoint yet)."""
        run = self._selected_or_say()
        if run is not None and run.status is RunStatus.MISSING:
            self.notify(f"{_name(run)}: {run.detail}", severity="warning", markup=False)
        elif run is not None:
            self.post_message(OpenReplay(ReplaySource(str(run.path))))

    def action_new_run(self) -> None:
        self.post_message(ShowForm())

    def action_clone(self) -> None:
        run = self._selected_or_say()
        if run is None:
            return
        if not run.overrides:
            self.notify("This run recorded no overrides to clone", severity="warning")
            return
        self.post_message(CloneRun(run_recipe(run.path, run.overrides)))

    def action_stop(self) -> None:
        run = self._selected_or_say()
        if run is not None:
            self.ask_to_stop(run)  # screens/stop_flow.py: verify, ask, stop

    @property
    def stop_grace_s(self) -> float:
        return self.context.stop_grace_s

    def run_stopped(self) -> None:
        self._post_runs()

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
        self.notify(f"Removed {len(removed)} index entr{'y' if len(removed) == 1 else 'ies'} of missing runs")
        self._post_runs()

    def action_resume(self) -> None:
        run = self._selected_or_say()
        if run is None:
            return
        if run.is_active or run.status in (RunStatus.FINISHED, RunStatus.QUEUED):
            self.notify(f"{_name(run)} is {run.status}: nothing to resume", markup=False)
            return
        self._plan_resume(run)

    @work(thread=True, group="resume")
    def _plan_resume(self, run: RunSummary) -> None:
        """Plans the resume (reads launch.json) off the UI thread, then asks for a confirmation."""
        try:
            plan = plan_resume(run.path, run.overrides)
        except LaunchError as error:
            self.notify(f"Not resumed: {safe_text(error)}", severity="error", markup=False)
            return
        self.post_message(self.ResumePlanned(run, plan))

    def on_runs_screen_resume_planned(self, message: ResumePlanned) -> None:
        from hrm_tui.screens.confirm import ConfirmScreen

        run, plan = message.run, message.plan

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
            self.notify(f"Not resumed: {safe_text(error)}", severity="error", markup=False)
            return
        self.notify(f"Resuming {name} from its newest checkpoint", markup=False)
        self._post_runs(select=plan.run_dir)


def _name(run: RunSummary) -> str:
    """The run's folder name, safe to show."""
    return safe_text(run.path.name)
