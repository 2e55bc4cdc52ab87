"""The alerts banner: a full-width strip above the panels, red for errors and amber for warnings.

It is hidden while no alert holds. `x` (on the screen) dismisses the alerts shown now; an alert that is
raised again later, or a new one, shows again.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from hrm_tui.monitoring.alerts import ERROR, Alert

MAX_DETAIL_LINES = 6


class AlertBanner(Widget):
    DEFAULT_CSS = """
    AlertBanner {
        height: auto;
        max-height: 9;
        display: none;
        padding: 0 1;
        background: $warning 70%;
        color: $text;
    }
    AlertBanner.-error { background: $error 80%; }
    AlertBanner.-shown { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(id="alerts")
        self.alerts: list[Alert] = []
        self.dismissed: set[Alert] = set()

    def set_alerts(self, alerts: list[Alert]) -> None:
        self.dismissed &= set(alerts)  # an alert that went away and comes back shows again
        visible = [a for a in alerts if a not in self.dismissed]
        if visible == self.alerts:
            return
        self.alerts = visible
        self.set_class(bool(visible), "-shown")
        self.set_class(any(a.severity == ERROR for a in visible), "-error")
        self.refresh(layout=True)

    def dismiss(self) -> None:
        self.dismissed |= set(self.alerts)
        self.set_alerts(list(self.dismissed))

    def render(self) -> RenderableType:
        lines: list[Text] = []
        for alert in self.alerts:
            mark = "✖ " if alert.severity == ERROR else "⚠ "
            lines.append(Text(mark + alert.title, style="bold"))
        detail = [line for alert in self.alerts[:1] for line in alert.detail][-MAX_DETAIL_LINES:]
        lines += [Text("  " + line) for line in detail]
        if lines:
            lines[0].append("   (x: dismiss)", style="dim")
        return Group(*lines)
