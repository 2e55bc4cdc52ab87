"""The readable line rank 0 prints every `log_interval` steps (and after each evaluation).

On a terminal the step line rewrites itself in place like a progress bar; when stdout is a file or a pipe
(a detached run, a cluster job) every line is a plain line of its own.
"""

from __future__ import annotations

import sys
from typing import TextIO

from hrm_core.formatting import ETA_ESTIMATING, format_duration


def _fmt(value: float | None, spec: str) -> str:
    """A metric for the step line; '-' when the window had no value for it (no sequence halted)."""
    return "-" if value is None else format(value, spec)


def format_step_line(*, step: int, total_steps: int, epoch: float, metrics: dict[str, float], lr: float,
                     examples_per_s: float, eta_s: float | None) -> str:
    percent = 100.0 * step / max(total_steps, 1)
    parts = [
        f"step {step}/{total_steps} ({percent:.0f}%)",
        f"epoch {epoch:.2f}",
        f"loss {_fmt(metrics.get('lm_loss'), '.4f')}",
        f"q_halt {_fmt(metrics.get('q_halt_loss'), '.4f')}",
        f"acc {_fmt(metrics.get('accuracy'), '.3f')}",
        f"exact {_fmt(metrics.get('exact_accuracy'), '.3f')}",
        f"lr {lr:.2e}",
        f"{examples_per_s:.0f} ex/s",
        f"ETA {ETA_ESTIMATING if eta_s is None else format_duration(eta_s)}",
    ]
    return " | ".join(parts)


class Console:
    def __init__(self, enabled: bool, stream: TextIO | None = None):
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.interactive = enabled and self.stream.isatty()
        self._open_line = False  # a progress line is on screen without its newline

    def progress(self, line: str) -> None:
        if not self.enabled:
            return
        if self.interactive:
            self.stream.write("\r\x1b[2K" + line)
            self._open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, line: str) -> None:
        if not self.enabled:
            return
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        self.stream.write(line + "\n")
        self.stream.flush()
