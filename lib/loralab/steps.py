"""The steps of the series, what each depends on, and when a step counts as done.

A step is done when its marker (`steps/<name>.json`, written last) holds the fingerprint of the
inputs it ran with, and every output file it recorded is still there with the same content. The
fingerprint covers the notebook's source, the step's own parameters, the params fields the step
reads, and the content hashes of its upstream steps' outputs. So a changed `evaluation.*` field
re-runs evaluation and statistics but not training (except `evaluation.batch_size`, which
validation during training reads too), and a half-written step is never taken as done.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .artifacts import read_json, write_json
from .config import Config, dotted
from .layout import RunPaths

# The params fields each notebook reads (dotted prefixes).
READS = {
    "01_eda": ("data", "model", "train.seq_len", "split.seed"),
    "02_split": ("data", "split"),
    "03_train": ("data", "model", "prompt", "lora", "train", "evaluation.batch_size"),
    "04_evaluate": ("data", "model", "prompt", "lora", "train", "evaluation", "stats"),
    "05_statistics": ("stats",),
}


@dataclass
class Step:
    notebook: str
    title: str
    parameters: dict = field(default_factory=dict)
    outputs: tuple[str, ...] = ()  # files or folders inside the run folder
    after: tuple[str, ...] = ()  # names of the steps whose outputs this one reads
    status: str = "not run"
    seconds: float | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        suffix = "".join(f"_{k}{v}" for k, v in self.parameters.items())
        return self.notebook + suffix

    @property
    def html(self) -> str:
        return f"{self.name}.html"

    def record(self) -> dict:
        return {
            "name": self.name,
            "notebook": self.notebook,
            "title": self.title,
            "parameters": self.parameters,
            "status": self.status,
            "seconds": self.seconds,
            "error": self.error,
            "html": self.html,
        }


def series(cfg: Config) -> list[Step]:
    """The steps of a study in order: data, split, a training run per rank, evaluation, stats."""
    trains = [
        Step(
            "03_train",
            f"LoRA training, rank {r}: curves, cost, adapter card",
            {"rank": r},
            (f"train/r{r}",),
            ("02_split",),
        )
        for r in cfg.lora.ranks
    ]
    return [
        Step("01_eda", "Data: source, cleaning, class balance, lengths", outputs=("data",)),
        Step(
            "02_split",
            "Data: train/val/test split and leakage check",
            outputs=("split",),
            after=("01_eda",),
        ),
        *trains,
        Step(
            "04_evaluate",
            "Evaluation: every method on the test set, errors",
            outputs=("eval",),
            after=("02_split", *(t.name for t in trains)),
        ),
        Step(
            "05_statistics",
            "Paired statistics: McNemar, bootstrap, Holm; cost",
            outputs=("stats",),
            after=("04_evaluate",),
        ),
    ]


def stages(steps: list[Step]) -> list[list[Step]]:
    """Consecutive steps of one notebook (the ranks) form a stage that may run in parallel."""
    out: list[list[Step]] = []
    for step in steps:
        if out and out[-1][0].notebook == step.notebook:
            out[-1].append(step)
        else:
            out.append([step])
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def output_hashes(run: RunPaths, step: Step) -> dict[str, str]:
    """Content hash of every file the step wrote (temporary files excluded)."""
    files = []
    for rel in step.outputs:
        target = run.root / rel
        files += sorted(target.rglob("*")) if target.is_dir() else [target]
    return {
        str(p.relative_to(run.root)): _sha256(p)
        for p in files
        if p.is_file() and not p.name.startswith(".tmp-")
    }


def fingerprint(step: Step, cfg: Config, run: RunPaths, notebooks_dir: Path) -> str:
    fields = dotted(cfg.model_dump(mode="json"))
    upstream = {}
    for name in step.after:
        marker = run.step_marker(name)
        upstream[name] = read_json(marker)["outputs"] if marker.is_file() else None
    payload = {
        "notebook": _sha256(notebooks_dir / f"{step.notebook}.ipynb"),
        "parameters": step.parameters,
        "params": {
            key: value
            for key, value in fields.items()
            if any(key == p or key.startswith(p + ".") for p in READS.get(step.notebook, ()))
        },
        "upstream": upstream,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def is_done(step: Step, run: RunPaths, fp: str) -> bool:
    marker = run.step_marker(step.name)
    if not marker.is_file():
        return False
    recorded = read_json(marker)
    return recorded.get("fingerprint") == fp and recorded.get("outputs") == output_hashes(run, step)


def mark_done(step: Step, run: RunPaths, fp: str) -> None:
    """Written last, after every output of the step: the step's proof of completion."""
    write_json(
        run.step_marker(step.name),
        {"fingerprint": fp, "outputs": output_hashes(run, step), "seconds": step.seconds},
    )
