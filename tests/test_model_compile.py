"""torch.compile of the model on CPU gives the same loss and gradients as eager mode."""

from __future__ import annotations

import pytest
import torch

from hrm_core import build_model
from tests.conftest import TINY_ARCH

# TRM-MLP: the no-grad cycle and the MLP across positions (kept small: compiling unrolls every cycle).
TINY_TRM_MLP = dict(TINY_ARCH, name="trm", mlp_t=True, pos_encodings="none", puzzle_emb_len=2, L_cycles=1)
TINY_TRM_MLP.pop("H_layers")


def tiny_batch(batch_size: int = 4, seq_len: int = 16, vocab: int = 8, puzzles: int = 5):
    g = torch.Generator().manual_seed(0)
    return {
        "inputs": torch.randint(0, vocab, (batch_size, seq_len), generator=g, dtype=torch.int32),
        "labels": torch.randint(0, vocab, (batch_size, seq_len), generator=g, dtype=torch.int32),
        "puzzle_identifiers": torch.randint(1, puzzles, (batch_size,), generator=g, dtype=torch.int32),
    }


@pytest.mark.parametrize("base", [TINY_ARCH, TINY_TRM_MLP], ids=["hrm_v1", "trm_mlp_t"])
def test_compiled_model_matches_eager(base):
    # No exploration: compiled and eager code draw random numbers differently, and the comparison must be exact
    # in what it computes, not in what it samples.
    arch = dict(base, halt_exploration_prob=0.0)
    torch.manual_seed(0)
    eager = build_model(arch, batch_size=4, seq_len=16, vocab_size=8, num_puzzle_identifiers=5, device="cpu").train()
    torch.manual_seed(0)
    compiled_module = build_model(arch, batch_size=4, seq_len=16, vocab_size=8, num_puzzle_identifiers=5, device="cpu").train()
    compiled_module.load_state_dict(eager.state_dict())
    compiled = torch.compile(compiled_module, dynamic=False)

    batch = tiny_batch()
    carry_e, carry_c = eager.initial_carry(batch), compiled_module.initial_carry(batch)
    for step in range(2):
        carry_e, loss_e, metrics_e, _, _ = eager(carry=carry_e, batch=batch)
        carry_c, loss_c, metrics_c, _, _ = compiled(carry=carry_c, batch=batch)
        torch.testing.assert_close(loss_c, loss_e, rtol=2e-4, atol=1e-5)
        assert torch.equal(carry_c.halted, carry_e.halted) and torch.equal(carry_c.steps, carry_e.steps)
        for key in metrics_e:
            torch.testing.assert_close(metrics_c[key].to(torch.float64), metrics_e[key].to(torch.float64), rtol=2e-4, atol=1e-5)
        if step == 0:
            loss_e.backward()
            loss_c.backward()
            grads_e = dict(eager.named_parameters())
            for name, p in compiled_module.named_parameters():
                torch.testing.assert_close(p.grad, grads_e[name].grad, rtol=2e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")
