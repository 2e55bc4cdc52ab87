"""The trainer's startup runs without the cyclic garbage collector, and training runs with it
(hrm_core/training/startup_gc.py)."""

from __future__ import annotations

import gc
import subprocess
import sys

from hrm_core.evaluate import EXIT_USAGE_ERROR
from hrm_core.evaluate import main as evaluate_main
from hrm_core.training.startup_gc import startup_done

# A trainer process in miniature: its main paused, the objects that live to the end made, startup done.
TRAINER_LIKE = """
import gc
from hrm_core.training.startup_gc import collector_paused_for_startup, startup_done
with collector_paused_for_startup():
    assert not gc.isenabled()
    import json, email.parser  # stands in for torch: modules that live as long as the process
    frozen_before = gc.get_freeze_count()
    startup_done()
    assert gc.isenabled(), "training would run without the collector"
    assert gc.get_freeze_count() > frozen_before, "the startup's objects were not frozen"
assert gc.isenabled()
"""


def test_the_collector_is_paused_during_startup_and_runs_again_for_the_training():
    result = subprocess.run([sys.executable, "-c", TRAINER_LIKE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_main_that_ends_before_its_startup_leaves_the_collector_on(tmp_path):
    """A refused command run in this process (as tests and users' scripts call `main`) pauses nothing for good."""
    frozen = gc.get_freeze_count()
    assert evaluate_main([f"checkpoint={tmp_path / 'nowhere'}"]) == EXIT_USAGE_ERROR
    assert gc.isenabled() and gc.get_freeze_count() <= frozen  # nothing frozen (frozen objects may die)


def test_a_trainer_built_by_another_program_leaves_its_collector_alone():
    """startup_done outside a paused main (a test building a Trainer in its own process) changes nothing."""
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        startup_done()
        assert not gc.isenabled() and gc.get_freeze_count() <= frozen
    finally:
        gc.enable()
