"""Every architecture against rollouts recorded from the TinyRecursiveModels reference (tests/fixtures/trm_*.pt).

Built through `hrm_core.build_model` from the fixture's `arch`, loaded with the recorded weights, each model
must reproduce the reference's train-mode rollout (logits, Q values, Q targets where there are any, halting,
step counts, loss and metrics), its eval rollout and its first-step gradients, at float32-tight tolerances
(on the machine that recorded them the match is bit for bit). tests/fixtures/README.md lists the variants.
"""

from __future__ import annotations

import pytest
import torch

from hrm_core import build_model, load_state_dict_compat
from hrm_core.bench.reference import TRAIN_OUTPUT_KEYS, build_reference_model, reference_arch
from hrm_core.models.registry import ALIASES
from tests.conftest import fixture_file

RTOL, ATOL = 2e-4, 1e-5
TRM_FIXTURES = [
    "trm_reference_trm_att.pt",
    "trm_reference_trm_mlp.pt",
    "trm_reference_trm_learned.pt",
    "trm_reference_trm_mlp_rope.pt",
    "trm_reference_trm_singlez.pt",
    "trm_reference_trm_hier6.pt",
    "trm_reference_transformers_baseline.pt",
    "trm_reference_hrm_mlp.pt",
]
EVAL_OUTPUT_KEYS = ["logits", "q_halt_logits", "actual_steps"]


def close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    torch.testing.assert_close(actual.to(expected.dtype), expected, rtol=RTOL, atol=ATOL, msg=lambda m: f"{what}: {m}")


@pytest.fixture(scope="module", params=TRM_FIXTURES)
def reference(request):
    return torch.load(fixture_file(request.param), weights_only=True)


def test_fixtures_cover_every_architecture_and_variant():
    fixtures = [torch.load(fixture_file(name), weights_only=True)["arch"] for name in TRM_FIXTURES]
    names = {arch["name"] for arch in fixtures}
    trm_repo_names = {name for alias, name in ALIASES.items() if name.startswith("recursive_reasoning.")}
    assert names == trm_repo_names
    assert {arch.get("mlp_t", False) for arch in fixtures} == {True, False}
    assert {arch["pos_encodings"] for arch in fixtures} == {"rope", "learned", "none"}
    trm = [arch for arch in fixtures if "puzzle_emb_len" in arch]
    assert {arch["puzzle_emb_len"] > 0 for arch in trm} == {True, False}
    assert any(arch["puzzle_emb_ndim"] == 0 for arch in fixtures) and any(arch["puzzle_emb_ndim"] % arch["hidden_size"] for arch in fixtures)


def test_state_dict_keys_are_the_references(reference):
    module = build_reference_model(reference)
    assert set(module.state_dict()) == set(reference["state_dict"])


def test_seeded_initial_weights_are_the_references(reference):
    """Same seed, same initial weights: the layers are created and initialised in the reference's order."""
    arch, dims = reference_arch(reference)
    torch.manual_seed(reference["init_seed"])
    state = build_model(arch, device="cpu", **dims).state_dict()
    # The recorder replaced the puzzle embeddings and the Q head after init (README); the rest is the init.
    for key, value in reference["state_dict"].items():
        if "puzzle_emb" not in key and "q_head" not in key:
            assert torch.equal(state[key], value), key


def test_compiled_checkpoint_keys_load(reference):
    prefixed = {"_orig_mod." + k: v for k, v in reference["state_dict"].items()}
    module = build_reference_model(reference)
    load_state_dict_compat(module, prefixed)
    for key, value in reference["state_dict"].items():
        assert torch.equal(module.state_dict()[key], value), key


def test_train_rollout_matches_every_act_step(reference):
    module = build_reference_model(reference).train()
    batch = reference["batch"]
    torch.manual_seed(reference.get("rollout_seed", 0))
    carry = module.initial_carry(batch)
    for i, expected in enumerate(reference["train_steps"]):
        carry, loss, metrics, outputs, all_halted = module(carry=carry, batch=batch, return_keys=list(TRAIN_OUTPUT_KEYS))
        close(loss.detach().double(), expected["loss"], f"step {i} loss")
        assert metrics.keys() == expected["metrics"].keys()  # no q_continue_loss where the reference has none
        for key, value in expected["metrics"].items():
            close(metrics[key].detach().double(), value, f"step {i} metric {key}")
        assert outputs.keys() == expected["outputs"].keys()  # no target_q_continue where the reference has none
        for key, value in expected["outputs"].items():
            close(outputs[key], value, f"step {i} output {key}")
        assert torch.equal(carry.halted, expected["halted"]), f"step {i} halted"
        assert torch.equal(carry.steps, expected["steps"]), f"step {i} steps"
        assert bool(all_halted) == expected["all_halted"], f"step {i} all_halted"
    # The recorded rollout mixes halted and running slots, or it would not test the reset path.
    assert any(0 < int(s["halted"].sum()) < len(s["halted"]) for s in reference["train_steps"])


def test_eval_rollout_matches(reference):
    module = build_reference_model(reference).eval()
    batch = reference["batch"]
    with torch.no_grad():
        carry = module.initial_carry(batch)
        for i, expected in enumerate(reference["eval_steps"]):
            carry, loss, metrics, outputs, all_halted = module(carry=carry, batch=batch, return_keys=EVAL_OUTPUT_KEYS)
            close(loss.double(), expected["loss"], f"eval step {i} loss")
            assert metrics.keys() == expected["metrics"].keys()
            for key, value in expected["metrics"].items():
                close(metrics[key].double(), value, f"eval step {i} metric {key}")
            assert outputs.keys() == expected["outputs"].keys()
            for key, value in expected["outputs"].items():
                close(outputs[key], value, f"eval step {i} output {key}")
            assert torch.equal(carry.halted, expected["halted"]) and torch.equal(carry.steps, expected["steps"])
            assert bool(all_halted) == (i == len(reference["eval_steps"]) - 1), f"eval step {i} all_halted"


def test_first_step_gradients(reference):
    module = build_reference_model(reference).train()
    batch = reference["batch"]
    torch.manual_seed(reference.get("rollout_seed", 0))
    _, loss, _, _, _ = module(carry=module.initial_carry(batch), batch=batch)
    loss.backward()
    grads = {name: p.grad for name, p in module.named_parameters() if p.grad is not None}
    if module.model.puzzle_emb is not None:
        grads["model.inner.puzzle_emb.local_weights"] = module.model.puzzle_emb.local_weights.grad
    assert grads.keys() == reference["first_step_grads"].keys()
    for name, expected in reference["first_step_grads"].items():
        close(grads[name], expected, f"grad {name}")
