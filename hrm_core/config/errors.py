"""ConfigError: a user mistake in the configuration, printed as a clean message, never as a traceback."""

from __future__ import annotations


# What hints point to: commands an installed user has (a wheel ships no docs/ folder).
KEYS_REFERENCE = "`python -m hrm_core.config` lists every key with its help"
DATASET_BUILDERS = ("`python -m hrm_core.data.build_sudoku_dataset --help` (and build_arc_dataset, build_maze_dataset) "
                    "builds one; docs/datasets.md, in a source checkout, lists them all")


class ConfigError(ValueError):
    """A user mistake in the configuration: printed as a clean message, never as a traceback.

    `key` is the dotted config key at fault (or None), `message` says what is wrong, `hint` how to fix it.
    `build_command` (a shell line) and `build_argv` (a list) are set for a missing dataset: the command that
    builds it; `dataset_path` names the missing dataset folder.
    """

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None, build_command: str | None = None,
                 build_argv: list[str] | None = None, dataset_path: str | None = None):
        self.key = key
        self.message = message
        self.hint = hint
        self.build_command = build_command  # for people: one shell line
        self.build_argv = build_argv  # for programs (the TUI): the same command as an argv list
        self.dataset_path = dataset_path  # the missing dataset folder (data_path, or one of data_paths)
        super().__init__(self.render())

    def render(self) -> str:
        text = f"config error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text
