"""System readings on this machine: the no-GPU path, host figures and the run's process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from hrm_tui.system.sysmon import LiveSystemSampler, format_bytes


def nvml_available() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
        return count > 0
    except Exception:
        return False


def test_gpu_figures_or_one_line_saying_why_not():
    sampler = LiveSystemSampler()
    try:
        snapshot = sampler.sample(None)
    finally:
        sampler.close()
    if nvml_available():
        assert snapshot.gpu_message is None and snapshot.gpus
        assert all(g.memory_total is None or g.memory_total > 0 for g in snapshot.gpus)
    else:  # the CPU-only path: no exception, one line, no GPU rows
        assert snapshot.gpus == []
        assert "\n" not in snapshot.gpu_message
        assert "GPU" in snapshot.gpu_message
    assert 0 <= snapshot.host.cpu_pct <= 100
    assert 0 < snapshot.host.memory_used < snapshot.host.memory_total
    assert snapshot.host.run_processes is None  # no run pid given


def test_run_process_tree_cpu_and_rss():
    # A real child process burning CPU stands in for a trainer and its workers. On a loaded machine (parallel
    # test workers) one interval may give it little CPU: read again until it shows, for as long as it spins.
    child = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 60\nwhile time.time() < end: pass"])
    sampler = LiveSystemSampler()
    try:
        first = sampler.sample(os.getpid()).host  # the first reading primes the CPU deltas
        deadline = time.monotonic() + 30
        while True:
            time.sleep(0.5)
            host = sampler.sample(os.getpid()).host
            if host.run_cpu_pct > 30 or time.monotonic() > deadline:
                break
    finally:
        sampler.close()
        child.kill()
        child.wait()
    assert host.run_processes >= 2  # this process and its child
    assert host.run_rss > 10 * 1024 * 1024
    assert host.run_cpu_pct > 30  # the child spins one core
    # Issue 19.12: a process's first reading is no measurement (psutil says 0): no figure rather than 0%.
    assert first.run_processes >= 2 and first.run_cpu_pct is None


def test_gone_process_has_no_run_figures():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    sampler = LiveSystemSampler()
    try:
        host = sampler.sample(child.pid).host
    finally:
        sampler.close()
    assert host.run_processes is None and host.run_rss is None


def test_format_bytes():
    assert [format_bytes(v) for v in (None, 512, 2048, 300 * 1024**2, 80 * 1024**3)] == ["n/a", "512B", "2K", "300M", "80.0G"]
