"""How an app opens replays: `OpenReplay` in, a worker loads it, the replay screen out.

Mixed into both apps that show replays (`HrmTuiApp`, and `ReplayApp` of `hrm-tui solve`), so that every way
into a replay (the samples panel, the runs list, the replay's own n/p, the puzzle editor) goes through one
worker. Loading a model and rolling a puzzle out take a second or more: they run in a thread
(`@work(thread=True)`), which posts `ReplayLoaded` when done; the UI never waits on them. A mistake (no
checkpoint yet, a puzzle the checkpoint does not read) is one notification line; the screen that asked
stays as it was (the editor keeps what was typed).

Shown, a replay replaces the replay screen on top (stepping to another puzzle, or the editor's puzzle: the
editor closes then), or goes on top of the screen that asked.
"""

from __future__ import annotations

from textual import work
from textual.worker import get_current_worker

from hrm_core.rundir.sanitize import safe_text
from hrm_core.solve.errors import SolveError
from hrm_tui.crash import record_worker_error
from hrm_tui.messages import OpenReplay, ReplayLoaded
from hrm_tui.replay_loading import ModelCache, ReplaySource, load_replay

NOTIFY_S = 10


class ReplayOpener:
    """Mixin for an `App`: handles `OpenReplay`."""

    _replay_models: ModelCache | None = None

    def on_open_replay(self, message: OpenReplay) -> None:
        self.notify("Loading the replay…", timeout=3)  # type: ignore[attr-defined]
        self._load_replay(message.source)

    @work(thread=True, exclusive=True, group="replay", exit_on_error=False)
    def _load_replay(self, source: ReplaySource) -> None:
        if self._replay_models is None:
            self._replay_models = ModelCache()
        try:
            replay = load_replay(source, self._replay_models)
        except SolveError as error:
            self.notify(safe_text(str(error)), severity="error", timeout=NOTIFY_S, markup=False)  # type: ignore[attr-defined]
            return
        except Exception as error:  # noqa: BLE001 - a bug: reported with its traceback in the crash log, the app goes on
            log = record_worker_error("replay", error)
            self.notify(safe_text(f"the replay could not be loaded: {error!r}; traceback in {log}"),  # type: ignore[attr-defined]
                        severity="error", timeout=NOTIFY_S, markup=False)
            return
        if not get_current_worker().is_cancelled:  # a newer request (n pressed twice) replaced this one
            self.post_message(ReplayLoaded(replay))  # type: ignore[attr-defined]

    def on_replay_loaded(self, message: ReplayLoaded) -> None:
        from hrm_tui.screens.puzzle_editor import PuzzleEditorScreen
        from hrm_tui.screens.replay import ReplayScreen

        app = self
        while isinstance(app.screen, PuzzleEditorScreen):  # type: ignore[attr-defined]
            app.pop_screen()  # type: ignore[attr-defined]
        screen = ReplayScreen.of(message.replay)
        if isinstance(app.screen, ReplayScreen):  # type: ignore[attr-defined]
            app.switch_screen(screen)  # type: ignore[attr-defined]
        else:
            app.push_screen(screen)  # type: ignore[attr-defined]
