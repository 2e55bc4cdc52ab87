"""A trainer's startup without Python's cyclic garbage collector.

Starting a run imports torch, and the first optimizer imports torch._dynamo: together about half a million
objects that live as long as the process. With the collector on, every full collection during those
imports scans all that were made so far again, which was a third of a tiny run's startup CPU (about 1.1 s
of 3.8 s on a 2-core machine, torch 2.13). So `python -m hrm_core.pretrain` pauses the collector from its
first line until the trainer is set up; then everything made so far is frozen (left out of later
collections: it lives to the end anyway) and the collector runs again, over what the training makes.
Nothing else changes: reference counting frees memory as before, and no result depends on the collector.
"""

from __future__ import annotations

import gc

_paused = False


def pause_collector() -> None:
    """Called first thing by a trainer process (hrm_core.pretrain.main)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_collector() -> None:
    """Called once the trainer is set up (model, optimizers, data); does nothing where nothing was paused
    (a trainer built in another program, such as a test)."""
    global _paused
    if _paused:
        gc.freeze()
        gc.enable()
        _paused = False
