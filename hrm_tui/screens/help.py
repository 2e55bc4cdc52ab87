"""The help screen: what each screen is for and every key binding, read from the screens' own BINDINGS so
it cannot drift from what the keys do."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# One paragraph per line: the dialog wraps them to its width.
INTRO = (
    "hrm-tui starts Hierarchical Reasoning Model training runs and follows them.\n\n"
    "Launch form (F2): choose a preset, edit any key of the Hydra config, and launch. Each field is checked "
    "as you type and by the trainer itself before launch; a ● marks an edited field. The panel shows the exact "
    "command, the minimal override list and the same overrides on one line. Runs start detached: closing the "
    "app or losing the SSH connection does not stop them.\n\n"
    'Runs (F3): every run under the runs root, newest first. A run is "stalled" when its process is alive but '
    'has made no progress for longer than its stall_after_s (a frozen rank, a hung collective), and "lost" '
    "when its process is gone and it never logged its end (killed, out of memory, machine down). r resumes a "
    "run after showing the exact command. / filters the list; > and < choose the column it is sorted by, I "
    "reverses it.\n\n"
    "Monitor (enter on a run): curves, progress, GPU and host use, ACT halting, sample predictions and logs "
    "of one run, live. The number keys focus a panel; the focused panel's own keys are listed below and in "
    "the footer.\n\n"
    "Comparing runs: mark them with space in the runs list (w marks every run of a sweep; or name them all: "
    "hrm-tui attach A B), then enter "
    "overlays their curves, a colour per run, and d lists the config keys in which they differ.\n\n"
    "Replay (p on a run, enter on a monitor sample, hrm-tui solve): a checkpoint solving one puzzle, one ACT "
    "step at a time: changed cells highlighted, wrong ones marked, confidence as shading, q_halt and q_continue "
    "per step. n and p go through the test split; e opens the puzzle editor, where a Sudoku or Maze is typed "
    "in with arrows and keys, or a puzzle file (an ARC task JSON) is loaded.\n\n"
    "Keys as in htop, nvitop, k9s and lazygit: q closes the screen on top, or quits where nothing is below "
    "(the runs list, the form, an attached monitor); in a text field it types. ? or F1 opens this help; "
    "j k g G move in lists and here."
)


def _binding_rows(bindings: list[Binding | tuple[str, ...]], key_display: Callable[[Binding], str]) -> list[tuple[str, str]]:
    """(keys as the footer writes them, e.g. `[` rather than `left_square_bracket`; what they do)."""
    rows = []
    for binding in bindings:
        if isinstance(binding, tuple):
            binding = Binding(*binding)
        description = binding.description or binding.action.replace("_", " ")
        keys = ", ".join(key_display(Binding(key.strip(), "")) for key in binding.key.split(","))
        rows.append((keys, description))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,f1,q,question_mark", "dismiss", "Close"),
        Binding("j,down", "scroll('down')", "Scroll down", show=False),
        Binding("k,up", "scroll('up')", "Scroll up", show=False),
        Binding("g,home", "scroll('home')", "Top", show=False),
        Binding("G,end", "scroll('end')", "Bottom", show=False),
        Binding("space,pagedown", "scroll('page_down')", "Page down", show=False),
        Binding("pageup", "scroll('page_up')", "Page up", show=False),
    ]

    def __init__(self, app_bindings: list[Binding | tuple[str, ...]]) -> None:
        """`app_bindings`: the keys that work everywhere (the app's own), given by the app that opens this help,
        so that this screen does not import the app (the app imports the screens)."""
        super().__init__()
        self.app_bindings = list(app_bindings)

    def compose(self) -> ComposeResult:
        from hrm_tui.screens.launch import LaunchScreen
        from hrm_tui.screens.monitor import MonitorScreen
        from hrm_tui.screens.config_diff import ConfigDiffScreen
        from hrm_tui.screens.puzzle_editor import CellGrid, PuzzleEditorScreen
        from hrm_tui.screens.replay import ReplayScreen
        from hrm_tui.screens.runs import RunsScreen
        from hrm_tui.widgets.runs_table import VIM_MOTION_BINDINGS
        from hrm_tui.widgets.monitor.curves import CurvesPanel
        from hrm_tui.widgets.monitor.logs import LogsPanel
        from hrm_tui.widgets.monitor.samples import SamplesPanel

        sections = [
            ("Everywhere", self.app_bindings),
            ("Launch form", LaunchScreen.BINDINGS),
            ("Runs", [*RunsScreen.BINDINGS, *VIM_MOTION_BINDINGS]),
            ("Monitor", [*MonitorScreen.BINDINGS, Binding("escape", "minimize", "Restore a maximised panel")]),
            ("Monitor, curves panel (1)", CurvesPanel.BINDINGS),
            ("Monitor, samples panel (5)", SamplesPanel.BINDINGS),
            ("Monitor, logs panel (6)", LogsPanel.BINDINGS),
            ("Config diff (d)", [*ConfigDiffScreen.BINDINGS, *VIM_MOTION_BINDINGS]),
            ("Replay (p on a run, enter on a sample)", ReplayScreen.BINDINGS),
            ("Puzzle editor (e in a replay)", [*PuzzleEditorScreen.BINDINGS, *CellGrid.BINDINGS]),
            ("This help", HelpScreen.BINDINGS),
        ]
        with Vertical(classes="dialog wide-dialog"):
            yield Static("Help", classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(Text(INTRO))
                for title, bindings in sections:
                    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2), min_width=len(title))
                    table.add_column("Key", style="bold", no_wrap=True)
                    table.add_column("Action")
                    for keys, description in _binding_rows(list(bindings), self.app.get_key_display):
                        table.add_row(keys, description)
                    yield Static(table, classes="help-table")
            yield Static("j k g G scroll · q or escape closes this help", classes="dialog-hint")

    def action_scroll(self, where: str) -> None:
        scroll = self.query_one("#help-scroll", VerticalScroll)
        {"down": scroll.scroll_down, "up": scroll.scroll_up, "home": scroll.scroll_home, "end": scroll.scroll_end,
         "page_down": scroll.scroll_page_down, "page_up": scroll.scroll_page_up}[where](animate=False)
