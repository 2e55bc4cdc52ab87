"""The range reader of hrm_core.rundir on a hostile log: by byte range, head, tail, one event at an offset,
and followed while it is written in pieces cut anywhere. Every way of reading finds the same events at the
same offsets and counts the same skipped lines as reading the whole log."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hrm_core.rundir import events as ev
from hrm_core.rundir.events import Rejected, decode_line, encode_event
from hrm_core.rundir.files import EVENTS_FILE
from hrm_core.rundir.reader import EventFollower, read_event_at, read_events, read_head, read_range, read_tail
from tests.test_rundir_events import HOSTILE

# Every hostile line but the 64 MB one (tests/test_rundir_reading.py reads that one): small enough to be read
# dozens of times.
BAD = {case: raw for case, raw in HOSTILE.items() if case != "a line too long"}


def train(step: int) -> ev.Train:
    return ev.Train(time=1000.0 + step, step=step, metrics={"lm_loss": 1.0 / step})


@pytest.fixture
def hostile_log(tmp_path: Path) -> tuple[Path, list[tuple[int, int]], Counter[str]]:
    """A log of good train events with a hostile line after each, and an unterminated last line.
    Returns the path, (offset, step) of every good event, and the reasons of the bad lines."""
    good, reasons, data = [], Counter(), b""
    for step, raw in enumerate(BAD.values(), start=1):
        good.append((len(data), step))
        data += encode_event(train(step))
        data += raw + b"\n"
        reasons[decode_line(raw).reason] += 1
    good.append((len(data), len(BAD) + 1))
    data += encode_event(train(len(BAD) + 1)) + b'{"type":"train","time":1,"step":99999,"metr'  # a writer mid-line
    path = tmp_path / EVENTS_FILE
    path.write_bytes(data)
    return path, good, reasons


def offsets_and_steps(events) -> list[tuple[int, int]]:
    return [(item.offset, item.event.step) for item in events]


def test_a_whole_range_is_the_whole_log(hostile_log):
    path, good, reasons = hostile_log
    whole = read_range(path)
    assert offsets_and_steps(whole.events) == good
    assert whole.skipped == reasons
    assert whole.end < whole.size  # the unterminated last line is not read
    log = read_events(path)
    assert [e.step for e in log] == [step for _, step in good] and log.skipped == reasons


@pytest.mark.parametrize("max_bytes", [1, 100, 700, 4096])
def test_slices_continued_from_their_end_add_up_to_the_whole(hostile_log, max_bytes):
    path, good, reasons = hostile_log
    found, skipped, position = [], Counter(), 0
    while True:
        part = read_range(path, position, max_bytes=max_bytes)
        if part.end == position:
            break
        found += offsets_and_steps(part.events)
        skipped.update(part.skipped)
        position = part.end
    assert found == good and skipped == reasons


def test_an_aligned_range_starts_at_the_first_line_at_or_after_its_start(hostile_log):
    path, good, reasons = hostile_log
    size = path.stat().st_size
    for start in [*range(0, 2000, 97), *range(2000, size, size // 50)]:
        part = read_range(path, start, align=True)
        assert part.start >= start and (part.start == 0 or path.read_bytes()[part.start - 1:part.start] == b"\n")
        assert offsets_and_steps(part.events) == [(o, s) for o, s in good if o >= start]
    line_start = good[3][0]
    assert read_range(path, line_start, align=True).start == line_start  # a line start is kept, not skipped
    assert read_range(path, size + 10).events == [] and read_range(path, size + 10).end == size + 10


def test_a_range_ends_before_a_line_its_end_cuts(hostile_log):
    path, good, _ = hostile_log
    offset, step = good[5]
    part = read_range(path, 0, offset + 3)
    assert offsets_and_steps(part.events) == good[:5] and part.end <= offset + 3
    assert offsets_and_steps(read_range(path, part.end, good[6][0]).events) == [(offset, step)]


def test_head_and_tail_count_the_bad_lines_they_hold(hostile_log):
    path, good, reasons = hostile_log
    size = path.stat().st_size
    head = read_head(path, 1000)
    assert offsets_and_steps(head.events) == [(o, s) for o, s in good if o < head.end] and head.end <= 1000
    lines_in_head = path.read_bytes()[: head.end].count(b"\n")
    assert len(head.events) + sum(head.skipped.values()) == lines_in_head
    tail = read_tail(path, 1000)
    assert offsets_and_steps(tail.events) == [(o, s) for o, s in good if o >= tail.start] and tail.start >= size - 1000
    assert sum(tail.skipped.values()) >= 1
    everything = read_tail(path, 10 * size)
    assert offsets_and_steps(everything.events) == good and everything.skipped == reasons
    assert read_tail(path, 1000, not_before=size).events == []


def test_the_tail_grows_past_a_long_last_line(tmp_path):
    path = tmp_path / EVENTS_FILE
    long_samples = ev.Samples(time=3.0, step=2, samples=[ev.Sample(input=[1] * 20_000, label=[1] * 20_000)])
    path.write_bytes(encode_event(train(1)) + encode_event(long_samples))
    tail = read_tail(path, 1024)  # grown 4x at a time until it holds the long line whole
    assert isinstance(tail.events[-1].event, ev.Samples) and tail.events[-1].event.step == 2
    assert read_tail(path, 1024, max_grow_bytes=1024).events == []  # not grown: the window is inside one line


def test_one_event_at_an_offset(hostile_log):
    path, good, _ = hostile_log
    offset, step = good[2]
    assert read_event_at(path, offset).step == step
    length = len(encode_event(train(step)))
    assert read_event_at(path, offset, length).step == step
    bad = read_event_at(path, offset + length)  # the hostile line after it
    assert isinstance(bad, Rejected) and bad.reason == decode_line(list(BAD.values())[2]).reason
    assert isinstance(read_event_at(path, offset + 1), Rejected)  # mid-line: not an event
    assert isinstance(read_event_at(path, offset, length - 1), Rejected)  # cut short: no complete line
    assert isinstance(read_event_at(path, path.stat().st_size - 5), Rejected)  # the unterminated last line


def test_following_pieces_cut_anywhere_finds_every_event_once(hostile_log, tmp_path):
    source, good, reasons = hostile_log
    data = source.read_bytes()
    run_dir = tmp_path / "followed"
    run_dir.mkdir()
    path = run_dir / EVENTS_FILE
    follower = EventFollower(run_dir, max_read_bytes=500)  # a backlog is read in slices
    found, skipped = [], Counter()
    cuts = [*range(0, 3000, 333), *range(3000, len(data), len(data) // 40)]  # pieces that end anywhere in a line
    for cut, next_cut in zip(cuts, [*cuts[1:], len(data)]):
        with open(path, "ab") as f:
            f.write(data[cut:next_cut])
        while True:  # until a poll finds nothing new
            before = follower.offset
            batch = follower.poll()
            assert not batch.restarted
            found += offsets_and_steps(batch.events)
            skipped.update(batch.skipped)
            if follower.offset == before:
                break
    assert found == good and skipped == reasons and follower.skipped == reasons

    path.write_bytes(encode_event(train(7)))  # replaced by a shorter log: start over
    batch = follower.poll()
    assert batch.restarted and offsets_and_steps(batch.events) == [(0, 7)] and follower.skipped == {}
