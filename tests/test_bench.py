"""The step benchmark runs as a command and its FLOP count follows the formula worked out by hand."""

from __future__ import annotations

import json
import subprocess
import sys

from hrm_core.bench.step import SIZES, train_step_flops


def test_flop_count_of_a_small_config_by_hand():
    arch = dict(hidden_size=64, expansion=4, puzzle_emb_ndim=64, H_layers=1, L_layers=2, H_cycles=2, L_cycles=3)
    # D=64, T = 1 puzzle position + 10 tokens = 11, SwiGLU inter = round(4*64*2/3)=171 -> 256.
    # Block weights: qkv 3*64*64 + o 64*64 + gate_up 64*512 + down 256*64 = 12288+4096+32768+16384 = 65536.
    # Block FLOPs per token: 2*65536 + 4*11*64 = 131072 + 2816 = 133888.
    # L pass = 2 blocks = 267776, H pass = 1 block = 133888, heads = 2*64*V(=5) = 640.
    # Forward = 2*3*267776 + 2*133888 + 640 = 1606656 + 267776 + 640 = 1875072.
    # Backward = 2*(267776 + 133888 + 640) = 804608. Per token: 2*forward + backward = 4554752.
    assert train_step_flops(arch, batch_size=3, seq_len=10, vocab_size=5) == 3 * 11 * 4554752


def test_step_benchmark_command_reports_consistent_figures():
    out = subprocess.run(
        [sys.executable, "-m", "hrm_core.bench", "step", "--size", "tiny", "--device", "cpu",
         "--batch-size", "4", "--warmup", "1", "--steps", "2", "--json"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    result = json.loads(out.stdout)
    size = SIZES["tiny"]
    assert result["device"].startswith("cpu") and result["compile"] is False and result["attention"] == "sdpa"
    assert result["batch_size"] == 4 and result["seq_len"] == size.seq_len
    assert result["ms_per_step"] > 0
    tokens_per_step = 4 * size.seq_len
    assert abs(result["tokens_per_s"] * result["ms_per_step"] / 1000 - tokens_per_step) < 1e-6 * tokens_per_step
    assert "mfu" not in result  # no known peak on CPU


def test_events_benchmark_command_reads_back_every_line_it_wrote():
    out = subprocess.run([sys.executable, "-m", "hrm_core.bench", "events", "--lines", "300", "--json"],
                         capture_output=True, text=True, check=True, timeout=300)
    result = json.loads(out.stdout)
    assert result["lines"] == 303  # 300 train lines and a heartbeat every 100 (read_events checked them all)
    for key in ("parse_us", "decode_us", "generic_us", "read_us", "safe_text_plain_us", "safe_text_escapes_us"):
        assert result[key] > 0, key
