"""Every file and folder name of a run directory (docs/run-directory.md), and nothing else.

    <run_dir>/
      all_config.yaml        CONFIG_FILE      the resolved config (the original's name)
      command.json           COMMAND_FILE     how the trainer was started
      events.jsonl           EVENTS_FILE      the event log
      run.lock               LOCK_FILE        the owner lock (hrm_core.rundir.lock)
      launch.json            LAUNCH_FILE      written by a launcher (hrm-tui) before the trainer starts
      failure_rank_<R>.json  rank_failure_file(R)   a rank's error, written by the rank that failed (failures.py)
      .shared_storage_check  SHARED_STORAGE_MARKER  written by rank 0 at start-up, read by the other ranks, removed
                                                    (training/shared_storage.py)
      stdout.log, stderr.log STDOUT_FILE, STDERR_FILE   the trainer's output, when launched detached
      slurm.json             SLURM_FILE       a SLURM run's job: id, cluster, profile (hrm_tui.cluster.submit)
      job.sbatch             BATCH_SCRIPT_FILE  the batch script submitted for it
      stop_request.json      STOP_REQUEST_FILE  the cockpit asked the scheduler to stop the run (stop path)
      step_<N>/              checkpoint_dir_name(N): MODEL_FILE, TRAINING_STATE_FILE, rank_file(r), COMPLETE_MARKER
      .tmp_step_<N>/         temp_checkpoint_dir_name(N): a checkpoint being written
      .deleting_step_<N>_*/  a checkpoint being deleted (pruning)
      eval_step_<N>/         eval_dir_name(N): EVAL_RESULTS_FILE, eval_outputs_file(N, r), SUBMISSION_FILE, ARC_SCORES_FILE

Only names live here (no I/O), so any module, the trainer's or the terminal UI's, can import them for free.
"""

from __future__ import annotations

import re

CONFIG_FILE = "all_config.yaml"
COMMAND_FILE = "command.json"
EVENTS_FILE = "events.jsonl"
LOCK_FILE = "run.lock"
LAUNCH_FILE = "launch.json"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
SHARED_STORAGE_MARKER = ".shared_storage_check"
SLURM_FILE = "slurm.json"
BATCH_SCRIPT_FILE = "job.sbatch"
STOP_REQUEST_FILE = "stop_request.json"

# A checkpoint folder's files (docs/checkpoints.md).
MODEL_FILE = "model.pt"
TRAINING_STATE_FILE = "training_state.pt"
COMPLETE_MARKER = "COMPLETE"

# An evaluation folder's files (docs/evaluation.md).
EVAL_RESULTS_FILE = "eval_results.json"
SUBMISSION_FILE = "submission.json"
ARC_SCORES_FILE = "arc_scores.json"

_CHECKPOINT_DIR = re.compile(r"^step_(\d+)$")
TEMP_CHECKPOINT_PREFIX = ".tmp_step_"
DELETING_CHECKPOINT_PREFIX = ".deleting_step_"


def checkpoint_dir_name(step: int) -> str:
    return f"step_{step}"


def temp_checkpoint_dir_name(step: int) -> str:
    return f"{TEMP_CHECKPOINT_PREFIX}{step}"


def deleting_checkpoint_dir_name(name: str, unique: int) -> str:
    """Where pruning moves the checkpoint folder `name` (e.g. step_100) before deleting it."""
    return f".deleting_{name}_{unique}"


def is_leftover_dir_name(name: str) -> bool:
    """A folder a killed writer or pruner left behind (removed by the run directory's owner when it starts)."""
    return name.startswith(TEMP_CHECKPOINT_PREFIX) or name.startswith(DELETING_CHECKPOINT_PREFIX)


def checkpoint_step(name: str) -> int | None:
    """The step of a checkpoint folder name (`step_120` -> 120); None for any other name."""
    match = _CHECKPOINT_DIR.match(name)
    return int(match.group(1)) if match else None


_RANK_FAILURE_FILE = re.compile(r"^failure_rank_(\d{1,7})\.json$")


def rank_failure_file(rank: int) -> str:
    """The error record a failing rank writes into the run directory (hrm_core.rundir.failures)."""
    return f"failure_rank_{rank}.json"


def rank_failure_rank(name: str) -> int | None:
    """The rank of a failure record's file name (`failure_rank_3.json` -> 3); None for any other name."""
    match = _RANK_FAILURE_FILE.match(name)
    return int(match.group(1)) if match else None


def rank_file(rank: int) -> str:
    return f"rank_{rank}.pt"


def eval_dir_name(step: int) -> str:
    return f"eval_step_{step}"


def eval_outputs_file(step: int, rank: int) -> str:
    """The original's per-rank file of saved evaluation tensors."""
    return f"step_{step}_all_preds.{rank}"
