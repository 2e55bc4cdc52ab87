"""`MonitorSettings`: how the monitor polls and what it draws.

It lives below the screens because both the app's `AppContext` (context.py) and the monitor screen use it:
the context carries the settings monitors opened by the app get, the screen reads them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hrm_tui.monitoring.alerts import AlertSettings
from hrm_tui.monitoring.plot import BRAILLE

if TYPE_CHECKING:  # sysmon pulls in psutil and NVML: only for the annotation
    from hrm_tui.system.sysmon import SystemSampler

# The metrics the curves panel plots when the monitor opens (`c` changes them).
DEFAULT_CURVES = ("lm_loss", "accuracy", "exact_accuracy", "steps")


@dataclass
class MonitorSettings:
    """How the monitor polls and what it draws. Every field has a working default.

    `system_sampler` and `clock` are the two sources of host-dependent values. Replacing them with
    `StaticSystemSampler(snapshot)` and a fixed clock makes the screen reproducible byte for byte (the
    snapshot tests do this; so can a screenshot for docs).
    """

    metrics_refresh_s: float = 1.0  # how often new events are read and curves redrawn
    system_refresh_s: float = 2.0  # how often NVML, psutil and the run's status are polled
    alerts: AlertSettings = field(default_factory=AlertSettings)
    system_sampler: SystemSampler | None = None  # None: LiveSystemSampler (NVML + psutil)
    clock: Callable[[], float] = time.time  # "now", for elapsed times, ages and the heartbeat alert
    curves: tuple[str, ...] = DEFAULT_CURVES  # metrics plotted at start (`c` changes them)
    plot_mode: str = BRAILLE  # or BLOCK ("block"), for fonts without braille glyphs
