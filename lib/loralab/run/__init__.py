"""Running the series: the declared steps, when one is done, papermill, the local and Ray
backends, MLflow tracking, and the command line."""

__all__ = [
    "steps",  # one declared contract per step
    "fingerprints",  # when a step is done
    "notebook",  # what each notebook does first
    "execution",  # one step through papermill
    "ray_backend",  # trials as Ray tasks
    "tracking",  # the run mirrored into MLflow
    "runner",  # the series in order: skip, resume, --jobs, the report
    "cli",  # `loralab ...`
]
