"""The readable line rank 0 prints every `log_interval` steps (and after each evaluation).

On a terminal the step line rewrites itself in place like a progress bar; when stdout is a file or a pipe
(a detached run, a cluster job) every line is a plain line of its own, and in a file it starts with its time
(hrm_core.rundir.line_times), so that a reader can merge stdout.log and stderr.log in time order.

Every line goes through `safe_text` (hrm_core.rundir.sanitize): messages quote run names, paths, set names
and error texts that came from files or the user, and none of them may act on the terminal.
"""

from __future__ import annotations

import sys
from typing import TextIO

from hrm_core.formatting import ETA_ESTIMATING, format_duration
from hrm_core.rundir.line_times import stamp_line, writes_to_a_file
from hrm_core.rundir.metrics import METRICS, STEP_LINE_METRICS
from hrm_core.rundir.sanitize import safe_text


def format_step_line(*, step: int, total_steps: int, epoch: float, metrics: dict[str, float], lr: float,
                     examples_per_s: float, eta_s: float | None) -> str:
    """`step 50/200 (25%) | epoch 1.50 | loss 0.5000 | q_halt - | acc 0.900 | ...`; "-" for a metric the window
    had no value for (no sequence halted)."""
    percent = 100.0 * step / max(total_steps, 1)
    parts = [f"step {step}/{total_steps} ({percent:.0f}%)", f"epoch {epoch:.2f}"]
    parts += [f"{METRICS[name].label} {METRICS[name].format_value(metrics.get(name))}" for name in STEP_LINE_METRICS]
    lr_spec, rate = METRICS["lr"], METRICS["examples_per_s"]
    parts += [f"{lr_spec.label} {lr_spec.format_value(lr)}", f"{rate.format_value(examples_per_s)} {rate.label}",
              f"ETA {ETA_ESTIMATING if eta_s is None else format_duration(eta_s)}"]
    return " | ".join(parts)


class Console:
    def __init__(self, enabled: bool, stream: TextIO | None = None):
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.interactive = enabled and self.stream.isatty()
        self.timed = enabled and not self.interactive and _is_a_file(self.stream)
        self._open_line = False  # a progress line is on screen without its newline

    def progress(self, line: str) -> None:
        if not self.enabled:
            return
        line = safe_text(line)
        if self.interactive:
            self.stream.write("\r\x1b[2K" + line)  # the one escape written: back to column 0, clear the line
            self._open_line = True
        else:
            self.stream.write(self._timed(line) + "\n")
        self.stream.flush()

    def message(self, line: str) -> None:
        if not self.enabled:
            return
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        self.stream.write(self._timed(safe_text(line)) + "\n")
        self.stream.flush()

    def _timed(self, line: str) -> str:
        return stamp_line(line) if self.timed else line


def _is_a_file(stream: TextIO) -> bool:
    try:
        return writes_to_a_file(stream.fileno())
    except (OSError, ValueError, AttributeError):  # a stream without a descriptor (io.StringIO)
        return False
