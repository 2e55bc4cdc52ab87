"""The live monitor: one run directory's curves, progress, GPU/host use, ACT halting, samples, logs and alerts.

`MonitorScreen(run_dir)` follows `<run_dir>/events.jsonl`, `stdout.log` and `stderr.log`. It works the same
for a run started by the app, one started by hand (`python -m hrm_core.pretrain`, `torchrun`) and a
finished run opened later. `compare=[other_run_dir, ...]` overlays the same metrics of other runs on the
curves, a colour per run, each labelled by what tells it apart from the others (monitoring/compare.py:
`brave-otter`, not `HierarchicalReasoningModel_ACTV1 brave-otter` cut to `…`); `d` then asks the app for
their config diff (`OpenConfigDiff`).

Threads: every file read, JSON parse, NVML poll and process-table look-up happens in a background worker
(`@work(thread=True)`), and each worker posts what it read to the screen in a typed message that carries
it (`RunUpdated` with an immutable `RunSnapshot` of the run's model, `SystemRead`, `LogLinesRead`,
`SamplesRead`); the screen hands the data to its panels, which draw from what they were given and never
touch a worker's state. An idle run posts nothing, so it costs almost nothing. The trainer is never waited
on: the monitor only reads files.

Keys: `1`-`6` focus a panel, `m` maximises the focused panel (again or `escape` restores), `h` hides it,
`a` shows every panel, `x` dismisses the current alerts, `d` (comparing runs) shows their config diff,
`q` closes the monitor (back to the runs list, or quits when attached), F3 goes to the runs list. Each panel adds its own
keys, shown in the footer while it has focus. See docs/tui-monitor.md.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from hrm_tui.monitoring.alerts import AlertInputs, evaluate_alerts
from hrm_tui.monitoring.event_loader import EventLoader, read_samples_event
from hrm_tui.monitoring.settings import MonitorSettings
from hrm_tui.monitoring.run_model import LOAD_STAGES, TRAIN, RunModel, RunSnapshot, SampleRef
from hrm_tui.system.sysmon import LiveSystemSampler, SystemSnapshot
from hrm_core.rundir.events import Rejected, Samples
from hrm_core.rundir.files import STDERR_FILE, STDOUT_FILE
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.summary import RunSummary, summarize_run
from hrm_core.rundir.tail import FileTail, offset_of_last_lines
from hrm_tui.crash import record_worker_error
from hrm_tui.messages import OpenConfigDiff
from hrm_tui.monitoring.compare import run_labels
from hrm_tui.widgets.key_footer import KeyFooter
from hrm_tui.widgets.monitor.alerts import AlertBanner
from hrm_tui.widgets.monitor.curves import CurvesPanel
from hrm_tui.widgets.monitor.halting import HaltingPanel
from hrm_tui.widgets.monitor.logs import MAX_LINES, STREAMS, LogsPanel
from hrm_tui.widgets.monitor.panel import RUN_COLORS, MonitorPanel, RunView
from hrm_tui.widgets.monitor.progress import ProgressPanel
from hrm_tui.widgets.runs_table import job_text
from hrm_tui.widgets.monitor.samples import SamplesPanel
from hrm_tui.widgets.monitor.system import SystemPanel
from hrm_tui.screens.stop_flow import StopsRuns

LOG_TAIL_BYTES = 256 * 1024  # how much of an existing log is shown when the monitor opens


class MonitorScreen(StopsRuns, Screen):
    """Follows one run directory (and optionally overlays others) live."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    ALLOW_IN_MAXIMIZED_VIEW = "Footer, AlertBanner"
    # escape restores a maximised panel through a binding, so that the focused panel sees it first (the logs
    # panel clears its search before the layout is restored).
    ESCAPE_TO_MINIMIZE = False

    BINDINGS = [
        Binding("1", "focus_panel('curves')", "Curves", show=False),
        Binding("2", "focus_panel('progress')", "Progress", show=False),
        Binding("3", "focus_panel('system')", "GPU/host", show=False),
        Binding("4", "focus_panel('halting')", "Halting", show=False),
        Binding("5", "focus_panel('samples')", "Samples", show=False),
        Binding("6", "focus_panel('logs')", "Logs", show=False),
        Binding("m", "toggle_maximize", "Max/restore"),
        Binding("h", "hide_panel", "Hide"),
        Binding("a", "show_all", "Show all"),
        Binding("x", "dismiss_alerts", "Dismiss alerts"),
        Binding("d", "config_diff", "Config diff"),
        Binding("S", "stop_run", "Stop run"),
        Binding("q", "close", "Close"),
        Binding("escape", "restore", "Restore", show=False),
    ]

    DEFAULT_CSS = """
    MonitorScreen { layout: vertical; }
    MonitorScreen #panels { height: 1fr; layout: horizontal; scrollbar-size-vertical: 1; }
    MonitorScreen #left { width: 3fr; height: 1fr; }
    MonitorScreen #right { width: 2fr; height: 1fr; }
    MonitorScreen CurvesPanel { height: 3fr; }
    MonitorScreen SamplesPanel { height: 2fr; padding: 0; }
    MonitorScreen SystemPanel { height: auto; }
    MonitorScreen HaltingPanel { height: 1fr; }
    MonitorScreen LogsPanel { height: 1fr; }
    MonitorScreen.-narrow #panels { layout: vertical; }
    MonitorScreen.-narrow #left, MonitorScreen.-narrow #right { width: 1fr; height: auto; }
    MonitorScreen.-narrow CurvesPanel { height: 17; }
    MonitorScreen.-narrow SamplesPanel { height: 24; }
    MonitorScreen.-narrow HaltingPanel { height: 13; }
    MonitorScreen.-narrow LogsPanel { height: 14; }
    MonitorScreen.-narrow .-maximized, MonitorScreen.-wide .-maximized { height: 1fr; width: 1fr; }
    """

    class RunUpdated(Message):
        """A run's model changed: `snapshot` is what it holds now (views[index]'s run)."""

        def __init__(self, index: int, snapshot: RunSnapshot) -> None:
            super().__init__()
            self.index, self.snapshot = index, snapshot

    class SystemRead(Message):
        """The run's status (alive, finished, ...) and an NVML/psutil reading."""

        def __init__(self, summary: RunSummary, reading: SystemSnapshot) -> None:
            super().__init__()
            self.summary, self.reading = summary, reading

    class LogLinesRead(Message):
        """New lines of one log (`stream`: one of logs.STREAMS), decoded, at most MAX_LINES of them."""

        def __init__(self, stream: str, lines: list[str]) -> None:
            super().__init__()
            self.stream, self.lines = stream, lines

    class SamplesRead(Message):
        """The samples event at `ref`, or why the line there is not one."""

        def __init__(self, ref: SampleRef, event: Samples | Rejected) -> None:
            super().__init__()
            self.ref, self.event = ref, event

    def __init__(self, run_dir: Path | str, compare: Sequence[Path | str] = (), *, settings: MonitorSettings | None = None):
        super().__init__()
        self.settings = settings or MonitorSettings()
        self.summary: RunSummary | None = None  # the run's newest status reading (system worker), for Stop
        self.run_dir = Path(run_dir)
        dirs = [self.run_dir, *(Path(p) for p in compare)]
        labels = [safe_text(label) for label in run_labels(dirs)]
        self.views = [RunView(d, RunModel(d), label, RUN_COLORS[i % len(RUN_COLORS)]) for i, (d, label) in enumerate(zip(dirs, labels))]
        self.run = self.views[0]
        # What the UI thread knows of each run: the newest snapshot its worker posted (never the model itself).
        self.snapshots = [RunSnapshot(d) for d in dirs]
        self.status: str | None = None
        self.status_detail = ""  # summarize_run's detail (a stalled run: since when, in which phase)
        self.status_error, self.failed_rank = "", None  # summarize_run's error of a failed run: the first failing rank's
        self.system_snapshots = 0  # readings received: tests and the bench wait on these
        self.log_reads = 0
        self._stopping = threading.Event()

    # -- layout --------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield AlertBanner()
        yield ProgressPanel(self.run, self.settings.clock)
        with ScrollableContainer(id="panels", can_focus=False):
            with Vertical(id="left"):
                yield CurvesPanel(self.views, shown=self.settings.curves, cell_mode=self.settings.plot_mode)
                yield SamplesPanel()
            with Vertical(id="right"):
                yield SystemPanel()
                yield HaltingPanel()
                yield LogsPanel()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = safe_text(self.run_dir)
        overview_drawn = self.query_one(CurvesPanel).overview_drawn
        for index in range(len(self.views)):
            self._follow_events(index, overview_drawn)
        self._poll_system()
        self._tail_logs()
        self.set_interval(self.settings.metrics_refresh_s, self._tick)
        self.query_one(CurvesPanel).focus()

    def action_stop_run(self) -> None:
        """S: stop the run shown (the first one when runs are overlaid), as the runs list's `s` does."""
        if self.summary is None:
            self.notify("The run's status is not read yet: try again in a moment", markup=False)
            return
        self.ask_to_stop(self.summary)  # screens/stop_flow.py: verify, ask, stop

    def on_unmount(self) -> None:
        self._stopping.set()

    @property
    def panels(self) -> list[MonitorPanel]:
        return list(self.query(MonitorPanel))

    def panel(self, panel_id: str) -> MonitorPanel:
        return self.query_one(f"#{panel_id}", MonitorPanel)

    # -- background workers: each posts what it read in a message (post_message is thread-safe) -------------

    @work(thread=True, group="events", exit_on_error=False)
    def _follow_events(self, index: int, overview_drawn: threading.Event) -> None:
        """Loads the run's events, then follows new ones; refines a large log's curves between polls. Posts a
        snapshot when a load stage completes, else at most every `metrics_refresh_s` (the exact pass works in
        slices of a few milliseconds: a copy of the curves per slice would be wasted)."""
        view = self.views[index]
        loader = EventLoader(view.run_dir, view.model)
        posted = RunSnapshot(view.run_dir)
        posted_at = 0.0

        def post_snapshot(at_once: bool = False) -> None:
            nonlocal posted, posted_at
            if view.model.version == posted.version:
                return
            if at_once or view.model.loaded != posted.loaded or time.monotonic() - posted_at >= self.settings.metrics_refresh_s:
                posted, posted_at = view.model.snapshot(), time.monotonic()
                self.post_message(self.RunUpdated(index, posted))

        loader.open(on_stage=lambda stage: post_snapshot(at_once=True))
        post_snapshot(at_once=True)
        if loader.refining:  # let the UI draw the whole run before the exact pass competes for the CPU
            overview_drawn.wait(timeout=2.0)
        while not self._stopping.is_set():
            loader.follow()
            if loader.refining:
                post_snapshot(at_once=loader.refine())
                self._stopping.wait(0.001)  # lets the UI thread run between slices
            else:
                post_snapshot()
                self._stopping.wait(self.settings.metrics_refresh_s)

    @work(thread=True, group="system", exit_on_error=False)
    def _poll_system(self) -> None:
        """The run's status (alive, finished, ...) and NVML/psutil readings."""
        sampler = self.settings.system_sampler or LiveSystemSampler()
        try:
            while not self._stopping.is_set():
                summary = summarize_run(self.run_dir, now=self.settings.clock(), stale_after_s=self.settings.alerts.stale_after_s)
                reading = sampler.sample(summary.pid if summary.is_active else None)
                self.post_message(self.SystemRead(summary, reading))
                self._stopping.wait(self.settings.system_refresh_s)
        finally:
            sampler.close()

    @work(thread=True, group="logs", exit_on_error=False)
    def _tail_logs(self) -> None:
        tails = {}
        for stream, name in zip(STREAMS, (STDOUT_FILE, STDERR_FILE)):
            path = self.run_dir / name
            tails[stream] = FileTail(path, start_offset=offset_of_last_lines(path, LOG_TAIL_BYTES))
        while not self._stopping.is_set():
            for stream, tail in tails.items():
                read = tail.read_lines()
                if read.lines:
                    # The panel keeps the newest MAX_LINES per stream: a burst of a million lines is cut here,
                    # in the worker, rather than drawn and dropped by the UI thread.
                    lines = [line.decode("utf-8", errors="replace") for line in read.lines[-MAX_LINES:]]
                    self.post_message(self.LogLinesRead(stream, lines))
            self.log_reads += 1
            self._stopping.wait(self.settings.metrics_refresh_s)

    @work(thread=True, group="samples", exit_on_error=False)
    def _read_samples(self, ref: SampleRef) -> None:
        event = read_samples_event(self.run_dir, ref)
        if isinstance(event, Rejected):
            # Not a valid samples event: the model forgets it, and the panel gets the index without it first
            # (messages arrive in order), so that it shows the next eval instead of asking for this one again.
            self.run.model.drop_sample_ref(ref)
            self.post_message(self.RunUpdated(0, self.run.model.snapshot()))
        self.post_message(self.SamplesRead(ref, event))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that failed (a bug: nothing in a file makes a reader raise) is reported, its traceback
        written to the crash log, instead of taking the app down. Runs are never touched."""
        if event.state == WorkerState.ERROR and not self._stopping.is_set():
            error = event.worker.error
            log = record_worker_error(event.worker.name, error) if isinstance(error, BaseException) else None
            where = f"; traceback in {log}" if log is not None else ""
            self.notify(safe_text(f"{event.worker.name} stopped: {error!r}{where}"), severity="error", timeout=30, markup=False)

    # -- the workers' messages, on the UI thread ---------------------------------------------------------------

    def _takes_data(self) -> bool:
        """Whether the panels are there to take a worker's data: a message can arrive while the screen closes
        (its panels are going), and then it is moot."""
        return not self._stopping.is_set() and self.is_attached and bool(self.query(CurvesPanel))

    def on_monitor_screen_run_updated(self, message: RunUpdated) -> None:
        if not self._takes_data():
            return
        if message.snapshot.version <= self.snapshots[message.index].version:
            return  # two workers (events, samples) post snapshots: an older one can arrive after a newer one
        self.snapshots[message.index] = message.snapshot
        self.query_one(CurvesPanel).show_run(message.index, message.snapshot)
        if message.index == 0:
            self.query_one(SamplesPanel).show_run(message.snapshot)
            self.query_one(HaltingPanel).show_run(message.snapshot)
            self.query_one(ProgressPanel).show_run(message.snapshot)
            self._update_alerts()

    def on_monitor_screen_system_read(self, message: SystemRead) -> None:
        if not self._takes_data():
            return
        summary = message.summary
        self.summary = summary
        self.status, self.status_detail = summary.status, summary.detail
        self.status_error, self.failed_rank = summary.error, summary.failed_rank
        self.system_snapshots += 1
        self.query_one(ProgressPanel).set_status(summary.status, job_text(summary))
        self.query_one(SystemPanel).update_snapshot(message.reading)
        self._update_alerts()

    def on_monitor_screen_log_lines_read(self, message: LogLinesRead) -> None:
        if self._takes_data():
            self.query_one(LogsPanel).add_lines(message.stream, message.lines)

    def on_monitor_screen_samples_read(self, message: SamplesRead) -> None:
        if self._takes_data():
            self.query_one(SamplesPanel).show_event(message.ref, message.event)

    def on_samples_panel_load_requested(self, message: SamplesPanel.LoadRequested) -> None:
        self._read_samples(message.ref)

    def _tick(self) -> None:
        """The clock-driven parts (ages, the heartbeat alert): new data arrives in RunUpdated instead."""
        self.query_one(ProgressPanel).refresh()
        self._update_alerts()

    def _update_alerts(self) -> None:
        run = self.snapshots[0]
        inputs = AlertInputs(
            status=self.status,
            status_detail=self.status_detail,
            error=self.status_error or (run.ended.error if run.ended is not None else None),
            failed_rank=self.failed_rank if self.status_error else None,
            seconds_since_event=None if run.last_event_time is None or run.ended else self.settings.clock() - run.last_event_time,
            nonfinite=list(run.nonfinite),
            eval_trends=list(run.eval_trends),
            train_accuracy=run.recent_mean(TRAIN, "", "accuracy"),
            skipped=Counter(run.skipped),
            not_shown=Counter(run.not_shown),
        )
        self.query_one(AlertBanner).set_alerts(evaluate_alerts(inputs, self.settings.alerts))

    # -- actions ---------------------------------------------------------------------------------------------

    def action_focus_panel(self, panel_id: str) -> None:
        panel = self.panel(panel_id)
        panel.display = True
        self._sync_columns()
        if self.maximized is not None and self.maximized is not panel:
            self.maximize(panel)
        # set_focus acts now; panel.focus() would wait until the keys already queued are handled, so a
        # typed-ahead `5m` (one read over a slow link) would maximise the panel focused before.
        self.set_focus(panel, scroll_visible=False)
        panel.scroll_visible(animate=False)

    def action_toggle_maximize(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        panel = self._focused_panel()
        if panel is not None:
            self.maximize(panel, container=False)

    def action_restore(self) -> None:
        if self.maximized is not None:
            self.minimize()

    def action_hide_panel(self) -> None:
        panel = self._focused_panel()
        if panel is None:
            return
        if self.maximized is panel:
            self.minimize()
        panel.display = False
        self._sync_columns()
        visible = [p for p in self.panels if p.display]
        if visible:
            self.set_focus(visible[0])
        self.notify(f"{panel.PANEL_TITLE} hidden: press {panel.PANEL_KEY} or a to show it", timeout=3)

    def action_show_all(self) -> None:
        for panel in self.panels:
            panel.display = True
        self._sync_columns()

    def action_dismiss_alerts(self) -> None:
        self.query_one(AlertBanner).dismiss()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "config_diff":
            return len(self.views) > 1  # only when comparing: hidden from the footer otherwise
        return True

    def action_config_diff(self) -> None:
        self.post_message(OpenConfigDiff([view.run_dir for view in self.views]))

    def action_close(self) -> None:
        """Back to the screen below (e.g. the runs list), or quit when the monitor is all there is.

        Below the monitor is one of the app's own screens (the runs list), nothing (the monitor is the
        screen of hrm-tui's "monitor" mode: `hrm-tui attach`), or, in a host app such as the bench's,
        Textual's blank default screen, which has nothing to go back to either.
        """
        stack = self.app.screen_stack
        below = stack[-2] if len(stack) >= 2 else None
        if below is not None and type(below) is not Screen:
            self.app.pop_screen()
        else:
            self.app.exit()

    def _focused_panel(self) -> MonitorPanel | None:
        node = self.focused
        while node is not None and not isinstance(node, MonitorPanel):
            node = node.parent
        return node if isinstance(node, MonitorPanel) else None

    def _sync_columns(self) -> None:
        """A column whose panels are all hidden gives its width to the other."""
        for column in self.query("#panels > Vertical"):
            column.display = any(child.display for child in column.children)

    # -- for tests and the bench -----------------------------------------------------------------------------

    def loaded_stage(self) -> str:
        """The least complete load stage over the runs (run_model.LOAD_STAGES), as drawn: of the snapshots
        the screen has received."""
        return min((snapshot.loaded for snapshot in self.snapshots), key=LOAD_STAGES.index)

