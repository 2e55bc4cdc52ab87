"""The model, loss head and optimizers against outputs recorded from the original implementation.

See tests/fixtures/README.md. Tolerances are float32-tight; the original ran on CPU in float32 with
PyTorch SDPA in place of FlashAttention, which is what runs here.
"""

from __future__ import annotations

import pytest
import torch

from hrm_core import load_state_dict_compat
from hrm_core.optim import AdamATan2, SparseSignSGD
from hrm_core.bench.reference import build_reference_model

RTOL, ATOL = 2e-4, 1e-5
TRAIN_OUTPUTS = ["logits", "q_halt_logits", "q_continue_logits", "target_q_continue"]


def close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    torch.testing.assert_close(actual.to(expected.dtype), expected, rtol=RTOL, atol=ATOL, msg=lambda m: f"{what}: {m}")


@pytest.fixture(scope="module")
def reference(reference_fixture_path):
    return torch.load(reference_fixture_path, weights_only=True)


def test_state_dict_keys_are_the_originals(reference):
    module = build_reference_model(reference)
    assert set(module.state_dict()) == set(reference["state_dict"])


def test_compiled_checkpoint_keys_load(reference):
    prefixed = {"_orig_mod." + k: v for k, v in reference["state_dict"].items()}
    module = build_reference_model(reference)
    load_state_dict_compat(module, prefixed)
    for key, value in reference["state_dict"].items():
        assert torch.equal(module.state_dict()[key], value), key


def test_train_rollout_matches_every_act_step(reference):
    module = build_reference_model(reference).train()
    batch = reference["batch"]
    carry = module.initial_carry(batch)
    for i, expected in enumerate(reference["train_steps"]):
        carry, loss, metrics, outputs, all_halted = module(carry=carry, batch=batch, return_keys=TRAIN_OUTPUTS)
        close(loss.detach(), expected["loss"], f"step {i} loss")
        assert metrics.keys() == expected["metrics"].keys()
        for key, value in expected["metrics"].items():
            close(metrics[key].detach().to(torch.float64), value.to(torch.float64), f"step {i} metric {key}")
        for key in TRAIN_OUTPUTS:
            close(outputs[key], expected["outputs"][key], f"step {i} output {key}")
        assert torch.equal(carry.halted, expected["halted"]), f"step {i} halted"
        assert torch.equal(carry.steps, expected["steps"]), f"step {i} steps"
        assert bool(all_halted) == bool(expected["all_halted"]), f"step {i} all_halted"
    # The recorded rollout must exercise mixed halting, or it would not test the reset path.
    assert any(0 < int(s["halted"].sum()) < len(s["halted"]) for s in reference["train_steps"])


def test_eval_rollout_runs_halt_max_steps(reference):
    module = build_reference_model(reference).eval()
    batch = reference["batch"]
    with torch.no_grad():
        carry = module.initial_carry(batch)
        for i, expected in enumerate(reference["eval_steps"]):
            carry, loss, metrics, outputs, all_halted = module(
                carry=carry, batch=batch, return_keys=["logits", "q_halt_logits"]
            )
            close(loss, expected["loss"], f"eval step {i} loss")
            for key, value in expected["metrics"].items():
                close(metrics[key].to(torch.float64), value.to(torch.float64), f"eval step {i} metric {key}")
            for key in ("logits", "q_halt_logits"):
                close(outputs[key], expected["outputs"][key], f"eval step {i} output {key}")
    assert bool(all_halted) and len(reference["eval_steps"]) == reference["arch"]["halt_max_steps"]


def first_step_backward(reference) -> torch.nn.Module:
    module = build_reference_model(reference).train()
    batch = reference["batch"]
    _, loss, _, _, _ = module(carry=module.initial_carry(batch), batch=batch)
    loss.backward()
    return module


def test_first_step_gradients(reference):
    module = first_step_backward(reference)
    grads = {name: p.grad for name, p in module.named_parameters()}
    grads["model.inner.puzzle_emb.local_weights"] = module.model.puzzle_emb.local_weights.grad
    assert grads.keys() == reference["first_step_grads"].keys()
    for name, expected in reference["first_step_grads"].items():
        close(grads[name], expected, f"grad {name}")


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
