"""The ACT loss head: language-model loss on the answer plus Q-learning losses for the halt decision.

`ACTLossHead` wraps the model; the trainer, the evaluator and checkpoints all see this module, which is why
parameter names start with `model.` (as in the original implementation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from hrm_core.checking import OneOf, setting

IGNORE_LABEL_ID = -100


def _stablemax_s(x: torch.Tensor, eps: float = 1e-30) -> torch.Tensor:
    # s(x) = x + 1 for x >= 0 and 1 / (1 - x) for x < 0: positive, monotone, and linear rather than
    # exponential for large logits, which avoids the "softmax collapse" of long training (arXiv 2501.04697).
    return torch.where(x < 0, 1 / (1 - x + eps), x + 1)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    s = _stablemax_s(x)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def stablemax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL_ID):
    """Per-token loss [B, S]; zero where labels == ignore_index."""
    # float64 for accuracy where available; MPS has no float64.
    dtype = torch.float32 if logits.device.type == "mps" else torch.float64
    logprobs = log_stablemax(logits.to(dtype), dim=-1)  # [B, S, V]
    valid = labels != ignore_index
    safe_labels = torch.where(valid, labels, 0).to(torch.long)
    picked = torch.gather(logprobs, dim=-1, index=safe_labels.unsqueeze(-1)).squeeze(-1)  # [B, S]
    return -torch.where(valid, picked, 0)


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL_ID):
    """Per-token loss [B, S]; zero where labels == ignore_index."""
    # reshape, not view: logits are a slice past the puzzle positions and need not be contiguous.
    flat = F.cross_entropy(
        logits.to(torch.float32).reshape(-1, logits.shape[-1]),
        labels.to(torch.long).reshape(-1),
        ignore_index=ignore_index,
        reduction="none",
    )
    return flat.view(labels.shape)


LOSS_FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "stablemax_cross_entropy": stablemax_cross_entropy,
    "softmax_cross_entropy": softmax_cross_entropy,
}


@dataclass(kw_only=True)
class LossConfig:
    """The `arch.loss` node: which loss head, and its token loss."""

    name: Annotated[str, OneOf(tuple(LOSS_HEADS))] = setting(
        "losses@ACTLossHead", help="Loss head, `module@Class` as in the original (losses@ACTLossHead).")
    loss_type: Annotated[str, OneOf(tuple(LOSS_FUNCTIONS))] = setting(
        "stablemax_cross_entropy", help="Token loss: stablemax_cross_entropy (the original's) or softmax_cross_entropy.")


class ACTLossHead(nn.Module):
    def __init__(self, model: nn.Module, loss_type: str):
        super().__init__()
        if loss_type not in LOSS_FUNCTIONS:
            raise ValueError(f"arch.loss.loss_type={loss_type!r} is not one of {', '.join(LOSS_FUNCTIONS)}")
        self.model = model
        self.loss_type = loss_type
        self.loss_fn = LOSS_FUNCTIONS[loss_type]

    def initial_carry(self, batch: dict[str, torch.Tensor]):
        return self.model.initial_carry(batch)

    def forward(self, carry, batch: dict[str, torch.Tensor], return_keys: Sequence[str] = ()):
        """One ACT step. Returns (carry, loss, metrics, outputs, all_halted).

        Metrics are sums over the sequences that halted this step (not yet normalised): `count` of them,
        `accuracy` (token accuracy, averaged per sequence), `exact_accuracy` (whole answer right),
        `q_halt_accuracy` (q_halt >= 0 agrees with exactness), `steps` (ACT steps used), and the losses
        summed over the batch.
        """
        carry, outputs = self.model(carry=carry, batch=batch)
        labels = carry.current_data["labels"]  # [B, S]

        with torch.no_grad():
            mask = labels != IGNORE_LABEL_ID
            label_count = mask.sum(-1)  # [B]
            divisor = label_count.clamp_min(1).unsqueeze(-1)  # [B, 1]; a label-less sequence counts as 1

            token_correct = mask & (torch.argmax(outputs["logits"], dim=-1) == labels)  # [B, S]
            seq_correct = token_correct.sum(-1) == label_count  # [B]

            counted = carry.halted & (label_count > 0)
            metrics = {
                "count": counted.sum(),
                "accuracy": torch.where(counted, (token_correct.to(torch.float32) / divisor).sum(-1), 0).sum(),
                "exact_accuracy": (counted & seq_correct).sum(),
                "q_halt_accuracy": (counted & ((outputs["q_halt_logits"] >= 0) == seq_correct)).sum(),
                "steps": torch.where(counted, carry.steps, 0).sum(),
            }

        # Each sequence's token loss is averaged over its labels, then summed over the batch; the trainer
        # divides by the global batch size.
        lm_loss = (self.loss_fn(outputs["logits"], labels, ignore_index=IGNORE_LABEL_ID) / divisor).sum()
        # q_halt learns to predict "the current answer is exactly right".
        q_halt_loss = F.binary_cross_entropy_with_logits(
            outputs["q_halt_logits"], seq_correct.to(outputs["q_halt_logits"].dtype), reduction="sum"
        )
        metrics["lm_loss"] = lm_loss.detach()
        metrics["q_halt_loss"] = q_halt_loss.detach()

        q_continue_loss = 0
        if "target_q_continue" in outputs:  # training only
            q_continue_loss = F.binary_cross_entropy_with_logits(
                outputs["q_continue_logits"], outputs["target_q_continue"], reduction="sum"
            )
            metrics["q_continue_loss"] = q_continue_loss.detach()

        returned = {k: outputs[k].detach() for k in return_keys if k in outputs}
        loss = lm_loss + 0.5 * (q_halt_loss + q_continue_loss)
        return carry, loss, metrics, returned, carry.halted.all()


# The loss heads `arch.loss.name` may name (the original's `module@Class`, and the bare class name).
LOSS_HEADS: dict[str, type[nn.Module]] = {
    "losses@ACTLossHead": ACTLossHead,
    "ACTLossHead": ACTLossHead,
}
