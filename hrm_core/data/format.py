"""The on-disk puzzle-dataset format, shared with the original HRM code.

A dataset folder holds one sub-folder per split (`train`, `test`), each with:

    dataset.json                      DatasetMetadata below
    <set>__inputs.npy                 int   [num_examples, seq_len]   token ids
    <set>__labels.npy                 int   [num_examples, seq_len]   token ids, ignore_label_id where ignored
    <set>__puzzle_identifiers.npy     int32 [num_puzzles]             puzzle id of each puzzle
    <set>__puzzle_indices.npy         int32 [num_puzzles + 1]         example range of each puzzle
    <set>__group_indices.npy          int32 [num_groups + 1]          puzzle range of each group

and the folder itself may hold `identifiers.json`: a list mapping each puzzle id to its name (id 0 is the
blank puzzle, `"<blank>"`). A *group* is one source puzzle with all of its augmentations; training samples
one puzzle per group per epoch.

Datasets written by the original HRM's builders and by TinyRecursiveModels' (TRM) builders load unchanged.
TRM's loader also needs `total_puzzles` (the split's number of puzzles, over all its sets), which HRM's
builders do not write: our builders write it, and a dataset without it still loads (`puzzle_count`).
Our builders add an optional `puzzle_kind` field to dataset.json (and mazes a `charset`); pydantic in both
originals ignores unknown fields.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

ARRAY_FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")
METADATA_FILE = "dataset.json"
IDENTIFIERS_FILE = "identifiers.json"
BLANK_PUZZLE_NAME = "<blank>"
PUZZLE_KINDS = ("arc", "sudoku", "maze", "generic")


class DatasetFormatError(ValueError):
    """A dataset folder that does not follow the format; the message names the file and the fix."""


@dataclass
class DatasetMetadata:
    pad_id: int
    ignore_label_id: int | None
    blank_identifier_id: int
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    total_groups: int
    mean_puzzle_examples: float
    sets: list[str]
    # TRM's field (its loader requires it; HRM's builders do not write it): puzzles in the split, all sets.
    total_puzzles: int | None = None
    # Extensions (optional, absent in datasets built by the originals).
    puzzle_kind: str | None = None
    charset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, split_dir: str | Path) -> "DatasetMetadata":
        path = Path(split_dir) / METADATA_FILE
        if not path.exists():
            raise DatasetFormatError(f"{path} does not exist: is {Path(split_dir).parent} a built puzzle dataset?")
        try:
            raw = json.loads(path.read_text())
        except ValueError as e:
            raise DatasetFormatError(f"{path} is not valid JSON ({e}); rebuild the dataset.") from None
        known = {f.name for f in fields(cls)} - {"extra"}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        if not isinstance(raw, dict):
            raise DatasetFormatError(f"{path} does not hold a JSON object of metadata fields; rebuild the dataset.")
        missing = required - raw.keys()
        if missing:
            raise DatasetFormatError(f"{path} lacks the field(s) {', '.join(sorted(missing))}; rebuild the dataset.")
        _check_field_types(path, raw)
        extra = {k: v for k, v in raw.items() if k not in known}
        return cls(**{k: raw[k] for k in known if k in raw}, extra=extra)

    def save(self, split_dir: str | Path) -> None:
        data = asdict(self)
        optional = ("total_puzzles", "puzzle_kind", "charset")
        data = {k: v for k, v in data.items() if k != "extra" and not (k in optional and v is None)}
        data.update(self.extra)
        Path(split_dir, METADATA_FILE).write_text(json.dumps(data, indent=2))

    def inferred_kind(self) -> str:
        """The puzzle kind: the explicit field when present, otherwise guessed from the original's encodings."""
        if self.puzzle_kind in PUZZLE_KINDS:
            return self.puzzle_kind
        if self.seq_len == 81 and self.vocab_size == 11:
            return "sudoku"
        if self.seq_len == 900 and self.vocab_size == 12:
            return "arc"
        if self.seq_len == 900 and self.vocab_size == 6:
            return "maze"
        return "generic"

    def puzzle_description(self) -> dict[str, Any]:
        """The `puzzle` field of `samples` events (docs/run-directory.md): what a viewer needs to draw."""
        kind = self.inferred_kind()
        side = math.isqrt(self.seq_len)
        grid_shape = [side, side] if side * side == self.seq_len else [1, self.seq_len]
        # Token -> cell value offsets of the original encodings: ARC colours 0-9 are tokens 2-11,
        # Sudoku digits 0-9 (0 = blank) are tokens 1-10, maze characters are tokens 1.. into the charset.
        vocab_offset = {"arc": 2, "sudoku": 1, "maze": 1}.get(kind, 0)
        description: dict[str, Any] = {
            "kind": kind,
            "grid_shape": grid_shape,
            "vocab_offset": vocab_offset,
            "pad_id": self.pad_id,
            "ignore_label_id": self.ignore_label_id,
            "vocab_size": self.vocab_size,
            "seq_len": self.seq_len,
        }
        if kind == "maze":
            description["charset"] = self.charset or "# SGo"
        return description


def _check_field_types(path: Path, raw: dict[str, Any]) -> None:
    """The original's pydantic model checked these types; a wrong one would fail far from its cause."""

    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    for name in ("pad_id", "blank_identifier_id", "vocab_size", "seq_len", "num_puzzle_identifiers", "total_groups"):
        if not is_int(raw[name]):
            raise DatasetFormatError(f"{path}: {name} must be an integer, got {raw[name]!r}; rebuild the dataset.")
    if raw.get("total_puzzles") is not None and not is_int(raw["total_puzzles"]):
        raise DatasetFormatError(f"{path}: total_puzzles must be an integer, got {raw['total_puzzles']!r}; rebuild the dataset.")
    if raw["ignore_label_id"] is not None and not is_int(raw["ignore_label_id"]):
        raise DatasetFormatError(f"{path}: ignore_label_id must be an integer or null, got {raw['ignore_label_id']!r}")
    if not (isinstance(raw["mean_puzzle_examples"], (int, float)) and not isinstance(raw["mean_puzzle_examples"], bool)):
        raise DatasetFormatError(f"{path}: mean_puzzle_examples must be a number, got {raw['mean_puzzle_examples']!r}")
    if not (isinstance(raw["sets"], list) and raw["sets"] and all(isinstance(name, str) for name in raw["sets"])):
        raise DatasetFormatError(f"{path}: sets must be a non-empty list of set names, got {raw['sets']!r}")


def load_identifiers(dataset_dir: str | Path) -> list[str] | None:
    """The puzzle names of a dataset (index = puzzle id), or None when it has no identifiers.json."""
    path = Path(dataset_dir) / IDENTIFIERS_FILE
    if not path.exists():
        return None
    try:
        names = json.loads(path.read_text())
    except ValueError as e:
        raise DatasetFormatError(f"{path} is not valid JSON ({e}); rebuild the dataset or remove the file.") from None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise DatasetFormatError(f"{path} must hold a JSON list of puzzle names (index = puzzle id)")
    return names


def array_path(split_dir: str | Path, set_name: str, field_name: str) -> Path:
    return Path(split_dir) / f"{set_name}__{field_name}.npy"
