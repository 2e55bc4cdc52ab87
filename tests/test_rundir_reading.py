"""The reader and the writer of hrm_core.rundir: a log with damaged lines reads and follows past each one,
the writer terminates a partial last line, JSON records keep their good fields, and nothing raises."""

from __future__ import annotations

import json
import os

from hrm_core.rundir import events as ev
from hrm_core.rundir.events import encode_event
from hrm_core.rundir.files import EVENTS_FILE, LAUNCH_FILE
from hrm_core.rundir.reader import EventFollower, read_events, read_head_and_tail, read_record
from hrm_core.rundir.records import LaunchRecord
from hrm_core.rundir.tail import MAX_LINE_BYTES
from hrm_core.rundir.writer import EventWriter
from tests.test_rundir_events import HOSTILE


def train(step: int) -> ev.Train:
    return ev.Train(time=1000.0 + step, step=step, metrics={"lm_loss": 1.0 / step})


def test_read_events_skips_each_hostile_line_and_keeps_every_good_one(tmp_path):
    path = tmp_path / EVENTS_FILE
    with open(path, "wb") as f:
        for step, raw in enumerate(HOSTILE.values(), start=1):
            f.write(encode_event(train(step)))
            f.write(raw + b"\n")
        f.write(encode_event(train(len(HOSTILE) + 1)))
        f.write(b'{"type":"train","time":1,"step":99999,"metr')  # unterminated: a writer is mid-line
    log = read_events(tmp_path)
    assert [e.step for e in log] == list(range(1, len(HOSTILE) + 2))
    assert log.skipped_total == len(HOSTILE)
    assert log.skipped["invalid UTF-8"] == 1 and log.skipped["line too long"] == 1
    assert log.skipped["train.metrics: expected an object of numbers"] >= 1


def test_a_missing_unreadable_or_special_file_reads_as_empty(tmp_path):
    assert len(read_events(tmp_path / "nowhere")) == 0
    (tmp_path / "dir" / EVENTS_FILE).mkdir(parents=True)  # a folder where the log should be
    assert len(read_events(tmp_path / "dir" / EVENTS_FILE)) == 0
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / EVENTS_FILE)  # a plain open() would block forever
    assert len(read_events(fifo)) == 0
    assert read_head_and_tail(fifo).head == []
    assert EventFollower(fifo).poll().events == []


def test_the_follower_returns_the_next_good_event_after_every_bad_line(tmp_path):
    path = tmp_path / EVENTS_FILE
    follower = EventFollower(tmp_path)
    assert follower.poll().events == []  # no file yet
    for step, (case, raw) in enumerate(HOSTILE.items(), start=1):
        with open(path, "ab") as f:
            f.write(raw + b"\n")
            f.write(encode_event(train(step)))
        batch = follower.poll()
        while not batch.events and not batch.skipped:  # a huge line is read in slices
            batch = follower.poll()
        assert [logged.event.step for logged in batch.events] == [step], case
        assert sum(batch.skipped.values()) == 1, case
    assert sum(follower.skipped.values()) == len(HOSTILE)


def test_the_follower_waits_for_a_partial_line_and_drops_an_endless_one(tmp_path):
    path = tmp_path / EVENTS_FILE
    follower = EventFollower(tmp_path)
    whole = encode_event(train(1))
    path.write_bytes(whole[:10])
    assert follower.poll().events == []
    with open(path, "ab") as f:
        f.write(whole[10:])
    logged = follower.poll().events
    assert [item.event.step for item in logged] == [1] and (logged[0].offset, logged[0].length) == (0, len(whole))
    with open(path, "ab") as f:  # a line that never ends, then a good one
        f.write(b"x" * (MAX_LINE_BYTES + 10))
    batch = follower.poll()
    while not batch.skipped and not batch.events:
        batch = follower.poll()
    assert batch.skipped["line too long"] == 1
    with open(path, "ab") as f:
        f.write(b"\n" + encode_event(train(2)))
    steps = []
    for _ in range(3):
        steps += [item.event.step for item in follower.poll().events]
    assert steps == [2]


def test_writer_terminates_a_partial_last_line_before_its_first_event(tmp_path):
    path = tmp_path / EVENTS_FILE
    path.write_bytes(encode_event(train(1)) + b'{"type":"train","time":1,"st')  # a writer died mid-line
    with EventWriter(tmp_path) as writer:
        writer.write(train(2))
    data = path.read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == 3
    log = read_events(tmp_path)
    assert [e.step for e in log] == [1, 2] and log.skipped == {"not valid JSON": 1}
    with EventWriter(tmp_path) as writer:  # a whole last line is left alone
        writer.write(train(3))
    assert path.read_bytes().count(b"\n") == 4


def test_head_and_tail_of_a_long_log_with_a_long_last_line(tmp_path):
    with EventWriter(tmp_path) as writer:
        writer.write(ev.RunStart(time=1.0, total_steps=100_000))
        for step in range(1, 20_000):
            writer.write(train(step))
        big = [ev.Sample(input=[1] * 30_000, label=[1] * 30_000)]  # a samples line longer than the tail window
        writer.write(ev.Samples(time=5.0, step=19_999, samples=big))
    read = read_head_and_tail(tmp_path)
    assert isinstance(read.head[0], ev.RunStart)
    assert read.tail and isinstance(read.tail[-1], ev.Samples) and read.tail[-1].step == 19_999
    assert not read.skipped


def test_a_launch_record_keeps_its_good_fields(tmp_path):
    path = tmp_path / LAUNCH_FILE
    path.write_text(json.dumps({"pid": "abc", "pgid": 12, "cmdline": [[[[1]]]], "overrides": ["lr=1"], "time": 5,
                                "options": {"nproc_per_node": 2}, "extra": "ignored"}))
    read = read_record(path, LaunchRecord)
    assert read.record.pid is None and read.record.pgid == 12 and read.record.overrides == ["lr=1"]
    assert read.record.time == 5.0 and read.record.cmdline is None and read.record.options == {"nproc_per_node": 2}
    assert sorted(read.problems) == ["cmdline: expected a list of strings", "pid: expected an integer"]

    for content, problem in ((b"[" * 100_000, "not valid JSON"), (b"[1]", "not a JSON object"), (b"", "empty"),
                             (b"\xff", "invalid UTF-8"), (b"{" + b" " * (2 * 1024 * 1024) + b"}", "file too large")):
        path.write_bytes(content)
        read = read_record(path, LaunchRecord)
        assert read.record is None and read.problems == [problem], content[:20]
    assert read_record(tmp_path / "absent.json", LaunchRecord).record is None
