"""The step benchmark runs as a command and its FLOP count follows the formula worked out by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from hrm_core import build_model
from hrm_core.bench.step import SIZES, train_step_flops

REPO_FIXTURES = Path(__file__).resolve().parent / "fixtures"
COMMON = dict(hidden_size=64, expansion=4, num_heads=4, puzzle_emb_ndim=64, pos_encodings="rope", halt_max_steps=4,
              halt_exploration_prob=0.1)


def test_flop_count_of_a_small_hrm_by_hand():
    arch = dict(COMMON, H_layers=1, L_layers=2, H_cycles=2, L_cycles=3)
    # D=64, T = 1 puzzle position + 10 tokens = 11, SwiGLU inter = round(4*64*2/3)=171 -> 256.
    # Block weights: qkv 3*64*64 + o 64*64 + gate_up 64*512 + down 256*64 = 12288+4096+32768+16384 = 65536.
    # Block FLOPs per token: 2*65536 + 4*11*64 = 131072 + 2816 = 133888; per sequence x11 = 1472768.
    # One core forward: 2*3 L-passes of 2 blocks + 2 H-passes of 1 block = 14 blocks = 20618752, plus the heads
    # 2*11*64*V(=5) + 2*64*2 = 7040 + 256 = 7296: 20626048. A training step runs it twice (the Q-target pass).
    # Backward = 2*(last L pass + last H pass = 3 blocks + heads) = 2*(4418304 + 7296) = 8851200.
    # Per sequence: 2*20626048 + 8851200 = 50103296.
    assert train_step_flops(arch, batch_size=3, seq_len=10, vocab_size=5) == 3 * 50103296


def test_flop_count_of_a_small_trm_by_hand():
    arch = dict(COMMON, name="trm", puzzle_emb_len=2, L_layers=2, H_cycles=3, L_cycles=2)
    # T = 2 puzzle positions + 10 = 12. Per sequence, a block: SwiGLU 2*12*(64*512 + 256*64) = 1179648,
    # attention projections 2*12*(64*192 + 64*64) = 393216, QK^T and AV 4*12*12*64 = 36864: 1609728.
    # A cycle is L_cycles + 1 = 3 passes of the 2-block network = 6 blocks; 3 cycles = 18 blocks, the first 12
    # without gradient: forward 18*1609728 + heads (2*12*64*5 + 2*64*2 = 7936) = 28983040. No Q-target pass
    # (no_ACT_continue). Backward = 2*(6 blocks + heads) = 2*(9658368 + 7936) = 19332608.
    assert train_step_flops(arch, batch_size=3, seq_len=10, vocab_size=5) == 3 * (28983040 + 19332608)
    # mlp_t: the MLP across the 12 positions (inter round(4*12*2/3)=32 -> 256) runs on each of the 64 channels:
    # 2*64*(12*512 + 256*12) = 1179648 in place of attention's 430080, so a block is 2359296.
    # Forward 18*2359296 + 7936 = 42475264; backward 2*(6*2359296 + 7936) = 28327424.
    mlp = dict(arch, mlp_t=True, pos_encodings="none")
    assert train_step_flops(mlp, batch_size=3, seq_len=10, vocab_size=5) == 3 * (42475264 + 28327424)
    # no_ACT_continue=false adds the no-grad Q-target forward.
    q = dict(arch, no_ACT_continue=False)
    assert train_step_flops(q, batch_size=3, seq_len=10, vocab_size=5) == 3 * (2 * 28983040 + 19332608)


SMALL = dict(hidden_size=32, expansion=2, num_heads=4, puzzle_emb_ndim=40, halt_max_steps=4, halt_exploration_prob=0.1,
             pos_encodings="rope")


@pytest.mark.parametrize("arch", [
    dict(SMALL, name="hrm_act_v1", H_layers=1, L_layers=2, H_cycles=2, L_cycles=3),
    dict(SMALL, name="trm", L_layers=2, H_cycles=3, L_cycles=2, puzzle_emb_len=3),
    dict(SMALL, name="trm", L_layers=2, H_cycles=3, L_cycles=2, puzzle_emb_len=0, no_ACT_continue=False),
    dict(SMALL, name="trm", L_layers=2, H_cycles=2, L_cycles=2, mlp_t=True, pos_encodings="none"),
    dict(SMALL, name="trm_singlez", L_layers=1, H_cycles=2, L_cycles=3),
    dict(SMALL, name="trm_hier6", L_layers=1, H_cycles=2, L_cycles=5),
    dict(SMALL, name="transformers_baseline", H_layers=2, num_heads=3),
    dict(SMALL, name="hrm", H_layers=1, L_layers=1, H_cycles=2, L_cycles=2, mlp_t=True),
], ids=["hrm_v1", "trm", "trm_q_continue", "trm_mlp", "trm_singlez", "trm_hier6", "baseline", "hrm_mlp_t"])
def test_flop_count_equals_torchs_flop_counter_on_a_real_step(arch):
    """Every forward pass of the step (no-grad cycles and Q-target pass included) and the backward, as counted by
    torch.utils.flop_counter on the real model. Attention runs as SDPA's math path, which the counter sees as
    matmuls (it does not count the fused CPU kernel)."""
    B, S, V = 3, 10, 5
    module = build_model(arch, batch_size=B, seq_len=S, vocab_size=V, num_puzzle_identifiers=4, device="cpu").train()
    g = torch.Generator().manual_seed(0)
    batch = {"inputs": torch.randint(0, V, (B, S), generator=g, dtype=torch.int32),
             "labels": torch.randint(0, V, (B, S), generator=g, dtype=torch.int32),
             "puzzle_identifiers": torch.ones(B, dtype=torch.int32)}
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        _, loss, _, _, _ = module(carry=module.initial_carry(batch), batch=batch)
        loss.backward()
    assert counter.get_total_flops() == train_step_flops(arch, batch_size=B, seq_len=S, vocab_size=V)


@pytest.mark.parametrize("size_name, arch_name", [("tiny", "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"),
                                                  ("trm_tiny", "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1")])
def test_step_benchmark_command_reports_consistent_figures(size_name, arch_name):
    out = subprocess.run(
        [sys.executable, "-m", "hrm_core.bench", "step", "--size", size_name, "--device", "cpu",
         "--batch-size", "4", "--warmup", "1", "--steps", "2", "--json"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    result = json.loads(out.stdout)
    size = SIZES[size_name]
    assert result["device"].startswith("cpu") and result["compile"] is False and result["attention"] == "sdpa"
    assert result["arch"] == arch_name and result["batch_size"] == 4 and result["seq_len"] == size.seq_len
    assert result["ms_per_step"] > 0
    tokens_per_step = 4 * size.seq_len
    assert abs(result["tokens_per_s"] * result["ms_per_step"] / 1000 - tokens_per_step) < 1e-6 * tokens_per_step
    flops = train_step_flops(size.arch, batch_size=4, seq_len=size.seq_len, vocab_size=size.vocab_size)
    assert result["model_tflops_per_step"] == pytest.approx(flops / 1e12)
    assert "mfu" not in result  # no known peak on CPU


def test_trm_recipes_compose_from_the_config_tree():
    """The TRM sizes are TRM's README command lines on arch=trm: the same keys as a pretrain run."""
    mlp = SIZES["trm_sudoku_mlp"].arch
    assert mlp["name"] == "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"
    assert (mlp["mlp_t"], mlp["pos_encodings"], mlp["L_layers"], mlp["H_cycles"], mlp["L_cycles"]) == (True, "none", 2, 3, 6)
    assert (mlp["hidden_size"], mlp["puzzle_emb_len"], mlp["no_ACT_continue"]) == (512, 16, True)
    arc = SIZES["trm_arc"]
    assert (arc.arch["L_cycles"], arc.batch_size, arc.seq_len) == (4, 192, 900)


def test_check_defaults_to_the_repositorys_fixture_and_names_the_flag_when_it_is_missing(tmp_path):
    from hrm_core.bench.reference import default_fixture_path, fixture_paths

    assert default_fixture_path() == REPO_FIXTURES / "hrm_reference_tiny.pt"
    assert fixture_paths(REPO_FIXTURES) == sorted(REPO_FIXTURES.glob("*.pt")) and len(fixture_paths(REPO_FIXTURES)) == 9
    result = subprocess.run([sys.executable, "-m", "hrm_core.bench", "check", "--device", "cpu", "--fixture",
                             str(tmp_path / "nowhere.pt")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"fixture {tmp_path / 'nowhere.pt'} does not exist" in result.stderr


def test_an_installed_package_without_tests_says_to_pass_fixture(monkeypatch, tmp_path):
    import hrm_core.bench.reference as reference

    monkeypatch.setattr(reference, "repo_fixtures_dir", lambda: tmp_path / "site-packages" / "tests" / "fixtures")
    with pytest.raises(FileNotFoundError, match="Pass --fixture PATH"):
        reference.fixture_paths(None)
def test_events_benchmark_command_reads_back_every_line_it_wrote():
    out = subprocess.run([sys.executable, "-m", "hrm_core.bench", "events", "--lines", "300", "--json"],
                         capture_output=True, text=True, check=True, timeout=300)
    result = json.loads(out.stdout)
    assert result["lines"] == 303  # 300 train lines and a heartbeat every 100 (read_events checked them all)
    for key in ("parse_us", "decode_us", "generic_us", "read_us", "safe_text_plain_us", "safe_text_escapes_us"):
        assert result[key] > 0, key


def test_the_solve_benchmark_reports_puzzles_per_second():
    result = subprocess.run([sys.executable, "-m", "hrm_core.bench", "solve", "--case", "demo", "--repeats", "1",
                             "--json"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    report = json.loads(line)
    assert report["case"] == "demo" and report["batch_size"] == 1 and report["act_steps"] == 4
    assert report["puzzles_per_second"] == pytest.approx(1 / report["seconds_per_batch"])
    assert report["device"] == "cpu"


def test_the_replay_benchmark_times_each_step_drawn_in_a_terminal():
    # The real replay app on a pseudo-terminal; a 30x30 ARC canvas, 3 steps drawn (the figures are the bench's
    # to report: docs/benchmarks.md; here only that each is measured and consistent).
    result = subprocess.run([sys.executable, "-m", "hrm_tui.bench.replay", "--kind", "arc", "--draws", "3", "--json"],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    report = json.loads(line)
    assert report["kind"] == "arc" and report["draws"] == 3 and report["size"] == "160x48"
    for name in ("redraw", "drawn", "cpu"):
        assert 0 < report[f"{name}_median_ms"] <= report[f"{name}_max_ms"], name
    assert report["redraw_median_ms"] <= report["drawn_max_ms"]
