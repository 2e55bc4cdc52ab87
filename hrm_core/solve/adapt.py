"""Test-time adaptation to an ARC task the checkpoint never saw, as the field does it.

A checkpoint's puzzle embeddings know only its training tasks; an unseen task would run with the blank id.
`adapt_to_task`:

1. makes `num_versions` variants of the task with the ARC builder's own augmentations (dihedral transform,
   then a colour permutation that keeps black: `hrm_core.data.augment`), the first the task itself, each
   under a fresh puzzle id named as the builder names copies (`<task>_t<k>_<colours>`);
2. starts every fresh embedding at the blank id's, then trains them (optionally the whole model) on the
   augmented demonstration pairs for `adapt_steps` steps: each step runs a batch of `adapt_batch` pairs
   through every ACT step as evaluation does, summing the cross-entropy of each step's logits (the
   originals' deep supervision; each ACT step's graph reaches only its last cycle, as in training);
3. predicts every augmented test input, undoes its augmentation and votes exactly as the ARC evaluator
   does (`ARCEvaluator.from_references`), so the ranked candidates are the evaluator's.

Demonstration-pair accuracy (token and exact, over every augmented pair) is measured before (the blank
id's figure) and after. Running out of memory is a SolveError that suggests a smaller `adapt_batch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hrm_core.arc.scoring import ARCReferences, Candidate, TestInput, encode_grid
from hrm_core.data.augment import arc_augmentation_name, augment_arc_grid, random_colour_maps
from hrm_core.solve.errors import SolveError
from hrm_core.solve.rollout import pad_batch, rollout_batch

IGNORE_INDEX = -100
IDENTITY_COLOURS = np.arange(10, dtype=np.uint8)


@dataclass
class Adaptation:
    task: str
    num_versions: int
    adapt_steps: int
    accuracy_before: dict[str, float]  # {"token": ..., "exact": ...} on the augmented demonstration pairs
    accuracy_after: dict[str, float]
    candidates: list[list[Candidate]] = field(default_factory=list)  # per test input, best first
    losses: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task, "num_versions": self.num_versions, "adapt_steps": self.adapt_steps,
            "demo_accuracy_before": self.accuracy_before, "demo_accuracy_after": self.accuracy_after,
            "losses": self.losses,
            "test_inputs": [[{"grid": c.grid.tolist(), "votes": c.votes, "mean_q_halt_prob": c.mean_q_halt_prob}
                             for c in ranked] for ranked in self.candidates],
        }


def _versions(task: str, num_versions: int, seed: int) -> list[tuple[str, int, np.ndarray]]:
    """(name, dihedral, colour map) of each variant: the task itself, then distinct random augmentations."""
    rng = np.random.default_rng(seed)
    versions = [(task, 0, IDENTITY_COLOURS)]
    seen = {(0, IDENTITY_COLOURS.tobytes())}
    while len(versions) < num_versions:
        dihedral = int(rng.integers(0, 8))
        colours = random_colour_maps(rng, 1)[0]
        if (dihedral, colours.tobytes()) in seen:
            continue
        seen.add((dihedral, colours.tobytes()))
        versions.append((arc_augmentation_name(task, dihedral, colours), dihedral, colours))
    return versions


def _labels_for_loss(labels: np.ndarray, ignore_label_id: int | None) -> np.ndarray:
    labels = labels.astype(np.int64)
    return np.where(labels == ignore_label_id, IGNORE_INDEX, labels) if ignore_label_id is not None else labels


def _accuracy(act_model, inputs: np.ndarray, ids: np.ndarray, labels: np.ndarray, batch: int, pad_id: int,
              blank_id: int) -> dict[str, float]:
    device = next(act_model.parameters()).device
    correct_tokens = total_tokens = exact = 0
    for start in range(0, len(inputs), batch):
        end = min(len(inputs), start + batch)
        steps = rollout_batch(act_model, pad_batch(inputs[start:end], ids[start:end], end - start, blank_id, pad_id,
                                                   device), end - start)
        for row, row_steps in zip(range(start, end), steps):
            mask = labels[row] != IGNORE_INDEX
            right = row_steps[-1].prediction[mask] == labels[row][mask]
            correct_tokens += int(right.sum())
            total_tokens += int(mask.sum())
            exact += bool(right.all())
    return {"token": correct_tokens / max(total_tokens, 1), "exact": exact / max(len(inputs), 1)}


def adapt_to_task(loaded, task_name: str, task: dict[str, list], *, adapt_steps: int, adapt_batch: int = 8,
                  num_versions: int = 8, lr: float, whole_model: bool = False, model_lr: float = 1e-4,
                  seed: int = 0) -> Adaptation:
    """Adapts `loaded` (a `model.LoadedModel` of an ARC checkpoint) to `task` ({"train": [(in, out)], "test":
    [(in, out or None)]}); returns the accuracies and the voted candidates for each test input. `lr`: the fresh
    embeddings' Adam learning rate (the command line's default, `adapt_lr`, is where it is chosen)."""
    act_model = loaded.act_model
    embedding = act_model.puzzle_emb
    if embedding is None:
        raise SolveError(f"{loaded.weights} has no puzzle embeddings (puzzle_emb_ndim=0): there is nothing to adapt; "
                         f"pass adapt_steps=0")
    metadata = loaded.metadata
    seq_len, pad_id, blank_id = int(metadata.seq_len), int(metadata.pad_id), int(metadata.blank_identifier_id)
    base_ids = int(embedding.weights.shape[0])
    versions = _versions(task_name, num_versions, seed)
    ids = {name: base_ids + index for index, (name, _, _) in enumerate(versions)}

    def rows(pairs, with_labels: bool):
        inputs, labels, row_ids = [], [], []
        for name, dihedral, colours in versions:
            for grid_in, grid_out in pairs:
                inputs.append(encode_grid(augment_arc_grid(grid_in, dihedral, colours), seq_len))
                if with_labels:
                    labels.append(encode_grid(augment_arc_grid(grid_out, dihedral, colours), seq_len))
                row_ids.append(ids[name])
        return (np.stack(inputs).astype(np.int64), np.array(row_ids),
                _labels_for_loss(np.stack(labels), metadata.ignore_label_id) if with_labels else None)

    demo_inputs, demo_ids, demo_labels = rows(task["train"], with_labels=True)
    frozen = embedding.weights.detach().clone()
    fresh = torch.nn.Parameter(frozen[blank_id].repeat(len(versions), 1).clone())

    def install() -> None:
        # The table the model indexes: the trained rows, then the fresh ones (with their gradient).
        embedding.weights = torch.cat([frozen, fresh])

    install()
    try:
        before = _accuracy(act_model, demo_inputs, demo_ids, demo_labels, adapt_batch, pad_id, blank_id)
        losses = _train(act_model, install, fresh, demo_inputs, demo_ids, demo_labels, adapt_steps=adapt_steps,
                        adapt_batch=adapt_batch, lr=lr, whole_model=whole_model, model_lr=model_lr, seed=seed,
                        pad_id=pad_id, blank_id=blank_id)
        after = _accuracy(act_model, demo_inputs, demo_ids, demo_labels, adapt_batch, pad_id, blank_id)
        candidates = _vote(loaded, task_name, task, versions, ids, adapt_batch, seq_len, pad_id, blank_id)
    except (torch.OutOfMemoryError, MemoryError):  # CUDA, or the host running out
        raise SolveError(f"ran out of memory adapting with adapt_batch={adapt_batch}; pass a smaller adapt_batch "
                         f"(e.g. adapt_batch={max(1, adapt_batch // 2)})") from None
    finally:
        embedding.weights = torch.cat([frozen, fresh.detach()])
    return Adaptation(task=task_name, num_versions=len(versions), adapt_steps=adapt_steps, accuracy_before=before,
                      accuracy_after=after, candidates=candidates, losses=losses)


def _train(act_model, install, fresh, inputs, ids, labels, *, adapt_steps, adapt_batch, lr, whole_model, model_lr,
           seed, pad_id, blank_id) -> list[float]:
    device = next(act_model.parameters()).device
    parameters = [p for p in act_model.parameters()]
    for p in parameters:
        p.requires_grad_(whole_model)
    groups = [{"params": [fresh], "lr": lr}] + ([{"params": parameters, "lr": model_lr}] if whole_model else [])
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.95))
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(adapt_steps):
        chosen = rng.choice(len(inputs), size=min(adapt_batch, len(inputs)), replace=False)
        batch = pad_batch(inputs[chosen], ids[chosen], len(chosen), blank_id, pad_id, device)
        target = torch.from_numpy(labels[chosen]).to(device)
        with torch.enable_grad():
            carry = act_model.initial_carry(batch)
            total = 0.0
            while True:
                install()  # a fresh graph from the embedding rows at every ACT step
                carry, outputs = act_model(carry=carry, batch=batch)
                loss = F.cross_entropy(outputs["logits"].float().flatten(0, 1), target.flatten(), ignore_index=IGNORE_INDEX)
                loss.backward()
                total += float(loss.detach())
                if bool(carry.halted.all()):
                    break
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(total)
    for p in parameters:
        p.requires_grad_(True)
    return losses


def _vote(loaded, task_name, task, versions, ids, batch, seq_len, pad_id, blank_id) -> list[list[Candidate]]:
    from hrm_core.evaluators import ARCEvaluator

    tests = task["test"]
    references = ARCReferences({task_name: [
        TestInput(input=np.asarray(grid_in, dtype=np.uint8),
                  label=np.asarray(grid_out if grid_out is not None else np.zeros((0, 0)), dtype=np.uint8))
        for grid_in, grid_out in tests]})
    # The dataset's names, then the fresh ids' names, which tell the evaluator each row's augmentation.
    known = list(loaded.identifiers or [])
    identifiers = known + [""] * max(0, max(ids.values()) + 1 - len(known))
    for name, index in ids.items():
        identifiers[index] = name
    evaluator = ARCEvaluator.from_references(identifiers, references, blank_identifier_id=blank_id)
    evaluator.begin_eval()
    device = next(loaded.act_model.parameters()).device
    inputs, row_ids = [], []
    for name, dihedral, colours in versions:
        for grid_in, _ in tests:
            inputs.append(encode_grid(augment_arc_grid(grid_in, dihedral, colours), seq_len))
            row_ids.append(ids[name])
    inputs_array, ids_array = np.stack(inputs).astype(np.int64), np.array(row_ids)
    for start in range(0, len(inputs_array), batch):
        end = min(len(inputs_array), start + batch)
        padded = pad_batch(inputs_array[start:end], ids_array[start:end], end - start, blank_id, pad_id, device)
        steps = rollout_batch(loaded.act_model, padded, end - start)
        evaluator.update_batch(
            {"inputs": padded["inputs"].cpu(), "puzzle_identifiers": padded["puzzle_identifiers"].cpu()},
            {"preds": torch.from_numpy(np.stack([s[-1].prediction for s in steps])),
             "q_halt_logits": torch.tensor([s[-1].q_halt for s in steps], dtype=torch.float32)})
    return [evaluator.tally.ranked(task_name, index) for index in range(len(tests))]
