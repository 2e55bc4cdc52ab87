"""The trainer's startup runs without the cyclic garbage collector, and training runs with it
(hrm_core/training/startup_gc.py)."""

from __future__ import annotations

import gc
import subprocess
import sys

from hrm_core.training.startup_gc import resume_collector

# A trainer process in miniature: pause first thing, make the objects that live to the end, resume.
TRAINER_LIKE = """
import gc
from hrm_core.training.startup_gc import pause_collector, resume_collector
pause_collector()
assert not gc.isenabled()
import json, email.parser  # stands in for torch: modules that live as long as the process
frozen_before = gc.get_freeze_count()
resume_collector()
assert gc.isenabled(), "training would run without the collector"
assert gc.get_freeze_count() > frozen_before, "the startup's objects were not frozen"
"""


def test_the_collector_is_paused_during_startup_and_runs_again_for_the_training():
    result = subprocess.run([sys.executable, "-c", TRAINER_LIKE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_trainer_built_by_another_program_leaves_its_collector_alone():
    """resume without pause (a test building a Trainer in its own process) freezes and enables nothing."""
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        resume_collector()
        assert not gc.isenabled() and gc.get_freeze_count() == frozen
    finally:
        gc.enable()
