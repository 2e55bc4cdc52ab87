"""What every monitor panel shares: a titled, focusable, maximisable box, and the run it shows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.widget import Widget

from hrm_tui.monitoring.run_model import RunModel

# One colour per compared run (the first is the main run). Mid-luminance, so they read on dark and light
# terminals alike; never the only signal (legends name each colour).
RUN_COLORS = ("#3a96dd", "#e5730f", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
TRAIN_COLOR = RUN_COLORS[0]
EVAL_COLOR = RUN_COLORS[1]


@dataclass
class RunView:
    """A run as the monitor shows it: its folder, its model and the colour and label of its curves.

    The model is the screen's workers' (they fill it and post snapshots of it); panels draw from the
    snapshots the screen hands them, never from the model."""

    run_dir: Path
    model: RunModel
    label: str
    color: str


class MonitorPanel(Widget, can_focus=True):
    """A monitor panel: focus it with its number key, hide it with `h`, maximise it with `m`."""

    ALLOW_MAXIMIZE = True
    PANEL_ID = ""  # the id the screen knows it by
    PANEL_TITLE = ""
    PANEL_KEY = ""  # the number key that focuses it

    DEFAULT_CSS = """
    MonitorPanel {
        border: round $foreground 30%;
        border-title-color: $foreground 70%;
        padding: 0 1;
    }
    MonitorPanel:focus, MonitorPanel:focus-within {
        border: round $accent;
        border-title-color: $accent;
    }
    """

    def __init__(self) -> None:
        super().__init__(id=self.PANEL_ID)
        self.border_title = f"{self.PANEL_KEY} {self.PANEL_TITLE}"
