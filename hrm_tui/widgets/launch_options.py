"""Launch options: processes per node, GPUs, OMP_NUM_THREADS, compile, and multi-node rendezvous.

These say *how* to run the trainer, not what to train, so they are not config overrides: they become the
torchrun arguments and environment variables of the command (see runs/launcher.py). The GPU list
comes from NVML in a background worker; without a driver it is one line saying the run uses the CPU.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, SelectionList, Static, Switch

from hrm_tui.system.gpus import GpuScan, list_gpus
from hrm_tui.runs.launcher import LaunchOptions
from hrm_tui.widgets.compact_switch import CompactSwitch


class LaunchOptionsChanged(Message):
    def __init__(self, options: LaunchOptions, problems: dict[str, str]) -> None:
        super().__init__()
        self.options = options
        self.problems = problems


class LaunchOptionsPanel(Vertical):
    """Edits a LaunchOptions; posts LaunchOptionsChanged with a new one after every change."""

    def __init__(self, options: LaunchOptions, *, gpu_scan: GpuScan | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.options = options
        self._gpu_scan = gpu_scan
        self._text_errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        o = self.options
        yield from self._line("Processes/node", Input(str(o.nproc_per_node), id="opt-nproc", compact=True, type="integer"))
        yield Static("GPUs: looking for NVIDIA GPUs…", id="opt-gpu-message", classes="option-note")
        yield SelectionList[int](id="opt-gpus", compact=True)
        yield from self._line(
            "OMP threads",
            Input("" if o.omp_num_threads is None else str(o.omp_num_threads), placeholder="unset", id="opt-omp", compact=True, type="integer"),
        )
        yield from self._line("torch.compile", CompactSwitch(value=o.compile, id="opt-compile"))
        yield from self._line("Nodes", Input(str(o.nnodes), id="opt-nnodes", compact=True, type="integer"))
        with Vertical(id="opt-multinode"):
            yield from self._line("Node rank", Input(str(o.node_rank), id="opt-node-rank", compact=True, type="integer"))
            yield from self._line("Rendezvous", Input(o.rdzv_endpoint, placeholder="host-of-node-0:29500", id="opt-rdzv", compact=True))
        yield Static("", id="opt-errors", classes="field-error")

    @staticmethod
    def _line(label: str, editor: Any) -> ComposeResult:
        with Horizontal(classes="option-line"):
            yield Label(label, classes="option-label")
            yield editor

    def on_mount(self) -> None:
        self.query_one("#opt-multinode").display = self.options.nnodes > 1
        self.query_one("#opt-gpus").display = False
        if self._gpu_scan is not None:
            self._show_gpus(self._gpu_scan)
        else:
            self._scan_gpus()

    @work(thread=True, exclusive=True, group="gpu-scan")
    def _scan_gpus(self) -> None:
        scan = list_gpus()
        self.app.call_from_thread(self._show_gpus, scan)

    def _show_gpus(self, scan: GpuScan) -> None:
        self._gpu_scan = scan
        message = self.query_one("#opt-gpu-message", Static)
        selection = self.query_one("#opt-gpus", SelectionList)
        if not scan.gpus:
            message.update(f"GPUs: {scan.message}")
            selection.display = False
            return
        message.update("GPUs (none ticked = all visible):")
        chosen = set(self.options.gpus or ())
        selection.clear_options()
        selection.add_options([(gpu.label(), gpu.index, gpu.index in chosen) for gpu in scan.gpus])
        selection.display = True

    # --- changes -------------------------------------------------------------------------------------

    @on(Input.Changed)
    def _text_changed(self, event: Input.Changed) -> None:
        event.stop()
        field, text = event.input.id, event.value.strip()
        self._text_errors.pop(field or "", None)
        o = self.options
        try:
            if field == "opt-nproc":
                o = dataclasses.replace(o, nproc_per_node=int(text))
            elif field == "opt-omp":
                o = dataclasses.replace(o, omp_num_threads=int(text) if text else None)
            elif field == "opt-nnodes":
                o = dataclasses.replace(o, nnodes=int(text))
                self.query_one("#opt-multinode").display = o.nnodes > 1
            elif field == "opt-node-rank":
                o = dataclasses.replace(o, node_rank=int(text))
            elif field == "opt-rdzv":
                o = dataclasses.replace(o, rdzv_endpoint=text)
        except ValueError:
            self._text_errors[field or ""] = f"{text!r} is not a whole number"
        self._publish(o)

    @on(Switch.Changed, "#opt-compile")
    def _compile_changed(self, event: Switch.Changed) -> None:
        event.stop()
        self._publish(dataclasses.replace(self.options, compile=event.value))

    @on(SelectionList.SelectedChanged, "#opt-gpus")
    def _gpus_changed(self, event: SelectionList.SelectedChanged) -> None:
        event.stop()
        chosen = tuple(sorted(event.selection_list.selected))
        self._publish(dataclasses.replace(self.options, gpus=chosen or None))

    def _publish(self, options: LaunchOptions) -> None:
        self.options = options
        problems = {**options.problems(), **self._text_errors}
        self.query_one("#opt-errors", Static).update("\n".join(f"✗ {p}" for p in problems.values()))
        self.post_message(LaunchOptionsChanged(options, problems))
