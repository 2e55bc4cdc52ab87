"""The hrm-tui application: two modes (the launch form and the runs list) plus the monitor on top.

    F2 launch form  ->  ctrl+l launches  ->  runs list (the new run selected)  ->  monitor
    F3 runs list    ->  enter: monitor, s: stop, r: resume, c: clone into the form

Everything the screens share lives here: the config tree, the runs root, the GPU scan, the clock (so tests
can fix it), and how to name a new run. The app never owns a run's process: runs are started detached and
keep going when the app exits, however it exits.

A bug that reaches Textual as an unhandled exception ends the app with return code 1; its traceback goes to
the crash log (hrm_tui.crash, `crash_log` names it) instead of the terminal, and `hrm-tui` prints one line.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from hrm_core.rundir.sanitize import safe_text
from hrm_tui.crash import write_crash_log
from hrm_tui.forms.config_tree import ConfigTree
from hrm_tui.system.gpus import GpuScan
from hrm_tui.forms.overrides import Edit, OverrideSyntaxError
from hrm_tui.runs.launcher import LaunchOptions, RunRecipe
from hrm_tui.runs.process_control import DEFAULT_GRACE_S
from hrm_tui.screens.launch import LaunchScreen
from hrm_tui.screens.runs import RunsScreen

# A first-time user gets the demo preset: it trains a small model on CPU on a dataset that builds itself.
DEFAULT_PRESET = "demo"
CLONE_NOTICE_S = 15  # what a clone did and did not bring along takes a moment to read


def _default_run_name(arch_name: str) -> str:
    from hrm_core.training.names import default_run_name

    return default_run_name(arch_name)


class HrmTuiApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "hrm-tui"
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("f2", "switch_mode('launch')", "Form"),
        Binding("f3", "switch_mode('runs')", "Runs"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        *,
        config_tree: ConfigTree | None = None,
        runs_root: str | Path = "checkpoints",
        start_mode: str = "launch",
        attach: Path | None = None,
        preset: str | None = DEFAULT_PRESET,
        overrides: list[str] | None = None,
        clock: Callable[[], float] = time.time,
        run_namer: Callable[[str], str] = _default_run_name,
        gpu_scan: GpuScan | None = None,
        refresh_runs: bool = True,
        stop_grace_s: float = DEFAULT_GRACE_S,
        theme: str | None = None,
    ) -> None:
        super().__init__()
        self.config_tree = config_tree or ConfigTree.load()
        self.runs_root = Path(runs_root)
        self.clock = clock
        self.make_run_name = run_namer
        self.gpu_scan = gpu_scan  # None: the launch options scan NVML themselves
        self.refresh_runs = refresh_runs  # the runs list re-reads run directories every few seconds
        self.stop_grace_s = stop_grace_s
        self._start_mode = start_mode
        self._attach = attach
        self._initial_form = self._initial_choices(preset, overrides or [])
        self._initial_options: LaunchOptions | None = None
        self.crash_log: Path | None = None  # where a crash's traceback went (see _handle_exception)
        self.crash_error: BaseException | None = None
        self.launch_screen: LaunchScreen | None = None
        self.runs_screen: RunsScreen | None = None
        self.add_mode("launch", self._make_launch_screen)
        self.add_mode("runs", self._make_runs_screen)
        if theme:
            self.theme = theme

    def _initial_choices(self, preset: str | None, overrides: list[str]) -> tuple[dict[str, str | None], dict[str, Edit]]:
        from hrm_tui.forms.form_model import split_run_overrides

        choices, edits = split_run_overrides(self.config_tree, overrides)
        if "experiment" not in choices:
            choices["experiment"] = preset if preset in self.config_tree.presets else None
        return choices, edits

    def _make_launch_screen(self) -> LaunchScreen:
        choices, edits = self._initial_form
        self.launch_screen = LaunchScreen(choices=choices, edits=edits, options=self._initial_options)
        return self.launch_screen

    def _make_runs_screen(self) -> RunsScreen:
        self.runs_screen = RunsScreen()
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
        if self._attach is not None:
            self.open_monitor(self._attach)

    # --- navigation used by the screens ----------------------------------------------------------------

    def action_help(self) -> None:
        from hrm_tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_monitor(self, run_dir: Path) -> None:
        from hrm_tui.screens.monitor import MonitorScreen  # imported on use: it pulls in the plotting stack

        self.push_screen(MonitorScreen(Path(run_dir)))

    def show_run(self, run_dir: Path, *, open_monitor: bool = False) -> None:
        """After a launch: the runs list with this run selected, and its monitor if asked."""
        self.switch_mode("runs")
        if self.runs_screen is not None:
            self.runs_screen.select_run(run_dir)
        if open_monitor:
            self.open_monitor(run_dir)

    def clone_into_form(self, recipe: RunRecipe) -> None:
        """The run's overrides, launch options and config folder into the form, as a new run to launch."""
        # The overrides come from the run directory: control characters and escape sequences do not go
        # into the form (they would be drawn there and launched with the new run).
        recipe = dataclasses.replace(recipe, overrides=[safe_text(o) for o in recipe.overrides])
        if not self._use_config_dir(recipe.config_dir):
            return
        if self.launch_screen is None:  # the form has not been opened yet: it opens on the clone
            try:
                self._initial_form = self._initial_choices(None, recipe.overrides)
            except OverrideSyntaxError as error:
                self.notify(f"Cannot clone: {error}", severity="error", markup=False)
                return
            self._initial_options = recipe.options
            self.switch_mode("launch")
        else:
            self.switch_mode("launch")
            if not self.launch_screen.load_recipe(recipe):
                return
        where = f" (config folder {safe_text(str(recipe.config_dir))})" if recipe.config_dir else ""
        if recipe.options is None:
            self.notify(f"Cloned the run's overrides{where}; {recipe.note}. It will launch as a new run", markup=False, timeout=CLONE_NOTICE_S)
        else:
            self.notify(f"Cloned the run's overrides and launch options{where}; it will launch as a new run", markup=False, timeout=CLONE_NOTICE_S)

    def _use_config_dir(self, config_dir: Path | None) -> bool:
        """Switches the config tree to the run's `--config-dir` when it differs from the current one."""
        current = self.config_tree.user_dir
        if (config_dir and config_dir.resolve()) == current:
            return True
        try:
            self.config_tree = ConfigTree.load(config_dir)
        except FileNotFoundError:
            self.notify(f"Cannot clone: the run was started with --config-dir {safe_text(str(config_dir))}, which no longer exists",
                        severity="error", markup=False)
            return False
        self.notify(f"The form now uses {'config folder ' + safe_text(str(config_dir)) if config_dir else 'the installed config tree only'}, "
                    "as the cloned run did", markup=False, timeout=CLONE_NOTICE_S)
        return True
