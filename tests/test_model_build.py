"""build_model: registry names, validation messages, device and dtype choice, attention backend choice."""

from __future__ import annotations

import pytest
import torch

from hrm_core import build_model
from hrm_core.models.attention import resolve_attention
from tests.conftest import TINY_ARCH

DIMS = dict(batch_size=4, seq_len=16, vocab_size=8, num_puzzle_identifiers=5)


def batch():
    g = torch.Generator().manual_seed(0)
    return {
        "inputs": torch.randint(0, 8, (4, 16), generator=g, dtype=torch.int32),
        "labels": torch.randint(0, 8, (4, 16), generator=g, dtype=torch.int32),
        "puzzle_identifiers": torch.tensor([1, 2, 3, 1], dtype=torch.int32),
    }


def test_unknown_model_name_lists_known_names():
    with pytest.raises(ValueError) as err:
        build_model(dict(TINY_ARCH, name="hrm.hrm_act_v2@Nope"), device="cpu", **DIMS)
    assert "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1" in str(err.value)


def test_unknown_loss_name_and_type_are_named():
    with pytest.raises(ValueError, match="losses@ACTLossHead"):
        build_model(dict(TINY_ARCH, loss=dict(name="losses@Nope", loss_type="stablemax_cross_entropy")), device="cpu", **DIMS)
    with pytest.raises(ValueError, match="softmax_cross_entropy"):
        build_model(dict(TINY_ARCH, loss=dict(name="losses@ACTLossHead", loss_type="hinge")), device="cpu", **DIMS)


def test_misspelt_hyperparameter_suggests_the_right_key():
    arch = dict(TINY_ARCH)
    arch["hiden_size"] = arch.pop("hidden_size")
    with pytest.raises(ValueError, match=r"arch\.hiden_size.*arch\.hidden_size"):
        build_model(arch, device="cpu", **DIMS)


def test_forward_dtype_defaults_to_float32_on_cpu_and_explicit_value_wins():
    module = build_model(TINY_ARCH, device="cpu", **DIMS)
    assert module.model.inner.forward_dtype == torch.float32
    module = build_model(dict(TINY_ARCH, forward_dtype="bfloat16"), device="cpu", **DIMS)
    assert module.model.inner.forward_dtype == torch.bfloat16
    carry, loss, *_ = module(carry=module.initial_carry(batch()), batch=batch())
    assert carry.inner_carry.z_H.dtype == torch.bfloat16 and torch.isfinite(loss)


def test_attention_backend_falls_back_to_sdpa_and_forcing_missing_flash_is_a_clear_error():
    module = build_model(TINY_ARCH, device="cpu", **DIMS)
    backends = {layer.self_attn.backend for layer in module.model.inner.H_level.layers}
    name, _ = resolve_attention("auto")
    assert backends == {name}
    # On a machine without flash-attn, auto is sdpa and asking for flash names the package to install.
    if name == "sdpa":
        with pytest.raises(ValueError, match="flash-attn"):
            build_model(dict(TINY_ARCH, attn_backend="flash2"), device="cpu", **DIMS)
    with pytest.raises(ValueError, match="attn_backend"):
        build_model(dict(TINY_ARCH, attn_backend="xformers"), device="cpu", **DIMS)


@pytest.mark.parametrize("loss_type", ["stablemax_cross_entropy", "softmax_cross_entropy"])
@pytest.mark.parametrize("pos_encodings", ["rope", "learned"])
def test_variants_train(loss_type, pos_encodings):
    arch = dict(TINY_ARCH, pos_encodings=pos_encodings, loss=dict(name="losses@ACTLossHead", loss_type=loss_type))
    torch.manual_seed(0)
    module = build_model(arch, device="cpu", **DIMS).train()
    b = batch()
    _, loss, metrics, _, _ = module(carry=module.initial_carry(b), batch=b)
    loss.backward()
    assert torch.isfinite(loss)
    assert module.model.inner.lm_head.weight.grad.abs().sum() > 0
    assert module.model.puzzle_emb.local_weights.grad.abs().sum() > 0
    assert set(metrics) == {"count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps",
                            "lm_loss", "q_halt_loss", "q_continue_loss"}


def test_puzzle_embedding_keeps_collecting_gradients_after_moving():
    module = build_model(TINY_ARCH, device="cpu", **DIMS).to(torch.float32).train()
    local = module.model.puzzle_emb.local_weights
    assert local.is_leaf and local.requires_grad
    b = batch()
    _, loss, *_ = module(carry=module.initial_carry(b), batch=b)
    loss.backward()
    assert module.model.puzzle_emb.local_weights.grad is not None


def test_no_puzzle_embedding_when_ndim_is_zero():
    module = build_model(dict(TINY_ARCH, puzzle_emb_ndim=0), device="cpu", **DIMS)
    assert not any("puzzle_emb" in k for k in module.state_dict())
    assert module.model.puzzle_emb is None
    b = batch()
    _, _, _, outputs, _ = module(carry=module.initial_carry(b), batch=b, return_keys=["logits"])
    assert outputs["logits"].shape == (4, 16, 8)
