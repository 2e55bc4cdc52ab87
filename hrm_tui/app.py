"""The hrm-tui application: two modes (the launch form and the runs list) plus the monitor on top.

    F2 launch form  ->  ctrl+l launches  ->  runs list (the new run selected)  ->  monitor
    F3 runs list    ->  enter: monitor, s: stop, r: resume, c: clone into the form, p: replay
    monitor         ->  enter on a sample (samples panel): its replay at the run's newest checkpoint
    hrm-tui attach A [B ...]  ->  the monitor of A (B ... overlaid) as the app's only screen

Keys follow nvitop, htop, k9s and lazygit: `q` closes the screen on top (the monitor, the help, a dialog)
and quits from a screen with nothing below it (the runs list, the form, an attached monitor; both q and ctrl+q ask
first while the form holds edits); a text field
that has focus types the q instead. `?` and F1 open the help, F3 the runs list from anywhere.

The app owns navigation and nothing else. What the screens share (the config tree, the runs root, the
clock, how to name a new run, ...) is one typed `AppContext` (context.py), given to each screen when it is
made. Screens ask for navigation with typed messages that bubble up to the app (messages.py: OpenMonitor,
RunLaunched, CloneRun, ShowForm, OpenReplay: loaded in a worker, replay_opener.py), and the app tells a screen what to do the same way (SelectRun,
LoadRecipe): no screen calls the app's methods, and the app calls none of the screens'.

The app never owns a run's process: runs are started detached and keep going when the app exits, however
it exits. A bug that reaches Textual as an unhandled exception ends the app with return code 1; its
traceback goes to the crash log (hrm_tui.crash, `crash_log` names it) instead of the terminal, and
`hrm-tui` prints one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from hrm_tui.context import AppContext
from hrm_tui.crash import write_crash_log
from hrm_tui.messages import CloneRun, LoadRecipe, OpenConfigDiff, OpenMonitor, RunLaunched, SelectRun, ShowForm
from hrm_tui.replay_opener import ReplayOpener
from hrm_tui.runs.launcher import RunRecipe
from hrm_tui.screens.launch import LaunchScreen
from hrm_tui.screens.runs import RunsScreen

# A first-time user gets the demo preset: it trains a small model on CPU on a dataset that builds itself.
DEFAULT_PRESET = "demo"


class HrmTuiApp(ReplayOpener, App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "hrm-tui"
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("f2", "switch_mode('launch')", "Form"),
        Binding("f3", "show_runs", "Runs"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("q", "close", "Close/quit", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        context: AppContext | None = None,
        *,
        start_mode: str = "launch",
        attach: Sequence[Path] = (),
        preset: str | None = DEFAULT_PRESET,
        overrides: Sequence[str] = (),
        theme: str | None = None,
    ) -> None:
        """`start_mode`: "launch" (the form) or "runs"; `attach`: runs whose monitor is the app's first
        screen instead (the first run's, the others overlaid), where q quits; `preset` and `overrides`: what
        the form opens with (a preset the config tree lacks opens none)."""
        super().__init__()
        self.context = context or AppContext()
        self._attach = tuple(Path(d) for d in attach)
        self._start_mode = "monitor" if self._attach else start_mode
        self._preset = preset
        self._overrides = list(overrides)
        self._pending_recipe: RunRecipe | None = None  # a clone asked for before the form was first opened
        self.crash_log: Path | None = None  # where a crash's traceback went (see _handle_exception)
        self.crash_error: BaseException | None = None
        # The modes' screens, once made (the app posts its instructions to them; tests look at them).
        self.launch_screen: LaunchScreen | None = None
        self.runs_screen: RunsScreen | None = None
        self.add_mode("launch", self._make_launch_screen)
        self.add_mode("runs", self._make_runs_screen)
        if self._attach:
            self.add_mode("monitor", lambda: self._make_monitor(self._attach))
        if theme:
            self.theme = theme

    def _make_launch_screen(self) -> LaunchScreen:
        recipe, self._pending_recipe = self._pending_recipe, None
        self.launch_screen = LaunchScreen(self.context, preset=self._preset, overrides=self._overrides, recipe=recipe)
        return self.launch_screen

    def _make_runs_screen(self) -> RunsScreen:
        self.runs_screen = RunsScreen(self.context)
        return self.runs_screen

    def _handle_exception(self, error: Exception) -> None:
        """Textual's hook for an unhandled exception (it then exits with return code 1): the traceback goes to
        the crash log, not to the terminal, where it would print (with locals) after the app's last screen."""
        if self.crash_error is None:
            self.crash_error = error
            self.crash_log = write_crash_log(error)
        super()._handle_exception(error)
        if self.crash_log is not None:
            self._exit_renderables.clear()  # private in Textual: what it would print on exit

    def on_mount(self) -> None:
        self.switch_mode(self._start_mode)

    # --- navigation ----------------------------------------------------------------------------------

    def action_help(self) -> None:
        from hrm_tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.BINDINGS))

    def action_close(self) -> None:
        """q: closes the screen on top, or quits (asking first, as ctrl+q does) when there is nothing below it."""
        if len(self.screen_stack) > 1:
            self.screen.dismiss()
            return
        self._quit_or_ask()

    async def action_quit(self) -> None:
        """ctrl+q: quits from anywhere, asking first while the form holds edits (as q does)."""
        self._quit_or_ask()

    def _quit_or_ask(self) -> None:
        """Quits, after a question when the form holds edits not launched: a stray key would lose them. One
        question at a time: a second ctrl+q while it is asked leaves it there."""
        from hrm_tui.screens.confirm import ConfirmScreen

        edits = self.launch_screen.edit_count() if self.launch_screen is not None else 0
        if not edits:
            self.exit()
            return
        if isinstance(self.screen, ConfirmScreen) and self.screen.has_class("quit-question"):
            return

        def answered(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self.exit()

        message = f"The form holds {edits} edit{'s' if edits != 1 else ''}; hrm-tui does not keep them when it quits."
        question = ConfirmScreen("Quit hrm-tui?", message, yes="Quit")
        question.add_class("quit-question")
        self.push_screen(question, answered)

    def action_show_runs(self) -> None:
        """F3: the runs list. From a monitor opened from it, that is going back to it."""
        if self.current_mode == "runs":
            while len(self.screen_stack) > 1:
                self.pop_screen()
        else:
            self.switch_mode("runs")

    def _make_monitor(self, run_dirs: Sequence[Path]):  # -> MonitorScreen
        from hrm_tui.screens.monitor import MonitorScreen  # imported on use: it pulls in the plotting stack

        main, *others = run_dirs
        return MonitorScreen(main, others, settings=self.context.monitor_settings)

    def _open_monitor(self, run_dirs: Sequence[Path]) -> None:
        self.push_screen(self._make_monitor(run_dirs))

    def on_open_monitor(self, message: OpenMonitor) -> None:
        self._open_monitor(message.run_dirs)

    def on_open_config_diff(self, message: OpenConfigDiff) -> None:
        from hrm_tui.screens.config_diff import ConfigDiffScreen

        self.push_screen(ConfigDiffScreen(message.run_dirs))

    def on_run_launched(self, message: RunLaunched) -> None:
        """After a launch: the runs list with this run selected, and its monitor on top."""
        self.switch_mode("runs")
        if self.runs_screen is not None:
            self.runs_screen.post_message(SelectRun(message.run_dir))
        self._open_monitor([message.run_dir])

    def on_show_form(self, message: ShowForm) -> None:
        self.switch_mode("launch")

    def on_clone_run(self, message: CloneRun) -> None:
        """The run's recipe into the form, as a new run to launch (the form says what came along)."""
        if self.launch_screen is None:  # the form has not been made yet: it opens on the clone
            self._pending_recipe = message.recipe
            self.switch_mode("launch")
        else:
            self.switch_mode("launch")
            self.launch_screen.post_message(LoadRecipe(message.recipe))
