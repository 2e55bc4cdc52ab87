"""Metric normalisation: the original's divisors, and no invented zeros when nothing halted."""

from __future__ import annotations

import pytest

from hrm_core.training.console import format_step_line
from hrm_core.training.metric_sums import normalise


def test_losses_divide_by_batch_and_others_by_count():
    sums = {"count": 4.0, "accuracy": 3.0, "exact_accuracy": 2.0, "steps": 10.0, "lm_loss": 64.0, "q_halt_loss": 8.0}
    out = normalise(sums, loss_divisor=32.0)
    assert out == {"count": 4.0, "accuracy": 0.75, "exact_accuracy": 0.5, "steps": 2.5, "lm_loss": 2.0,
                   "q_halt_loss": 0.25}


def test_a_window_where_nothing_halted_reports_losses_only():
    sums = {"count": 0.0, "accuracy": 0.0, "exact_accuracy": 0.0, "steps": 0.0, "lm_loss": 64.0}
    out = normalise(sums, loss_divisor=32.0)
    assert out == {"count": 0.0, "lm_loss": 2.0}
    line = format_step_line(step=3, total_steps=10, epoch=0.3, metrics=out, lr=1e-4, examples_per_s=5.0, eta_s=7.0)
    assert "acc - " in line and "loss 2.0000" in line


@pytest.mark.parametrize("count", [1.0, 7.0])
def test_count_is_kept_as_the_number_of_sequences(count):
    assert normalise({"count": count, "accuracy": count}, loss_divisor=1.0) == {"count": count, "accuracy": 1.0}


def test_durations_read_naturally_and_unknown_is_a_question_mark():
    from hrm_core.formatting import format_duration

    assert [format_duration(s) for s in (5, 65, 3700, 90_000)] == ["5s", "1m 05s", "1h 01m", "1d 01h"]
    assert [format_duration(s) for s in (None, float("nan"), float("inf"))] == ["?", "?", "?"]
