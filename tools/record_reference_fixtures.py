"""Records the reference fixtures of tests/fixtures/ from checkouts of the original implementations.

    python tools/record_reference_fixtures.py --hrm PATH/TO/HRM --trm PATH/TO/TinyRecursiveModels \\
        [--out tests/fixtures] [--only FILE ...] [--list] [--compare DIR]

PATH/TO/HRM is a checkout of github sapientinc/HRM (recorded at 42410da), PATH/TO/TinyRecursiveModels one of
github SamsungSAILMontreal/TinyRecursiveModels (recorded at e7b6871). Their code is imported from there and
run on CPU in float32; nothing of theirs is copied. Besides torch they need pydantic and einops (TRM's models
import pydantic at import time). The HRM original imports flash-attn: this script puts in its place a module
with the same `flash_attn_func` layout ([B, S, H, D]) computed by PyTorch SDPA, the same math.

Each fixture is a dict (tests/fixtures/README.md describes every key): the model's hyperparameters, a state
dict, one batch, a train-mode rollout of halt_max_steps + 1 ACT steps, the first step's gradients and an
eval-mode rollout; the HRM one also one step of each optimizer. How a fixture's inputs are made, so that a
re-recording gives the same tensors:

    torch.manual_seed(seed); build the reference model (its own init)
    puzzle-embedding table <- randn * 0.5, q_head.weight <- randn * 0.3 (so every path carries signal)
    q_head.bias <- [0, 0.5]; one train step; then bias[0] <- -median(margin) - 1e-3, where margin is what the
        halting rule compares with 0 (q_halt - q_continue, or q_halt for TRM's no_ACT_continue): about half
        the batch halts at each step, a 1e-3 margin away from the threshold
    torch.manual_seed(seed + 1); inputs, labels ~ randint(1, vocab); labels[0, :40 or S/2] = -100;
        puzzle ids = randperm(N - 1)[:B] + 1
    before the train rollout torch.manual_seed(rollout_seed) (exploration draws random numbers)

Run it from the repository root; it writes one .pt per variant into --out (default tests/fixtures).
"""

from __future__ import annotations

import argparse
import importlib
import math
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN_OUTPUTS = ("logits", "q_halt_logits", "q_continue_logits", "target_q_continue")
EVAL_OUTPUTS = ("logits", "q_halt_logits", "actual_steps")


@dataclass(frozen=True)
class Variant:
    file: str
    reference: str  # "hrm" (sapientinc/HRM) or "trm" (TinyRecursiveModels)
    module: str  # the reference's module, e.g. models.recursive_reasoning.trm
    cls: str
    seed: int
    arch: dict  # hyperparameters, dataset sizes included
    name: str | None  # arch.name to store (None: none stored, as in the first HRM fixture)
    loss_type: str = "stablemax_cross_entropy"
    rollout_seed: int | None = None  # None: the rollout does not draw (halt_exploration_prob 0)
    optimizer_steps: bool = False
    extra: dict = field(default_factory=dict)  # other keys to store as they are

    @property
    def variant(self) -> str:
        return self.file.removesuffix(".pt").split("_reference_")[-1] if "_reference_" in self.file else self.file


SUDOKU_TINY = dict(batch_size=6, seq_len=81, puzzle_emb_ndim=64, num_puzzle_identifiers=12, vocab_size=11,
                   hidden_size=64, expansion=4, num_heads=4, halt_max_steps=4, halt_exploration_prob=0.0,
                   forward_dtype="float32")
# The small variants: about 100 KB each. hidden 16 with 2 heads; 24 positions.
SMALL = dict(batch_size=6, seq_len=24, puzzle_emb_ndim=16, num_puzzle_identifiers=10, vocab_size=7,
             hidden_size=16, expansion=2, num_heads=2, halt_max_steps=4, halt_exploration_prob=0.5,
             forward_dtype="float32")
TRM_CLS = "TinyRecursiveReasoningModel_ACTV1"

VARIANTS = [
    # The fixtures first recorded into ../shared/fixtures (same seeds, same recipe).
    Variant("hrm_reference_tiny.pt", "hrm", "models.hrm.hrm_act_v1", "HierarchicalReasoningModel_ACTV1", 1234,
            dict(SUDOKU_TINY, H_cycles=2, L_cycles=2, H_layers=2, L_layers=2, pos_encodings="rope"),
            name=None, optimizer_steps=True, extra={"variant": "public"}),
    Variant("trm_reference_trm_att.pt", "trm", "models.recursive_reasoning.trm", TRM_CLS, 11,
            dict(SUDOKU_TINY, H_cycles=2, L_cycles=3, H_layers=0, L_layers=2, pos_encodings="rope", puzzle_emb_len=4),
            name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"),
    Variant("trm_reference_trm_mlp.pt", "trm", "models.recursive_reasoning.trm", TRM_CLS, 12,
            dict(SUDOKU_TINY, H_cycles=2, L_cycles=3, H_layers=0, L_layers=2, pos_encodings="none", mlp_t=True,
                 puzzle_emb_len=0),
            name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"),
    # Small variants covering the rest: every architecture, learned positions, P from puzzle_emb_len and from
    # the ceil rule (with padding), mlp_t with RoPE tables present, softmax loss, heads not dividing the width.
    Variant("trm_reference_trm_learned.pt", "trm", "models.recursive_reasoning.trm", TRM_CLS, 21,
            dict(SMALL, puzzle_emb_ndim=24, H_cycles=3, L_cycles=2, H_layers=0, L_layers=2, pos_encodings="learned",
                 puzzle_emb_len=0),
            name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1", rollout_seed=121),
    Variant("trm_reference_trm_mlp_rope.pt", "trm", "models.recursive_reasoning.trm", TRM_CLS, 22,
            dict(SMALL, H_cycles=2, L_cycles=2, H_layers=0, L_layers=1, pos_encodings="rope", mlp_t=True,
                 puzzle_emb_len=3),
            name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1", rollout_seed=122),
    Variant("trm_reference_trm_singlez.pt", "trm", "models.recursive_reasoning.trm_singlez", TRM_CLS, 23,
            dict(SMALL, H_cycles=2, L_cycles=3, H_layers=0, L_layers=2, pos_encodings="rope", puzzle_emb_len=2),
            name="recursive_reasoning.trm_singlez@TinyRecursiveReasoningModel_ACTV1", rollout_seed=123,
            loss_type="softmax_cross_entropy"),
    Variant("trm_reference_trm_hier6.pt", "trm", "models.recursive_reasoning.trm_hier6", TRM_CLS, 24,
            dict(SMALL, H_cycles=2, L_cycles=4, H_layers=0, L_layers=1, pos_encodings="rope", puzzle_emb_len=0),
            name="recursive_reasoning.trm_hier6@TinyRecursiveReasoningModel_ACTV1", rollout_seed=124),
    Variant("trm_reference_transformers_baseline.pt", "trm", "models.recursive_reasoning.transformers_baseline",
            "Model_ACTV2", 25,
            dict(SMALL, puzzle_emb_ndim=0, num_heads=3, H_cycles=1, H_layers=2, pos_encodings="learned",
                 act_inference=True),
            name="recursive_reasoning.transformers_baseline@Model_ACTV2", rollout_seed=125),
    Variant("trm_reference_hrm_mlp.pt", "trm", "models.recursive_reasoning.hrm", "HierarchicalReasoningModel_ACTV1", 26,
            dict(SMALL, H_cycles=2, L_cycles=2, H_layers=1, L_layers=1, pos_encodings="none", mlp_t=True),
            name="recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1", rollout_seed=126),
]


# ----------------------------------------------------------------------------------------------------------
# Running inside one reference checkout (a worker process: both originals have a top-level `models` package)


def install_flash_attn_shim() -> None:
    """`flash_attn.flash_attn_func` for the HRM original, by SDPA in the same [B, S, H, D] layout."""
    def flash_attn_func(q, k, v, causal=False):
        out = torch.nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                               is_causal=causal)
        return out.transpose(1, 2)

    shim = types.ModuleType("flash_attn")
    shim.flash_attn_func = flash_attn_func
    sys.modules["flash_attn"] = shim
    sys.modules["flash_attn_interface"] = None  # an installed FA3 would take precedence; it cannot run on CPU


def adam_atan2_step(params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], lr: float,
                    betas: tuple[float, float], weight_decay: float) -> dict[str, torch.Tensor]:
    """One step of the adam-atan2 package's update from zero state (its CUDA kernel's formula, in plain torch):
    p *= 1 - lr * wd; m = (1 - b1) g; v = (1 - b2) g^2; p -= lr / (1 - b1) * atan2(m, sqrt(v) / sqrt(1 - b2))."""
    b1, b2 = betas
    out = {}
    for name, p in params.items():
        g = grads[name]
        p = p.detach().clone()
        p.mul_(1 - lr * weight_decay)
        m = torch.zeros_like(p).lerp_(g, 1 - b1)
        v = torch.zeros_like(p).lerp_(g.square(), 1 - b2)
        p.add_(torch.atan2(m, v.sqrt() / math.sqrt(1 - b2)), alpha=-lr / (1 - b1))
        out[name] = p
    return out


def make_batch(v: Variant) -> dict[str, torch.Tensor]:
    a = v.arch
    B, S, V, N = a["batch_size"], a["seq_len"], a["vocab_size"], a["num_puzzle_identifiers"]
    torch.manual_seed(v.seed + 1)
    inputs = torch.randint(1, V, (B, S))
    labels = torch.randint(1, V, (B, S))
    labels[0, :min(40, S // 2)] = -100  # one sequence with ignored positions
    puzzle_identifiers = torch.randperm(N - 1)[:B] + 1
    return {"inputs": inputs.to(torch.int32), "labels": labels.to(torch.int32),
            "puzzle_identifiers": puzzle_identifiers.to(torch.int32)}


def halting_margin(v: Variant, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """What the halting rule compares with 0."""
    if v.reference == "trm" and v.cls == TRM_CLS and v.arch.get("no_ACT_continue", True):
        return outputs["q_halt_logits"]
    return outputs["q_halt_logits"] - outputs["q_continue_logits"]


def build(v: Variant, ref_dir: Path):
    model_module = importlib.import_module(v.module)
    losses = importlib.import_module("models.losses")
    torch.manual_seed(v.seed)
    head = losses.ACTLossHead(getattr(model_module, v.cls)(dict(v.arch)), v.loss_type)
    if v.reference == "trm" and v.loss_type == "softmax_cross_entropy":
        # The TRM reference's softmax path fails twice: its loss head passes valid_mask=, which its
        # softmax_cross_entropy does not take, and that function .view()s the logits, a non-contiguous slice once
        # puzzle positions are dropped. Call the same function without the argument (the mask would be
        # labels != ignore_index, which it computes itself) on a contiguous copy (the same values).
        softmax = losses.softmax_cross_entropy
        head.loss_fn = lambda logits, labels, ignore_index, valid_mask: softmax(logits.contiguous(), labels,
                                                                                ignore_index=ignore_index)
    inner = head.model.inner
    with torch.no_grad():
        if v.arch["puzzle_emb_ndim"] > 0:
            inner.puzzle_emb.weights.copy_(torch.randn_like(inner.puzzle_emb.weights) * 0.5)
        inner.q_head.weight.copy_(torch.randn_like(inner.q_head.weight) * 0.3)
        inner.q_head.bias.copy_(torch.tensor([0.0, 0.5]))
    return head


def record(v: Variant, ref_dir: Path) -> dict:
    head = build(v, ref_dir)
    batch = make_batch(v)

    head.train()
    torch.manual_seed(0)
    _, _, _, outputs, _ = head(return_keys=list(TRAIN_OUTPUTS), carry=head.initial_carry(batch), batch=batch)
    with torch.no_grad():
        head.model.inner.q_head.bias[0] = -halting_margin(v, outputs).median() - 1e-3

    state_dict = {k: t.detach().clone() for k, t in head.state_dict().items()}
    fixture = dict(v.extra)
    fixture.setdefault("variant", v.variant)
    arch = dict(v.arch)
    if v.name is not None:
        arch["name"] = v.name
    fixture.update(arch=arch, loss_type=v.loss_type, state_dict=state_dict, batch=batch, init_seed=v.seed)
    if v.rollout_seed is not None:
        fixture["rollout_seed"] = v.rollout_seed

    # Train-mode rollout, the same batch every step: halt_max_steps + 1 steps, so halted slots restart.
    torch.manual_seed(v.rollout_seed if v.rollout_seed is not None else 0)
    carry = head.initial_carry(batch)
    steps = []
    for _ in range(v.arch["halt_max_steps"] + 1):
        carry, loss, metrics, outputs, all_halted = head(return_keys=list(TRAIN_OUTPUTS), carry=carry, batch=batch)
        steps.append({
            "loss": loss.detach().double(), "metrics": {k: t.detach().double() for k, t in metrics.items()},
            "outputs": {k: t.detach().clone() for k, t in outputs.items()},
            "halted": carry.halted.clone(), "steps": carry.steps.clone(), "all_halted": bool(all_halted),
        })
    fixture["train_steps"] = steps

    # First-step gradients, from a fresh carry.
    torch.manual_seed(v.rollout_seed if v.rollout_seed is not None else 0)
    _, loss, _, _, _ = head(return_keys=[], carry=head.initial_carry(batch), batch=batch)
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in head.named_parameters() if p.grad is not None}
    if v.arch["puzzle_emb_ndim"] > 0:
        grads["model.inner.puzzle_emb.local_weights"] = head.model.inner.puzzle_emb.local_weights.grad.detach().clone()
    fixture["first_step_grads"] = grads

    if v.optimizer_steps:
        params = {name: p for name, p in head.named_parameters()}
        fixture["adam_atan2"] = spec = {"lr": 1e-2, "betas": (0.9, 0.95), "weight_decay": 0.1}
        spec["params_after_one_step"] = adam_atan2_step(params, grads, spec["lr"], spec["betas"], spec["weight_decay"])
        sparse = importlib.import_module("models.sparse_embedding")
        table = head.model.inner.puzzle_emb
        sign_sgd = {"lr": 0.05, "weight_decay": 0.1}
        optimizer = sparse.CastedSparseEmbeddingSignSGD_Distributed(table.buffers(), world_size=1, **sign_sgd)
        optimizer.step()
        fixture["sparse_sign_sgd"] = dict(sign_sgd, weights_after_one_step=table.weights.detach().clone())
        head.load_state_dict(state_dict)

    # Eval-mode rollout until every sequence halted (halt_max_steps steps unless the model halts adaptively).
    head.eval()
    with torch.no_grad():
        carry = head.initial_carry(batch)
        eval_steps = []
        while True:
            carry, loss, metrics, outputs, all_halted = head(return_keys=list(EVAL_OUTPUTS), carry=carry, batch=batch)
            eval_steps.append({"loss": loss.double(), "metrics": {k: t.double() for k, t in metrics.items()}, "outputs": dict(outputs),
                               "halted": carry.halted.clone(), "steps": carry.steps.clone()})
            if all_halted:
                break
    fixture["eval_steps"] = eval_steps
    return fixture


def worker(reference: str, ref_dir: Path, out_dir: Path, names: list[str]) -> None:
    torch.set_default_dtype(torch.float32)
    sys.path.insert(0, str(ref_dir))
    if reference == "hrm":
        install_flash_attn_shim()
    for v in VARIANTS:
        if v.reference == reference and v.file in names:
            fixture = record(v, ref_dir)
            path = out_dir / v.file
            torch.save(fixture, path)
            halting = [int(s["halted"].sum()) for s in fixture["train_steps"]]
            print(f"{path}: {path.stat().st_size / 1e3:.0f} kB, halted per train step {halting}, "
                  f"{len(fixture['eval_steps'])} eval steps")


def leaves(obj, path: str = ""):
    """(path, value) of every tensor and number of a fixture, in a stable order."""
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from leaves(obj[k], f"{path}.{k}" if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            yield from leaves(item, f"{path}[{i}]")
    else:
        yield path, obj


def compare(recorded: Path, other: Path) -> str:
    """How closely a fixture agrees with another recording of it: tensor by tensor."""
    a = dict(leaves(torch.load(recorded, weights_only=True)))
    b = dict(leaves(torch.load(other, weights_only=True)))
    only = sorted(set(a) ^ set(b))
    identical, worst_abs, worst_rel = 0, (0.0, ""), (0.0, "")
    for key in sorted(set(a) & set(b)):
        x, y = a[key], b[key]
        if not torch.is_tensor(x):
            identical += x == y
            continue
        if x.shape != y.shape or x.dtype != y.dtype:
            only.append(f"{key} (shape/dtype differ)")
            continue
        if torch.equal(x, y):
            identical += 1
            continue
        diff = (x.double() - y.double()).abs().max().item()
        rel = diff / max(y.double().abs().max().item(), 1e-12)
        worst_abs = max(worst_abs, (diff, key))
        worst_rel = max(worst_rel, (rel, key))
    common = len(set(a) & set(b))
    line = f"{recorded.name}: {identical}/{common} entries bit-identical"
    if identical < common:
        line += (f"; largest difference {worst_abs[0]:.3g} ({worst_abs[1]}), largest relative "
                 f"(to the tensor's max |value|) {worst_rel[0]:.3g} ({worst_rel[1]})")
    if only:
        line += f"; in one file only: {', '.join(only[:4])}" + (f" and {len(only) - 4} more" if len(only) > 4 else "")
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hrm", type=Path, help="checkout of github sapientinc/HRM")
    parser.add_argument("--trm", type=Path, help="checkout of github SamsungSAILMontreal/TinyRecursiveModels")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "tests" / "fixtures")
    parser.add_argument("--only", nargs="+", metavar="FILE", help="record only these fixture files")
    parser.add_argument("--list", action="store_true", help="list the fixtures and exit")
    parser.add_argument("--compare", type=Path, metavar="DIR",
                        help="after recording, compare each fixture tensor by tensor with the same file in DIR")
    parser.add_argument("--worker", choices=("hrm", "trm"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.list:
        for v in VARIANTS:
            print(f"{v.file:42s} {v.reference}  {v.name or v.module}")
        return 0
    names = args.only or [v.file for v in VARIANTS]
    unknown = sorted(set(names) - {v.file for v in VARIANTS})
    if unknown:
        parser.error(f"unknown fixture {unknown[0]}; --list shows them")
    if args.worker:
        worker(args.worker, args.hrm if args.worker == "hrm" else args.trm, args.out, names)
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    for reference, checkout in (("hrm", args.hrm), ("trm", args.trm)):
        wanted = [v.file for v in VARIANTS if v.reference == reference and v.file in names]
        if not wanted:
            continue
        if checkout is None or not (checkout / "models").is_dir():
            parser.error(f"--{reference} must name a checkout of the {reference.upper()} original (with models/): "
                         f"{', '.join(wanted)} need it")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", reference, f"--{reference}",
               str(checkout.resolve()), "--out", str(args.out.resolve()), "--only", *wanted]
        subprocess.run(cmd, check=True)
    if args.compare:
        for name in names:
            if (args.compare / name).exists():
                print(compare(args.out / name, args.compare / name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
