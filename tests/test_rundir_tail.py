"""FileTail: only new bytes, partial last lines held back, truncation and replacement noticed."""

from __future__ import annotations

import os

from hrm_core.rundir.tail import FileTail, offset_of_last_lines


def test_reads_only_complete_new_lines_with_their_offsets(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = FileTail(path)
    assert tail.read_lines().lines == []  # the file does not exist yet

    path.write_bytes(b"one\ntwo\nthr")
    read = tail.read_lines()
    assert read.lines == [b"one", b"two"]
    assert read.offsets == [0, 4]
    assert tail.read_lines().lines == []  # nothing new: "thr" is still unterminated

    with open(path, "ab") as f:
        f.write(b"ee\nfour\n")
    read = tail.read_lines()
    assert read.lines == [b"three", b"four"]
    assert read.offsets == [8, 14]
    assert not read.restarted


def test_truncated_file_starts_over(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"a long first line\nsecond\n")
    tail = FileTail(path)
    assert len(tail.read_lines().lines) == 2

    path.write_bytes(b"new\n")  # truncated and rewritten, shorter than before
    read = tail.read_lines()
    assert read.restarted
    assert read.lines == [b"new"]
    assert read.offsets == [0]


def test_replaced_file_starts_over(tmp_path):
    path = tmp_path / "stdout.log"
    path.write_bytes(b"old 1\nold 2\nold 3\n")
    tail = FileTail(path)
    tail.read_lines()

    replacement = tmp_path / "stdout.log.new"
    replacement.write_bytes(b"rotated 1\nrotated 2\nrotated 3 is longer\n")
    os.replace(replacement, path)  # a new inode under the same name, as log rotation does
    read = tail.read_lines()
    assert read.restarted
    assert read.lines == [b"rotated 1", b"rotated 2", b"rotated 3 is longer"]


def test_large_backlog_is_read_in_slices(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(1000)))
    tail = FileTail(path, max_read_bytes=1000)
    lines = []
    while chunk := tail.read_lines().lines:
        lines += chunk
    assert lines == [b"line %d" % i for i in range(1000)]


def test_offset_of_last_lines_starts_at_a_line(tmp_path):
    path = tmp_path / "stdout.log"
    path.write_bytes(b"".join(b"line %03d\n" % i for i in range(100)))  # 9 bytes a line
    assert offset_of_last_lines(path, 10_000) == 0
    offset = offset_of_last_lines(path, 50)
    tail = FileTail(path, start_offset=offset)
    assert tail.read_lines().lines == [b"line %03d" % i for i in range(95, 100)]
