"""The footer of every screen: Textual's, with the keys a lost user needs first.

Textual lists the focused widget's keys first and the app's last, so at 80 columns the keys that get a user
out or to the help screen (`q` close, `f1` help, `ctrl+q` quit) are the ones cut off. This footer keeps
Textual's rendering and only moves those to the front. The command palette hint is left out: ctrl+p still
opens it, and the help screen lists it.

Textual cuts the last key that does not fit in the middle (`x Dis`, `c Clo`). Here the keys that do not fit
whole are hidden, from the end: the footer lists keys by priority, so the least needed ones go first.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.geometry import Size
from textual.widgets import Footer

ESSENTIAL_ACTIONS = ("close", "help", "quit")  # by name: `app.close` is `close`


def action_name(action: str) -> str:
    """`app.close` -> `close`: the action without the namespace it runs in."""
    return action.rpartition(".")[2]


class KeyFooter(Footer):
    def __init__(self) -> None:
        super().__init__(show_command_palette=False)

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        essential = sorted(
            (k for k in keys if action_name(getattr(k, "action", "")) in ESSENTIAL_ACTIONS),  # FooterKeys carry their action
            key=lambda k: ESSENTIAL_ACTIONS.index(action_name(k.action)),
        )
        yield from essential
        yield from (k for k in keys if k not in essential)

    async def recompose(self) -> None:
        await super().recompose()
        self.call_after_refresh(self._fit)  # once the new keys have their styles: their widths depend on them

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Shows the keys, in order, while each fits whole; hides the rest."""
        room = self.size.width
        used = 0
        fits = True
        for key in self.query("FooterKey"):  # Textual's key widget, by its type name (it is not exported)
            # A key's width is its rendered text (padding included) plus its margins; the last one shown
            # needs no room for the margin after it.
            width = key.get_content_width(Size(0, 0), Size(0, 0))
            margin = key.styles.margin
            fits = fits and used + margin.left + width <= room
            used += margin.left + width + margin.right
            key.display = fits
