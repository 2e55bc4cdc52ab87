"""Evaluate a checkpoint on its dataset's test split: `python -m hrm_core.evaluate checkpoint=PATH [key=value ...]`.

The command line is the original's `evaluate.py` (OmegaConf key=value), single process or under torchrun:

    python -m hrm_core.evaluate checkpoint=checkpoints/Arc-aug-1000\\ ACT-torch/my-run/step_52080
    torchrun --nproc-per-node 8 -m hrm_core.evaluate checkpoint=... save_outputs=[inputs,puzzle_identifiers,logits]

`checkpoint` is a checkpoint folder `step_<N>/` of this project, its `model.pt`, a run directory (its newest
checkpoint), or a bare weights file of the original (`step_<N>`); the run's `all_config.yaml` must sit next
to it, as the original's evaluate.py expects. Results go to `<run_dir>/eval_step_<N>/` (or
`<output_dir>/eval_step_<N>/`):

    step_<N>_all_preds.<rank>   the `save_outputs` tensors of each rank (the original's file, same content)
    eval_results.json           exact accuracy and the other metrics per set, and the evaluators' results
    submission.json             ARC datasets: two attempts per test input, ARC Prize format
    arc_scores.json             ARC datasets: pass@1..1000 and every puzzle's solving rank

User mistakes (a missing checkpoint or config, a wrong data_path, an unknown key, a results folder that
cannot be written) print one clear message and exit with code 2, before any work. docs/evaluation.md has
the details.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hrm_core.key_value_args import KeyValueError, split_key_value
from hrm_core.rundir.errors import RunDirError, write_error
from hrm_core.rundir.files import CONFIG_FILE, EVAL_RESULTS_FILE, MODEL_FILE, checkpoint_step, eval_dir_name
from hrm_core.rundir.metrics import EVAL_REPORT_METRICS
from hrm_core.rundir.sanitize import safe_text
from hrm_core.rundir.writer import write_file_atomic

EXIT_USAGE_ERROR = 2
EXIT_FAILED = 1

# The original evaluate.py's default outputs.
DEFAULT_SAVE_OUTPUTS = ["inputs", "labels", "puzzle_identifiers", "logits", "q_halt_logits", "q_continue_logits"]


USAGE = """\
usage: python -m hrm_core.evaluate checkpoint=PATH [data_path=DIR] [save_outputs=[a,b,...]]
                                   [global_batch_size=N] [evaluators=[arc]] [compile=auto|true|false]
                                   [output_dir=DIR]

  checkpoint         a step_<N>/ checkpoint folder, its model.pt, a run directory (newest checkpoint),
                     or an original bare weights file step_<N>; all_config.yaml must be next to it
  data_path          the dataset to evaluate on (default: the run's data_path)
  save_outputs       tensors saved per rank as step_<N>_all_preds.<rank> (default: the original's
                     [inputs,labels,puzzle_identifiers,logits,q_halt_logits,q_continue_logits]; [] for none)
  global_batch_size  evaluation batch over all processes (default: the run's)
  evaluators         extra scoring (default: [arc] for ARC datasets, [] otherwise)
  compile            torch.compile the model (default: the run's setting; auto = on for CUDA unless
                     DISABLE_COMPILE is set)
  output_dir         where eval_step_<N>/ goes (default: the run directory, next to the checkpoint);
                     for a read-only run directory
"""


class UsageError(Exception):
    """A mistake in the command line or its files: printed as one message, exit code 2."""


# ---------------------------------------------------------------------------------------------------------
# Command line


@dataclass
class EvalArgs:
    checkpoint: str
    data_path: str | None = None
    save_outputs: list[str] = field(default_factory=lambda: list(DEFAULT_SAVE_OUTPUTS))
    global_batch_size: int | None = None
    evaluators: list[str] | None = None
    compile: str | None = None  # auto, true or false; None: the run's `compile` setting
    output_dir: str | None = None  # eval_step_<N>/ goes here instead of the run directory


def parse_args(argv: Sequence[str]) -> EvalArgs:
    """Reads key=value arguments (OmegaConf's syntax, like the original) into EvalArgs."""
    from omegaconf import OmegaConf

    from hrm_core.config import EVAL_OUTPUTS

    known = [f.name for f in fields(EvalArgs)]
    values: dict[str, Any] = {}
    for text in argv:
        try:
            key, _ = split_key_value(text, known)
        except KeyValueError as e:
            raise UsageError(str(e)) from None
        try:
            values[key] = OmegaConf.to_container(OmegaConf.from_dotlist([text]))[key]  # type: ignore[index]
        except Exception as e:  # OmegaConf's grammar errors
            raise UsageError(f"cannot parse {text!r}: {str(e).splitlines()[0]}") from None

    if "checkpoint" not in values or values["checkpoint"] in (None, ""):
        raise UsageError("checkpoint=PATH is required")
    for key in ("checkpoint", "data_path", "output_dir"):
        if key in values and values[key] is not None:
            values[key] = str(values[key])
    for key in ("save_outputs", "evaluators"):
        if key in values and not (isinstance(values[key], list) and all(isinstance(v, str) for v in values[key])):
            raise UsageError(f"{key} must be a list of names, e.g. {key}=[a,b]; got {values[key]!r}")
    unknown_outputs = [name for name in values.get("save_outputs", []) if name not in EVAL_OUTPUTS]
    if unknown_outputs:
        raise UsageError(f"save_outputs: unknown output {unknown_outputs[0]!r}; choose from {', '.join(EVAL_OUTPUTS)}")
    if isinstance(values.get("compile"), bool):  # `compile=true` reads as a YAML bool
        values["compile"] = "true" if values["compile"] else "false"
    if values.get("compile") not in (None, "auto", "true", "false"):
        raise UsageError(f"compile must be auto, true or false; got {values['compile']!r}")
    batch_size = values.get("global_batch_size")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0):
        raise UsageError(f"global_batch_size must be a positive integer, got {batch_size!r}")
    return EvalArgs(**values)


# ---------------------------------------------------------------------------------------------------------
# The checkpoint and its run


@dataclass
class CheckpointLocation:
    weights: Path  # the file holding the model's state dict
    run_dir: Path  # where all_config.yaml lives and eval_step_<N>/ goes
    step: int


def locate_checkpoint(path_text: str) -> CheckpointLocation:
    """Where the weights, the run and the step are, for every form `checkpoint=` accepts."""
    from hrm_core.training.checkpoint import CheckpointError, resolve_checkpoint

    path = Path(path_text)
    if not path.exists():
        raise UsageError(f"checkpoint {path} does not exist")
    if path.is_file() and path.name == MODEL_FILE:
        path = path.parent  # a checkpoint folder's model.pt: the folder must be complete like any other
    if path.is_dir():
        try:
            folder = resolve_checkpoint(path)
        except CheckpointError as e:
            raise UsageError(str(e)) from None
        if not (folder / MODEL_FILE).is_file():
            raise UsageError(f"{folder} has no {MODEL_FILE}")
        return CheckpointLocation(weights=folder / MODEL_FILE, run_dir=folder.parent, step=_step_of(folder))
    # A bare weights file, as the original saves them: <run_dir>/step_<N>.
    return CheckpointLocation(weights=path, run_dir=path.parent, step=_step_of(path))


def _step_of(path: Path) -> int:
    step = checkpoint_step(path.name)
    return 0 if step is None else step


def load_run_config(location: CheckpointLocation, args: EvalArgs):
    """The run's validated config (hrm_core.config.TrainConfig) with this command's overrides applied."""
    import yaml

    from hrm_core.config import ConfigError, validate

    config_path = location.run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise UsageError(
            f"{config_path} does not exist: evaluation rebuilds the model from the run's config, which the trainer "
            f"writes next to its checkpoints; copy the run's {CONFIG_FILE} there"
        )
    try:
        raw = yaml.safe_load(config_path.read_text())
    except yaml.YAMLError as e:
        raise UsageError(f"{config_path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{config_path} does not hold a config (a mapping of keys)")
    if args.data_path is not None:
        if raw.get("data_paths"):  # a run of several folders (TRM's data_paths): they still size the model
            raw["data_paths_test"] = [args.data_path]
        else:
            raw["data_path"] = args.data_path
    if args.global_batch_size is not None:
        raw["global_batch_size"] = args.global_batch_size
    try:
        return validate(raw)
    except ConfigError as e:
        raise UsageError(f"{config_path}: {e.render().removeprefix('config error: ')}") from None


def check_writable(save_dir: Path) -> None:
    """Creates the results folder and checks a file can be written in it, before the evaluation runs (a
    read-only run directory would otherwise fail only at the end)."""
    probe = save_dir / f".write_check.{os.getpid()}"
    fix = "pass output_dir=DIR to write the results to a writable folder"
    try:
        save_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UsageError(str(write_error(save_dir, e, fix=fix))) from None


def check_test_split(data_path: str) -> None:
    test_dir = Path(data_path) / "test"
    if not (test_dir / "dataset.json").is_file():
        what = "does not exist" if not Path(data_path).exists() else f"has no test split ({test_dir / 'dataset.json'} is missing)"
        raise UsageError(f"dataset folder {data_path} {what}; pass data_path=DIR pointing at the dataset the checkpoint was trained on")


# ---------------------------------------------------------------------------------------------------------
# Running


def default_evaluators(data_path: str, metadata: Any) -> list[str]:
    """ARC scoring for ARC datasets (they carry identifiers.json), nothing otherwise."""
    from hrm_core.data.format import IDENTIFIERS_FILE

    is_arc = metadata.inferred_kind() == "arc" and (Path(data_path) / IDENTIFIERS_FILE).is_file()
    return ["arc"] if is_arc else []


def build_evaluators(names: list[str], data_path: str, metadata: Any) -> dict[str, Any]:
    from hrm_core.data.format import DatasetFormatError
    from hrm_core.evaluators import build_evaluator, resolve_entry

    try:
        entries = [resolve_entry(name) for name in names]  # ours (arc) or the TRM reference's (arc@ARC)
    except ValueError as e:
        raise UsageError(f"evaluators: {e}") from None
    try:
        return {entry["name"]: build_evaluator(data_path=data_path, eval_metadata=metadata, **entry) for entry in entries}
    except (DatasetFormatError, ValueError) as e:
        raise UsageError(f"evaluator setup failed: {e}") from None


def model_metadata(train_paths: list[str], test_metadata: Any) -> Any:
    """The metadata the model is sized by: the train split's, as in training (the test split's if it is absent)."""
    from hrm_core.data.format import DatasetFormatError
    from hrm_core.data.loader import PuzzleSplit

    try:
        return PuzzleSplit(train_paths, "train").metadata
    except DatasetFormatError:
        return test_metadata


def load_model(config: Any, metadata: Any, location: CheckpointLocation, world_size: int, device: Any):
    """The model of the run's config with the checkpoint's weights, in eval mode.

    `metadata` sizes the model (sequence length, vocabulary, puzzle-embedding table).
    """
    from hrm_core.models.registry import build_model
    from hrm_core.training.checkpoint import CheckpointError, load_model_state
    from hrm_core.training.model_setup import state_dict_mismatches

    if config.global_batch_size % world_size:
        raise UsageError(f"global_batch_size={config.global_batch_size} is not a multiple of the {world_size} processes; "
                         f"pass global_batch_size=N with N divisible by {world_size}")
    try:
        state = load_model_state(location.weights)  # weights_only=True: safe for checkpoints from elsewhere
    except CheckpointError as e:  # its message starts with the file's name
        reason = str(e).removeprefix(f"{location.weights}: ").removeprefix(f"{location.weights} ")
        raise UsageError(f"cannot load the weights {location.weights}: {reason}") from None
    try:
        module = build_model(config.arch, batch_size=config.global_batch_size // world_size, seq_len=metadata.seq_len,
                             vocab_size=metadata.vocab_size, num_puzzle_identifiers=metadata.num_puzzle_identifiers, device=device)
    except ValueError as e:  # an arch the model registry rejects (unknown name, bad hyperparameter)
        raise UsageError(f"{location.run_dir / CONFIG_FILE}: {e}") from None
    problems = state_dict_mismatches(module.state_dict(), state)
    if problems:
        raise UsageError(f"{location.weights} does not fit the model built from {location.run_dir / CONFIG_FILE} and "
                         f"the dataset {', '.join(config.train_data_paths)}: {'; '.join(problems)}")
    module.load_state_dict(state)
    module.eval()
    return module


# What each ARC figure is, and whose: the report's row labels.
ARC_FIGURE_LABELS = {
    "pass_at": "all test inputs right (HRM notebook)",
    "pass_at_test_fraction": "ARC/pass@K: test-input fraction (TRM)",
}


def format_report(step: int, metrics: dict[str, dict[str, float]], evaluator_results: dict[str, dict[str, Any]]) -> str:
    """The readable table printed at the end."""
    columns = EVAL_REPORT_METRICS
    lines = [f"evaluation of step {step}", ""]
    lines.append(f"{'set':<16}" + "".join(f"{c:>17}" for c in columns))
    for set_name, values in metrics.items():
        cells = []
        for c in columns:
            value = values.get(c)
            cells.append(f"{'-':>17}" if value is None else f"{int(value):>17d}" if c == "count" else f"{value:>17.4f}")
        lines.append(f"{safe_text(set_name):<16}" + "".join(cells))
    for name, result in evaluator_results.items():
        pass_at = result.get("pass_at", {})
        test_fraction = result.get("pass_at_test_fraction", {})
        lines += ["", f"{safe_text(name)}: {result.get('num_puzzles', 0)} puzzles, {result.get('num_test_inputs', 0)} test inputs"]
        # Each row is named after the original whose figure it is (docs/evaluation.md, ARC scoring).
        label_width = max(len(label) for label in ARC_FIGURE_LABELS.values())
        lines.append("  " + " " * label_width + "".join(f"{'pass@' + k:>12}" for k in pass_at))
        for key, values in (("pass_at", pass_at), ("pass_at_test_fraction", test_fraction)):
            if values:
                lines.append("  " + f"{ARC_FIGURE_LABELS[key]:<{label_width}}" + "".join(f"{v:>12.2%}" for v in values.values()))
        if result.get("num_unmatched"):
            lines.append(f"  warning: {result['num_unmatched']} predictions matched no test input of their puzzle")
    return "\n".join(lines)


def evaluate(args: EvalArgs) -> int:
    import torch

    from hrm_core.data.format import DatasetFormatError, load_identifiers
    from hrm_core.data.loader import PuzzleSplit, check_value_ranges
    from hrm_core.training.model_setup import should_compile
    from hrm_core.training.distributed import init_distributed, shutdown_distributed
    from hrm_core.training.evaluation import run_evaluation

    # Everything that can be a user mistake is checked before joining the process group, on every rank.
    location = locate_checkpoint(args.checkpoint)
    config = load_run_config(location, args)
    test_paths = config.test_data_paths
    for test_path in test_paths:
        check_test_split(test_path)
    try:
        split = PuzzleSplit(test_paths, "test")
        check_value_ranges(split)
        identifiers = load_identifiers(test_paths[0])
    except DatasetFormatError as e:
        raise UsageError(str(e)) from None
    evaluator_names = args.evaluators if args.evaluators is not None else default_evaluators(test_paths[0], split.metadata)
    evaluators = build_evaluators(evaluator_names, test_paths[0], split.metadata)
    save_dir = Path(args.output_dir or location.run_dir) / eval_dir_name(location.step)
    check_writable(save_dir)

    ctx = init_distributed()
    try:
        model = load_model(config, model_metadata(config.train_data_paths, split.metadata), location, ctx.world_size, ctx.device)
        # The same rule as training (hrm_core.training.model_setup): compiled on CUDA unless switched off.
        compiled = should_compile(args.compile or config.compile, ctx.device)
        forward = torch.compile(model, dynamic=False) if compiled else model
        if ctx.is_main:
            print(f"[hrm] evaluating {safe_text(location.weights)} on {safe_text(', '.join(test_paths))} (test split) "
                  f"with {ctx.world_size} process(es) on {ctx.device.type}{', compiled' if compiled else ''}", flush=True)
        result = run_evaluation(
            forward, split, ctx=ctx, global_batch_size=config.global_batch_size, halt_max_steps=config.arch.halt_max_steps,
            num_samples=0, identifiers=identifiers, save_outputs=args.save_outputs,
            save_dir=save_dir, evaluators=evaluators, step=location.step)
        if ctx.is_main:
            save_dir.mkdir(parents=True, exist_ok=True)
            summary = {
                "checkpoint": str(location.weights),
                "step": location.step,
                "data_path": test_paths[0] if len(test_paths) == 1 else test_paths,
                "world_size": ctx.world_size,
                "metrics": result.metrics,
                "halting": result.halting,
                "evaluators": result.evaluator_results,
            }
            write_file_atomic(save_dir / EVAL_RESULTS_FILE, json.dumps(summary, indent=2).encode("utf-8"))
            print(format_report(location.step, result.metrics, result.evaluator_results))
            print(f"\n[hrm] results in {safe_text(save_dir)}", flush=True)
    finally:
        shutdown_distributed(ctx)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help", "help") for a in argv):
        print(USAGE, end="")
        return 0
    try:
        return evaluate(parse_args(argv))
    except UsageError as e:
        _print_error(e)
        return EXIT_USAGE_ERROR
    except RunDirError as e:  # a write that failed during the evaluation (a full disk)
        _print_error(e)
        return EXIT_FAILED


def _print_error(error: Exception) -> None:
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun one process reports it
        print(f"error: {safe_text(error)}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
