"""`evals sweep`: a matrix of (model, suite, setting) runs as jobs, locally or on Ray, into one database.

Front door: `expand_jobs`, `inspect_jobs` (plan.py), `run_local` (local.py), `run_ray` (ray_exec.py).
"""

from evals.sweep.local import JobResult, SharedRunner, run_local
from evals.sweep.plan import JobState, SweepJob, SweepSettings, expand_jobs, inspect_jobs, parse_shots

__all__ = [
    "JobResult",
    "JobState",
    "SharedRunner",
    "SweepJob",
    "SweepSettings",
    "expand_jobs",
    "inspect_jobs",
    "parse_shots",
    "run_local",
]
