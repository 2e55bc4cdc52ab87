"""Alert rules, one condition at a time, on plain inputs."""

from __future__ import annotations

from collections import Counter

from hrm_core.rundir.metrics import Better
from hrm_tui.monitoring.alerts import ERROR, WARNING, AlertInputs, AlertSettings, EvalTrend, evaluate_alerts


def keys(inputs: AlertInputs, settings: AlertSettings = AlertSettings()) -> list[str]:
    return [a.key for a in evaluate_alerts(inputs, settings)]


def test_a_healthy_running_run_raises_nothing():
    trend = EvalTrend("all", best=0.5, best_step=900, latest=0.5, latest_step=900, evals_since_best=0)
    assert keys(AlertInputs(status="running", seconds_since_event=10, eval_trends=[trend], train_accuracy=0.8)) == []


def test_nonfinite_loss():
    [alert] = evaluate_alerts(AlertInputs(status="running", nonfinite=["train lm_loss = nan at step 120", "eval q_halt_loss = inf"]))
    assert alert.key == "nonfinite" and alert.severity == ERROR
    assert "lm_loss = nan at step 120" in alert.title
    assert alert.detail == ("eval q_halt_loss = inf",)


def test_failed_run_shows_the_end_of_its_traceback():
    error = "Traceback (most recent call last):\n" + "".join(f'  File "x.py", line {i}\n' for i in range(20)) + "RuntimeError: CUDA out of memory\n"
    [alert] = evaluate_alerts(AlertInputs(status="failed", error=error), AlertSettings(traceback_lines=3))
    assert alert.title == "Run failed: RuntimeError: CUDA out of memory"
    assert alert.detail == ('  File "x.py", line 18', '  File "x.py", line 19', "RuntimeError: CUDA out of memory")


def test_heartbeat_stopped_and_lost():
    settings = AlertSettings(stale_after_s=120)
    assert keys(AlertInputs(status="running", seconds_since_event=119), settings) == []
    [alert] = evaluate_alerts(AlertInputs(status="running", seconds_since_event=300), settings)
    assert (alert.key, alert.severity) == ("heartbeat_stopped", WARNING)
    assert "5m 00s" in alert.title
    assert keys(AlertInputs(status="lost", seconds_since_event=10), settings) == ["lost"]
    assert keys(AlertInputs(status="finished", seconds_since_event=10_000), settings) == []  # ended runs do not beat


def test_eval_exact_accuracy_drop():
    small_dip = EvalTrend("all", best=0.60, best_step=1000, latest=0.58, latest_step=1100, evals_since_best=1)
    sharp_drop = EvalTrend("all", best=0.60, best_step=1000, latest=0.30, latest_step=1100, evals_since_best=1)
    assert keys(AlertInputs(eval_trends=[small_dip])) == []
    [alert] = evaluate_alerts(AlertInputs(eval_trends=[sharp_drop]))
    assert alert.key == "eval_drop:all"
    assert "0.300" in alert.title and "0.600" in alert.title


def test_train_accuracy_near_one_while_eval_stalls():
    stalled = EvalTrend("all", best=0.40, best_step=1000, latest=0.39, latest_step=4000, evals_since_best=3)
    improving = EvalTrend("all", best=0.40, best_step=4000, latest=0.40, latest_step=4000, evals_since_best=0)
    assert keys(AlertInputs(eval_trends=[stalled], train_accuracy=0.995)) == ["overfit"]
    assert keys(AlertInputs(eval_trends=[improving], train_accuracy=0.995)) == []
    assert keys(AlertInputs(eval_trends=[stalled], train_accuracy=0.90)) == []


def test_errors_come_first():
    inputs = AlertInputs(status="failed", error="boom", nonfinite=["x"],
                         eval_trends=[EvalTrend("all", 0.6, 1, 0.1, 2, 1)])
    assert [a.severity for a in evaluate_alerts(inputs)] == [ERROR, ERROR, WARNING]




def test_a_stalled_run_says_since_when_and_in_which_phase():
    detail = "no progress for 6m 02s (since 10:00:03 in eval at step 1200; stall_after_s=180)"
    [alert] = evaluate_alerts(AlertInputs(status="stalled", status_detail=detail, seconds_since_event=5))
    assert (alert.key, alert.severity) == ("stalled", WARNING)
    assert alert.title == f"Run stalled: {detail}"


def test_skipped_lines_are_counted_with_their_reasons():
    skipped = Counter({"train.metrics: expected an object of numbers": 2, "not valid JSON": 1})
    [alert] = evaluate_alerts(AlertInputs(status="running", skipped=skipped))
    assert (alert.key, alert.severity) == ("skipped", WARNING)
    assert alert.title == "3 lines of events.jsonl skipped (not valid events)"
    assert alert.detail[:2] == ("2 × train.metrics: expected an object of numbers", "1 × not valid JSON")
    [capped] = evaluate_alerts(AlertInputs(not_shown=Counter({"eval sets beyond the first 32": 5})))
    assert "5 values of events.jsonl not shown" in capped.title and "eval sets beyond the first 32" in capped.detail[0]


def test_best_follows_the_metric_direction():
    # For a metric where lower is better, a rise from the best is the regression.
    rise = EvalTrend("all", best=0.10, best_step=1000, latest=0.40, latest_step=1100, evals_since_best=1, better=Better.LOWER)
    fall = EvalTrend("all", best=0.10, best_step=1000, latest=0.05, latest_step=1100, evals_since_best=0, better=Better.LOWER)
    [alert] = evaluate_alerts(AlertInputs(eval_trends=[rise]))
    assert "rose to 0.400 from its best 0.100" in alert.title
    assert keys(AlertInputs(eval_trends=[fall])) == []
