"""TRM where the reference cannot be the judge: `no_ACT_continue=False` (the reference crashes on it) and
`softmax_cross_entropy` (its loss head breaks it), on the model and through the real trainer; and the
architectures' config checks."""

from __future__ import annotations

import math

import pytest
import torch

from hrm_core import build_model
from hrm_core.models.losses import IGNORE_LABEL_ID
from tests.training_helpers import pretrain_argv, run_trainer, train_metrics_by_step, write_tiny_dataset

DIMS = dict(batch_size=6, seq_len=12, vocab_size=7, num_puzzle_identifiers=5)
TRM = dict(
    name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
    loss=dict(name="losses@ACTLossHead", loss_type="stablemax_cross_entropy"),
    halt_exploration_prob=0.0, halt_max_steps=4, H_cycles=2, L_cycles=2, L_layers=1,
    hidden_size=16, num_heads=2, expansion=2, puzzle_emb_ndim=16, pos_encodings="rope", puzzle_emb_len=2,
)


def batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(1, 7, (6, 12), generator=g, dtype=torch.int32)
    labels[0, :4] = IGNORE_LABEL_ID
    return {"inputs": torch.randint(1, 7, (6, 12), generator=g, dtype=torch.int32), "labels": labels,
            "puzzle_identifiers": torch.tensor([1, 2, 3, 4, 1, 2], dtype=torch.int32)}


def scrambled_q_head(module: torch.nn.Module, b: dict[str, torch.Tensor], margin) -> None:
    """Q values that differ per sequence (the zero-initialised head gives every sequence the same ones), with
    the q_halt bias set so that about half the batch halts at the first step: `margin(q_halt, q_continue)` is
    what the halting rule compares with 0."""
    inner = module.model.inner
    with torch.no_grad():
        inner.q_head.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
        inner.q_head.bias.zero_()
        _, _, (q_halt, q_continue) = inner(inner.reset_carry(torch.ones(6, dtype=torch.bool), inner.empty_carry(6, "cpu")), b)
        inner.q_head.bias[0] = -margin(q_halt, q_continue).median() - 1e-3


def test_no_act_continue_false_uses_hrms_halting_rule_and_q_continue_target():
    torch.manual_seed(0)
    module = build_model(dict(TRM, no_ACT_continue=False), device="cpu", **DIMS).train()
    b = batch()
    scrambled_q_head(module, b, lambda q_halt, q_continue: q_halt - q_continue)
    carry = module.initial_carry(b)
    mixed = False
    for step in range(5):
        carry, loss, metrics, outputs, _ = module(carry=carry, batch=b, return_keys=["q_halt_logits", "q_continue_logits",
                                                                                      "target_q_continue"])
        assert "q_continue_loss" in metrics and torch.isfinite(loss)
        # HRM's rule: halt when q_halt > q_continue (exploration is off), and always at halt_max_steps.
        expected_halt = (outputs["q_halt_logits"] > outputs["q_continue_logits"]) | (carry.steps >= 4)
        assert torch.equal(carry.halted, expected_halt), f"step {step}"
        # HRM's target: sigmoid of the next state's best Q value, from one more pass of the core, without gradient.
        with torch.no_grad():
            next_halt, next_continue = module.model.inner(carry.inner_carry, carry.current_data)[-1]
        target = torch.sigmoid(torch.where(carry.steps >= 4, next_halt, torch.maximum(next_halt, next_continue)))
        torch.testing.assert_close(outputs["target_q_continue"], target, rtol=0, atol=0)
        mixed |= 0 < int(carry.halted.sum()) < 6
    assert mixed  # halted and running slots side by side exercised the rule and the resets


def test_no_act_continue_true_halts_on_q_halt_alone_and_learns_no_q_continue():
    torch.manual_seed(0)
    module = build_model(TRM, device="cpu", **DIMS).train()
    b = batch()
    scrambled_q_head(module, b, lambda q_halt, q_continue: q_halt)
    carry, _, metrics, outputs, _ = module(carry=module.initial_carry(b), batch=b,
                                           return_keys=["q_halt_logits", "target_q_continue"])
    assert "q_continue_loss" not in metrics and "target_q_continue" not in outputs
    assert torch.equal(carry.halted, outputs["q_halt_logits"] > 0)
    assert 0 < int(carry.halted.sum()) < 6


@pytest.mark.parametrize("name", [
    "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
    "recursive_reasoning.trm_singlez@TinyRecursiveReasoningModel_ACTV1",
    "recursive_reasoning.trm_hier6@TinyRecursiveReasoningModel_ACTV1",
    "recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1",
    "recursive_reasoning.transformers_baseline@Model_ACTV2",
    "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
])
def test_softmax_cross_entropy_trains_every_architecture(name):
    arch = dict(TRM, name=name, loss=dict(name="losses@ACTLossHead", loss_type="softmax_cross_entropy"))
    if "hrm" in name:
        arch = {k: v for k, v in arch.items() if k != "puzzle_emb_len"} | dict(H_layers=1)
    if "baseline" in name:
        arch = {k: v for k, v in arch.items() if k not in ("L_cycles", "L_layers", "puzzle_emb_len")} | dict(H_layers=1)
    torch.manual_seed(0)
    module = build_model(arch, device="cpu", **DIMS).train()
    b = batch()
    _, loss, metrics, outputs, _ = module(carry=module.initial_carry(b), batch=b, return_keys=["logits"])
    # The loss head's lm_loss is the mean softmax cross-entropy of each sequence's labelled tokens, summed.
    logits, labels = outputs["logits"].double(), b["labels"].long()
    per_seq = [torch.nn.functional.cross_entropy(logits[i][labels[i] != IGNORE_LABEL_ID],
                                                 labels[i][labels[i] != IGNORE_LABEL_ID]) for i in range(6)]
    assert metrics["lm_loss"].item() == pytest.approx(sum(per_seq).item(), rel=1e-5)
    loss.backward()
    assert torch.isfinite(loss) and module.model.inner.lm_head.weight.grad.abs().sum() > 0


def test_trm_without_a_puzzle_table_keeps_its_puzzle_positions_blank():
    """puzzle_emb_ndim 0 with puzzle_emb_len P > 0 (the reference crashes): P zero positions lead every sequence."""
    module = build_model(dict(TRM, puzzle_emb_ndim=0, puzzle_emb_len=3), device="cpu", **DIMS)
    b = batch()
    embedded = module.model.inner.input_embeddings(b["inputs"], b["puzzle_identifiers"])
    assert embedded.shape == (6, 12 + 3, 16) and not embedded[:, :3].any()
    carry, loss, *_ = module(carry=module.initial_carry(b), batch=b)
    assert carry.inner_carry.z_H.shape == (6, 15, 16) and torch.isfinite(loss)


@pytest.mark.parametrize("change, message", [
    (dict(name="recursive_reasoning.trm_hier6@TinyRecursiveReasoningModel_ACTV1", L_cycles=7), "arch.L_cycles=7"),
    (dict(puzzle_emb_len=1, puzzle_emb_ndim=40), "arch.puzzle_emb_len=1"),
    (dict(puzzle_emb_len=-1), "`arch.puzzle_emb_len` must be at least 0, got -1"),
    (dict(H_cycles=0), "`arch.H_cycles` must be at least 1, got 0"),
    (dict(pos_encodings="alibi"), "`arch.pos_encodings` must be one of rope, learned, none, got 'alibi'"),
    (dict(no_ACT_continue="yes"), "`arch.no_ACT_continue: 'yes'`: expected true or false"),
    (dict(act_inference=True), "arch.act_inference is not a hyperparameter of recursive_reasoning.trm"),
    (dict(hidden_size=18, num_heads=2), "head dim hidden_size // num_heads = 9 must be even"),
    (dict(name="hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", mlp_t=True), "arch.mlp_t is not a hyperparameter"),
])
def test_bad_arch_values_name_the_key(change, message):
    arch = dict(TRM, **change)
    if arch["name"].startswith("hrm."):
        arch = {k: v for k, v in arch.items() if k != "puzzle_emb_len"} | dict(H_layers=1)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_model(arch, device="cpu", **DIMS)


def test_uneven_heads_work_as_in_the_originals():
    """12 heads on 512 channels (the baseline's reference config): head dim 42, heads span 504 channels."""
    arch = dict(name="transformers_baseline", halt_exploration_prob=0.1, halt_max_steps=2, H_layers=1,
                hidden_size=512, num_heads=12, expansion=1, puzzle_emb_ndim=0, pos_encodings="rope")
    module = build_model(arch, device="meta", **DIMS)
    attn = module.model.inner.H_level.layers[0].self_attn
    assert attn.head_dim == 42 and tuple(attn.qkv_proj.weight.shape) == (3 * 504, 512)
    assert tuple(attn.o_proj.weight.shape) == (512, 504)


@pytest.mark.timeout(600)
def test_trm_with_q_continue_and_softmax_trains_through_the_real_trainer(tmp_path):
    """`python -m hrm_core.pretrain arch=trm` with no_ACT_continue=false and softmax: finite, falling losses,
    and the Q-continue loss that this setting trains."""
    data = write_tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    result = run_trainer(pretrain_argv([
        "arch=trm", f"data_path={data}", f"checkpoint_path={run}", "arch.hidden_size=32", "arch.num_heads=2",
        "arch.expansion=2", "arch.L_layers=1", "arch.H_cycles=2", "arch.L_cycles=2", "arch.halt_max_steps=4",
        "arch.puzzle_emb_ndim=32", "arch.puzzle_emb_len=2", "arch.no_ACT_continue=false",
        "arch.loss.loss_type=softmax_cross_entropy", "global_batch_size=8", "epochs=20", "eval_interval=10",
        "lr=1e-3", "lr_warmup_steps=10", "log_interval=1",
    ]), timeout=500)
    assert result.returncode == 0, result.stderr
    metrics = train_metrics_by_step(run)
    steps = sorted(metrics)
    assert len(steps) > 90
    for step in steps:
        assert all(math.isfinite(metrics[step][k]) for k in ("lm_loss", "q_halt_loss", "q_continue_loss")), step
    first = sum(metrics[s]["lm_loss"] for s in steps[:10]) / 10
    last = sum(metrics[s]["lm_loss"] for s in steps[-10:]) / 10
    assert last < 0.5 * first, (first, last)


ARCH_GROUPS = {
    "hrm_v1": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
    "trm": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
    "trm_singlez": "recursive_reasoning.trm_singlez@TinyRecursiveReasoningModel_ACTV1",
    "trm_hier6": "recursive_reasoning.trm_hier6@TinyRecursiveReasoningModel_ACTV1",
    "transformers_baseline": "recursive_reasoning.transformers_baseline@Model_ACTV2",
    "hrm": "recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1",
}


@pytest.mark.parametrize("group", list(ARCH_GROUPS))
def test_every_arch_group_composes_validates_and_builds(group):
    from hrm_core.config import compose, validate

    config = validate(compose([f"arch={group}", "data_path=unused"]))
    assert config.arch.name == ARCH_GROUPS[group]
    # The reference's defaults, as its config/arch/*.yaml has them.
    assert (config.arch.hidden_size, config.arch.puzzle_emb_ndim, config.arch.halt_max_steps) == (512, 512, 16)
    module = build_model(config.arch, device="meta", batch_size=8, seq_len=81, vocab_size=11,
                         num_puzzle_identifiers=10)
    assert module.model.puzzle_emb is not None  # puzzle_emb_ndim follows hidden_size


def test_trm_readme_overrides_reach_the_model():
    from hrm_core.config import compose, validate

    config = validate(compose(["arch=trm", "arch.L_layers=2", "arch.H_cycles=3", "arch.L_cycles=4", "data_path=unused"]))
    arch = config.arch
    assert (arch.L_layers, arch.H_cycles, arch.L_cycles, arch.puzzle_emb_len, arch.no_ACT_continue) == (2, 3, 4, 16, True)
    module = build_model(arch, device="meta", batch_size=8, seq_len=900, vocab_size=12, num_puzzle_identifiers=10)
    assert len(module.model.inner.L_level.layers) == 2 and module.model.inner.puzzle_emb_len == 16


def test_an_unknown_arch_group_lists_the_choices(tmp_path):
    result = run_trainer(pretrain_argv(["arch=trmm", f"data_path={tmp_path}"]), timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "arch/trmm" in result.stderr
    for group in ARCH_GROUPS:
        assert group in result.stderr
