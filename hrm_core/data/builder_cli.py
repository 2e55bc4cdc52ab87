"""What every dataset builder's command line shares: the error type, its printing, argument types, and
progress display.

A builder raises `DatasetBuildError` for bad input (a malformed file, a grid too large, ...) with a
message that names the file, the puzzle and the fix. `run_builder` prints it as one line and exits with
status 2, without a traceback; the DatasetWriter has already removed its temporary folder by then. A build
of a folder that another process is building stops the same way (`BuildInProgressError`, status 2).
SIGINT, SIGTERM and SIGHUP stop a build cleanly too (interrupts.py): nothing is written, the temporary
folder is removed, and the exit status is 128 + the signal's number, as a shell reports a killed command.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hrm_core.data.interrupts import BuildInterrupted, catch_build_signals, raise_if_interrupted
from hrm_core.data.dataset_writer import BuildInProgressError, BuildLock

EXIT_BAD_INPUT = 2


class DatasetBuildError(Exception):
    """Bad builder input; the message says which file and puzzle, what is wrong and what to do."""


def positive_int(text: str) -> int:
    """argparse type for counts that must be at least 1 (--subsample-size, --test-size)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run_builder(build: Callable[[], None], *, output_dir: str | Path) -> None:
    """Run `build` of `output_dir` under the folder's build lock (one build per folder at a time, from the first
    puzzle generated to the last file written), turning DatasetBuildError, a concurrent build and a stop
    signal (Ctrl-C, SIGTERM, SIGHUP) into a short message and an exit status."""
    try:
        with catch_build_signals(), BuildLock(output_dir):
            build()
    except (DatasetBuildError, BuildInProgressError) as error:
        print(f"error: {error}", file=sys.stderr)
        print("nothing was written.", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt as interrupt:
        signum = interrupt.signum if isinstance(interrupt, BuildInterrupted) else signal.SIGINT
        print(f"interrupted ({signal.Signals(signum).name}); nothing was written.", file=sys.stderr, flush=True)
        raise SystemExit(128 + signum) from None


@contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """Report progress through `advance(n)`: a live bar on a terminal, a line every ~10% otherwise. Each
    advance also checks for a stop signal whose first raise was lost (interrupts.raise_if_interrupted)."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True)) as bar:
            task = bar.add_task(description, total=total)

            def advance_bar(n: int = 1) -> None:
                raise_if_interrupted()
                bar.advance(task, n)

            yield advance_bar
        return

    done = 0
    next_report = 0.0
    start = time.monotonic()

    def advance(n: int = 1) -> None:
        nonlocal done, next_report
        raise_if_interrupted()
        done += n
        if done >= next_report or done == total:
            print(f"{description}: {done}/{total} ({time.monotonic() - start:.1f}s)", file=sys.stderr, flush=True)
            next_report = done + max(1, total // 10)

    yield advance
