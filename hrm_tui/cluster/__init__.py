"""Running on a SLURM cluster: cluster profiles (profile.py), the batch script (batch_script.py) and
submission (submit.py). The scheduler's view of a job lives in hrm_core.rundir.scheduler, beside the other
readers of a run's state. docs/clusters.md describes all of it."""
