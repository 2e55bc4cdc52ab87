"""Headless training: `python -m hrm_core.pretrain key=value ...` (or under `torchrun ... -m hrm_core.pretrain`).

The command line is the original's: Hydra overrides of config/cfg_pretrain.yaml, e.g.

    python -m hrm_core.pretrain data_path=data/sudoku-extreme-1k-aug-1000 global_batch_size=384 lr=7e-5
    python -m hrm_core.pretrain +experiment=sudoku_extreme_1k
    torchrun --nproc-per-node 8 -m hrm_core.pretrain +experiment=arc_2

Options: `--config-dir DIR` adds a config tree searched first, `--config-name NAME` picks another primary
config, `--cfg` prints the composed config and exits. docs/training.md has the rest.

Order of work: compose and validate the config (user mistakes end here with a clean message and exit
code 2), join the process group, check the dataset, name the run, then hand over to the Trainer.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the real imports happen after argument parsing, so `--help` stays fast
    from hrm_core.config import TrainConfig
    from hrm_core.training.distributed import DistContext

EXIT_CONFIG_ERROR = 2


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hrm_core.pretrain",
        description="Train a Hierarchical Reasoning Model. Overrides are Hydra's key=value (docs/config.md).",
    )
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. lr=7e-5 arch.hidden_size=256 +experiment=sudoku_extreme_1k")
    parser.add_argument("--config-dir", "-cd", default=None, help="an extra config tree, searched before the installed one")
    parser.add_argument("--config-name", "-cn", default=None, help="primary config name (default cfg_pretrain)")
    parser.add_argument("--cfg", action="store_true", help="print the composed config and exit")
    return parser.parse_args(list(argv))


def _print_error(message: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only one process reports it
        print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse_args(argv)

    from omegaconf import OmegaConf

    from hrm_core.config import CONFIG_NAME, ConfigError, compose, validate

    try:
        composed = compose(args.overrides, config_dir=args.config_dir, config_name=args.config_name or CONFIG_NAME)
        if args.cfg:
            print(OmegaConf.to_yaml(composed, resolve=True), end="")
            return 0
        config = validate(composed, args.overrides)
    except ConfigError as e:
        _print_error(e.render())
        return EXIT_CONFIG_ERROR
    return _train(config, args.overrides, [sys.executable, "-m", "hrm_core.pretrain", *argv])


def _prepare_run(config: TrainConfig, ctx: DistContext) -> TrainConfig:
    """Checks what needs the process group or the file system: batch split, dataset (building the demo set if
    asked for), resume source, wandb. Returns the config with the run names filled in (chosen on rank 0)."""
    from dataclasses import replace

    from hrm_core.config import ConfigError, check_dataset, resolve_run_names, to_plain_dict
    from hrm_core.training import checkpoint as ckpt
    from hrm_core.training.distributed import barrier, broadcast_object

    if config.global_batch_size % ctx.world_size:
        raise ConfigError(f"global_batch_size={config.global_batch_size} is not divisible by the {ctx.world_size} processes",
                          key="global_batch_size", hint="every process takes an equal slice of each global batch")
    _ensure_demo_dataset(config, ctx)
    barrier(ctx)
    metadata = check_dataset(config)
    if ctx.is_main and not config.evaluators and metadata.inferred_kind() == "arc":
        print("[hrm] note: ARC data without evaluators: pass@K is not scored (the TRM reference's config scores it "
              "by default; add evaluators=[arc@ARC], as +experiment=trm_arc1 does)", flush=True)

    source = None
    if config.resume not in (None, "auto"):
        try:
            source = ckpt.resolve_checkpoint(config.resume)
        except ckpt.CheckpointError as e:
            raise ConfigError(str(e), key="resume", hint="resume=auto continues the newest checkpoint in checkpoint_path") from None
        if config.checkpoint_path is None:  # continue in the run directory the checkpoint belongs to
            config = replace(config, checkpoint_path=str(source.parent))
    elif config.resume == "auto":
        # The run directory is known when checkpoint_path is set, or follows from run_name (the default path
        # checkpoints/<project>/<run> has no random part then). Without either the run gets a new random name.
        run_dir = config.checkpoint_path or (resolve_run_names(config)[2] if config.run_name else None)
        source = ckpt.latest_checkpoint(run_dir) if run_dir else None
    if source is not None:  # a resumed run keeps its names, and may not change the run's shape
        try:
            state = ckpt.load_training_state(source)
        except ckpt.CheckpointError as e:
            raise ConfigError(f"cannot resume: {e}", key="resume",
                              hint="resume from an earlier checkpoint folder of the run (resume=PATH)") from None
        saved = state["config"]
        if config.ema and state.get("ema") is None:
            raise ConfigError(f"cannot resume from {source} with ema=true: it was written without an EMA", key="ema",
                              hint=f"resume with ema=false, or start a new run from its weights with load_checkpoint={source}")
        config = replace(config, project_name=config.project_name or saved.get("project_name"),
                         run_name=config.run_name or saved.get("run_name"))
        mismatches = ckpt.resume_mismatches(saved, to_plain_dict(config))
        if mismatches:
            raise ConfigError(f"cannot resume from {source}: {'; '.join(mismatches)}", key="resume",
                              hint=f"resume with the run's values (see {source.parent / 'all_config.yaml'}), "
                                   f"or start a new run from its weights with load_checkpoint={source}")
    if config.load_checkpoint is not None:
        from hrm_core.training.model_setup import check_pretrained_weights

        try:
            check_pretrained_weights(config, metadata, config.load_checkpoint)
        except ckpt.CheckpointError as e:
            raise ConfigError(str(e), key="load_checkpoint",
                              hint="load_checkpoint takes a checkpoint folder step_<N>/, a run directory, or a weights "
                                   "file (model.pt, the original's step_<N>) of a model with the same arch") from None
    if config.wandb:
        import importlib.util

        if importlib.util.find_spec("wandb") is None:
            raise ConfigError("wandb=true but the wandb package is not installed", key="wandb", hint="pip install wandb (or wandb=false)")

    names = broadcast_object(ctx, resolve_run_names(config) if ctx.is_main else None)
    project, run, checkpoint_path = names
    return replace(config, project_name=project, run_name=run, checkpoint_path=checkpoint_path)


def _ensure_demo_dataset(config: TrainConfig, ctx: DistContext) -> None:
    try:
        from hrm_core.data import demo
    except ImportError:
        return
    demo_paths = [p for p in config.train_data_paths + config.test_data_paths if Path(p) == Path(demo.DEMO_DATA_PATH)]
    if ctx.is_main and demo_paths and not (Path(demo_paths[0]) / "train" / "dataset.json").exists():
        print(f"[hrm] building the demo dataset in {demo_paths[0]}", flush=True)
        demo.ensure_demo_dataset(demo_paths[0])


def _train(config: TrainConfig, overrides: list[str], argv: list[str]) -> int:
    from hrm_core.config import ConfigError
    from hrm_core.data.format import DatasetFormatError
    from hrm_core.training import checkpoint as ckpt
    from hrm_core.training.distributed import barrier, init_distributed, shutdown_distributed
    from hrm_core.training.loop import NonFiniteLoss, RunIdentity, Trainer

    ctx = init_distributed()
    try:
        try:
            config = _prepare_run(config, ctx)
        except ConfigError as e:
            _print_error(e.render())
            return EXIT_CONFIG_ERROR
        identity = RunIdentity(project_name=config.project_name, run_name=config.run_name, run_dir=Path(config.checkpoint_path),
                               argv=argv, overrides=overrides)
        try:
            Trainer(config, ctx, identity).run()
        except (NonFiniteLoss, ckpt.CheckpointError, DatasetFormatError) as e:
            _print_error(f"error: {e}")  # recorded in events.jsonl as run_end failed
            return 1
        # Leave together: a rank tearing down its gloo connections while a peer still uses them can abort the
        # peer ("terminate called without an active exception").
        barrier(ctx)
        return 0
    finally:
        shutdown_distributed(ctx)


if __name__ == "__main__":
    sys.exit(main())
