"""Launch options: processes per node, GPUs, OMP_NUM_THREADS, compile, and multi-node rendezvous.

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
from textual.widgets import Input, Label, SelectionList, Static, Switch

from hrm_tui.forms.launch_options_draft import OPTION_LABELS, LaunchOptionsDraft, compile_shown, omp_threads_shown
from hrm_tui.system.gpus import GpuScan, list_gpus
from hrm_tui.widgets.check_list import CheckList
from hrm_tui.widgets.compact_switch import CompactSwitch
from hrm_tui.widgets.field_scroll import FieldScroll

# editor id -> the draft's field
TEXT_EDITORS = {
    "opt-nproc": "nproc_per_node",
    "opt-omp": "omp_num_threads",
    "opt-nnodes": "nnodes",
    "opt-rdzv": "rdzv_endpoint",
    "opt-sweep": "sweep",
}


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
        yield from self._line("opt-nproc", Input(d.nproc_per_node, id="opt-nproc", compact=True, type="integer"))
        yield Static("GPUs: looking for NVIDIA GPUs…", id="opt-gpu-message", classes="option-note")
        yield CheckList[int](id="opt-gpus", compact=True)
        # An empty field, the switch on: what the run gets comes from the environment and the machine.
        omp = Input(d.omp_num_threads, placeholder=omp_threads_shown(d, os.environ), id="opt-omp", compact=True, type="integer")
        yield from self._line("opt-omp", omp)
        yield from self._line("opt-compile", CompactSwitch(value=d.compile, id="opt-compile"),
                              Static("", id="opt-compile-note", classes="option-note"))
        yield from self._line("opt-nnodes", Input(d.nnodes, id="opt-nnodes", compact=True, type="integer"))
        with Vertical(id="opt-multinode"):
            yield from self._line("opt-rdzv", Input(d.rdzv_endpoint, placeholder="host-of-a-node:29500", id="opt-rdzv", compact=True))
        yield from self._line("opt-sweep", Input(d.sweep, placeholder="lr=1e-3,2e-3 seed=range(3)", id="opt-sweep", compact=True))
        yield Static("", id="opt-errors", classes="field-error")

    @staticmethod
    def _line(editor_id: str, editor: Any, *after: Any) -> ComposeResult:
        name = TEXT_EDITORS.get(editor_id, "compile")
        with Horizontal(classes="option-line"):
            yield Label(OPTION_LABELS[name], classes="option-label")
            yield editor
            yield from after

    def on_mount(self) -> None:
        self.query_one("#opt-gpus").display = False
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
        self._show_problems()

    def _show_problems(self) -> None:
        _, problems = self.draft.parse()
        self.query_one("#opt-errors", Static).update("\n".join(f"✗ {p}" for p in problems.values()))
        self._show_effective()
        self.query_one("#opt-multinode").display = self.draft.nnodes.strip() not in ("", "1")

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
        if not scan.gpus:
            message.update(f"GPUs: {scan.message}")
            selection.display = False
            return
        message.update("GPUs (none ticked = all visible):")
        chosen = set(self.draft.gpus or ())
        selection.clear_options()
        selection.add_options([(gpu.label(), gpu.index, gpu.index in chosen) for gpu in scan.gpus])
        selection.display = True

    # --- edits ---------------------------------------------------------------------------------------

    @on(Input.Changed)
    def _text_changed(self, event: Input.Changed) -> None:
        event.stop()
        name = TEXT_EDITORS.get(event.input.id or "")
        if name is not None and event.value != getattr(self.draft, name):
            self._edited(self.draft.with_text(name, event.value))

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
