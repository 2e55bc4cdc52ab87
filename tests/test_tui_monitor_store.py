"""The monitor's bounded histories and the event loader's stages, without the UI."""

from __future__ import annotations

import json

import numpy as np

from hrm_core.rundir.events import Samples, Train
from hrm_core.rundir.status import RunStatus
from hrm_core.rundir.writer import EventWriter
from hrm_tui.monitoring.event_loader import EventLoader, read_samples_event
from hrm_tui.monitoring.halting_history import HaltingHistory
from hrm_tui.monitoring.metrics_store import BucketedHistory, MetricHistory
from hrm_tui.monitoring.run_model import RunModel
from hrm_tui.bench.synthetic_run import SyntheticRun, write_run


def test_buckets_stay_bounded_and_exact_in_summary():
    buckets = BucketedHistory(capacity=8)
    steps = np.arange(1000)
    buckets.add(steps, steps.astype(float))
    assert buckets.width == 128  # 8 buckets x 128 steps cover 0..999
    assert buckets.count.sum() == 1000 and buckets.count.size == 8
    curve = buckets.points(0, 999)
    assert curve.lo[0] == 0 and curve.hi[0] == 127 and curve.mean[0] == 63.5
    assert curve.hi[-1] == 999


def test_out_of_order_points_and_nonfinite_values():
    history = MetricHistory(buckets=16, recent_steps=8)
    history.add(np.array([50, 10, 30]), np.array([5.0, 1.0, float("nan")]))
    assert history.latest_step == 50 and history.latest_value == 5.0
    assert history.extremes.min_value == 1.0 and history.extremes.min_step == 10
    assert history.nonfinite_seen == 1
    curve = history.points(0, 50)
    assert list(curve.x) == [9.5, 49.5]  # buckets of 4 steps: 8-11 and 48-51
    assert list(curve.nonfinite_x) == [29.5]  # the NaN at step 30 is marked, not drawn
    recent = history.points(45, 50)  # inside the recent window: full resolution
    assert list(recent.x) == [50.0]


def test_merge_matches_adding_everything_to_one_history():
    a, b, both = BucketedHistory(8), BucketedHistory(8), BucketedHistory(8)
    a.add(np.arange(0, 100), np.arange(0, 100.0))
    b.add(np.arange(100, 900), np.arange(100, 900.0))
    both.add(np.arange(0, 900), np.arange(0, 900.0))
    a.merge(b)
    assert a.width == both.width
    assert (a.count == both.count).all() and (a.vmin == both.vmin).all() and (a.vsum == both.vsum).all()


def test_halting_history_heatmap_columns():
    halting = HaltingHistory(capacity=4)
    for step in range(0, 100, 10):
        halting.add(step, [1, 2, 3] if step < 50 else [3, 2, 1])
    assert halting.latest_counts == [3, 2, 1]
    columns = halting.columns(0, 99, 2)
    assert columns.sum() == 60
    assert columns[0, 0] < columns[0, 2] and columns[1, 0] > columns[1, 2]
    assert halting.mean_steps() == (1 * 3 + 2 * 2 + 3 * 1) / 6


def test_large_log_overview_then_exact(tmp_path):
    run = SyntheticRun(kind="sudoku", total_steps=20_000, eval_interval=2000, halting_interval=100)
    write_run(tmp_path, run)
    model = RunModel(tmp_path)
    # Thresholds scaled down so this ~8 MB log takes the large-file path.
    loader = EventLoader(tmp_path, model, exact_below_bytes=100_000, overview_samples=256, tail_bytes=200_000,
                         scan_window_bytes=256 * 1024)
    stages = []
    loader.open(on_stage=stages.append)
    assert stages == ["sampled", "overview"] and model.loaded == "overview"
    assert model.latest_train_step == 20_000
    assert [step for step, _ in model.eval_trend_points["all"]] == list(range(2000, 20_001, 2000))  # every eval, exactly
    assert [r.step for r in model.sample_refs] == list(range(2000, 20_001, 2000))
    assert model.lifecycle.ended.status is RunStatus.FINISHED
    sampled = model.history("train", "", "lm_loss").buckets.count.sum()
    assert sampled < 20_000

    while not loader.refine(max_bytes=1_000_000):
        pass
    assert model.loaded == "exact"
    history = model.history("train", "", "lm_loss")
    assert history.buckets.count.sum() == 20_000  # every train step, once
    assert history.extremes.min_value == min(e["metrics"]["lm_loss"] for e in _train_events(tmp_path))

    event = read_samples_event(tmp_path, model.sample_refs[0])
    assert isinstance(event, Samples) and event.step == 2000
    assert model.skipped == {}  # every line of the log is a valid event


def test_small_log_is_read_whole_and_followed(tmp_path):
    run = SyntheticRun(total_steps=100, end_status=None)
    model = RunModel(tmp_path)
    loader = EventLoader(tmp_path, model)
    loader.open()
    assert model.latest_step == -1  # no file yet
    with EventWriter(tmp_path) as writer:
        for event in run.events(last_step=50):
            writer.write(event)
        assert loader.follow()
        assert model.latest_train_step == 50
        writer.write(Train(step=51, metrics={"lm_loss": float("nan")}))
    assert loader.follow()
    assert model.latest_train_step == 51
    assert any("lm_loss = nan" in n for n in model.nonfinite)


def test_a_snapshot_is_immutable_and_copies_only_what_changed(tmp_path):
    """The UI thread draws from RunModel.snapshot(): nothing in it moves while the loader keeps applying
    events, and a curve that did not change is the same read-only copy in the next snapshot."""
    run = SyntheticRun(total_steps=200, eval_interval=100, halting_interval=50, end_status=None)
    model = RunModel(tmp_path)
    loader = EventLoader(tmp_path, model)
    with EventWriter(tmp_path) as writer:
        for event in run.events(last_step=150):
            writer.write(event)
        loader.open()
        first = model.snapshot()
        assert model.snapshot() is first  # nothing changed: the same snapshot, not another copy
        assert first.latest_train_step == 150 and first.loaded == model.loaded
        loss = first.history("train", "", "lm_loss")
        points = loss.points(0, 150)
        eval_curves = {key: h for key, h in first.curves.items() if key[0] == "eval"}
        assert eval_curves and not first.halting_train.empty and first.sample_refs
        assert not loss.buckets.count.flags.writeable and not first.halting_train.counts.flags.writeable
        for event in run.events(first_step=151, last_step=180, with_start=False):  # no eval before step 200
            writer.write(event)
        assert loader.follow()
    second = model.snapshot()
    assert second.version > first.version and second.latest_train_step == 180
    # The first snapshot still shows step 150, point for point.
    assert first.latest_train_step == 150 and loss.latest_step == 150
    assert np.array_equal(loss.points(0, 150).mean, points.mean) and loss.points(151, 180).x.size == 0
    assert second.history("train", "", "lm_loss").latest_step == 180
    # Unchanged curves are shared, not copied again.
    assert all(second.curves[key] is history for key, history in eval_curves.items())
    assert second.halting_train is first.halting_train  # no histogram between steps 151 and 180
    model.reset()  # the log was replaced: the next snapshot is of an empty model
    assert model.snapshot().latest_step == -1 and not model.snapshot().curves


def _train_events(run_dir):
    with open(run_dir / "events.jsonl") as f:
        for line in f:
            event = json.loads(line)
            if event["type"] == "train":
                yield event
