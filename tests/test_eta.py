"""The ETA says "estimating" until the step rate has settled (hrm_core/training/eta.py), and the step line and
the monitor's progress panel show it so."""

from __future__ import annotations

import json

import pytest

from hrm_core.formatting import ETA_ESTIMATING
from hrm_core.rundir.events import encode_event
from hrm_core.training.console import format_step_line
from hrm_core.training.eta import (
    AFTER_EVAL_STEPS,
    RATE_WINDOW_STEPS,
    SETTLE_SECONDS,
    SETTLE_STEPS,
    WARMUP_STEPS,
    EtaEstimator,
)
from hrm_tui.bench.synthetic_run import SyntheticRun, write_run
from hrm_tui.widgets.monitor.progress import ProgressPanel

from .tui_monitor_helpers import MonitorHost, as_text, fast_settings, pilot_test, wait_for


def test_slow_first_steps_never_reach_the_estimate():
    """The demo's case: a first step of a minute (compile, cold caches), then 0.05 s steps."""
    eta = EtaEstimator()
    eta.step_done(60.0)
    for _ in range(11):
        eta.step_done(0.05)
    assert eta.eta_s(1863) is None  # at step 12: still estimating, where the plain mean said 1h 30m
    for _ in range(WARMUP_STEPS + 200):
        eta.step_done(0.05)
    assert eta.settled
    assert eta.eta_s(1000) == pytest.approx(50.0)  # the 60 s step is not in the rate


def test_settled_needs_enough_steps_and_enough_time():
    fast = EtaEstimator()
    for _ in range(WARMUP_STEPS + SETTLE_STEPS * 10):
        fast.step_done(0.001)  # many steps, but far less than SETTLE_SECONDS of training
    assert fast.eta_s(10) is None

    slow = EtaEstimator()
    for _ in range(WARMUP_STEPS + SETTLE_STEPS - 1):
        slow.step_done(SETTLE_SECONDS)  # plenty of time, one step short
    assert slow.eta_s(10) is None
    slow.step_done(SETTLE_SECONDS)
    assert slow.eta_s(10) == pytest.approx(10 * SETTLE_SECONDS)
    assert slow.eta_s(-3) == 0.0


def test_the_rate_follows_the_recent_steps():
    """A shared machine gets busy: the estimate follows the newest RATE_WINDOW_STEPS steps, not the mean."""
    eta = EtaEstimator()
    for _ in range(WARMUP_STEPS + 1000):
        eta.step_done(0.1)
    assert eta.eta_s(100) == pytest.approx(10.0)
    for _ in range(RATE_WINDOW_STEPS):
        eta.step_done(0.5)  # five times slower from now on
    assert eta.eta_s(100) == pytest.approx(50.0)


def test_the_steps_right_after_an_evaluation_are_left_out():
    eta = EtaEstimator()
    for _ in range(WARMUP_STEPS + SETTLE_STEPS):
        eta.step_done(1.0)
    eta.evaluation_done()
    for _ in range(AFTER_EVAL_STEPS):
        eta.step_done(30.0)  # slow: caches went cold during the evaluation
    assert eta.settled  # an evaluation does not send the estimate back to "estimating"
    assert eta.eta_s(100) == pytest.approx(100.0)
    eta.step_done(3.0)  # the next one counts
    assert eta.timed_steps == SETTLE_STEPS + 1


def test_the_step_line_says_estimating():
    line = format_step_line(step=12, total_steps=1875, epoch=0.4, metrics={}, lr=1e-4, examples_per_s=300.0, eta_s=None)
    assert line.endswith(f"ETA {ETA_ESTIMATING}")
    assert format_step_line(step=12, total_steps=1875, epoch=0.4, metrics={}, lr=1e-4, examples_per_s=300.0, eta_s=125).endswith("ETA 2m 05s")


@pilot_test
async def test_the_monitor_says_estimating_until_the_trainer_gives_a_figure(tmp_path):
    run = SyntheticRun(total_steps=1000, eval_interval=100, end_status=None)
    write_run(tmp_path, run, last_step=12)
    events_file = tmp_path / "events.jsonl"
    lines = [json.loads(line) for line in events_file.read_text().splitlines()]
    for event in lines:
        if event["type"] == "train":
            event["eta_s"] = None  # what the trainer writes while its step rate settles
    events_file.write_text("".join(json.dumps(event) + "\n" for event in lines))
    app = MonitorHost(tmp_path, settings=fast_settings(clock=lambda: run.time_at(12) + 1))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.monitor
        panel = screen.query_one(ProgressPanel)
        await wait_for(pilot, lambda: screen.run.model.latest_train_step == 12 and screen.status == "running", what="step 12")
        await pilot.pause(0.2)
        assert f"ETA {ETA_ESTIMATING}" in as_text(panel.render(), width=panel.content_size.width)

        # Once a train event carries a figure, the panel shows it.
        later = run.train(20)
        later.eta_s = 125.0
        with open(events_file, "ab") as f:
            f.write(encode_event(later))
        await wait_for(pilot, lambda: screen.run.model.latest_train_step == 20, what="step 20")
        await pilot.pause(0.2)
        assert "ETA 2m 05s" in as_text(panel.render(), width=panel.content_size.width)
