"""`python -m hrm_core.solve checkpoint=PATH puzzle=FILE|-|DIR` or `... split=test`: docs/solve.md.

Arguments are key=value, as `python -m hrm_core.evaluate` takes them. One puzzle (a file, or `-` for stdin)
prints its answer, the halting step and the Q values, or with `output=json` the whole trajectory. A folder
of puzzle files, or a split of the run's dataset, runs in batches with a progress bar on stderr and writes
one JSON line per puzzle (to `out=FILE`, default stdout); for an ARC split, `submission=FILE` also writes the
ARC Prize submission, voted as the ARC evaluator votes.

User mistakes print one `error:` line naming the file or key and the fix, and exit with code 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from hrm_core.key_value_args import KeyValueError, split_key_value
from hrm_core.solve.errors import SolveError

EXIT_USAGE_ERROR = 2

USAGE = """\
usage: python -m hrm_core.solve checkpoint=PATH puzzle=FILE|-|DIR [output=text|json] [out=FILE]
       python -m hrm_core.solve checkpoint=PATH split=test|train [out=FILE] [submission=FILE]

  checkpoint   what evaluate takes: a run directory (its newest checkpoint), a step_<N>/ folder, its
               model.pt, or an original's bare step_<N> file; all_config.yaml must be next to it
  puzzle       a puzzle file (Sudoku text, Maze text grid, ARC task JSON), - for stdin, or a folder of them
  split        run every example of the run's dataset split instead (JSON lines)
  data_path    the dataset the checkpoint was trained on (default: the run's)
  output       text (default: the answer, halting step, Q values) or json (every ACT step)
  out          where JSON lines go in batch mode (default: stdout)
  submission   ARC split: also write the ARC Prize submission.json here
  batch_size   puzzles per forward pass (default: 64 for puzzles, the run's global_batch_size for a split)
  adapt_steps  ARC: adapt fresh puzzle embeddings to the task's demonstration pairs for this many steps
               (test-time adaptation; 0 = none, the blank puzzle id)
  adapt_batch  demonstration pairs per adaptation step (default 8); adapt_versions augmented variants (8)
  adapt_model  true: adapt the whole model too, not only the embeddings (default false)
  adapt_lr     Adam learning rate of the fresh embeddings (default 0.3); adapt_model_lr the model's (1e-4)
  device       cpu (default) or cuda
"""


@dataclass
class SolveArgs:
    checkpoint: str
    puzzle: str | None = None
    split: str | None = None
    data_path: str | None = None
    output: str = "text"
    out: str | None = None
    submission: str | None = None
    batch_size: int | None = None
    device: str = "cpu"
    adapt_steps: int | None = None
    adapt_batch: int = 8
    adapt_versions: int = 8
    adapt_model: bool = False
    # The fresh embeddings' Adam rate. A puzzle embedding is one position among the grid's hundreds, so it
    # must move far to change an answer: on the tiny test model no rate raised demonstration-pair accuracy in
    # 20 steps; in 40, 0.3 did and 1.0 overshot (docs/solve.md has the figures).
    adapt_lr: float = 0.3
    adapt_model_lr: float = 1e-4


def parse_args(argv: Sequence[str]) -> SolveArgs:
    known = [f.name for f in fields(SolveArgs)]
    values: dict[str, Any] = {}
    for text in argv:
        try:
            key, value = split_key_value(text, known)
        except KeyValueError as e:
            raise SolveError(str(e)) from None
        values[key] = value
    if not values.get("checkpoint"):
        raise SolveError("checkpoint=PATH is required (a run directory or a step_<N> checkpoint)")
    if (values.get("puzzle") is None) == (values.get("split") is None):
        raise SolveError("pass exactly one of puzzle=FILE|-|DIR (puzzles of your own) or split=test (the dataset's)")
    if values.get("split") not in (None, "test", "train"):
        raise SolveError(f"split must be test or train; got {values['split']!r}")
    if values.get("output", "text") not in ("text", "json"):
        raise SolveError(f"output must be text or json; got {values['output']!r}")
    if values.get("device", "cpu") not in ("cpu", "cuda"):
        raise SolveError(f"device must be cpu or cuda; got {values['device']!r}")
    for key, least in (("batch_size", 1), ("adapt_steps", 0), ("adapt_batch", 1), ("adapt_versions", 1)):
        if key in values:
            if not values[key].isdigit() or int(values[key]) < least:
                kind = "a positive integer" if least else "an integer, 0 or more"
                raise SolveError(f"{key} must be {kind}; got {values[key]!r}")
            values[key] = int(values[key])
    for key in ("adapt_lr", "adapt_model_lr"):
        if key in values:
            try:
                values[key] = float(values[key])
            except ValueError:
                values[key] = -1.0
            if not values[key] > 0:
                raise SolveError(f"{key} must be a positive number, e.g. {key}=0.01")
    if "adapt_model" in values:
        if values["adapt_model"] not in ("true", "false"):
            raise SolveError(f"adapt_model must be true or false; got {values['adapt_model']!r}")
        values["adapt_model"] = values["adapt_model"] == "true"
    if values.get("submission") and not values.get("split"):
        raise SolveError("submission=FILE goes with split=...: it votes over the dataset's augmented copies")
    return SolveArgs(**values)


def _open_sink(path: str | None, stdout: TextIO) -> TextIO:
    """Where JSON lines go: `out=FILE`, or stdout."""
    if not path:
        return stdout
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as e:
        raise SolveError(f"cannot write {path}: {e.strerror}; pass out=FILE in a writable folder") from None


def _progress(label: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.console import Console

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(file=sys.stderr), transient=True)


def solve_puzzles(args: SolveArgs, stdout: TextIO) -> int:
    from rich.console import Console

    from hrm_core.solve.model import load_for_inference
    from hrm_core.solve.puzzles import parse_puzzles, read_source
    from hrm_core.solve.report import print_trajectory, trajectory_json
    from hrm_core.solve.rollout import rollout

    assert args.puzzle is not None
    source = Path(args.puzzle)
    files = sorted(p for p in source.iterdir() if p.is_file()) if args.puzzle != "-" and source.is_dir() else None
    loaded = load_for_inference(args.checkpoint, batch_size=args.batch_size or 64, data_path=args.data_path,
                                device=args.device)
    description = loaded.puzzle
    texts = [read_source(str(f)) for f in files] if files is not None else [read_source(args.puzzle, sys.stdin.read() if args.puzzle == "-" else None)]
    if args.adapt_steps is not None:
        if description.get("kind") != "arc" or files is not None:
            raise SolveError("adapt_steps= adapts to one ARC task: pass puzzle=TASK.json of a checkpoint trained on ARC")
        if args.adapt_steps > 0:
            return adapt_and_report(args, loaded, texts[0], stdout)
    puzzles = [p for name, text in texts for p in parse_puzzles(name, text, description, loaded.identifiers)]
    if args.adapt_steps == 0:
        for puzzle in puzzles:
            puzzle.puzzle_identifier = int(loaded.metadata.blank_identifier_id)
            puzzle.note = "adapt_steps=0: no adaptation was done; the blank puzzle id is used"
    if not puzzles:
        raise SolveError(f"{args.puzzle} holds no puzzle files")
    inputs = np.stack([p.inputs for p in puzzles])
    puzzle_ids = np.array([p.puzzle_identifier for p in puzzles])
    trajectories = rollout(loaded.act_model, inputs, puzzle_ids, batch_size=loaded.batch_size,
                           blank_id=int(loaded.metadata.blank_identifier_id), pad_id=int(loaded.metadata.pad_id),
                           labels=[p.labels for p in puzzles])
    if files is not None:  # batch mode: JSON lines
        sink = _open_sink(args.out, stdout)
        try:
            with _progress("solving") as progress:
                task = progress.add_task("solve", total=len(puzzles))
                for puzzle, trajectory in zip(puzzles, trajectories):
                    sink.write(json.dumps(trajectory_json(puzzle.name, trajectory, description, puzzle.note)) + "\n")
                    progress.advance(task)
        finally:
            if sink is not stdout:
                sink.close()
        return 0
    if args.output == "json":
        header = {"checkpoint": str(loaded.weights), "step": loaded.step, "arch": loaded.arch_name,
                  "halt_max_steps": loaded.halt_max_steps, "puzzle_kind": description.get("kind")}
        records = [trajectory_json(p.name, t, description, p.note) for p, t in zip(puzzles, trajectories)]
        stdout.write(json.dumps(header | {"puzzles": records}) + "\n")
        return 0
    console = Console(file=stdout, highlight=False, soft_wrap=True)  # long lines stay whole when piped
    for index, (puzzle, trajectory) in enumerate(zip(puzzles, trajectories)):
        if index:
            console.print()
        print_trajectory(console, puzzle.name, trajectory, description, puzzle.note)
    return 0


def adapt_and_report(args: SolveArgs, loaded, source: tuple[str, str], stdout: TextIO) -> int:
    """Test-time adaptation to one ARC task, then its two best candidates per test input."""
    from rich.console import Console
    from rich.text import Text

    from hrm_core.data.render import render_arc
    from hrm_core.rundir.sanitize import safe_text
    from hrm_core.solve.adapt import adapt_to_task
    from hrm_core.solve.puzzles import parse_arc_task

    name, text = source
    task = parse_arc_task(name, text)
    adaptation = adapt_to_task(loaded, Path(name).stem, task, adapt_steps=args.adapt_steps,
                               adapt_batch=args.adapt_batch, num_versions=args.adapt_versions,
                               whole_model=args.adapt_model, lr=args.adapt_lr, model_lr=args.adapt_model_lr)
    if args.output == "json":
        stdout.write(json.dumps(adaptation.to_json()) + "\n")
        return 0
    console = Console(file=stdout, highlight=False, soft_wrap=True)
    before, after = adaptation.accuracy_before, adaptation.accuracy_after
    console.print(Text(f"task {safe_text(adaptation.task)}: adapted {adaptation.num_versions} augmented variants "
                       f"for {adaptation.adapt_steps} steps"))
    console.print(f"demonstration pairs: token accuracy {before['token']:.1%} (blank id) -> {after['token']:.1%}, "
                  f"exact {before['exact']:.1%} -> {after['exact']:.1%}")
    for index, ranked in enumerate(adaptation.candidates):
        console.print(f"test input {index}: {len(ranked)} candidates")
        for rank, candidate in enumerate(ranked[:2], start=1):
            console.print(f"  attempt {rank}: {candidate.votes} votes, mean sigmoid(q_halt) {candidate.mean_q_halt_prob:.3f}")
            if console.is_terminal and not candidate.is_empty:
                console.print(render_arc(candidate.grid))
            else:
                console.print("\n".join("".join(str(v) for v in row) for row in candidate.grid.tolist()) or "(empty grid)")
    return 0


def solve_split(args: SolveArgs, stdout: TextIO) -> int:
    """Every example of a dataset split, in evaluate's batches and order, as JSON lines."""
    from hrm_core.data.format import DatasetFormatError
    from hrm_core.data.loader import PuzzleSplit, eval_batches
    from hrm_core.solve.model import load_for_inference
    from hrm_core.solve.report import trajectory_json
    import torch

    from hrm_core.solve.rollout import Trajectory, rollout_batch
    from hrm_core.solve.trace import InnerCycleTrace

    # Without batch_size, the run's global_batch_size: the batches are then exactly evaluate's.
    loaded = load_for_inference(args.checkpoint, batch_size=args.batch_size, data_path=args.data_path, device=args.device)
    split_name = args.split or "test"
    try:
        split = PuzzleSplit(loaded.test_paths, split_name)
    except (DatasetFormatError, OSError) as e:
        raise SolveError(f"cannot read the {split_name} split of {', '.join(loaded.test_paths)}: {e}; pass "
                         f"data_path=DIR pointing at the dataset the checkpoint was trained on") from None
    description = loaded.puzzle
    identifiers = loaded.identifiers
    evaluator = None
    if args.submission:
        if description.get("kind") != "arc" or identifiers is None:
            raise SolveError(f"submission= is for ARC datasets; {', '.join(loaded.test_paths)} is not one")
        from hrm_core.evaluators import ARCEvaluator
        evaluator = ARCEvaluator.from_references(identifiers, _references(loaded.test_paths[0], split_name),
                                                 int(loaded.metadata.blank_identifier_id))
    total = sum(len(part.arrays["inputs"]) for part in split.parts)
    unit = InnerCycleTrace(loaded.act_model).unit
    device = next(loaded.act_model.parameters()).device
    sink = _open_sink(args.out, stdout)
    try:
        with _progress(f"solving {split_name}") as progress:
            task = progress.add_task("solve", total=total)
            row = 0
            for batch in eval_batches(split, global_batch_size=loaded.batch_size, rank=0, world_size=1):
                tensors = {k: v.to(device) for k, v in batch.tensors.items()}
                valid = batch.local_valid
                steps = rollout_batch(loaded.act_model, tensors, valid)
                cpu = {k: v[:valid].numpy() for k, v in batch.tensors.items()}
                for offset, row_steps in enumerate(steps):
                    puzzle_id = int(cpu["puzzle_identifiers"][offset])
                    trajectory = Trajectory(inputs=cpu["inputs"][offset], labels=cpu["labels"][offset],
                                            puzzle_identifier=puzzle_id, steps=row_steps, cycle_unit=unit)
                    name = identifiers[puzzle_id] if identifiers is not None and puzzle_id < len(identifiers) else f"{split_name} {row}"
                    record = {"index": row, "set": batch.set_name} | trajectory_json(name, trajectory, description)
                    sink.write(json.dumps(record) + "\n")
                    row += 1
                if evaluator is not None and valid:
                    last = {"preds": torch.from_numpy(np.stack([s[-1].prediction for s in steps])),
                            "q_halt_logits": torch.tensor([s[-1].q_halt for s in steps], dtype=torch.float32)}
                    evaluator.update_batch({k: v[:valid] for k, v in batch.tensors.items()}, last)
                progress.advance(task, valid)
    finally:
        if sink is not stdout:
            sink.close()
    if evaluator is not None:
        from hrm_core.arc.scoring import make_submission, write_json
        write_json(args.submission, make_submission(evaluator.tally, attempts=evaluator.submission_attempts))
    return 0


def _references(data_path: str, split_name: str):
    from hrm_core.arc.scoring import load_references
    return load_references(data_path, split_name)


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    from hrm_core.rundir.sanitize import safe_text

    argv = list(sys.argv[1:] if argv is None else argv)
    stdout = stdout or sys.stdout
    if any(a in ("-h", "--help", "help") for a in argv):
        stdout.write(USAGE)
        return 0
    try:
        args = parse_args(argv)
        return solve_split(args, stdout) if args.split else solve_puzzles(args, stdout)
    except SolveError as e:
        print(f"error: {safe_text(str(e))}", file=sys.stderr, flush=True)
        return EXIT_USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
