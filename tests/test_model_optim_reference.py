"""The optimizers against one step of each recorded from the HRM original (tests/fixtures/hrm_reference_tiny.pt):
AdamATan2 from zero state, and the sparse sign-SGD of the puzzle embeddings, on the first-step gradients."""

from __future__ import annotations

import pytest
import torch

from hrm_core.bench.reference import build_reference_model
from hrm_core.optim import AdamATan2, SparseSignSGD

RTOL, ATOL = 2e-4, 1e-5


def close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    torch.testing.assert_close(actual.to(expected.dtype), expected, rtol=RTOL, atol=ATOL, msg=lambda m: f"{what}: {m}")


@pytest.fixture(scope="module")
def reference(reference_fixture_path):
    return torch.load(reference_fixture_path, weights_only=True)


def first_step_backward(reference) -> torch.nn.Module:
    module = build_reference_model(reference).train()
    batch = reference["batch"]
    _, loss, _, _, _ = module(carry=module.initial_carry(batch), batch=batch)
    loss.backward()
    return module


def test_adam_atan2_step(reference):
    module = first_step_backward(reference)
    spec = reference["adam_atan2"]
    optimizer = AdamATan2(module.parameters(), lr=spec["lr"], betas=spec["betas"], weight_decay=spec["weight_decay"])
    optimizer.step()
    params = dict(module.named_parameters())
    assert params.keys() == spec["params_after_one_step"].keys()
    for name, expected in spec["params_after_one_step"].items():
        close(params[name].detach(), expected, f"param {name} after AdamATan2")


def test_sparse_sign_sgd_step(reference):
    module = first_step_backward(reference)
    spec = reference["sparse_sign_sgd"]
    optimizer = SparseSignSGD(module.model.puzzle_emb.buffers(), world_size=1, lr=spec["lr"],
                              weight_decay=spec["weight_decay"])
    optimizer.step()
    close(module.model.puzzle_emb.weights, spec["weights_after_one_step"], "puzzle embedding table after sign-SGD")
