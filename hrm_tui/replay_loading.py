"""A checkpoint and a puzzle -> the trajectory the replay screen draws (no Textual here: workers call it).

Every way into the replay ends here: `hrm-tui solve CHECKPOINT [PUZZLE]`, enter on a monitor sample, the
runs list's replay key and the puzzle editor. Each says what to replay in a `ReplaySource`; `load_replay`
loads the checkpoint through `hrm_core.solve` (the loader `python -m hrm_core.solve` and `evaluate` use),
turns the puzzle into tokens with `hrm_core.solve.puzzles` (its checks and messages) and rolls it out.
Every mistake is a `SolveError` whose text is one line naming the file or run and the fix.

Loading a model takes a second or more, so `ModelCache` keeps the last one: stepping through a run's test
puzzles, or editing one puzzle after another, rolls out again without reloading.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrm_core.rundir.checkpoints import list_checkpoints
from hrm_core.rundir.files import EVENTS_FILE
from hrm_core.solve.errors import SolveError
from hrm_core.solve.model import LoadedModel, load_for_inference
from hrm_core.solve.puzzles import Puzzle, parse_puzzles, puzzle_from_tokens, read_source
from hrm_core.solve.rollout import Trajectory, rollout


@dataclass(frozen=True)
class ReplaySource:
    """What to replay. `checkpoint`: what solve's `checkpoint=` takes (a run directory means its newest
    complete checkpoint). The puzzle: `puzzle_file` (read as `solve puzzle=FILE` reads it), else `puzzle`
    (already in tokens: a monitor sample, the editor's), else example `test_index` of the dataset's test split."""

    checkpoint: str
    puzzle_file: str | None = None
    puzzle: Puzzle | None = None
    test_index: int = 0


@dataclass
class Replay:
    """A loaded replay: what the screen draws, and where it came from (so that it can load a neighbour)."""

    source: ReplaySource
    name: str
    trajectory: Trajectory
    puzzle: dict[str, Any]  # the dataset's puzzle description (kind, grid shape, encoding)
    step: int  # the checkpoint's training step
    test_examples: int | None  # how many examples the test split holds (None: not read)
    note: str | None = None  # e.g. that the blank puzzle id stands in


class ModelCache:
    """The last model loaded, by its weights file (one entry: a replay shows one checkpoint at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, float] | None = None
        self._model: LoadedModel | None = None

    def get(self, checkpoint: str) -> LoadedModel:
        with self._lock:  # one load at a time: a second request waits for the first's model
            key = _cache_key(checkpoint)
            if self._model is None or key is None or key != self._key:
                self._model, self._key = load_for_inference(checkpoint, batch_size=1), key
            return self._model


def _cache_key(checkpoint: str) -> tuple[str, float] | None:
    """The checkpoint's folder and its modification time: a run that saved a newer checkpoint reloads."""
    try:
        path = Path(checkpoint).resolve()
        newest = list_checkpoints(path) if path.is_dir() else []
        target = newest[-1][1] if newest else path
        return str(target), target.stat().st_mtime
    except OSError:
        return None


def check_has_checkpoint(checkpoint: str) -> None:
    """A run directory of ours (it has an events log) without a complete checkpoint yet: say so plainly."""
    path = Path(checkpoint)
    if path.is_dir() and (path / EVENTS_FILE).is_file() and not list_checkpoints(path):
        raise SolveError(f"{path.name} has no checkpoint yet: the trainer writes one at each evaluation "
                         f"(eval_interval) and at the end; replay it once one is there")


def load_replay(source: ReplaySource, cache: ModelCache | None = None) -> Replay:
    check_has_checkpoint(source.checkpoint)
    loaded = (cache or ModelCache()).get(source.checkpoint)
    metadata = loaded.metadata
    test_examples = None
    if source.puzzle_file is not None:
        puzzle = parse_puzzles(*read_source(source.puzzle_file), loaded.puzzle, loaded.identifiers)[0]
    elif source.puzzle is not None:
        given = source.puzzle
        puzzle = puzzle_from_tokens(given.name, given.inputs, given.labels, given.puzzle_identifier, loaded.puzzle,
                                    num_identifiers=int(metadata.num_puzzle_identifiers),
                                    blank_id=int(metadata.blank_identifier_id))
        puzzle.note = given.note or puzzle.note
    else:
        puzzle, test_examples = split_example(loaded, source.test_index)
    [trajectory] = rollout(loaded.act_model, puzzle.inputs[None], np.array([puzzle.puzzle_identifier]), batch_size=1,
                           blank_id=int(metadata.blank_identifier_id), pad_id=int(metadata.pad_id),
                           labels=[puzzle.labels])
    return Replay(source=source, name=puzzle.name, trajectory=trajectory, puzzle=loaded.puzzle, step=loaded.step,
                  test_examples=test_examples, note=puzzle.note)


def split_example(loaded: LoadedModel, index: int) -> tuple[Puzzle, int]:
    """(example `index` of the dataset's test split, counted over its sets in evaluation's order, modulo
    their number; how many there are)."""
    from hrm_core.data.format import DatasetFormatError
    from hrm_core.data.loader import PuzzleSplit

    try:
        parts = PuzzleSplit(loaded.test_paths, "test").parts
    except (DatasetFormatError, OSError, ValueError) as e:
        raise SolveError(f"cannot read the test split of {', '.join(loaded.test_paths)}: {e}; rebuild the dataset "
                         f"or replay a puzzle of your own") from None
    total = sum(len(part.arrays["inputs"]) for part in parts)
    if not total:
        raise SolveError(f"the test split of {', '.join(loaded.test_paths)} holds no examples; replay a puzzle of "
                         f"your own")
    index %= total
    for part in parts:
        count = len(part.arrays["inputs"])
        if index < count:
            break
        index -= count
    # Example i belongs to the puzzle whose range of examples (puzzle_indices) holds it.
    puzzle_row = int(np.searchsorted(np.asarray(part.arrays["puzzle_indices"]), index, side="right")) - 1
    puzzle_id = int(part.arrays["puzzle_identifiers"][puzzle_row])
    names = loaded.identifiers
    label = names[puzzle_id] if names is not None and 0 <= puzzle_id < len(names) else None
    number = sum(len(p.arrays["inputs"]) for p in parts[:parts.index(part)]) + index + 1
    name = f"test example {number}/{total}" + (f" ({label})" if label else "")
    return Puzzle(name=name, inputs=np.asarray(part.arrays["inputs"][index], dtype=np.int64),
                  labels=np.asarray(part.arrays["labels"][index], dtype=np.int64),
                  puzzle_identifier=puzzle_id), total
