"""The launch screen: pick a preset, edit the config, check it, and start a run.

    Preset [demo      ▾]  Arch [hrm_v1 ▾]  [search keys…                ]
    ┌ config form ────────────────────┐┌ launch options / command ──────┐   (side pane on wide terminals)
    │ Optimizer                       ││ Processes/node [1]             │
    │ lr              7e-5          ● ││ ...                            │
    └─────────────────────────────────┘└────────────────────────────────┘
    help line for the focused field
    Overrides +experiment=demo lr=7e-5        (bottom strip on narrow terminals)
    Command   PYTHONUNBUFFERED=1 python -m hrm_core.pretrain ...

State: a FormModel (forms/form_model.py) for the config, one LaunchOptionsDraft for the launch options
(shown alike in the side pane and the ctrl+o dialog), and the trainer's last verdict. From these comes one
CommandPreview (forms/command_preview.py): every command panel shows it, and ctrl+l launches the plan it
holds, after one more check, and only if the preview still shows that same plan. A field or option that
does not read as a value shows in the preview as typed and marked; ctrl+l then says which and why.

Composing and validating go through the trainer's own code in worker threads, never on the UI thread:
a change is checked about half a second after the user stops typing, and the trainer's verdict is shown at
the field it names. Each worker is exclusive in its group (a newer load or check cancels the older one) and
posts its result in a message that names the worker (`ConfigComposed`, `OverridesChecked`, `LaunchChecked`);
a result from a worker that is no longer the screen's current one is dropped: that is how an older load or
check that ends after a newer one is told apart, with no counters.

The screen's settings come from the app's `AppContext` (the config tree it opens with, the runs root, how to
name a run, the GPU scan). It keeps one piece of state of its own: the config tree it uses now, which a
clone of a run started with another `--config-dir` switches (`LoadRecipe`). A launch is announced to the app
with `RunLaunched`; the ctrl+o dialog and this screen exchange `LaunchOptionsEdited` and
`LaunchOptionsScreen.PreviewChanged`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static
from textual.worker import Worker, get_current_worker

from hrm_core.rundir.sanitize import safe_text
from hrm_tui.cluster.profile import ClusterProfile
from hrm_tui.context import AppContext
from hrm_tui.forms.command_preview import CommandPreview, build_preview, loading_preview, problem_line
from hrm_tui.forms.config_tree import LIST, PRESET_GROUP, ConfigTree, Problem, launch_of
from hrm_tui.forms.form_model import FormModel, split_run_overrides
from hrm_tui.forms.launch_options_draft import LaunchOptionsDraft
from hrm_tui.forms.overrides import Edit, OverrideSyntaxError, format_value, single_line
from hrm_tui.messages import LoadRecipe, RunLaunched
from hrm_tui.launch_plan import LaunchError, LaunchOptions, LaunchPlan, display_argv
from hrm_tui.runs.launcher import RunRecipe, start
from hrm_tui.sweep_plan import SweepPlan
from hrm_tui.widgets.config_form import ConfigForm, FieldEdited, FieldRow, ListEditRequested
from hrm_tui.widgets.key_footer import KeyFooter
from hrm_tui.widgets.launch_options import LaunchOptionsEdited, LaunchOptionsPanel, editor_of, first_editor, option_help
from hrm_tui.widgets.override_panel import OverridePanel

NO_PRESET = "(none)"
PANEL_AFTER_S = 0.1  # redraw the command panel once typing pauses, not on every key
VALIDATE_AFTER_S = 0.5  # ask the trainer once the user stops typing
COMMAND_HELP = "The command: ↑ ↓ PgUp PgDn Home End scroll it · ctrl+y copies it · esc (or ctrl+g) back to the fields"
FORM_HELP = "↑ ↓ PgUp PgDn move between fields · ctrl+g the command · ctrl+l launches · F1 help · F3 runs"
CLONE_NOTICE_S = 15  # what a clone did and did not bring along takes a moment to read


class LaunchScreen(Screen[None]):
    """Config form + launch options + live command; ctrl+l launches."""

    BINDINGS = [
        Binding("ctrl+l", "launch", "Launch", priority=True),
        Binding("ctrl+r", "reset_field", "Reset field"),
        Binding("ctrl+f", "search", "Search"),
        Binding("ctrl+o", "options", "Options"),
        Binding("ctrl+g", "command", "Command"),
        Binding("ctrl+y", "copy_command", "Copy cmd"),
        Binding("ctrl+b", "build_dataset", "Build data"),
        Binding("ctrl+t", "reset_all", "Reset all", show=False),
        Binding("escape", "leave_search", "Clear search", show=False),
        Binding("down", "app.focus_next", "Next field", show=False),
        Binding("up", "app.focus_previous", "Previous field", show=False),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    class ConfigComposed(Message):
        """A form load finished: the composed `model`, or None when the config could not be composed (the
        worker said why)."""

        def __init__(self, worker: Worker, model: FormModel | None) -> None:
            super().__init__()
            self.worker, self.model = worker, model

    class OverridesChecked(Message):
        """The trainer's verdict on the overrides of the preview that `worker` was asked about."""

        def __init__(self, worker: Worker, problems: list[Problem]) -> None:
            super().__init__()
            self.worker, self.problems = worker, problems

    class LaunchChecked(Message):
        """ctrl+l's last check of `plan` by the trainer: launch it if `problems` is empty."""

        def __init__(self, plan: LaunchPlan, problems: list[Problem]) -> None:
            super().__init__()
            self.plan, self.problems = plan, problems

    class SweepPlanned(Message):
        """ctrl+l on a sweep: its runs, each checked by the trainer (`sweep`), or why it cannot start (`refusal`)."""

        def __init__(self, preview: CommandPreview, sweep: SweepPlan | None, refusal: list[str]) -> None:
            super().__init__()
            self.preview, self.sweep, self.refusal = preview, sweep, refusal

    def __init__(
        self,
        context: AppContext,
        *,
        preset: str | None = None,
        overrides: Sequence[str] = (),
        recipe: RunRecipe | None = None,
    ) -> None:
        """Opens on `preset` (when the config tree has it) with `overrides` applied, or on a cloned run's
        `recipe`. Raises OverrideSyntaxError for an override that does not parse."""
        super().__init__()
        self.context = context
        self.config_tree: ConfigTree = context.config_tree  # switched by a clone from another config folder
        self.model: FormModel | None = None
        # The one launch-options state, shown alike in the side pane, the dialog and the command.
        self.options_draft = LaunchOptionsDraft.of(LaunchOptions())
        self.preview: CommandPreview = loading_preview()  # what every command panel shows; what ctrl+l starts
        self._problems: list[Problem] = []  # the trainer's verdict on the overrides it last checked
        self._checking: Worker | None = None  # the check of the overrides shown, while its verdict is not in
        self._panel_timer: Timer | None = None
        self._build_offered = False
        self._default_run_name: tuple[str, str] | None = None  # (arch name, drawn run name)
        self._recipe = recipe
        self._initial = self._initial_choices(preset, overrides) if recipe is None else ({}, {})
        self._composing: Worker | None = None  # the newest form load: an older one that ends later is dropped
        self._showing = asyncio.Lock()  # held while a composed form replaces the rows
        self._loading = False
        self._dialog: Any = None  # the open ctrl+o dialog, which shows the preview too
        self._last_field: Widget | None = None  # where esc / ctrl+g return from the command panel

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
            with Vertical(id="side"):
                yield Static("Launch options", classes="pane-title")
                yield LaunchOptionsPanel(self.options_draft, gpu_scan=self.context.gpu_scan, id="options")
                yield Static("Command", classes="pane-title")
                yield OverridePanel(full=True, id="panel-side")
        yield Static("", id="help-line")
        yield OverridePanel(full=False, id="panel-bottom")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.on_descendant_focus(None)
        self.query_one("#form", ConfigForm).loading = True
        self._show_preview()
        if self._recipe is not None:
            recipe, self._recipe = self._recipe, None
            self._load_recipe(recipe)
        else:
            choices, edits = self._initial
            self._load_model(choices, edits)

    def _initial_choices(self, preset: str | None, overrides: Sequence[str]) -> tuple[dict[str, str | None], dict[str, Edit]]:
        choices, edits = split_run_overrides(self.config_tree, list(overrides))
        if PRESET_GROUP not in choices:
            choices[PRESET_GROUP] = preset if preset in self.config_tree.presets else None
        return choices, edits

    # --- loading the form ----------------------------------------------------------------------------

    def _load_model(self, choices: dict[str, str | None], edits: dict[str, Edit], invalid: tuple[str, ...] = ()) -> None:
        self._composing = self._compose_model(self.config_tree, choices, edits, invalid)

    @work(thread=True, exclusive=True, group="compose")
    def _compose_model(self, tree: ConfigTree, choices: dict[str, str | None], edits: dict[str, Edit],
                       invalid: tuple[str, ...]) -> None:
        worker = get_current_worker()
        try:
            model = FormModel.create(tree, choices, edits, invalid)
        except Exception as error:  # a broken preset: say so, keep the previous form
            model = None
            if not worker.is_cancelled:
                message = getattr(error, "message", None) or str(error)
                self.notify(f"Cannot compose the config: {message}", severity="error", markup=False)
        if not worker.is_cancelled:  # else a newer load (another preset, a clone) follows
            self.post_message(self.ConfigComposed(worker, model))

    def on_launch_screen_config_composed(self, message: ConfigComposed) -> None:
        if message.worker is not self._composing:
            return  # a newer load was asked for after this one finished, before its message arrived
        self._composing = None
        if message.model is None:
            self.query_one("#form", ConfigForm).loading = False
        else:
            # Not awaited here: while the form mounts its rows, this screen's messages (the new rows' own
            # events, which `_loading` tells apart) must go on being handled.
            self.run_worker(self._show_model(message.model), group="show-form")

    async def _show_model(self, model: FormModel) -> None:
        async with self._showing:  # one form load at a time, in the order they were composed
            await self._replace_form(model)

    async def _replace_form(self, model: FormModel) -> None:
        self._loading = True
        self.model = model
        self._problems = []
        self._setup_group_selects(model)
        form = self.query_one("#form", ConfigForm)
        values = {spec.key: model.value(spec.key) for spec in model.specs}
        texts = {key: edit.text for key, edit in model.edits.items() if edit.text is not None}  # `7e-5` stays `7e-5`
        await form.load(model.specs, values, set(model.edits), self._notes(), texts)
        if not self.is_attached:
            return  # the app quit (or this screen was dismissed) while the rows mounted: nothing left to fill in
        for key, error in model.invalid.items():
            if (row := form.row(key)) is not None:
                row.set_text_error(error)
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
        if model.set_aside:
            self.notify(f"Set aside (not in the overrides): {', '.join(model.set_aside)}: {model.value('arch.name')} does "
                        "not take them; they come back with an architecture that does", severity="warning", markup=False)

    def _setup_group_selects(self, model: FormModel) -> None:
        preset = self.query_one("#preset", Select)
        preset.set_options([(name, name) for name in self.config_tree.presets])
        preset.value = model.choices.get(PRESET_GROUP) or Select.NULL
        arch = self.query_one("#arch", Select)
        arch_options = self.config_tree.groups.get("arch", [])
        arch.set_options([(name, name) for name in arch_options])
        arch.value = model.choices.get("arch") or Select.NULL

    def on_load_recipe(self, message: LoadRecipe) -> None:
        self._load_recipe(message.recipe)

    def _load_recipe(self, recipe: RunRecipe) -> None:
        """Clones a run: its preset, arch, edits, launch options and config folder become the form's (its
        names do not), and a notice says what came along. Says why, and changes nothing, when its overrides
        cannot be read or its config folder is gone."""
        # The overrides come from a run directory: control characters and escape sequences do not go into
        # the form (they would be drawn there and launched with the new run).
        recipe = dataclasses.replace(recipe, overrides=[safe_text(o) for o in recipe.overrides])
        if not self._use_config_dir(recipe.config_dir):
            return
        try:
            choices, edits = split_run_overrides(self.config_tree, recipe.overrides)
        except OverrideSyntaxError as error:
            self.notify(f"Cannot clone: {error}", severity="error", markup=False)
            return
        choices.setdefault(PRESET_GROUP, None)
        self.set_options(LaunchOptionsDraft.of(recipe.options or LaunchOptions()))
        self.query_one("#form", ConfigForm).loading = True
        self._load_model(choices, edits)
        where = f" (config folder {safe_text(str(recipe.config_dir))})" if recipe.config_dir else ""
        if recipe.options is None:
            self.notify(f"Cloned the run's overrides{where}; {recipe.note}. It will launch as a new run", markup=False, timeout=CLONE_NOTICE_S)
        else:
            self.notify(f"Cloned the run's overrides and launch options{where}; it will launch as a new run", markup=False, timeout=CLONE_NOTICE_S)

    def _use_config_dir(self, config_dir: Path | None) -> bool:
        """Switches the form's config tree to the run's `--config-dir` when it differs from the current one."""
        from hrm_tui.forms.config_tree import ConfigTree

        if (config_dir and config_dir.resolve()) == self.config_tree.user_dir:
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

    @on(Select.Changed, "#preset, #arch")
    def _group_changed(self, event: Select.Changed) -> None:
        if self.model is None or self._loading:
            return
        group = PRESET_GROUP if event.select.id == "preset" else "arch"
        choice = None if event.value is Select.NULL else str(event.value)
        if self.model.choices.get(group) != choice:
            self.query_one("#form", ConfigForm).loading = True
            self._load_model({**self.model.choices, group: choice}, self.model.all_edits(),
                             tuple(set(self.model.invalid) | self.model.set_aside_invalid))

    # --- edits ---------------------------------------------------------------------------------------

    @on(FieldEdited)
    def _field_edited(self, event: FieldEdited) -> None:
        if self.model is None or self._loading:
            return
        if event.error is not None:
            self.model.set_invalid(event.key, event.text or "", event.error)
        else:
            self.model.set(event.key, Edit(event.value, event.text))
        row = self.query_one("#form", ConfigForm).row(event.key)
        if row is not None:
            row.set_edited(self.model.is_edited(event.key))
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
        """escape: back from the command panel to the fields; else clear the search, keeping the focused
        field (and scrolling back to it)."""
        if isinstance(self.focused, OverridePanel):
            self._back_to_fields()
            return
        search = self.query_one("#search", Input)
        search.value = ""
        form = self.query_one("#form", ConfigForm)
        form.filter("")
        row = self._focused_row()
        if row is not None:
            form.call_after_refresh(form.move_focus_to, self.focused)
        elif form.rows and not self._in_options():
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
            form.move_focus_to(first.editor)

    # --- help line and the command panel's focus ---------------------------------------------------------

    def on_descendant_focus(self, event: Any) -> None:
        focused = self.focused
        help_line = self.query_one("#help-line", Static)
        if isinstance(focused, OverridePanel):
            help_line.update(COMMAND_HELP, layout=False)
            return
        if focused is None or focused.id in ("search", "preset", "arch"):
            help_line.update(FORM_HELP, layout=False)
            return
        self._last_field = focused
        if self._in_options():
            help_line.update(option_help(focused.id or ""), layout=False)
            return
        row = self._focused_row()
        if row is None:
            help_line.update(FORM_HELP, layout=False)
            return
        spec = row.spec
        kind = spec.kind + (" or null" if spec.optional else "")
        default = spec.interpolation or format_value(spec.default)
        hint = "  enter: edit list" if spec.kind == LIST else ""
        help_line.update(f"{spec.key} ({kind}, default {default}): {spec.help or 'no description'}{hint}", layout=False)

    def on_resize(self, event: Any) -> None:
        self.call_after_refresh(self._keep_focus_on_screen)

    def _keep_focus_on_screen(self) -> None:
        """Crossing the 120-column breakpoint hides the strip or the side pane: focus leaves what is hidden."""
        focused = self.focused
        if focused is None or focused in self.focus_chain:
            return
        if isinstance(focused, OverridePanel):
            self._visible_panel().focus()
        else:
            self._back_to_fields()

    def _in_options(self) -> bool:
        return self.focused is not None and self.query_one("#options") in self.focused.ancestors

    def _visible_panel(self) -> OverridePanel:
        return self.query_one("#panel-side" if self.has_class("-wide") else "#panel-bottom", OverridePanel)

    def action_command(self) -> None:
        """ctrl+g: to the command panel (the strip grows while it has focus), and back again."""
        if isinstance(self.focused, OverridePanel):
            self._back_to_fields()
        else:
            self._visible_panel().focus()

    @on(OverridePanel.BackRequested)
    def _back_to_fields(self) -> None:
        target = self._last_field
        if target is None or not target.is_attached or target not in self.focus_chain:
            form = self.query_one("#form", ConfigForm)
            target = next(iter(form.rows.values())).editor if form.rows else None
        if target is not None:
            target.focus()

    # --- options -------------------------------------------------------------------------------------

    @on(LaunchOptionsEdited)
    def _options_edited(self, event: LaunchOptionsEdited) -> None:
        event.stop()
        self.set_options(event.draft)

    def set_options(self, draft: LaunchOptionsDraft) -> CommandPreview:
        """Makes `draft` the launch options, shown alike in the side pane, the dialog and the command."""
        self.options_draft = draft
        self.query_one("#options", LaunchOptionsPanel).show(draft)
        if self.model is None:
            self._show_preview()
        else:  # the trainer's checks depend on the launch options (the batch split): ask it again
            if self._panel_timer is not None:
                self._panel_timer.stop()
            self._refresh_panel()
        return self.preview

    def action_options(self) -> None:
        if self.has_class("-wide"):
            self.query_one(f"#{first_editor(self.options_draft)}").focus()
            return
        from hrm_tui.screens.launch_options import LaunchOptionsScreen

        def closed(_: None) -> None:
            self._dialog = None

        self._dialog = LaunchOptionsScreen(self.options_draft, self.preview, owner=self, gpu_scan=self.context.gpu_scan)
        self.app.push_screen(self._dialog, closed)

    # --- the command panel ---------------------------------------------------------------------------

    def run_names(self) -> tuple[str, str, str]:
        """(project_name, run_name, checkpoint_path) the next launch will use, drawn once per launch."""
        from hrm_core.config import resolve_run_names

        assert self.model is not None
        value = self.model.value
        arch_name = str(value("arch.name"))
        if self._default_run_name is None or self._default_run_name[0] != arch_name:
            self._default_run_name = (arch_name, self.context.make_run_name(arch_name))
        # The trainer's own naming (data_path or data_paths), with this run's drawn name and the runs root.
        names = {key: value(key) for key in ("project_name", "data_path", "data_paths", "data_paths_test")}
        project, run, _ = resolve_run_names({**names, "arch": {"name": arch_name},
                                             "run_name": value("run_name") or self._default_run_name[1]})
        checkpoint = value("checkpoint_path") or str(Path(self.context.runs_root) / project / run)
        return str(project), str(run), str(checkpoint)

    def plan(self) -> LaunchPlan:
        """The plan the panels show now (after any pending redraw); LaunchError when there is no command."""
        self._flush_panel()
        if self.preview.plan is None:
            raise LaunchError(self.preview.not_built or "no command yet")
        return self.preview.plan

    def _build_preview(self, checking: bool) -> CommandPreview:
        """`checking`: the trainer's verdict on the current overrides is not in yet (the one in hand is not shown)."""
        if self.model is None:
            return loading_preview()
        return build_preview(
            self.model,
            self.options_draft,
            names=self.run_names(),
            config_dir=self.config_tree.user_dir,
            trainer_problems=() if checking else self._problems,
            checking=checking,
        )

    def _validation_pending(self) -> bool:
        return self._panel_timer is not None or self._checking is not None

    @property
    def settled(self) -> bool:
        """The form is loaded and the trainer's verdict on the current values is in (used by tests)."""
        busy = any(not w.is_finished and w.group in ("compose", "show-form", "validate", "launch") for w in self.workers)
        return self.model is not None and not self._validation_pending() and not busy

    def _flush_panel(self) -> None:
        if self._panel_timer is not None:
            self._panel_timer.stop()
            self._refresh_panel()

    def _refresh_panel(self) -> None:
        """The command panels for the form as it is now, and a check of its overrides by the trainer."""
        self._panel_timer = None
        if self.model is None:
            return
        self._update_notes()
        self._show_preview(checking=True)  # the verdict in hand is about older values from now on
        self._checking = self._check_overrides(self.preview)

    def _show_preview(self, *, checking: bool | None = None) -> None:
        preview = self._build_preview(self._validation_pending() if checking is None else checking)
        if preview != self.preview:  # an equal one (a verdict that changed nothing) keeps the object the panels hold
            self.preview = preview
        for panel in self.query(OverridePanel):
            panel.show(self.preview)
        if self._dialog is not None and self._dialog.is_attached:
            self._dialog.post_message(self._dialog.PreviewChanged(self.preview))
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

    @work(thread=True, exclusive=True, group="validate")
    def _check_overrides(self, preview: CommandPreview) -> None:
        """Asks the trainer about `preview`'s overrides once the user has stopped typing for VALIDATE_AFTER_S:
        a newer edit cancels this worker (exclusive) before it asks, or drops its answer after."""
        worker = get_current_worker()
        if preview.plan is None or preview.marked:
            problems = []  # nothing the trainer could check: the preview already says what is wrong
        elif worker.cancelled_event.wait(VALIDATE_AFTER_S):
            return
        else:
            problems = self.config_tree.validate(list(preview.plan.overrides), launch=launch_of(preview.plan.options))
        if not worker.is_cancelled:
            self.post_message(self.OverridesChecked(worker, problems))

    def on_launch_screen_overrides_checked(self, message: OverridesChecked) -> None:
        if message.worker is not self._checking:
            return  # an older check, finished after a newer edit
        self._checking = None
        self._show_problems(message.problems)

    def _show_problems(self, problems: list[Problem], *, focus: bool = False) -> None:
        self._problems = problems
        form = self.query_one("#form", ConfigForm)
        by_key = {p.key: self._problem_text(p) for p in problems if p.key}
        form.show_problems(by_key)
        if focus and problems and problems[0].key:
            form.focus_field(problems[0].key)
        self._show_preview()

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
        self._flush_panel()
        preview = self.preview
        if preview.plan is None or preview.marked:
            reasons = list(preview.marked.values()) or [preview.not_built]
            self.notify("Not copied: the command is not complete:\n" + "\n".join(f"✗ {r}" for r in reasons), severity="error", markup=False)
            return
        self.app.copy_to_clipboard(preview.script or preview.command_line())
        what = "Batch script" if preview.script else "Command"
        self.notify(f"{what} copied to the clipboard (through the terminal, OSC 52)", markup=False)

    def edit_count(self) -> int:
        """How many keys the user has edited in the form (set-aside ones included): what quitting would lose."""
        return len(self.model.all_edits()) if self.model is not None else 0

    def action_build_dataset(self) -> None:
        problem = next((p for p in self._problems if p.build_command and p.dataset_path), None)
        if problem is None or self.model is None:
            return
        from hrm_tui.screens.dataset_build import DatasetBuildScreen

        data_path = str(problem.dataset_path)  # the folder the trainer found missing (data_path or one of data_paths)

        def done(built: bool | None) -> None:
            if built:
                self._refresh_panel()  # the trainer checks the overrides again: the dataset is there now

        self.app.push_screen(DatasetBuildScreen(data_path, list(problem.build_command or ())), done)

    def action_launch(self) -> None:
        """ctrl+l: launch exactly what the panels show, or say why not (every problem, the first one focused)."""
        if self.model is None:
            return
        self._flush_panel()
        preview = self.preview
        if preview.plan is None or preview.problems:
            self._refuse(preview.problems or (preview.not_built,))
            return
        if preview.sweep:
            self.notify(f"Checking the config of each of the sweep's {preview.sweep_runs} runs…", timeout=2)
            self._plan_sweep(preview)
            return
        self.notify("Checking the config…", timeout=2)
        self._launch(preview.plan)

    def _refuse(self, problems: tuple[str, ...] | list[str]) -> None:
        assert self.model is not None
        option_problems = self.options_draft.parse()[1]
        if self.model.invalid:
            self.query_one("#form", ConfigForm).focus_field(next(iter(self.model.invalid)))
        elif option_problems:
            self._focus_option(next(iter(option_problems)))
        elif self._problems and self._problems[0].key:
            self.query_one("#form", ConfigForm).focus_field(self._problems[0].key)
        lines = "\n".join(f"✗ {p}" for p in problems)
        self.notify(f"Not launched:\n{lines}", severity="error", markup=False, timeout=8)

    def _focus_option(self, name: str) -> None:
        if not self.has_class("-wide"):
            self.action_options()  # the options live in the dialog on a narrow terminal
            return
        self.query_one(f"#{editor_of(name, self.options_draft)}").focus()

    @work(thread=True, exclusive=True, group="launch")
    def _launch(self, plan: LaunchPlan) -> None:
        problems = self.config_tree.validate(plan.overrides, launch=launch_of(plan.options))
        self.post_message(self.LaunchChecked(plan, problems))

    def on_launch_screen_launch_checked(self, message: LaunchChecked) -> None:
        plan, problems = message.plan, message.problems
        if problems:
            self._show_problems(problems, focus=True)
            self._refuse([problem_line(p) for p in problems])
            return
        self._flush_panel()
        if self.preview.plan != plan:
            # Something changed while the trainer checked it: launching would start a command no longer shown.
            self.notify("Not launched: the form changed while it was being checked; press ctrl+l again", severity="warning")
            return
        if plan.options.slurm is not None:
            self._submit(plan, plan.options.slurm)
            return
        try:
            record = start(plan)
        except LaunchError as error:
            self.notify(f"Not launched: {error}", severity="error", markup=False)
            return
        self._launched(record.run_dir, f"Started {record.run_dir.name}")

    def _submit(self, plan: LaunchPlan, profile: ClusterProfile) -> None:
        """The SLURM target: the script the panels show, submitted with sbatch (hrm_tui/cluster/submit.py).
        sbatch's own refusal is shown, and focuses the profile field it is about."""
        from hrm_tui.cluster.submit import SubmitError, submit

        try:
            job = submit(plan, profile)
        except LaunchError as error:
            field = error.field if isinstance(error, SubmitError) else None
            if field is not None:
                self._focus_option(f"slurm.{field}")
            self.notify(f"Not submitted: {error}", severity="error", markup=False, timeout=10)
            return
        cluster = f" on {job.cluster}" if job.cluster else ""
        self._launched(job.run_dir, f"Submitted {job.run_dir.name} as SLURM job {job.job_id}{cluster}")

    def _submit_sweep(self, sweep: SweepPlan, profile: ClusterProfile) -> None:
        """A sweep with the SLURM target: one job per run, through the profile (as `hrm-tui launch -m --slurm`).
        A refusal stops the submission there and says how many runs were submitted before it."""
        from hrm_tui.cluster.submit import submit

        jobs = []
        for plan in sweep.plans:
            try:
                jobs.append(submit(plan, profile).job_id)
            except LaunchError as error:
                self.notify(f"Not submitted: {error} ({len(jobs)} of the sweep's {len(sweep.plans)} runs were "
                            "submitted before it)", severity="error", markup=False, timeout=10)
                break
        if jobs:
            self._launched(sweep.plans[0].run_dir, f"Submitted sweep {sweep.name}: {len(jobs)} SLURM jobs "
                                                   f"({', '.join(jobs)}) in {sweep.folder}")

    def _launched(self, run_dir: Path, message: str) -> None:
        self._default_run_name = None  # the next run gets a fresh name
        self._refresh_panel()
        self.notify(safe_text(message), markup=False)
        self.post_message(RunLaunched(run_dir))

    @work(thread=True, exclusive=True, group="launch")
    def _plan_sweep(self, preview: CommandPreview) -> None:
        """The sweep's runs, each checked by the trainer as a single launch is (hrm_tui/sweep_plan.py)."""
        from hrm_core.config import ConfigError
        from hrm_tui.sweep_plan import SweepRefused, plan_sweep

        assert preview.plan is not None
        options = preview.plan.options
        sweep, refusal = None, []
        try:
            sweep = plan_sweep([*preview.overrides, *preview.sweep], options, tree=self.config_tree,
                               runs_root=Path(self.context.runs_root), launch=launch_of(options))
        except SweepRefused as error:
            refusal = [f"{error}: {problem_line(p)}" for p in error.problem.problems]
        except (ConfigError, LaunchError) as error:
            refusal = [getattr(error, "message", None) or str(error)]
        self.post_message(self.SweepPlanned(preview, sweep, refusal))

    def on_launch_screen_sweep_planned(self, message: SweepPlanned) -> None:
        from hrm_tui.runs.sweep_driver import start_sweep

        if message.refusal or message.sweep is None:
            self._refuse(message.refusal)
            return
        self._flush_panel()
        if self.preview != message.preview:
            self.notify("Not launched: the form changed while it was being checked; press ctrl+l again", severity="warning")
            return
        profile = message.sweep.plans[0].options.slurm
        if profile is not None:
            self._submit_sweep(message.sweep, profile)
            return
        try:
            start_sweep(message.sweep)
        except LaunchError as error:
            self.notify(f"Not launched: {error}", severity="error", markup=False)
            return
        count = len(message.sweep.plans)
        self._launched(message.sweep.plans[0].run_dir,
                       f"Started sweep {message.sweep.name} ({count} runs, one after another, in {message.sweep.folder})")
