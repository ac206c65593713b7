"""Error types that carry what a user needs to fix their input: where, which field, and how.

A data scientist meets these at the top of a notebook or a terminal; a stack trace into pandas
or pydantic tells them nothing, so every message names the file, the field and the fix.
"""

from __future__ import annotations


class LoralabError(Exception):
    """Base of every error loralab raises on purpose; the CLI prints these without a traceback."""


class ConfigError(LoralabError):
    """A params file or override names an unknown key, a wrong type or an impossible value."""


class DataError(LoralabError):
    """A data file cannot be turned into labelled texts for the configured task."""

    def __init__(self, source: str, field: str | None, problem: str, fix: str):
        self.source, self.field, self.problem, self.fix = source, field, problem, fix
        where = f"{source}" + (f", field '{field}'" if field else "")
        super().__init__(f"{where}: {problem}\n  fix: {fix}")


class LeakageError(LoralabError):
    """The same or a near-identical text sits in two splits, so a test score would be inflated."""


class ModelNotFoundError(LoralabError):
    """The configured model is neither installed, nor a local path, nor allowed to download."""


class StepFailedError(LoralabError):
    """A notebook of the series failed; carries the notebook and the cell so the CLI can say so."""

    def __init__(self, notebook: str, cell: int | None, reason: str, executed_path: str):
        self.notebook, self.cell, self.reason, self.executed_path = (
            notebook,
            cell,
            reason,
            executed_path,
        )
        at = f" in cell {cell}" if cell is not None else ""
        super().__init__(
            f"step {notebook} failed{at}: {reason}\n  executed notebook kept at {executed_path}"
        )


class TrackingError(LoralabError):
    """The experiment tracker (MLflow) could not be reached or refused a write. The runner only
    warns of it, since the study's artifacts do not depend on it; `loralab track` fails with it."""
