"""The run directory: the one place that knows what a run writes and how to read it back.

A run directory (`checkpoint_path`) is the contract between the trainer, the terminal UI and users' own
tools; docs/run-directory.md describes it. Each module has one job:

    files        every file and folder name (events.jsonl, all_config.yaml, run.lock, step_<N>/, ...)
    events       the event types as typed payloads, their registry, and the line codec (encode, decode+check)
    records      launch.json, command.json, the lock file, slurm.json, stop_request.json as typed records
    (checking)   the checker behind both is hrm_core.checking (JSON -> typed record, or a short reason)
    status       RunStatus: running, stalled, queued, finished, stopped, failed, lost
    metrics      the metric spec table: name, label, which direction is better, format
    sanitize     safe_text: any string from a run directory made safe to display or print
    tail         the complete lines of a byte range (read_lines), and following a growing file (FileTail)
    reader       the one reader: read_range, read_head, read_tail, read_events, EventFollower, read_record
    writer       EventWriter (whole lines, even after a crash or a full disk) and atomic record files
    errors       RunDirError: a full disk, a read-only mount, an owner; messages that name the fix
    lock         the owner lock (one trainer per directory)
    checkpoints  finding complete checkpoint folders
    stall        when a live run counts as stalled (ProgressClock)
    processes    which process is a run's trainer (find_trainer): one answer for the runs list and Stop
    scheduler    the scheduler's view of SLURM jobs (query_jobs): one squeue/sacct query per refresh
    summary      summarize_run: a run's status, step, times and detail; holds_run
    failures     the per-rank failure records (failure_rank_<R>.json) and a failed session's root cause
    index        the per-user index of runs ($XDG_STATE_HOME/hrm/runs): register, read, prune

The names below are the public API; import them from here or from their module. They are loaded on first
use, so `import hrm_core.rundir.files` (or `.sanitize`) costs only that module.
"""

import importlib

# Public name -> the module that defines it.
_EXPORTS = {
    **dict.fromkeys((
        "EVENT_TYPES", "SCHEMA_VERSION", "START_TYPES", "ArcScore", "Checkpoint", "Eval", "Event", "Halting",
        "HaltingPhase", "Heartbeat", "NonFinite", "Phase", "PuzzleDescription", "Rejected", "Resume", "RunEnd",
        "RunStart", "Sample", "Samples", "Train", "decode_line", "encode_event"), "events"),
    "RunDirError": "errors",
    **dict.fromkeys((
        "EventFollower", "EventLog", "EventRange", "FollowBatch", "HeadAndTail", "LoggedEvent", "decode_counted",
        "read_event_at", "read_events", "read_head", "read_head_and_tail", "read_range", "read_record", "read_tail"),
        "reader"),
    **dict.fromkeys(("TrainerProcess", "TrainerProcesses", "TrainerSource", "find_trainer"), "processes"),
    "safe_log_line": "sanitize",
    "safe_text": "sanitize",
    "RunStatus": "status",
    **dict.fromkeys(("JobInfo", "JobSource", "JobState", "SchedulerView", "query_jobs"), "scheduler"),
    **dict.fromkeys(("RunSummary", "holds_run", "summarize_run"), "summary"),
    "EventWriter": "writer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hrm_core.rundir' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hrm_core.rundir.{module}"), name)
