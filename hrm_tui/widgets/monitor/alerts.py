"""The alerts banner: a full-width strip above the panels, red for errors and amber for warnings.

It is hidden while no alert holds. `x` (on the screen) dismisses the alerts shown now; an alert that is
raised again later, or a new one, shows again.

Alert texts quote the run directory (error texts, set names, metric names), so every line is drawn through
`safe_text`: nothing in them reaches the terminal as an escape sequence or as markup.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from hrm_core.rundir.sanitize import safe_text
from hrm_tui.monitoring.alerts import ERROR, Alert

MAX_LINES = 9  # the banner's max-height: every alert's title, then detail lines shared out in turn


class AlertBanner(Widget):
    DEFAULT_CSS = """
    AlertBanner {
        height: auto;
        max-height: 9;  /* MAX_LINES */
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
        """Each alert's title with as many of its detail lines as fit: one line each in turn, in order, so the
        first alert shows the most but none is reduced to its title while there is room."""
        shown = [0] * len(self.alerts)
        budget = MAX_LINES - len(self.alerts)
        while budget > 0 and any(n < len(a.detail) for n, a in zip(shown, self.alerts)):
            for i, alert in enumerate(self.alerts):
                if budget > 0 and shown[i] < len(alert.detail):
                    shown[i] += 1
                    budget -= 1
        lines: list[Text] = []
        for alert, count in zip(self.alerts, shown):
            mark = "✖ " if alert.severity == ERROR else "⚠ "
            lines.append(Text(mark + safe_text(alert.title), style="bold"))
            # A traceback's last lines say most; a list of reasons its first (most common first).
            detail = alert.detail[-count:] if alert.severity == ERROR else alert.detail[:count]
            lines += [Text("  " + safe_text(line)) for line in (detail if count else ())]
        if lines:
            lines[0].append("   (x: dismiss)", style="dim")
        return Group(*lines)
