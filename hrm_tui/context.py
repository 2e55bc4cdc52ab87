"""What the app's screens share, as one typed object: `AppContext`.

The app builds one `AppContext` when it starts (hrm-tui's flags, or a test's fixed clock and names) and
hands it to the screens that need it when it creates them. Screens read their settings from it, never from
attributes of the app (`self.app.<something>`), so what a screen depends on is written in its constructor,
and a test builds the context it wants instead of patching the app. It is frozen: nothing changes it while
the app runs; a screen that keeps state of its own (the launch form's current config folder, say) keeps it
itself.

    context = AppContext(config_tree=ConfigTree.load(), runs_root=Path("checkpoints"))
    HrmTuiApp(context)                                     # what `hrm-tui` does
    HrmTuiApp(AppContext(..., clock=lambda: NOW))          # a snapshot test: a fixed clock
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hrm_tui.runs.process_control import DEFAULT_GRACE_S

if TYPE_CHECKING:  # these pull in Hydra, NVML and the plotting stack: only for the annotations
    from hrm_tui.forms.config_tree import ConfigTree
    from hrm_tui.monitoring.settings import MonitorSettings
    from hrm_tui.system.gpus import GpuScan


def default_run_name(arch_name: str) -> str:
    """The trainer's own naming: the arch class plus a random slug (`HierarchicalReasoningModel_ACTV1 brave-otter`)."""
    from hrm_core.names import default_run_name as trainer_run_name

    return trainer_run_name(arch_name)


def _load_config_tree() -> ConfigTree:
    from hrm_tui.forms.config_tree import ConfigTree

    return ConfigTree.load()


@dataclass(frozen=True)
class AppContext:
    """The settings and services every screen may use. Each field has a working default."""

    # The Hydra config tree the launch form opens with: the installed config/ tree, plus `--config-dir`
    # searched first. (Cloning a run started with another config folder switches the form's own tree.)
    config_tree: ConfigTree = field(default_factory=_load_config_tree)

    # `--runs-root`: where new runs go (<runs_root>/<project>/<run>, relative to the working directory),
    # and the folder the runs list shows.
    runs_root: Path = Path("checkpoints")

    # "Now", in Unix seconds: ages in the runs list and the monitor. Tests fix it so screens render the same.
    clock: Callable[[], float] = time.time

    # Names the next run from its arch class name, as the trainer would (tests fix it).
    make_run_name: Callable[[str], str] = default_run_name

    # The GPUs the launch options offer. None: the options scan NVML themselves when they open.
    gpu_scan: GpuScan | None = None

    # Whether the runs list re-reads its runs every couple of seconds (tests refresh by hand).
    refresh_runs: bool = True

    # How long a stopped run gets to save its checkpoint after SIGINT before SIGTERM (runs/process_control.py).
    stop_grace_s: float = DEFAULT_GRACE_S

    # How monitors opened by the app poll and draw. None: MonitorSettings() (live NVML/psutil, the wall clock).
    monitor_settings: MonitorSettings | None = None
