"""The per-puzzle embedding table, trained sparsely.

ARC training sees ~1M puzzle ids (every augmentation is its own puzzle), so a dense embedding with Adam
state would hold three copies of a huge table and update every row every step. Instead the table is a
buffer (`weights`, no autograd), the rows a batch uses are copied into a small leaf tensor
(`local_weights`, [batch, ndim]) that receives the gradient, and `hrm_core.optim.SparseSignSGD` writes the
update back into just those rows.

Buffer names match the original implementation: `weights` is saved in checkpoints, `local_weights` and
`local_ids` are not.
"""

from __future__ import annotations

import torch
from torch import nn


class SparsePuzzleEmbedding(nn.Module):
    def __init__(self, num_embeddings: int, embedding_dim: int, batch_size: int, cast_to: torch.dtype):
        super().__init__()
        self.cast_to = cast_to
        # Zero init: an unseen puzzle contributes nothing until it is trained.
        self.weights = nn.Buffer(torch.zeros(num_embeddings, embedding_dim), persistent=True)
        self.local_weights = nn.Buffer(torch.zeros(batch_size, embedding_dim, requires_grad=True), persistent=False)
        self.local_ids = nn.Buffer(torch.zeros(batch_size, dtype=torch.int32), persistent=False)

    def _apply(self, fn, recurse=True):
        # Moving or casting the module turns local_weights into a non-leaf (its value came from an op on a
        # tensor that requires grad), which would silently stop it from collecting gradients. Re-leaf it.
        super()._apply(fn, recurse)
        self.local_weights = self.local_weights.detach().requires_grad_(True)
        return self

    def forward(self, puzzle_ids: torch.Tensor) -> torch.Tensor:
        """[B] ids -> [B, ndim] embeddings."""
        if not self.training:
            return self.weights[puzzle_ids].to(self.cast_to)
        with torch.no_grad():
            self.local_weights.copy_(self.weights[puzzle_ids])
            self.local_ids.copy_(puzzle_ids)
        return self.local_weights.to(self.cast_to)
