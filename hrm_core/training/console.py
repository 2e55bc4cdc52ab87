"""The readable line rank 0 prints every `log_interval` steps (and after each evaluation).

On a terminal the step line rewrites itself in place like a progress bar; when stdout is a file or a pipe
(a detached run, a cluster job) every line is a plain line of its own.
"""

from __future__ import annotations

import sys
from typing import TextIO


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def format_step_line(*, step: int, total_steps: int, epoch: float, metrics: dict[str, float], lr: float,
                     examples_per_s: float, eta_s: float | None) -> str:
    percent = 100.0 * step / max(total_steps, 1)
    parts = [
        f"step {step}/{total_steps} ({percent:.0f}%)",
        f"epoch {epoch:.2f}",
        f"loss {metrics.get('lm_loss', float('nan')):.4f}",
        f"q_halt {metrics.get('q_halt_loss', float('nan')):.4f}",
        f"acc {metrics.get('accuracy', float('nan')):.3f}",
        f"exact {metrics.get('exact_accuracy', float('nan')):.3f}",
        f"lr {lr:.2e}",
        f"{examples_per_s:.0f} ex/s",
        f"ETA {format_duration(eta_s)}",
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
