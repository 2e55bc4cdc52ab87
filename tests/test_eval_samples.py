"""The `samples` records of an evaluation: names a viewer can show, the dataset's own label tokens."""

from __future__ import annotations

import torch

from hrm_core.data.format import DatasetMetadata
from hrm_core.models.losses import IGNORE_LABEL_ID
from hrm_core.training.evaluation import _sample_records


def metadata() -> DatasetMetadata:
    return DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=11, seq_len=4,
                           num_puzzle_identifiers=3, total_groups=2, mean_puzzle_examples=1.0, sets=["all"])


def test_names_come_from_identifiers_and_blank_ids_are_numbered_examples():
    batch = {
        "inputs": torch.tensor([[1, 2, 3, 4], [4, 3, 2, 1], [2, 2, 2, 2]]),
        "labels": torch.tensor([[2, 2, 3, IGNORE_LABEL_ID], [4, 4, 4, 4], [1, 1, 1, 1]]),
        "puzzle_identifiers": torch.tensor([2, 0, 7]),
    }
    preds = torch.tensor([[2, 2, 3, 9], [4, 4, 4, 5], [1, 1, 1, 1]])
    records = _sample_records(batch, preds, torch.tensor([0.0, -2.0, 3.0]), torch.tensor([4, 2, 1]), 3, metadata(),
                              ["<blank>", "abc_t0_0123456789", "def_t1_0123456789"])
    assert [r["name"] for r in records] == ["def_t1_0123456789", "example 2", "puzzle 7"]
    assert [r["exact"] for r in records] == [True, False, True]  # the ignored position does not count
    assert records[0]["label"] == [2, 2, 3, 0]  # ignore_label_id restored to the dataset's own token
    assert records[1]["q_halt_prob"] == torch.sigmoid(torch.tensor(-2.0)).item() and records[1]["steps"] == 2
