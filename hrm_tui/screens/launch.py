"""The launch screen: pick a preset, edit the config, check it, and start a run.

    Preset [demo      ▾]  Arch [hrm_v1 ▾]  [search keys…                ]
    ┌ config form ────────────────────┐┌ launch options / command ──────┐   (side pane on wide terminals)
    │ Optimizer                       ││ Processes/node [1]             │
    │ lr              7e-5          ● ││ ...                            │
    └─────────────────────────────────┘└────────────────────────────────┘
    help line for the focused field
    Overrides +experiment=demo lr=7e-5        (bottom strip on narrow terminals)
    Command   PYTHONUNBUFFERED=1 python -m hrm_core.pretrain ...

State lives in a FormModel (forms/form_model.py); the widgets only display it and post changes.
Composing and validating go through the trainer's own code in worker threads, never on the UI thread:
a change is checked about half a second after the user stops typing, and the trainer's verdict is shown at
the field it names. Launching validates once more and refuses while anything is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from hrm_tui.forms.config_tree import LIST, PRESET_GROUP, ConfigTree, Problem
from hrm_tui.forms.form_model import FormModel, split_run_overrides
from hrm_tui.runs.launcher import LaunchError, LaunchOptions, LaunchPlan, display_argv, plan_launch, start
from hrm_tui.forms.overrides import Edit, OverrideSyntaxError, format_value, single_line
from hrm_tui.widgets.config_form import ConfigForm, FieldEdited, FieldRow, ListEditRequested
from hrm_tui.widgets.key_footer import KeyFooter
from hrm_tui.widgets.launch_options import LaunchOptionsChanged, LaunchOptionsPanel
from hrm_tui.widgets.override_panel import OverridePanel, PanelContent

NO_PRESET = "(none)"
PANEL_AFTER_S = 0.1  # redraw the command panel once typing pauses, not on every key
VALIDATE_AFTER_S = 0.5  # ask the trainer once the user stops typing


class LaunchScreen(Screen[None]):
    """Config form + launch options + live command; ctrl+l launches."""

    BINDINGS = [
        Binding("ctrl+l", "launch", "Launch", priority=True),
        Binding("ctrl+r", "reset_field", "Reset field"),
        Binding("ctrl+f", "search", "Search"),
        Binding("ctrl+o", "options", "Options"),
        Binding("ctrl+y", "copy_command", "Copy cmd"),
        Binding("ctrl+b", "build_dataset", "Build data"),
        Binding("ctrl+t", "reset_all", "Reset all", show=False),
        Binding("escape", "leave_search", "Clear search", show=False),
        Binding("down", "app.focus_next", "Next field", show=False),
        Binding("up", "app.focus_previous", "Previous field", show=False),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self, *, choices: dict[str, str | None] | None = None, edits: dict[str, Edit] | None = None) -> None:
        super().__init__()
        self.model: FormModel | None = None
        self.options = LaunchOptions()
        self._option_problems: dict[str, str] = {}
        self._invalid: dict[str, str] = {}  # key -> message, for text that does not parse as its type
        self._problems: list[Problem] = []  # the trainer's verdict on the current overrides
        self._validation_serial = 0
        self._validate_timer: Timer | None = None
        self._panel_timer: Timer | None = None
        self._panel_content_shown: PanelContent | None = None
        self._build_offered = False
        self._default_run_name: tuple[str, str] | None = None  # (arch name, drawn run name)
        self._initial = (choices, edits)
        self._loading = False

    # --- layout --------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="top-bar"):
            yield Label("Preset", classes="top-label")
            yield Select([], prompt=NO_PRESET, allow_blank=True, compact=True, id="preset")
            yield Label("Arch", classes="top-label")
            yield Select([], prompt="(default)", compact=True, id="arch")
            yield Input(placeholder="search keys (ctrl+f)", compact=True, id="search")
        with Horizontal(id="main"):
            yield ConfigForm(id="form")
            with VerticalScroll(id="side"):
                yield Static("Launch options", classes="pane-title")
                yield LaunchOptionsPanel(self.options, gpu_scan=self.app.gpu_scan, id="options")
                yield OverridePanel(full=True, id="panel-side")
        yield Static("", id="help-line")
        yield OverridePanel(full=False, id="panel-bottom")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.on_descendant_focus(None)
        self.query_one("#form", ConfigForm).loading = True
        choices, edits = self._initial
        self._load_model(choices or {}, edits or {})

    @property
    def config_tree(self) -> ConfigTree:
        return self.app.config_tree

    # --- loading the form ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="compose")
    def _load_model(self, choices: dict[str, str | None], edits: dict[str, Edit]) -> None:
        try:
            model = FormModel.create(self.config_tree, choices, edits)
        except Exception as error:  # a broken preset: say so, keep the previous form
            message = getattr(error, "message", None) or str(error)
            self.app.call_from_thread(self.notify, f"Cannot compose the config: {message}", severity="error", markup=False)
            self.app.call_from_thread(self._finish_loading)
            return
        self.app.call_from_thread(self._show_model, model)

    def _finish_loading(self) -> None:
        self.query_one("#form", ConfigForm).loading = False

    async def _show_model(self, model: FormModel) -> None:
        self._loading = True
        self.model = model
        self._invalid.clear()
        self._problems = []
        self._setup_group_selects(model)
        form = self.query_one("#form", ConfigForm)
        values = {spec.key: model.value(spec.key) for spec in model.specs}
        texts = {key: edit.text for key, edit in model.edits.items() if edit.text is not None}  # `7e-5` stays `7e-5`
        await form.load(model.specs, values, set(model.edits), self._notes(), texts)
        form.loading = False
        search = self.query_one("#search", Input).value
        if search:
            form.filter(search)
        self._loading = False
        self._refresh_panel()
        if self.focused is None and form.rows:
            next(iter(form.rows.values())).editor.focus()
        if unknown := model.unknown_edit_keys():
            self.notify(f"Not in this config: {', '.join(unknown)} (kept as +key overrides)", severity="warning", markup=False)

    def _setup_group_selects(self, model: FormModel) -> None:
        preset = self.query_one("#preset", Select)
        preset.set_options([(name, name) for name in self.config_tree.presets])
        preset.value = model.choices.get(PRESET_GROUP) or Select.NULL
        arch = self.query_one("#arch", Select)
        arch_options = self.config_tree.groups.get("arch", [])
        arch.set_options([(name, name) for name in arch_options])
        arch.value = model.choices.get("arch") or Select.NULL

    def load_run_overrides(self, overrides: list[str]) -> None:
        """Clones a run: its preset, arch and edits become the form's (its names do not)."""
        try:
            choices, edits = split_run_overrides(self.config_tree, overrides)
        except OverrideSyntaxError as error:
            self.notify(f"Cannot clone: {error}", severity="error", markup=False)
            return
        choices.setdefault(PRESET_GROUP, None)
        self._load_model(choices, edits)

    @on(Select.Changed, "#preset, #arch")
    def _group_changed(self, event: Select.Changed) -> None:
        if self.model is None or self._loading:
            return
        group = PRESET_GROUP if event.select.id == "preset" else "arch"
        choice = None if event.value is Select.NULL else str(event.value)
        if self.model.choices.get(group) != choice:
            self.query_one("#form", ConfigForm).loading = True
            self._load_model({**self.model.choices, group: choice}, dict(self.model.edits))

    # --- edits ---------------------------------------------------------------------------------------

    @on(FieldEdited)
    def _field_edited(self, event: FieldEdited) -> None:
        if self.model is None or self._loading:
            return
        row = self.query_one("#form", ConfigForm).row(event.key)
        if event.error is not None:
            self._invalid[event.key] = event.error
        else:
            self._invalid.pop(event.key, None)
            self.model.set(event.key, Edit(event.value, event.text))
        if row is not None:
            row.set_edited(self.model.is_edited(event.key) or event.key in self._invalid)
        self._schedule_panel()

    def _schedule_panel(self) -> None:
        if self._panel_timer is not None:
            self._panel_timer.stop()
        self._panel_timer = self.set_timer(PANEL_AFTER_S, self._refresh_panel)

    def action_reset_field(self) -> None:
        row = self._focused_row()
        if row is None or self.model is None:
            self.notify("Focus a field first (tab / arrows), then ctrl+r resets it")
            return
        self.model.reset(row.spec.key)
        self._invalid.pop(row.spec.key, None)
        row.set_value(row.spec.default)
        row.set_edited(False)
        self._refresh_panel()

    def action_reset_all(self) -> None:
        if self.model is not None:
            self.model.reset_all()
            self._load_model(dict(self.model.choices), {})

    def _focused_row(self) -> FieldRow | None:
        widget: Widget | None = self.focused
        while widget is not None and not isinstance(widget, FieldRow):
            widget = widget.parent if isinstance(widget.parent, Widget) else None
        return widget

    @on(ListEditRequested)
    def _edit_list(self, event: ListEditRequested) -> None:
        from hrm_tui.screens.list_editor import ListEditorScreen

        if self.model is None:
            return
        key = event.key
        current = self.model.value(key)
        items = list(current) if isinstance(current, list) else []

        def done(result: list[Any] | None) -> None:
            row = self.query_one("#form", ConfigForm).row(key)
            if result is not None and row is not None:
                row.set_value(result)

        self.app.push_screen(ListEditorScreen(key, items), done)

    # --- search --------------------------------------------------------------------------------------

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_leave_search(self) -> None:
        """escape: clear the search, keeping the focused field (and scrolling back to it)."""
        search = self.query_one("#search", Input)
        search.value = ""
        form = self.query_one("#form", ConfigForm)
        form.filter("")
        row = self._focused_row()
        if row is not None:
            form.call_after_refresh(form.scroll_to_widget, row, animate=False)
        elif form.rows:
            next(iter(form.rows.values())).editor.focus()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        shown = self.query_one("#form", ConfigForm).filter(event.value)
        if event.value and not shown:
            self.query_one("#help-line", Static).update(f"No key contains {event.value!r}", layout=False)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        form = self.query_one("#form", ConfigForm)
        first = next((row for row in form.rows.values() if row.display), None)
        if first is not None:
            first.editor.focus()

    # --- help line -----------------------------------------------------------------------------------

    def on_descendant_focus(self, event: Any) -> None:
        row = self._focused_row()
        help_line = self.query_one("#help-line", Static)
        if row is None:
            help_line.update("tab / shift+tab or ↑ ↓ move between fields · ctrl+l launches · F1 help · F3 runs", layout=False)
            return
        spec = row.spec
        kind = spec.kind + (" or null" if spec.optional else "")
        default = spec.interpolation or format_value(spec.default)
        hint = "  enter: edit list" if spec.kind == LIST else ""
        help_line.update(f"{spec.key} ({kind}, default {default}): {spec.help or 'no description'}{hint}", layout=False)

    # --- options -------------------------------------------------------------------------------------

    @on(LaunchOptionsChanged)
    def _options_changed(self, event: LaunchOptionsChanged) -> None:
        event.stop()
        self.options = event.options
        self._option_problems = event.problems
        self._refresh_panel()

    def action_options(self) -> None:
        if self.has_class("-wide"):
            self.query_one("#opt-nproc", Input).focus()
            return
        from hrm_tui.screens.launch_options import LaunchOptionsScreen

        def done(options: LaunchOptions | None) -> None:
            if options is not None:
                self.options = options
                self._option_problems = options.problems()
                side = self.query_one("#options", LaunchOptionsPanel)
                side.options = options
                self._refresh_panel()

        self.app.push_screen(LaunchOptionsScreen(self.options, self._panel_content), done)

    # --- the command panel ---------------------------------------------------------------------------

    def run_names(self) -> tuple[str, str, str]:
        """(project_name, run_name, checkpoint_path) the next launch will use, drawn once per launch."""
        from hrm_core.training.names import default_project_name

        assert self.model is not None
        value = self.model.value
        arch_name = str(value("arch.name"))
        if self._default_run_name is None or self._default_run_name[0] != arch_name:
            self._default_run_name = (arch_name, self.app.make_run_name(arch_name))
        project = value("project_name") or default_project_name(str(value("data_path")))
        run = value("run_name") or self._default_run_name[1]
        checkpoint = value("checkpoint_path") or str(Path(self.app.runs_root) / project / run)
        return str(project), str(run), str(checkpoint)

    def plan(self, options: LaunchOptions | None = None) -> LaunchPlan:
        assert self.model is not None
        options = options or self.options
        return plan_launch(self.model.overrides(), options, names=self.run_names(), present=self.model.present_keys())

    def _panel_content(self, options: LaunchOptions | None = None) -> PanelContent:
        if self.model is None:
            return PanelContent([], "", "", status="loading the config…")
        overrides = self.model.overrides()
        try:
            plan = self.plan(options)
            command = plan.command_line()
            other = [(rank, plan.command_line(argv)) for rank, argv in plan.other_nodes]
        except LaunchError as error:
            command, other = f"(cannot build the command: {error})", []
        status, ok = self._status()
        return PanelContent(overrides, single_line(overrides), command, other, status, ok)

    def _status(self) -> tuple[str, bool]:
        if self._invalid:
            key, message = next(iter(self._invalid.items()))
            return f"✗ {key}: {message}", False
        if self._option_problems:
            return f"✗ {next(iter(self._option_problems.values()))}", False
        if self._problems:
            problem = self._problems[0]
            where = f"{problem.key}: " if problem.key else ""
            extra = "  (ctrl+b builds it)" if problem.build_command else ""
            return f"✗ {where}{problem.message}{extra}", False
        if self._validation_pending():
            return "… checking", True
        return "✓ ready to launch (ctrl+l)", True

    def _validation_pending(self) -> bool:
        return self._validate_timer is not None or self._panel_timer is not None

    @property
    def settled(self) -> bool:
        """The form is loaded and the trainer's verdict on the current values is in (used by tests)."""
        busy = any(w.is_running and w.group in ("compose", "validate", "launch") for w in self.workers)
        return self.model is not None and not self._validation_pending() and not busy

    def _refresh_panel(self) -> None:
        self._panel_timer = None
        if self.model is None:
            return
        self._update_notes()
        self._schedule_validation()
        self._show_panel()

    def _show_panel(self) -> None:
        content = self._panel_content()
        if content != self._panel_content_shown:
            self._panel_content_shown = content
            for panel in self.query(OverridePanel):
                panel.show(content)
        build_offered = any(p.build_command for p in self._problems)
        if build_offered != self._build_offered:  # the footer re-renders on refresh_bindings: only on change
            self._build_offered = build_offered
            self.refresh_bindings()

    def _notes(self) -> dict[str, str]:
        assert self.model is not None
        notes = {}
        for spec in self.model.specs:
            if spec.interpolation is not None and spec.key not in self.model.edits:
                notes[spec.key] = f"= {format_value(self.model.resolved(spec.key))}"
        return notes

    def _update_notes(self) -> None:
        form = self.query_one("#form", ConfigForm)
        notes = self._notes()
        assert self.model is not None
        for spec in self.model.specs:
            if spec.interpolation is not None and (row := form.row(spec.key)) is not None:
                row.set_note(notes.get(spec.key, ""))

    # --- validation (the trainer's) ------------------------------------------------------------------

    def _schedule_validation(self) -> None:
        if self._validate_timer is not None:
            self._validate_timer.stop()
        self._validate_timer = self.set_timer(VALIDATE_AFTER_S, self._start_validation)

    def _start_validation(self) -> None:
        self._validate_timer = None
        if self.model is None or self._invalid:
            return
        self._validation_serial += 1
        self._validate(self.plan_overrides(), self._validation_serial)

    def plan_overrides(self) -> list[str]:
        try:
            return self.plan().overrides
        except LaunchError:
            assert self.model is not None
            return self.model.overrides()

    @work(thread=True, exclusive=True, group="validate")
    def _validate(self, overrides: list[str], serial: int) -> None:
        problems = self.config_tree.validate(overrides)
        self.app.call_from_thread(self._show_problems, problems, serial)

    def _show_problems(self, problems: list[Problem], serial: int | None = None, *, focus: bool = False) -> None:
        if serial is not None and serial != self._validation_serial:
            return  # an older check finished after a newer edit
        self._problems = problems
        form = self.query_one("#form", ConfigForm)
        by_key = {p.key: self._problem_text(p) for p in problems if p.key}
        form.show_problems(by_key)
        if focus and problems and problems[0].key:
            form.focus_field(problems[0].key)
        self._show_panel()

    @staticmethod
    def _problem_text(problem: Problem) -> str:
        """What a field shows for a problem; a missing dataset shows its builder's command instead of the hint."""
        if problem.build_command:
            return f"{problem.message}. ctrl+b builds it: {single_line(display_argv(problem.build_command))}"
        return str(problem)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "build_dataset":
            return any(p.build_command for p in self._problems)
        return True

    # --- actions: copy, build, launch ----------------------------------------------------------------

    def action_copy_command(self) -> None:
        if self.model is None:
            return
        try:
            line = self.plan().command_line()
        except LaunchError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self.app.copy_to_clipboard(line)
        self.notify("Command copied to the clipboard (through the terminal, OSC 52)", markup=False)

    def action_build_dataset(self) -> None:
        problem = next((p for p in self._problems if p.build_command), None)
        if problem is None or self.model is None:
            return
        from hrm_tui.screens.dataset_build import DatasetBuildScreen

        data_path = str(self.model.value("data_path"))

        def done(built: bool | None) -> None:
            if built:
                self._schedule_validation()

        self.app.push_screen(DatasetBuildScreen(data_path, list(problem.build_command or ())), done)

    def action_launch(self) -> None:
        if self.model is None:
            return
        if self._invalid:
            key, message = next(iter(self._invalid.items()))
            self.query_one("#form", ConfigForm).focus_field(key)
            self.notify(f"Not launched: {key}: {message}", severity="error", markup=False)
            return
        try:
            plan = self.plan()
        except LaunchError as error:
            self.notify(f"Not launched: {error}", severity="error", markup=False)
            return
        self.notify("Checking the config…", timeout=2)
        self._launch(plan)

    @work(thread=True, exclusive=True, group="launch")
    def _launch(self, plan: LaunchPlan) -> None:
        problems = self.config_tree.validate(plan.overrides)
        if problems:
            self.app.call_from_thread(self._show_problems, problems, None, focus=True)
            self.app.call_from_thread(self.notify, f"Not launched: {problems[0]}", severity="error", markup=False)
            return
        try:
            record = start(plan)
        except LaunchError as error:
            self.app.call_from_thread(self.notify, f"Not launched: {error}", severity="error", markup=False)
            return
        self.app.call_from_thread(self._launched, record.run_dir)

    def _launched(self, run_dir: Path) -> None:
        self._default_run_name = None  # the next run gets a fresh name
        self._refresh_panel()
        self.notify(f"Started {run_dir.name}", markup=False)
        self.app.show_run(run_dir, open_monitor=True)
