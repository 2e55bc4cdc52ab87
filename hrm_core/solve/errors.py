"""The one exception a user's mistake raises in `hrm_core.solve`: printed as one `error:` line, exit code 2."""

from __future__ import annotations


class SolveError(Exception):
    """A bad puzzle, checkpoint or argument. The message names the file or key and the fix."""
