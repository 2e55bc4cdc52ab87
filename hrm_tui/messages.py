"""The typed messages between the app and its screens.

Screens do not call the app's methods, and the app does not call the screens': a screen posts a request
(it bubbles up to the app, which decides what to show), and the app posts an instruction to the screen it
concerns. Each message carries everything its handler needs.

    screen -> app (bubble up)                    app -> screen (posted to that screen only)
    OpenMonitor(run_dirs)    runs list, CLI      SelectRun(run_dir)     to the runs list
    RunLaunched(run_dir)     launch form         LoadRecipe(recipe)     to the launch form
    CloneRun(recipe)         runs list
    ShowForm()               runs list (n)
    OpenConfigDiff(run_dirs) runs list, monitor
    OpenReplay(source)       runs list (p), samples panel (enter), replay (n p), puzzle editor
                                                 ReplayLoaded(replay)   the app's replay worker, to the app
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual.message import Message

from hrm_tui.replay_loading import Replay, ReplaySource
from hrm_tui.runs.launcher import RunRecipe


class OpenMonitor(Message):
    """Open the monitor of `run_dirs[0]`, with the other runs' curves overlaid (compare) when there are more."""

    def __init__(self, run_dirs: Sequence[Path]) -> None:
        super().__init__()
        self.run_dirs = tuple(Path(d) for d in run_dirs)


class RunLaunched(Message):
    """A run was just started: show it in the runs list, selected, and open its monitor."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)


class CloneRun(Message):
    """Load this run's recipe (overrides, launch options, config folder) into the launch form, as a new run."""

    def __init__(self, recipe: RunRecipe) -> None:
        super().__init__()
        self.recipe = recipe


class ShowForm(Message):
    """Go to the launch form (to set up a new run)."""


class OpenConfigDiff(Message):
    """Show the config keys whose values differ between these runs."""

    def __init__(self, run_dirs: Sequence[Path]) -> None:
        super().__init__()
        self.run_dirs = tuple(Path(d) for d in run_dirs)


class SelectRun(Message):
    """To the runs list: select this run (at its next refresh, which this starts)."""

    bubble = False

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)


class LoadRecipe(Message):
    """To the launch form: load a cloned run's recipe (it may switch the form's config folder)."""

    bubble = False

    def __init__(self, recipe: RunRecipe) -> None:
        super().__init__()
        self.recipe = recipe


class OpenReplay(Message):
    """Replay a puzzle at a checkpoint (`source` says which): the app loads it in a worker and shows the
    replay screen, or says in one line why it cannot (no checkpoint yet, a puzzle the model does not read)."""

    def __init__(self, source: ReplaySource) -> None:
        super().__init__()
        self.source = source


class ReplayLoaded(Message):
    """To the app, from its replay worker: the replay is ready to be shown."""

    bubble = False

    def __init__(self, replay: Replay) -> None:
        super().__init__()
        self.replay = replay
