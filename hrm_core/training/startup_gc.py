"""A trainer's startup without Python's cyclic garbage collector.

Starting a run imports torch, and the first optimizer imports torch._dynamo: together about half a million
objects that live as long as the process. With the collector on, every full collection during those
imports scans all that were made so far again, which was a third of a tiny run's startup CPU (about 1.1 s
of 3.8 s on a 2-core machine, torch 2.13). So `python -m hrm_core.pretrain` runs its `main` with the
collector paused until the trainer is set up (`python -m hrm_core.evaluate`: until the model is loaded);
then everything made so far is frozen (left out of later collections: it lives to the end anyway) and the
collector runs again, over what the training makes. A `main` that ends before that (a refused config, an
error, a caller in the same process) leaves the collector as it found it. Nothing else changes: reference
counting frees memory as before, and no result depends on the collector.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_paused = False  # paused by `collector_paused_for_startup`, not yet resumed


@contextlib.contextmanager
def collector_paused_for_startup() -> Iterator[None]:
    """Around a command's `main` (hrm_core.pretrain, hrm_core.evaluate)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True
    try:
        yield
    finally:
        if _paused:  # main ended before its startup did
            gc.enable()
            _paused = False


def startup_done() -> None:
    """Called once the trainer is set up (model, optimizers, data) or the evaluated model is loaded; does
    nothing outside `collector_paused_for_startup` (a trainer built by another program, such as a test)."""
    global _paused
    if _paused:
        gc.freeze()
        gc.enable()
        _paused = False
