"""The puzzle-embedding update across 2 CPU processes (gloo) equals the single-process update on the
concatenated batch: every rank gathers all ids and gradients, sums duplicates, and applies one sign step."""

from __future__ import annotations

import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hrm_core.models.sparse_embedding import SparsePuzzleEmbedding
from hrm_core.optim import SparseSignSGD

NUM_PUZZLES, DIM, LOCAL_BATCH, WORLD = 10, 6, 4, 2
LR, WD = 0.05, 0.1


def make_case():
    g = torch.Generator().manual_seed(1234)
    table = torch.randn(NUM_PUZZLES, DIM, generator=g)
    # Ids repeat within and across ranks (3 and 7 appear on both), so duplicate summing is exercised.
    ids = torch.tensor([[3, 7, 3, 1], [7, 2, 3, 9]], dtype=torch.int32)
    upstream = torch.randn(WORLD, LOCAL_BATCH, DIM, generator=g)  # d loss / d embedding, per rank
    return table, ids, upstream


def step(embedding: SparsePuzzleEmbedding, ids: torch.Tensor, upstream: torch.Tensor, world_size: int) -> None:
    embedding.train()
    out = embedding(ids)
    (out * upstream).sum().backward()
    SparseSignSGD(embedding.buffers(), world_size=world_size, lr=LR, weight_decay=WD).step()


def worker(rank: int, port: int, result_path: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        table, ids, upstream = make_case()
        embedding = SparsePuzzleEmbedding(NUM_PUZZLES, DIM, batch_size=LOCAL_BATCH, cast_to=torch.float32)
        embedding.weights.copy_(table)
        step(embedding, ids[rank], upstream[rank], world_size=WORLD)
        torch.save(embedding.weights.clone(), f"{result_path}.{rank}")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_update_equals_single_process_on_concatenated_batch(tmp_path):
    result = str(tmp_path / "weights")
    mp.start_processes(worker, args=(free_port(), result), nprocs=WORLD, join=True, start_method="spawn")
    per_rank = [torch.load(f"{result}.{r}", weights_only=True) for r in range(WORLD)]

    table, ids, upstream = make_case()
    single = SparsePuzzleEmbedding(NUM_PUZZLES, DIM, batch_size=WORLD * LOCAL_BATCH, cast_to=torch.float32)
    single.weights.copy_(table)
    step(single, ids.reshape(-1), upstream.reshape(-1, DIM), world_size=1)

    for rank, weights in enumerate(per_rank):
        torch.testing.assert_close(weights, single.weights, rtol=0, atol=0, msg=lambda m: f"rank {rank}: {m}")
    touched = ids.unique().long()
    untouched = torch.ones(NUM_PUZZLES, dtype=torch.bool)
    untouched[touched] = False
    assert not torch.equal(single.weights[touched], table[touched])
    assert torch.equal(single.weights[untouched], table[untouched])
