"""The steps of the series as one declared contract each.

`SERIES` is the series as data: per step its notebook, the library function the notebook calls,
the `RunPaths` members the step writes, the params fields it reads and the steps whose outputs
it reads. `series(cfg)` builds the steps from it; `tests/test_steps.py` runs each notebook's
code on a tiny study with recording params and fails when a field read is not declared. When a
step counts as done is fingerprints.py's concern.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_type_hints

from loralab.config import Config
from loralab.layout import PLACEHOLDERS, Folder, RunPaths
from loralab.train.trials import trial_parameters, trials


@dataclass(frozen=True)
class Contract:
    """One step of the series, declared: what runs, what it reads and what it writes."""

    notebook: str
    title: str  # "{trial}" is filled in for a step per trial
    function: str  # the library function the notebook calls, dotted from the package
    writes: tuple[str, ...]  # RunPaths members; the step owns the folders they live in
    reads: tuple[str, ...]  # params fields read, as dotted prefixes ("data", "train.seq_len")
    after: tuple[str, ...] = ()  # notebooks whose outputs the step reads
    per_trial: bool = False  # one step per trial (configuration, size, fold, seed): train/trials.py
    # members of `writes` that a later step may delete once it no longer needs them: left out
    # of the step's output hashes, so that deleting them does not undo the step
    handover: tuple[str, ...] = ()


# What training a trial reads, and so evaluation too: the model, its prompt, the trial grid's
# axes, folds and repeats, and the items it trains on (drawn with split.seed).
TRIAL_READS = (
    "data",
    "model",
    "prompt",
    "lora",
    "train",
    "split.folds",
    "split.repeats",
    "split.seed",
)

SERIES = (
    Contract(
        "01_eda",
        "Data: source, cleaning, class balance, lengths",
        "loralab.data.eda.eda_step",
        writes=("corpus", "preprocess_steps", "near_duplicates", "provenance"),
        reads=("data", "model", "prompt", "train.seq_len", "split.seed", "evaluation.max_chunks"),
    ),
    Contract(
        "02_split",
        "Data: train/val/test split and leakage check",
        "loralab.data.splits.split_step",
        writes=("split_file", "split_counts", "leakage"),
        reads=("data", "split"),
        after=("01_eda",),
    ),
    Contract(
        "03_train",
        "Training, trial {trial}: curves, cost, model card",
        "loralab.train.loop.train_step",
        writes=(
            "train_dir",
            "adapter",
            "history",
            "val_predictions",
            "full_weights",
            "train_summary",
        ),
        handover=("full_weights",),
        reads=(
            *TRIAL_READS,
            "evaluation.batch_size",
            "evaluation.max_chunks",
            "evaluation.chunk_aggregate",
        ),
        after=("01_eda", "02_split"),
        per_trial=True,
    ),
    Contract(
        "04_evaluate",
        "Evaluation: every method on the test set, errors",
        "loralab.evaluate.step.evaluate_step",
        writes=(
            "results",
            "paired_predictions",
            "draw_predictions",
            "trials_table",
            "lr_optima",
            "lr_ratios",
            "selection_table",
            "fold_results",
            "evaluation",
            "confusion",
        ),
        reads=(*TRIAL_READS, "evaluation", "stats"),
        after=("02_split", "03_train"),
    ),
    Contract(
        "05_statistics",
        "Paired statistics: McNemar, bootstrap, Holm; cost",
        "loralab.stats.step.statistics_step",
        writes=("stat_tests",),
        reads=("stats",),
        after=("02_split", "04_evaluate"),  # the folds of the paired items: bootstrap strata
    ),
)
CONTRACTS = {c.notebook: c for c in SERIES}


@dataclass
class Step:
    notebook: str
    title: str
    parameters: dict = field(default_factory=dict)
    after: tuple[str, ...] = ()  # names of the steps whose outputs this one reads
    trial: str | None = None  # a training step's trial id: the folder it writes
    status: str = "not run"  # then queued, running, ok, failed or done earlier
    seconds: float | None = None  # running, queueing apart
    error: str | None = None
    backend: str | None = None  # local or ray
    node: str | None = None  # the machine (and Ray node) that ran it
    queued_seconds: float | None = None  # from submission to start, on Ray
    attempts: int | None = None  # starts seen; more than 1: Ray retried it, its worker died

    def __post_init__(self) -> None:
        if self.trial is None:  # rebuilt from run.json, which records the parameters
            self.trial = (self.parameters or {}).get("trial_id")

    @property
    def name(self) -> str:
        if self.trial:  # 03_train_r8-f0-s42
            return f"{self.notebook}_{self.trial}"
        suffix = "".join(f"_{k}{v}" for k, v in self.parameters.items())
        return self.notebook + suffix

    @property
    def html(self) -> str:
        return f"{self.name}.html"

    @property
    def contract(self) -> Contract | None:
        return CONTRACTS.get(self.notebook)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The folders inside the run folder that hold what the step writes."""
        if not self.contract:
            return ()
        return output_folders(self.contract, {**self.parameters, "trial": self.trial})

    @property
    def handover(self) -> tuple[str, ...]:
        """The files (relative to a run folder) the step writes for a later step to delete."""
        if not self.contract:
            return ()
        parameters = {**self.parameters, "trial": self.trial}
        run = RunPaths(Path("run"))
        return tuple(
            _member_path(run, name, parameters).relative_to(run.root).as_posix()
            for name in self.contract.handover
        )

    def record(self) -> dict:
        return {
            "name": self.name,
            "notebook": self.notebook,
            "title": self.title,
            "parameters": self.parameters,
            **{name: getattr(self, name) for name in RECORDED},
            "html": self.html,
        }


# What run.json keeps of a step beyond its identity; `loralab report` reads them back.
RECORDED = ("status", "seconds", "error", "backend", "node", "queued_seconds", "attempts")


def series(cfg: Config) -> list[Step]:
    """The steps of a study in order (data, split, a training run per trial, evaluation,
    statistics), built from SERIES."""
    steps: list[Step] = []
    for contract in SERIES:
        upstream = tuple(s.name for s in steps if s.notebook in contract.after)
        if contract.per_trial:
            for t in trials(cfg):
                title = contract.title.format(trial=t.id)
                parameters = trial_parameters(t)
                steps.append(Step(contract.notebook, title, parameters, upstream, t.id))
        else:
            steps.append(Step(contract.notebook, contract.title, {}, upstream))
    return steps


def output_folders(contract: Contract, parameters: dict) -> tuple[str, ...]:
    """The folders (relative to a run folder) of a contract's RunPaths members: a Folder member
    itself, a file's parent; a folder inside another is left out. A member's argument is the
    step parameter of that name (the trial), else the first of layout.PLACEHOLDERS for it (a
    confusion matrix's method)."""
    run = RunPaths(Path("run"))
    folders: list[str] = []
    for name in contract.writes:
        member = _member_path(run, name, parameters)
        returns = getattr(RunPaths, name)
        returns = get_type_hints(returns.fget if isinstance(returns, property) else returns)
        folder = member if returns["return"] is Folder else member.parent
        rel = folder.relative_to(run.root).as_posix()
        if rel == ".":
            raise ValueError(f"{contract.notebook}: {name} lies in the run folder itself")
        folders.append(rel)
    inside = {f for f in folders for g in folders if f.startswith(g + "/")}
    return tuple(dict.fromkeys(f for f in folders if f not in inside))


def _member_path(run: RunPaths, name: str, parameters: dict) -> Path:
    """A RunPaths member's path, called with the step's parameters (else placeholders)."""
    member = getattr(run, name)
    if callable(member):
        args = inspect.signature(member).parameters
        member = member(*(parameters.get(a) or PLACEHOLDERS[a][0] for a in args))
    return member


def missing_reads(contract: Contract, fields: set[str]) -> list[str]:
    """The params fields in `fields` (dotted) that the contract does not declare."""
    return sorted(f for f in fields if not declared(f, contract.reads))


def declared(key: str, prefixes: tuple[str, ...]) -> bool:
    """Whether a dotted params field falls under one of the declared prefixes."""
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def stages(steps: list[Step]) -> list[list[Step]]:
    """Consecutive steps of one notebook (the trials) form a stage that may run in parallel."""
    out: list[list[Step]] = []
    for step in steps:
        if out and out[-1][0].notebook == step.notebook:
            out[-1].append(step)
        else:
            out.append([step])
    return out
