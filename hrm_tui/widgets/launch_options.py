"""Launch options: where to run (this machine or SLURM), processes per node, GPUs, OMP_NUM_THREADS, compile,
and multi-node rendezvous; with the SLURM target, the cluster profile's fields instead of the local layout
(widgets/slurm_options.py).

These say *how* to run the trainer, not what to train, so they are not config overrides: they become the
torchrun arguments and environment variables of the command (see launch_plan.py). The GPU list
comes from NVML in a background worker; without a driver it is one line saying the run uses the CPU.

The panel does not own the options: it shows a `LaunchOptionsDraft` (forms/launch_options_draft.py) and
posts `LaunchOptionsEdited` with a new draft after each change. The launch screen keeps the one draft and
shows it in every panel (the side pane and the ctrl+o dialog), so both always read the same.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, SelectionList, Static, Switch, TextArea

from hrm_tui.cluster.profile import ProfileError, save_profile
from hrm_tui.forms.cluster_profile_draft import PROFILE_HELP, ClusterProfileDraft
from hrm_tui.forms.launch_options_draft import (
    LOCAL,
    OPTION_HELP,
    OPTION_LABELS,
    TARGETS,
    LaunchOptionsDraft,
    compile_shown,
    omp_threads_shown,
)
from hrm_tui.system.gpus import GpuScan, list_gpus
from hrm_tui.widgets.check_list import CheckList
from hrm_tui.widgets.compact_switch import CompactSwitch
from hrm_tui.widgets.field_scroll import FieldScroll
from hrm_tui.widgets.slurm_options import LINE_LIST_EDITORS, SLURM_EDITORS, SlurmOptions

# editor id -> the draft's field
TEXT_EDITORS = {
    "opt-nproc": "nproc_per_node",
    "opt-omp": "omp_num_threads",
    "opt-nnodes": "nnodes",
    "opt-rdzv": "rdzv_endpoint",
    "opt-sweep": "sweep",
}
ALL_TEXT_EDITORS = {**TEXT_EDITORS, **SLURM_EDITORS}  # every editor of text, the SLURM fields' included
_OTHER_HELP = {
    "opt-target": OPTION_HELP["target"],
    "opt-gpus": OPTION_HELP["gpus"],
    "opt-compile": OPTION_HELP["compile"],
    "opt-slurm-profile": "Saved profile: fills the SLURM fields from a profile saved in clusters.toml",
    "opt-slurm-save": "Save as profile: stores the SLURM fields under the profile name (clusters.toml)",
}


def option_help(editor_id: str) -> str:
    """The help line of an option's editor."""
    name = ALL_TEXT_EDITORS.get(editor_id)
    if name is None:
        return _OTHER_HELP.get(editor_id, OPTION_HELP["compile"])
    if name.startswith("slurm."):
        return PROFILE_HELP[name.removeprefix("slurm.")]
    return OPTION_HELP[name]


def editor_of(name: str, draft: LaunchOptionsDraft) -> str:
    """The id of the editor of an option (or of `slurm.<field>`), for focusing it; the first one otherwise."""
    return next((e for e, n in ALL_TEXT_EDITORS.items() if n == name), first_editor(draft))


def first_editor(draft: LaunchOptionsDraft) -> str:
    """Where the options take focus: the processes field here, the target chooser with SLURM."""
    return "opt-nproc" if draft.target == LOCAL else "opt-target"


class LaunchOptionsEdited(Message):
    def __init__(self, draft: LaunchOptionsDraft) -> None:
        super().__init__()
        self.draft = draft


class LaunchOptionsPanel(FieldScroll):
    """Shows a LaunchOptionsDraft (`show`); posts LaunchOptionsEdited after every change the user makes."""

    class GpusScanned(Message):
        """The NVML scan, from the worker that ran it (to this panel only)."""

        bubble = False

        def __init__(self, scan: GpuScan) -> None:
            super().__init__()
            self.scan = scan

    def __init__(self, draft: LaunchOptionsDraft, *, gpu_scan: GpuScan | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.draft = draft
        self._gpu_scan = gpu_scan

    def compose(self) -> ComposeResult:
        d = self.draft
        targets = [(label, target) for target, label in TARGETS.items()]
        with Horizontal(classes="option-line"):
            yield Label(OPTION_LABELS["target"], classes="option-label")
            yield Select(targets, value=d.target, allow_blank=False, compact=True, id="opt-target")
        yield from self._line("opt-nproc", Input(d.nproc_per_node, id="opt-nproc", compact=True, type="integer"), local=True)
        yield Static("GPUs: looking for NVIDIA GPUs…", id="opt-gpu-message", classes="option-note local-layout")
        yield CheckList[int](id="opt-gpus", compact=True, classes="local-layout")
        # An empty field, the switch on: what the run gets comes from the environment and the machine.
        omp = Input(d.omp_num_threads, placeholder=omp_threads_shown(d, os.environ), id="opt-omp", compact=True, type="integer")
        yield from self._line("opt-omp", omp)
        yield from self._line("opt-compile", CompactSwitch(value=d.compile, id="opt-compile"),
                              Static("", id="opt-compile-note", classes="option-note"))
        yield from self._line("opt-nnodes", Input(d.nnodes, id="opt-nnodes", compact=True, type="integer"), local=True)
        yield SlurmOptions(d.slurm, id="opt-slurm")
        with Vertical(id="opt-multinode"):
            yield from self._line("opt-rdzv", Input(d.rdzv_endpoint, placeholder="host-of-a-node:29500", id="opt-rdzv", compact=True))
        yield from self._line("opt-sweep", Input(d.sweep, placeholder="lr=1e-3,2e-3 seed=range(3)", id="opt-sweep", compact=True))
        yield Static("", id="opt-errors", classes="field-error")

    @staticmethod
    def _line(editor_id: str, editor: Any, *after: Any, local: bool = False) -> ComposeResult:
        name = TEXT_EDITORS.get(editor_id, "compile")
        with Horizontal(classes="option-line" + (" local-layout" if local else "")):
            yield Label(OPTION_LABELS[name], classes="option-label")
            yield editor
            yield from after

    def on_mount(self) -> None:
        self._show_problems()
        if self._gpu_scan is not None:
            self._show_gpus(self._gpu_scan)
        else:
            self._scan_gpus()

    # --- showing a draft ---------------------------------------------------------------------------------

    def show(self, draft: LaunchOptionsDraft) -> None:
        """Puts `draft` into the editors that differ from it. Their change events then match the draft, so
        they are not taken for edits (each handler compares the editor with the draft)."""
        self.draft = draft
        for editor_id, name in TEXT_EDITORS.items():
            editor = self.query_one(f"#{editor_id}", Input)
            if editor.value != getattr(draft, name):
                editor.value = getattr(draft, name)
        switch = self.query_one("#opt-compile", Switch)
        if switch.value != draft.compile:
            switch.value = draft.compile
        selection = self.query_one("#opt-gpus", SelectionList)
        if tuple(sorted(selection.selected)) != (draft.gpus or ()):
            selection.deselect_all()
            for index in draft.gpus or ():
                selection.select(index)
        target = self.query_one("#opt-target", Select)
        if target.value != draft.target:
            target.value = draft.target
        self.query_one("#opt-slurm", SlurmOptions).show(draft.slurm)
        self._show_problems()

    def _show_problems(self) -> None:
        _, problems = self.draft.parse()
        self.query_one("#opt-errors", Static).update("\n".join(f"✗ {p}" for p in problems.values()))
        self._show_effective()
        local = self.draft.target == LOCAL
        for widget in self.query(".local-layout"):
            widget.display = local
        self.query_one("#opt-gpus").display = local and bool(self._gpu_scan and self._gpu_scan.gpus)
        self.query_one("#opt-slurm").display = not local
        self.query_one("#opt-multinode").display = local and self.draft.nnodes.strip() not in ("", "1")

    def _show_effective(self) -> None:
        """The values the run gets where the user left an option as it is (shown beside the editor)."""
        self.query_one("#opt-omp", Input).placeholder = omp_threads_shown(self.draft, os.environ)
        cuda = None if self._gpu_scan is None else bool(self._gpu_scan.gpus)
        self.query_one("#opt-compile-note", Static).update(" " + compile_shown(self.draft, os.environ, cuda))

    # --- GPUs ----------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="gpu-scan")
    def _scan_gpus(self) -> None:
        self.post_message(self.GpusScanned(list_gpus()))

    def on_launch_options_panel_gpus_scanned(self, message: GpusScanned) -> None:
        self._show_gpus(message.scan)

    def _show_gpus(self, scan: GpuScan) -> None:
        self._gpu_scan = scan
        self._show_effective()
        message = self.query_one("#opt-gpu-message", Static)
        selection = self.query_one("#opt-gpus", SelectionList)
        local = self.draft.target == LOCAL
        if not scan.gpus:
            message.update(f"GPUs: {scan.message}")
            selection.display = False
            return
        message.update("GPUs (none ticked = all visible):")
        chosen = set(self.draft.gpus or ())
        selection.clear_options()
        selection.add_options([(gpu.label(), gpu.index, gpu.index in chosen) for gpu in scan.gpus])
        selection.display = local

    # --- edits ---------------------------------------------------------------------------------------

    @on(Input.Changed)
    def _text_changed(self, event: Input.Changed) -> None:
        event.stop()
        name = ALL_TEXT_EDITORS.get(event.input.id or "")
        if name is not None and event.value != self.draft.text(name):
            self._edited(self.draft.with_text(name, event.value))

    @on(TextArea.Changed)
    def _lines_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        editor_id = event.text_area.id or ""
        if editor_id in LINE_LIST_EDITORS and event.text_area.text != self.draft.text(SLURM_EDITORS[editor_id]):
            self._edited(self.draft.with_text(SLURM_EDITORS[editor_id], event.text_area.text))

    @on(Select.Changed, "#opt-target")
    def _target_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value != self.draft.target and event.value in TARGETS:
            self._edited(dataclasses.replace(self.draft, target=str(event.value)))

    @on(SlurmOptions.ProfileChosen)
    def _profile_chosen(self, event: SlurmOptions.ProfileChosen) -> None:
        event.stop()
        draft = dataclasses.replace(self.draft, slurm=ClusterProfileDraft.of(event.profile))
        self.query_one("#opt-slurm", SlurmOptions).show(draft.slurm)
        self._edited(draft)

    @on(SlurmOptions.SaveRequested)
    def _save_profile(self, event: SlurmOptions.SaveRequested) -> None:
        """Saves the SLURM fields under the profile name, or says (naming the field) why they cannot be."""
        event.stop()
        profile, problems = self.draft.slurm.parse()
        if profile is not None and not profile.name:
            problems = {"name": "Profile name: type a name to save the profile under"}
        if problems or profile is None:
            self.app.notify("Profile not saved:\n" + "\n".join(f"✗ {p}" for p in problems.values()),
                            severity="error", markup=False)
            return
        try:
            path = save_profile(profile)
        except (ProfileError, OSError) as error:
            self.app.notify(f"Profile not saved: {error}", severity="error", markup=False)
            return
        self.query_one("#opt-slurm", SlurmOptions).load_saved()
        self.app.notify(f"Saved cluster profile {profile.name!r} in {path}", markup=False)

    @on(Switch.Changed, "#opt-compile")
    def _compile_changed(self, event: Switch.Changed) -> None:
        event.stop()
        if event.value != self.draft.compile:
            self._edited(dataclasses.replace(self.draft, compile=event.value))

    @on(SelectionList.SelectedChanged, "#opt-gpus")
    def _gpus_changed(self, event: SelectionList.SelectedChanged) -> None:
        event.stop()
        chosen = tuple(sorted(event.selection_list.selected)) or None
        if chosen != self.draft.gpus:
            self._edited(dataclasses.replace(self.draft, gpus=chosen))

    def _edited(self, draft: LaunchOptionsDraft) -> None:
        self.draft = draft
        self._show_problems()
        self.post_message(LaunchOptionsEdited(draft))
