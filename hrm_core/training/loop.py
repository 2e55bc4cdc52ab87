"""The training loop: passes of `eval_interval` epochs, each followed by an evaluation (and a checkpoint).

Read `Trainer.run` first: it sets the run up (fresh, resumed or fine-tuned), then alternates `_train_pass`
and `_evaluate`, and always ends with a `run_end` event: finished, stopped (SIGINT/SIGTERM, after saving a
checkpoint) or failed (an exception, with its traceback, or a non-finite loss). Under SLURM a SIGTERM's stop
also asks for the job's requeue (`_stop`, hrm_core/training/slurm_requeue.py).

One optimizer step (`_train_step`) is the original's `train_batch`: carry created on the first batch and
kept across steps, loss scaled by 1 / global_batch_size, gradients all-reduced, both optimizers stepped at
the scheduled rate. Before the optimizer step the ranks agree (one tiny CPU all-reduce) on two flags: was a
stop requested, and was the loss non-finite on any rank, so every rank takes the same decision at the same
step.
"""

from __future__ import annotations

import os
import socket
from contextlib import nullcontext
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import torch
import torch.distributed as dist

from hrm_core.config import TrainConfig, to_plain_dict
from hrm_core.rundir.sweeps import SweepMember
from hrm_core.data.format import load_identifiers
from hrm_core.data.loader import PuzzleSplit, TrainBatches
from hrm_core.data.worker_seed import draw_iterator_seed
from hrm_core.rundir import events
from hrm_core.rundir.checkpoints import latest_checkpoint
from hrm_core.rundir.events import HaltingPhase, Phase
from hrm_core.rundir.failures import write_rank_failure
from hrm_core.rundir.files import eval_dir_name
from hrm_core.rundir.metrics import EVAL_LINE_METRICS, metric_spec
from hrm_core.rundir.stall import ProgressClock
from hrm_core.rundir.status import RunStatus
from hrm_core.training import checkpoint as ckpt
from hrm_core.training import wandb_payloads
from hrm_core.training.checkpoint_parts import ActCarry, ExampleStream, ExportedWeights, Optimizers, RankGenerators, TrainingWeights
from hrm_core.formatting import format_duration
from hrm_core.training.console import Console, format_step_line
from hrm_core.training.cpu_threads import pin_cpu_threads
from hrm_core.training.distributed import DistContext, any_rank, barrier, gather_objects
from hrm_core.training.ema import EMA
from hrm_core.training.evaluation import EvalResult, run_evaluation
from hrm_core.training.eta import EtaEstimator
from hrm_core.training.faults import FaultPlan, injected_crash
from hrm_core.training.heartbeat import Heartbeat
from hrm_core.training.metric_sums import WindowAccumulator, normalise
from hrm_core.training.model_setup import ModelBundle, build_training_model, load_pretrained_weights
from hrm_core.training.rng import seed_everything
from hrm_core.training.run_log import RunLog
from hrm_core.training.schedule import cosine_lr, total_train_steps
from hrm_core.training.shared_storage import RunDirNotShared, check_run_dir_shared
from hrm_core.training.signals import StopRequest
from hrm_core.training.slurm_requeue import RequeueOutcome, SlurmJob, request_requeue
from hrm_core.training.state import TrainProgress


@dataclass
class RunIdentity:
    project_name: str
    run_name: str
    run_dir: Path
    argv: list[str]
    overrides: list[str]
    resume_from: Path | None = None  # the checkpoint folder to continue from, checked up front (pretrain)
    sweep: SweepMember | None = None  # the sweep that started this run, if any


class NonFiniteLoss(RuntimeError):
    pass


class Trainer:
    def __init__(self, config: TrainConfig, ctx: DistContext, identity: RunIdentity):
        self.config = config
        self.ctx = ctx
        self.identity = identity
        self.run_dir = identity.run_dir
        self.log = RunLog(self.run_dir, enabled=ctx.is_main)
        self.console = Console(enabled=ctx.is_main)
        self.slurm_job = SlurmJob.from_environment()  # None outside SLURM
        self.stop = StopRequest(requeue_on_sigterm=self.slurm_job is not None)
        self.progress = TrainProgress()
        self.carry: Any = None
        self.last_saved_step: int | None = None
        self.steps_per_epoch = 0.0  # set by _setup; `epoch` reads 0 until then
        self.wandb_run_id: str | None = None
        # Timing: wall time since start, and the step times the ETA is estimated from (training/eta.py).
        self.started_at = time.time()
        self.last_log_time = self.started_at
        self.paused_seconds = 0.0  # evaluation and checkpoint time inside the current logging window
        self.heartbeat: Heartbeat | None = None
        self.eta = EtaEstimator()  # from this session's training steps, once their rate has settled
        self.clock = ProgressClock(config.stall_after_s)  # progress points, for stall detection
        self.started = False  # this session's run_start/resume is written: it must end with run_end
        self.faults = FaultPlan.from_environment(ctx.rank)  # test hooks, read once (training/faults.py)

    # ------------------------------------------------------------------------------------------------
    # Setup

    def _setup(self) -> None:
        c, ctx = self.config, self.ctx
        self.train_split = PuzzleSplit(c.train_data_paths, "train")
        self.test_split = PuzzleSplit(c.test_data_paths, "test")
        self.metadata = self.train_split.metadata
        self.identifiers = load_identifiers(c.test_data_paths[0])  # names the sample predictions (the first folder's)
        self.passes = c.epochs // c.eval_every_epochs
        self.progress.total_steps = total_train_steps(
            epochs=c.epochs, total_groups=self.metadata.total_groups,
            mean_puzzle_examples=self.metadata.mean_puzzle_examples, global_batch_size=c.global_batch_size)
        self.steps_per_epoch = self.progress.total_steps / c.epochs if c.epochs else 1.0

        self.cpu_threads = pin_cpu_threads(ctx.device)  # before any computation: results depend on it
        seed_everything(c.seed + ctx.rank)  # the original seeds torch with seed + rank
        self.bundle: ModelBundle = build_training_model(c, self.metadata, ctx)
        # The originals' train DataLoader draws one int64 from torch's generator here, when the first pass
        # creates its iterator (after the model is built); it also seeds their example order. Same draw, same
        # numbers (hrm_core/data/worker_seed.py). A resumed run restores its generators afterwards.
        self.sampler = TrainBatches(self.train_split, seed=c.seed, global_batch_size=c.global_batch_size,
                                    epochs_per_pass=c.eval_every_epochs, rank=ctx.rank, world_size=ctx.world_size,
                                    loader_seed=draw_iterator_seed())
        # total_steps is the originals' estimate and sets the learning-rate schedule; the run ends at the step the
        # data really holds (None: not counted, hrm_core.data.loader.TrainBatches.count_batches), which is what
        # the displays and the ETA count to.
        self.final_step = self.sampler.count_batches(self.passes, limit=self.progress.total_steps)
        self.ema = EMA(self.bundle.module, c.ema_rate) if c.ema else None
        self.evaluators = self._build_evaluators()
        self.window = WindowAccumulator(c.arch.halt_max_steps, ctx.device)

    def _build_evaluators(self) -> dict[str, Any]:
        """One evaluator per configured entry and evaluation folder, as the TRM reference builds them; each
        sees the batches of its own folder (`evaluator_datasets`). Its name is the entry's (`arc`), with the
        entry's position when two entries share a name (`arc0`, `arc1`) and the folder when there are
        several (`arc[arc-eval]`)."""
        self.evaluator_datasets: dict[str, int] = {}
        if not self.config.evaluators:
            return {}
        from hrm_core.evaluators import build_evaluator

        paths = self.config.test_data_paths
        names = self.config.evaluator_names
        built = {}
        for position, entry in enumerate(self.config.evaluators):
            options = {k: v for k, v in entry.items() if k != "name"}
            for index, path in enumerate(paths):
                name = entry["name"] if names.count(entry["name"]) == 1 else f"{entry['name']}{position}"
                name = name if len(paths) == 1 else f"{name}[{Path(path).name}]"
                built[name] = build_evaluator(entry["name"], data_path=path, eval_metadata=self.test_split.metadata, **options)
                self.evaluator_datasets[name] = index
        return built

    def _checkpoint_parts(self) -> ckpt.CheckpointParts:
        """The run's state as the checkpoint saves and restores it (keys: docs/checkpoints.md)."""
        module, ctx = self.bundle.module, self.ctx

        def reseed_value() -> int:  # the documented rule for per-rank state that cannot be restored
            return self.config.seed + ctx.rank + self.progress.step

        return ckpt.CheckpointParts(
            shared={ckpt.MODEL_PART: ExportedWeights(module, self.ema), "train_weights": TrainingWeights(module, self.ema),
                    "optimizers": Optimizers(self.bundle.optimizers), "progress": self.progress, "sampler": self.sampler,
                    "ema": self.ema},
            per_rank={"rng": RankGenerators(ctx.device, reseed_value),
                      "carry": ActCarry(lambda: self.carry, self._set_carry, self._carry_template, ctx.device),
                      "sampler": ExampleStream(self.sampler, reseed_value)},
            facts={"config": to_plain_dict(self.config), "world_size": ctx.world_size, "epoch": self.epoch,
                   "wandb_run_id": self.log.wandb_run_id})

    def _set_carry(self, carry: Any) -> None:
        self.carry = carry

    def _restore(self, path: Path) -> None:
        """Loads a full checkpoint (its compatibility with the config was checked before the run started, in
        hrm_core.pretrain): weights, optimizers, position, sampler, EMA, and this rank's RNG and carry."""
        facts, rank_restored = ckpt.restore_checkpoint(path, self.ctx, self._checkpoint_parts())
        self.wandb_run_id = facts["wandb_run_id"]
        if not rank_restored:
            self.console.message(f"[hrm] {path} was written by {facts['world_size']} processes, this run has "
                                 f"{self.ctx.world_size}: the ACT carry restarts and RNGs are reseeded")
        self.last_saved_step = self.progress.step

    def _carry_template(self) -> Any:
        local = self.config.global_batch_size // self.ctx.world_size
        seq_len = self.metadata.seq_len
        dummy = {
            "inputs": torch.zeros(local, seq_len, dtype=torch.int32, device=self.ctx.device),
            "labels": torch.zeros(local, seq_len, dtype=torch.int32, device=self.ctx.device),
            "puzzle_identifiers": torch.zeros(local, dtype=torch.int32, device=self.ctx.device),
        }
        return self.bundle.module.initial_carry(dummy)  # type: ignore[operator]

    def _start_fields(self) -> dict[str, Any]:
        devices = gather_objects(self.ctx, self.ctx.device_names()) or []
        return {
            "config": to_plain_dict(self.config),
            "world_size": self.ctx.world_size,
            "devices": [name for names in devices for name in names],
            "device_type": self.ctx.device.type,
            "num_params": self.bundle.num_params(),
            "num_puzzle_emb_params": self.bundle.num_puzzle_emb_params(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "create_time": psutil.Process().create_time(),  # with the pid: which process it is (pids are reused)
            "argv": self.identity.argv,
            "overrides": self.identity.overrides,
            "total_steps": self.progress.total_steps,
            "final_step": self.final_step,
            "halt_max_steps": self.config.arch.halt_max_steps,
            "puzzle": events.PuzzleDescription(**self.metadata.puzzle_description()),
            "project_name": self.identity.project_name,
            "run_name": self.identity.run_name,
            "compiled": self.bundle.compiled,
            "job_id": self.slurm_job.job_id if self.slurm_job else None,
            "job_segment": self.slurm_job.segment if self.slurm_job else None,
            **({"sweep": self.identity.sweep.sweep, "sweep_index": self.identity.sweep.index,
                "sweep_size": self.identity.sweep.size} if self.identity.sweep is not None else {}),
        }

    def _begin(self) -> None:
        c = self.config
        notes: list[str] = []
        if self.ctx.is_main:
            ckpt.clean_stale_temporaries(self.run_dir)  # safe: this process holds the run directory's lock
        barrier(self.ctx)
        source = self.identity.resume_from
        if c.resume == "auto" and source is None:
            self.console.message(f"[hrm] resume=auto: no checkpoint in {self.run_dir}, starting a new run")
        if source is not None:
            self._restore(source)
        elif c.load_checkpoint is not None:
            note = load_pretrained_weights(self.bundle.module, c.load_checkpoint)
            notes.append(f"weights loaded from {c.load_checkpoint}")
            if note:
                notes.append(note)
            if self.ema is not None:  # the average starts from the loaded weights, as in the TRM reference
                self.ema = EMA(self.bundle.module, c.ema_rate)
        for note in notes:
            self.console.message(f"[hrm] {note}")

        fields = self._start_fields()
        self.log.write_run_files(fields["config"], argv=self.identity.argv, overrides=self.identity.overrides,
                                 world_size=self.ctx.world_size)
        if source is not None:
            self.log.emit(events.Resume(step=self.progress.step, epoch=self.epoch, source=str(source), **fields))
            self.console.message(f"[hrm] resumed from {source} at step {self.progress.step}")
        else:
            self.log.emit(events.RunStart(step=0, epoch=0.0, load_checkpoint=c.load_checkpoint, notes=notes, **fields))
        self.started = True
        # After the start event, so that a refusal is recorded as this session's run_end (failed, with the reason).
        check_run_dir_shared(self.ctx, self.run_dir)
        if c.wandb:
            self.log.start_wandb(project=self.identity.project_name, name=self.identity.run_name, config=fields["config"],
                                 mode=c.wandb_mode, resume_id=self.wandb_run_id)
            self.log.wandb_log(wandb_payloads.start_payload(fields["num_params"]), step=self.progress.step)
        self.console.message(
            f"[hrm] run {self.identity.run_name!r} in {self.run_dir} | {self.ctx.world_size} x "
            f"{self.ctx.device.type}{self._threads_note()} | {fields['num_params']:,} parameters | {self._steps_line()}")

    def _threads_note(self) -> str:
        if self.cpu_threads is None:
            return ""
        return f" ({self.cpu_threads} thread{'s' if self.cpu_threads != 1 else ''})"

    @property
    def last_step(self) -> int:
        """The step the run ends at: counted from the data, or the schedule's estimate when not counted."""
        return self.final_step if self.final_step is not None else self.progress.total_steps

    def _steps_line(self) -> str:
        if self.final_step is None or self.final_step == self.progress.total_steps:
            return f"{self.last_step} steps"
        return f"{self.final_step} steps (the schedule's estimate: {self.progress.total_steps})"

    @property
    def epoch(self) -> float:
        return self.progress.step / self.steps_per_epoch if self.steps_per_epoch else 0.0

    # ------------------------------------------------------------------------------------------------
    # The run

    def run(self) -> RunStatus:
        """Trains to the end or to a stop; returns the final status. Exceptions propagate after run_end.

        A failure before this session's start event was written (a checkpoint that does not load) logs
        nothing: the run directory is left as it was.
        """
        self.stop.install()
        status = RunStatus.FAILED
        try:
            self._setup()
            self._begin()
            if self.ctx.is_main:
                self.heartbeat = Heartbeat(self.log.emit, lambda: (self.progress.step, self.epoch), self.clock,
                                           self.config.heartbeat_interval_s).start()
            self.last_log_time = time.time()
            status = self._train()
            if status == RunStatus.FINISHED:
                self._end(status)
        except (NonFiniteLoss, RunDirNotShared) as e:  # their message says it all: no traceback
            self._end(RunStatus.FAILED, error=str(e))
            raise
        except BaseException:
            self._end(RunStatus.FAILED, error=traceback.format_exc())
            raise
        finally:
            self._stop_heartbeat()
            self.stop.uninstall()
            self.log.close()
        return status

    def _stop_heartbeat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
            self.heartbeat = None

    def _end(self, status: RunStatus, error: str | None = None, requeue: RequeueOutcome | None = None) -> None:
        self._stop_heartbeat()  # run_end is the last event of the run
        if not self.started:
            return
        if status == RunStatus.FAILED and self.ctx.world_size > 1:
            # Only rank 0 writes events, and when another rank fails first rank 0's error is a consequence of it
            # ("Connection closed by peer"): every failing rank keeps its own error (hrm_core.rundir.failures).
            write_rank_failure(self.run_dir, rank=self.ctx.rank, step=self.progress.step, error=error or "")
        end = events.RunEnd(step=self.progress.step, epoch=self.epoch, status=status, elapsed_s=time.time() - self.started_at,
                            error=error, requeue=requeue.requeued if requeue else None,
                            reason=requeue.reason if requeue else None)
        if status == RunStatus.FAILED:
            write_error = self.log.emit_quietly(end)  # a failing run may fail to log (a full disk): keep its own error
            if write_error is not None:
                self.console.message(f"[hrm] could not record the failure in events.jsonl: {write_error}")
        else:
            self.log.emit(end)
        lines = (error or "").strip().splitlines() or [""]
        said = lines[-1] if lines[0].startswith("Traceback") else lines[0]  # a traceback's exception, or a message's first line
        self.console.message(f"[hrm] run {status} at step {self.progress.step}" + (f": {said}" if error else "")
                             + (f": {requeue.reason}" if requeue else ""))

    def _train(self) -> RunStatus:
        c = self.config
        self.clock.enter(Phase.TRAIN)
        while self.progress.pass_index < self.passes:
            outcome = self._train_pass()
            if outcome == "stop":
                return self._stop()
            evaluates = self.progress.pass_index >= c.min_eval_interval  # the TRM reference's rule
            if evaluates:
                self._evaluate()
                self.eta.evaluation_done()
            last = self.progress.pass_index == self.passes - 1
            self.progress.pass_index += 1
            if (c.checkpoint_every_eval and evaluates) or last:
                self._save_checkpoint()
            if any_rank(self.ctx, self.stop.requested)[0] and not last:
                return self._stop()
        return RunStatus.FINISHED

    def _stop(self) -> RunStatus:
        """The agreed stop: a checkpoint, then run_end stopped. Under SLURM, after a SIGTERM on any rank and no
        SIGINT on any, rank 0 asks for the job's requeue first, so that run_end can say whether it is coming."""
        self._save_checkpoint()
        continue_later, for_good = any_rank(self.ctx, self.stop.continue_later, self.stop.stop_for_good)
        requeue = None
        if continue_later and not for_good and self.slurm_job is not None:
            self.stop.ignore_sigterm()  # the requeue ends this job with a SIGTERM: let the run end be written
            if self.ctx.is_main:
                requeue = request_requeue(self.slurm_job)
        self._end(RunStatus.STOPPED, requeue=requeue)
        return RunStatus.STOPPED

    def _train_pass(self) -> str:
        """Trains on one pass of batches. Returns "done" or "stop"."""
        model = self.bundle.forward
        model.train()
        for batch in self.sampler.next_pass():
            if self.progress.step >= self.progress.total_steps:  # the originals train at most total_steps steps
                if self.ema is None:
                    self.sampler.end_pass()
                    break
                # The TRM reference updates its EMA once per loader batch, also for the batches past
                # total_steps that it does not train on: the average keeps moving towards the final weights.
                self.ema.update()
                continue
            if self._train_step(batch.tensors) == "stop":
                return "stop"
        return "done"

    def _train_step(self, batch_cpu: dict[str, torch.Tensor]) -> str:
        c, ctx, bundle = self.config, self.ctx, self.bundle
        step_started = time.time()
        self.progress.step += 1
        step = self.progress.step
        batch = {k: v.to(ctx.device, non_blocking=True) for k, v in batch_cpu.items()}
        if self.carry is None:
            self.carry = bundle.forward.initial_carry(batch)  # type: ignore[operator]

        self.carry, loss, metrics, _, _ = bundle.forward(carry=self.carry, batch=batch, return_keys=())
        if self.faults.any_step_fault:
            loss, metrics = self._inject_faults(step, loss, metrics)
        ((1.0 / c.global_batch_size) * loss).backward()

        stop_requested, nonfinite = any_rank(ctx, self.stop.requested, not bool(torch.isfinite(loss.detach())))
        if nonfinite:
            return self._on_nonfinite(metrics)

        if ctx.distributed:
            for param in bundle.module.parameters():
                if param.grad is not None:
                    dist.all_reduce(param.grad)
        lr = 0.0
        for optimizer, base_lr in zip(bundle.optimizers, bundle.base_lrs):
            lr = cosine_lr(step, base_lr=base_lr, warmup_steps=c.lr_warmup_steps, total_steps=self.progress.total_steps,
                           min_ratio=c.lr_min_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.step()
            optimizer.zero_grad()
        if self.ema is not None:
            self.ema.update()

        self.clock.tick()
        self.window.add(metrics, self.carry.steps, self.carry.halted)
        self.eta.step_done(time.time() - step_started)
        if step % c.log_interval == 0 or step == self.last_step:
            self._log_window(lr)
        if c.checkpoint_interval and step % c.checkpoint_interval == 0:
            self._save_checkpoint()
        return "stop" if stop_requested else "continue"

    def _inject_faults(self, step: int, loss: torch.Tensor, metrics: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The test hooks' faults for this step (training/faults.py); only called when the plan has any."""
        if step == self.faults.nonfinite_at_step:
            loss = loss * float("nan")
            metrics = dict(metrics, lm_loss=metrics["lm_loss"] * float("nan"))
        if step == self.faults.stop_at_step:
            self.stop.requested = True
        if step == self.faults.crash_at_step:
            raise injected_crash(step)
        if step == self.faults.hold_at_step:
            self.faults.hold(lambda: self.stop.requested)
        return loss, metrics

    def _on_nonfinite(self, metrics: dict[str, torch.Tensor]) -> str:
        """Records the step, then stops (status failed, no checkpoint of the bad state) or skips the update."""
        for optimizer in self.bundle.optimizers:
            optimizer.zero_grad()
        window = WindowAccumulator(self.config.arch.halt_max_steps, self.ctx.device)
        window.add(metrics, self.carry.steps, self.carry.halted)
        reduced = window.reduce(self.ctx)
        action = self.config.on_nonfinite
        values = normalise(reduced[0], loss_divisor=self.config.global_batch_size) if reduced else {}
        self.log.emit(events.NonFinite(step=self.progress.step, epoch=self.epoch, metrics=values, action=action))
        message = f"non-finite loss at step {self.progress.step} (lm_loss={values.get('lm_loss')})"
        if action == "stop":
            last = f"; the last checkpoint is {latest_checkpoint(self.run_dir)}" if self.ctx.is_main else ""
            raise NonFiniteLoss(message + last)
        self.console.message(f"[hrm] {message}: update skipped, carry restarted (on_nonfinite=continue)")
        self.carry = None  # its states may hold the non-finite values; restart every slot on a new puzzle
        return "continue"

    def _log_window(self, lr: float) -> None:
        reduced = self.window.reduce(self.ctx)
        if reduced is None:
            return
        sums, halting, window_steps = reduced
        metrics = normalise(sums, loss_divisor=self.config.global_batch_size * window_steps)
        step, total = self.progress.step, self.progress.total_steps
        now = time.time()
        # Throughput counts training only: evaluations and checkpoint writes inside the window are left out.
        interval = now - self.last_log_time - self.paused_seconds
        self.last_log_time, self.paused_seconds = now, 0.0
        examples_per_s = self.config.global_batch_size * window_steps / max(interval, 1e-9)
        eta_s = self.eta.eta_s(self.last_step - step)  # None while estimating
        self.log.emit(events.Train(step=step, epoch=self.epoch, total_steps=total, lr=lr, metrics=metrics,
                                   examples_per_s=examples_per_s, tokens_per_s=examples_per_s * self.metadata.seq_len,
                                   elapsed_s=now - self.started_at, eta_s=eta_s))
        self.log.emit(events.Halting(step=step, epoch=self.epoch, phase=HaltingPhase.TRAIN, window_steps=window_steps,
                                     counts=halting))
        self.log.wandb_log(wandb_payloads.train_payload(sums, loss_divisor=self.config.global_batch_size * window_steps, lr=lr),
                           step=step)
        self.console.progress(format_step_line(step=step, total_steps=self.last_step, epoch=self.epoch, metrics=metrics, lr=lr,
                                               examples_per_s=examples_per_s, eta_s=eta_s))

    # ------------------------------------------------------------------------------------------------
    # Evaluation and checkpoints

    def _evaluate(self) -> None:
        with self.clock.phase(Phase.EVAL):
            self._run_evaluation()

    def _run_evaluation(self) -> None:
        c = self.config
        started = time.time()
        step = self.progress.step
        if not self.progress.eval_started:
            # The originals' eval DataLoader draws one int64 from torch's generator when the first evaluation
            # creates its iterator (persistent workers: never again); the draw moves the training exploration
            # stream that follows, so it is made here too (hrm_core/data/worker_seed.py).
            draw_iterator_seed()
            self.progress.eval_started = True
        save_dir = self.run_dir / eval_dir_name(step) if (c.eval_save_outputs or self.evaluators) else None
        self.bundle.forward.eval()
        context = self.ema.swapped_in() if self.ema is not None else nullcontext()
        with context:
            result: EvalResult = run_evaluation(
                self.bundle.forward, self.test_split, ctx=self.ctx, global_batch_size=c.global_batch_size,
                halt_max_steps=c.arch.halt_max_steps, num_samples=c.eval_num_samples, identifiers=self.identifiers,
                save_outputs=c.eval_save_outputs, save_dir=save_dir, evaluators=self.evaluators, step=step,
                on_batch=self.clock.tick, evaluator_datasets=self.evaluator_datasets)
        self.bundle.forward.train()
        puzzle = events.PuzzleDescription(**self.test_split.metadata.puzzle_description())
        for set_name, metrics in result.metrics.items():
            self.log.emit(events.Eval(step=step, epoch=self.epoch, set=set_name, metrics=metrics))
            self.log.emit(events.Halting(step=step, epoch=self.epoch, phase=HaltingPhase.EVAL, set=set_name,
                                         counts=result.halting[set_name]))
            self.console.message(f"[hrm] eval step {step} {set_name}: " + " | ".join(
                f"{k} {metric_spec(k).format_value(metrics[k])}" for k in EVAL_LINE_METRICS if k in metrics))
        self.log.wandb_log(wandb_payloads.eval_payload(result.metrics, {
            name: (wandb_payloads.reference_evaluator_name(type(self.evaluators[name])), outcome)
            for name, outcome in result.evaluator_results.items()}), step=step)
        for set_name, samples in result.samples.items():
            self.log.emit(events.Samples(step=step, epoch=self.epoch, set=set_name, puzzle=puzzle,
                                         samples=[events.Sample(**sample) for sample in samples]))
        for name, outcome in result.evaluator_results.items():
            self.log.emit(events.ArcScore(step=step, epoch=self.epoch, evaluator=name, **outcome))
            self.console.message(f"[hrm] {name} step {step}: pass@K {outcome.get('pass_at')}")
        self.paused_seconds += time.time() - started
        self.console.message(f"[hrm] evaluation took {format_duration(time.time() - started)}")

    def _save_checkpoint(self) -> None:
        if self.last_saved_step == self.progress.step:
            return
        with self.clock.phase(Phase.CHECKPOINT):
            self._write_checkpoint()

    def _write_checkpoint(self) -> None:
        step = self.progress.step
        started = time.time()
        path = ckpt.save_checkpoint(self.ctx, self.run_dir, step, self._checkpoint_parts(), on_file=self.clock.tick,
                                    before_publish=self.faults.pause_checkpoint)
        self.last_saved_step = step
        if self.ctx.is_main:
            ckpt.prune_checkpoints(self.run_dir, self.config.keep_last_checkpoints)
        seconds = time.time() - started
        self.paused_seconds += seconds
        self.log.emit(events.Checkpoint(step=step, epoch=self.epoch, path=str(path), seconds=seconds))
        self.console.message(f"[hrm] checkpoint {path} ({seconds:.1f}s)")
