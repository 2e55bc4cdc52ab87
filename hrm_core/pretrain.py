"""Headless training: `python -m hrm_core.pretrain key=value ...` (or under `torchrun ... -m hrm_core.pretrain`).

The command line is the original's: Hydra overrides of config/cfg_pretrain.yaml, e.g.

    python -m hrm_core.pretrain data_path=data/sudoku-extreme-1k-aug-1000 global_batch_size=384 lr=7e-5
    python -m hrm_core.pretrain +experiment=sudoku_extreme_1k
    torchrun --nproc-per-node 8 -m hrm_core.pretrain +experiment=arc_2

Options (hrm_core/config/command_line.py): `--config-dir DIR` adds a config tree searched first,
`--config-name NAME` picks another primary config, `--cfg job|all` prints the config and exits, `--info`,
`--version`, `--help` (which lists the config groups and presets). docs/config.md has the differences from
Hydra (no hydra.* keys, no sweeps yet).

Order of work: compose and validate the config (user mistakes end here with a clean message and exit
code 2), join the process group, check the dataset and the checkpoint a resume needs, name the run, take
the run directory's owner lock (hrm_core.rundir.lock) and refuse to overwrite a run, then hand over to the
Trainer. Nothing is written into the run directory before the lock is held.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hrm_core.rundir.sanitize import safe_text

if TYPE_CHECKING:  # the real imports happen after argument parsing, so `--help` stays fast
    from hrm_core.config import TrainConfig
    from hrm_core.rundir.lock import RunDirLock
    from hrm_core.training.distributed import DistContext

EXIT_CONFIG_ERROR = 2


def _print_error(message: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only one process reports it
        print(safe_text(message, multiline=True), file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from hrm_core.config import command_line
    from hrm_core.config.errors import ConfigError

    try:
        args = command_line.parse_args(argv)
    except ConfigError as e:
        _print_error(e.render())
        return EXIT_CONFIG_ERROR
    if args.version:
        print(command_line.version_text())
        return 0

    from omegaconf import OmegaConf

    from hrm_core.config import CONFIG_NAME, ConfigError, Launch, compose, to_plain_dict, validate

    config_name = args.config_name or CONFIG_NAME
    if args.info:
        print(command_line.info_text(args.config_dir, config_name))
        return 0
    if args.multirun:
        from hrm_core.sweep_runner import run_sweep

        if "LOCAL_RANK" in os.environ:  # every torchrun worker would run the whole sweep
            _print_error("config error: -m runs a sweep from one process, not under torchrun\n  hint: run it as "
                         "python -m hrm_core.pretrain -m ..., or with several processes per run as "
                         "hrm-tui launch -m --nproc-per-node N ...")
            return EXIT_CONFIG_ERROR

        return run_sweep(args.overrides, config_dir=args.config_dir, config_name=args.config_name)
    try:
        composed = compose(args.overrides, config_dir=args.config_dir, config_name=config_name)
        if args.cfg == "job":  # Hydra's job config: what the config tree and the overrides compose to
            print(OmegaConf.to_yaml(composed, resolve=True), end="")
            return 0
        config = validate(composed, args.overrides, Launch.of_this_process())
        if args.cfg == "all":  # every key the run will use, the schema's defaults included
            print(OmegaConf.to_yaml(OmegaConf.create(to_plain_dict(config))), end="")
            return 0
    except ConfigError as e:
        _print_error(e.render())
        return EXIT_CONFIG_ERROR
    return _train(config, args.overrides, [sys.executable, "-m", "hrm_core.pretrain", *argv])


class RunRefused(Exception):
    """The run cannot start: a config, dataset or checkpoint mistake, or a run directory that cannot be used
    (another trainer holds it, it holds a run already, it is not writable). `str()` is the whole message
    with its fix, as every rank agreed on it. Exit status 2, nothing written."""


@dataclass
class PreparedRun:
    """What `_prepare_run` settled: the config with the run's names, the checkpoint a resume continues from
    (None for a new run), and rank 0's hold on the run directory (None on other ranks)."""

    config: TrainConfig
    resume_from: Path | None
    lock: RunDirLock | None


def _prepare_run(config: TrainConfig, ctx: DistContext, argv: list[str]) -> PreparedRun:
    """Everything that can refuse the run, before anything is written (`_check_run`); then rank 0 takes the
    run directory's lock and checks that a new run does not overwrite one.

    Every rank takes the same decision: the ranks agree on the first problem any of them found, and on rank
    0's verdict about the directory. Raises RunRefused (exit 2), with the lock released again.
    """
    from dataclasses import replace

    from hrm_core.config import ConfigError, resolve_run_names
    from hrm_core.training.distributed import broadcast_object, first_error

    _ensure_demo_dataset(config, ctx)
    try:
        config, source = _check_run(config, ctx)
        problem = None
    except ConfigError as e:
        problem = e.render()
    except RunRefused as e:
        problem = str(e)
    problem = first_error(ctx, problem)
    if problem is not None:
        raise RunRefused(problem)

    project, run, checkpoint_path = broadcast_object(ctx, resolve_run_names(config) if ctx.is_main else None)
    config = replace(config, project_name=project, run_name=run, checkpoint_path=checkpoint_path)
    lock, refusal = _claim_run_dir(config, argv) if ctx.is_main else (None, None)
    refusal = broadcast_object(ctx, refusal)  # every rank leaves together, with rank 0's reason
    if refusal is not None:
        raise RunRefused(refusal)
    return PreparedRun(config, source, lock)


def _check_run(config: TrainConfig, ctx: DistContext) -> tuple[TrainConfig, Path | None]:
    """The checks of one rank that read files: dataset, the resume source (every file it needs), the weights
    to fine-tune from (the batch split and wandb are checked with the config: validate's Launch). Returns the
    config (a resume takes the run's names) and the resume source."""
    from hrm_core.config import check_dataset

    metadata = check_dataset(config)
    if ctx.is_main and not config.evaluators and metadata.inferred_kind() == "arc":
        print("[hrm] note: ARC data without evaluators: pass@K is not scored (the TRM reference's config scores it "
              "by default; add evaluators=[arc@ARC], as +experiment=trm_arc1 does)", flush=True)
    source = _resume_source(config)
    if source is not None:
        config = _check_resume(config, source, ctx)
    if config.load_checkpoint is not None:
        _check_pretrained(config, metadata)
    return config, source


def _resume_source(config: TrainConfig) -> Path | None:
    """The checkpoint folder `resume` names (resume=PATH), or the run's newest (resume=auto), or None."""
    from hrm_core.config import ConfigError, resolve_run_names
    from hrm_core.rundir.checkpoints import latest_checkpoint
    from hrm_core.training import checkpoint as ckpt

    if config.resume is None:
        return None
    if config.resume != "auto":
        try:
            return ckpt.resolve_checkpoint(config.resume)
        except ckpt.CheckpointError as e:
            raise ConfigError(str(e), key="resume", hint="resume=auto continues the newest checkpoint in checkpoint_path") from None
    # The run directory is known when checkpoint_path is set, or follows from run_name (the default path
    # checkpoints/<project>/<run> has no random part then). Without either the run gets a new random name.
    run_dir = config.checkpoint_path or (resolve_run_names(config)[2] if config.run_name else None)
    return latest_checkpoint(run_dir) if run_dir else None


def _check_resume(config: TrainConfig, source: Path, ctx: DistContext) -> TrainConfig:
    """Checks that `source` can be resumed by this config, reading every file the resume will need, and
    returns the config with the run's names and directory. A damaged checkpoint is refused here, before
    anything is written, so the run it belongs to stays as it was."""
    from dataclasses import replace

    from hrm_core.config import ConfigError, to_plain_dict
    from hrm_core.config.validate import arch_as_written
    from hrm_core.rundir.files import CONFIG_FILE
    from hrm_core.rundir.lock import LockState, lock_state
    from hrm_core.training import checkpoint as ckpt

    if config.checkpoint_path is None:  # continue in the run directory the checkpoint belongs to
        config = replace(config, checkpoint_path=str(source.parent))
    try:
        state = ckpt.load_training_state(source)
        ckpt.verify_resume_files(source, state, ctx.world_size)
    except ckpt.CheckpointError as e:
        if lock_state(config.checkpoint_path) == LockState.HELD:  # its owner may be rewriting it right now
            raise RunRefused(_owner_refusal(Path(config.checkpoint_path), resume=True)) from None
        raise ConfigError(f"cannot resume: {e}", key="resume",
                          hint="resume from an earlier checkpoint folder of the run (resume=PATH); the run itself is "
                               "untouched") from None
    saved = dict(state["config"], arch=arch_as_written(state["config"].get("arch")))  # an older run's nulls: defaults
    if config.ema and state.get("ema") is None:
        raise ConfigError(f"cannot resume from {source} with ema=true: it was written without an EMA", key="ema",
                          hint=f"resume with ema=false, or start a new run from its weights with load_checkpoint={source}")
    config = replace(config, project_name=config.project_name or saved.get("project_name"),
                     run_name=config.run_name or saved.get("run_name"))
    mismatches = ckpt.resume_mismatches(saved, to_plain_dict(config))
    if mismatches:
        raise ConfigError(f"cannot resume from {source}: {'; '.join(mismatches)}", key="resume",
                          hint=f"resume with the run's values (see {source.parent / CONFIG_FILE}), "
                               f"or start a new run from its weights with load_checkpoint={source}")
    return config


def _check_pretrained(config: TrainConfig, metadata: object) -> None:
    from hrm_core.config import ConfigError
    from hrm_core.training import checkpoint as ckpt
    from hrm_core.training.model_setup import check_pretrained_weights

    try:
        check_pretrained_weights(config, metadata, config.load_checkpoint)
    except ckpt.CheckpointError as e:
        raise ConfigError(str(e), key="load_checkpoint",
                          hint="load_checkpoint takes a checkpoint folder step_<N>/, a run directory, or a weights "
                               "file (model.pt, the original's step_<N>) of a model with the same arch") from None


def _claim_run_dir(config: TrainConfig, argv: list[str]) -> tuple[RunDirLock | None, str | None]:
    """Rank 0: takes the run directory's owner lock, and refuses a new run where one exists already.
    Returns (the lock, None) or (None, the message every rank exits with)."""
    from hrm_core.rundir.errors import RunDirError
    from hrm_core.rundir.lock import LockHeld, acquire_lock
    from hrm_core.rundir.summary import holds_run

    run_dir = Path(config.checkpoint_path)
    resuming = config.resume is not None
    fix = ("a run continues in its own directory: copy it somewhere writable and resume the copy (resume=COPY), or "
           "remount it read-write") if resuming else "choose a writable checkpoint_path, or remount it read-write"
    try:
        lock = acquire_lock(run_dir, argv=argv, record=False, fix=fix)
    except LockHeld:
        return None, _owner_refusal(run_dir, resume=resuming)
    except RunDirError as e:
        return None, f"error: {e}"
    if not lock.enforced:
        print(f"[hrm] warning: the file system of {safe_text(run_dir)} has no file locks; nothing stops a second trainer "
              "from using this run directory at the same time", file=sys.stderr, flush=True)
    if not resuming:
        reason = holds_run(run_dir)
        if reason is not None:
            lock.abandon()  # leaves the directory exactly as it was found
            return None, (f"error: {run_dir} already holds a run: {reason}; a new run never overwrites one\n"
                          "  hint: continue it with resume=auto (and the same overrides), or start this run in a new "
                          "checkpoint_path (or with another run_name)")
    try:
        lock.record_owner(argv)
    except RunDirError as e:
        lock.abandon()
        return None, f"error: {e}"
    _register_in_index(run_dir)
    return lock, None


def _register_in_index(run_dir: Path) -> None:
    """Adds the run to the per-user index (hrm_core.rundir.index), so `hrm-tui runs` finds it from any folder.
    Best effort: a failure to write the index warns and never stops training."""
    from hrm_core.rundir.errors import RunDirError
    from hrm_core.rundir.index import register_run

    try:
        register_run(run_dir)
    except (OSError, RunDirError) as e:
        print(f"[hrm] warning: could not add this run to the index of runs ({safe_text(e)}); hrm-tui lists it only "
              "when its runs root holds it", file=sys.stderr, flush=True)


def _owner_refusal(run_dir: Path, *, resume: bool) -> str:
    """The message for a run directory another live trainer holds, naming it and what to do."""
    from hrm_core.rundir.files import LOCK_FILE
    from hrm_core.rundir.lock import LockHeld, read_owner

    import socket

    import psutil

    owner = read_owner(run_dir)
    where = f" on {owner.host}" if owner is not None and owner.host else ""
    stop = f"kill -INT {owner.pid}{where}" if owner is not None and owner.pid else "stop it"
    if resume:
        hint = f"a run is resumed once its trainer has ended: wait for it, or stop it (hrm-tui, or {stop}), then resume"
    else:
        hint = (f"wait for that run to end or stop it (hrm-tui, or {stop}), then continue it with resume=auto; "
                "or start this run in another checkpoint_path")
    if owner is not None and owner.pid and owner.host == socket.gethostname() and not psutil.pid_exists(owner.pid):
        # The recorded trainer is gone, yet the lock is held: a process it forked without exec keeps it.
        hint = f"pid {owner.pid} has exited but a process it started still holds the lock: find it with fuser -v {run_dir / LOCK_FILE}"
    return f"error: {LockHeld(run_dir, owner)}\n  hint: {hint}"


def _ensure_demo_dataset(config: TrainConfig, ctx: DistContext) -> None:
    """Builds the demo dataset on first use (rank 0; the others wait for it)."""
    from hrm_core.training.distributed import barrier

    try:
        from hrm_core.data import demo
    except ImportError:
        barrier(ctx)
        return
    demo_paths = [p for p in config.train_data_paths + config.test_data_paths if Path(p) == Path(demo.DEMO_DATA_PATH)]
    if ctx.is_main and demo_paths and not (Path(demo_paths[0]) / "train" / "dataset.json").exists():
        print(f"[hrm] building the demo dataset in {safe_text(demo_paths[0])}", flush=True)
        demo.ensure_demo_dataset(demo_paths[0])
    barrier(ctx)


def _train(config: TrainConfig, overrides: list[str], argv: list[str]) -> int:
    """Exit status: 0 finished or stopped; 2 refused before anything was written (a mistake, a directory
    held by another trainer, a read-only or full disk at the start); 1 the run failed (recorded as
    run_end failed in events.jsonl when it could be)."""
    from hrm_core.data.format import DatasetFormatError
    from hrm_core.rundir.sweeps import SweepMember
    from hrm_core.rundir.errors import RunDirError
    from hrm_core.training import checkpoint as ckpt
    from hrm_core.training.distributed import barrier, init_distributed, shutdown_distributed
    from hrm_core.training.loop import NonFiniteLoss, RunIdentity, Trainer

    ctx = init_distributed()
    prepared = None
    try:
        try:
            prepared = _prepare_run(config, ctx, argv)
        except RunRefused as e:
            _print_error(str(e))
            barrier(ctx)  # under torchrun: nobody exits (and gets its peers killed) before rank 0 has said why
            return EXIT_CONFIG_ERROR
        config = prepared.config
        identity = RunIdentity(project_name=config.project_name, run_name=config.run_name, run_dir=Path(config.checkpoint_path),
                               argv=argv, overrides=overrides, resume_from=prepared.resume_from,
                               sweep=SweepMember.from_env())
        trainer = None
        try:
            trainer = Trainer(config, ctx, identity)
            trainer.run()
        except (NonFiniteLoss, ckpt.CheckpointError, DatasetFormatError, RunDirError) as e:
            _print_error(f"error: {safe_text(e, multiline=True)}")  # recorded in events.jsonl as run_end failed
            return 1 if trainer is not None and trainer.started else EXIT_CONFIG_ERROR
        # Leave together: a rank tearing down its gloo connections while a peer still uses them can abort the
        # peer ("terminate called without an active exception").
        barrier(ctx)
        return 0
    finally:
        if prepared is not None and prepared.lock is not None:
            prepared.lock.release()  # after run_end: the next owner may start
        shutdown_distributed(ctx)


if __name__ == "__main__":
    sys.exit(main())
