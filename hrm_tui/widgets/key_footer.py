"""The footer of every screen: Textual's, with the keys a lost user needs first.

Textual lists the focused widget's keys first and the app's last, so at 80 columns the keys that get a user
out or to the help screen (`q` close, `f1` help, `ctrl+q` quit) are the ones cut off. This footer keeps
Textual's rendering and only moves those to the front. The command palette hint is left out: ctrl+p still
opens it, and the help screen lists it.
"""

from __future__ import annotations

from textual.app import ComposeResult
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
