"""Where every file of a run lives: the one place that names paths inside a run folder.

executed/<run-id>/
  params.yaml              resolved parameters of the run
  run.json                 steps, their status and timings (written by the runner)
  steps/<step>.json        a step's fingerprint and output hashes, written when it is done
  notebooks/NN_name.ipynb  executed notebooks
  data/                    corpus after preprocessing, drop counts, near-duplicates
  split/                   train/val/test JSONL, class counts, leakage report
  train/r<rank>/           history.csv, summary.json, val_predictions.csv, adapter/
  eval/                    results.csv, paired_preds.csv, confusion_<method>.csv, tables
  stats/                   stat_tests.json, stats_table.md
  figures/                 PNGs the report page shows
reports/<run-id>/          index.html, one HTML page per notebook, figures/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

SPLITS = ("train", "val", "test")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = PROJECT_ROOT / "notebooks"
RUN_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True)
class RunPaths:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    @property
    def run_record(self) -> Path:
        return self.root / "run.json"

    def step_marker(self, name: str) -> Path:
        return self.root / "steps" / f"{name}.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    def executed_notebook(self, step: str) -> Path:
        return self.notebooks / f"{step}.ipynb"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    # data step
    @property
    def corpus(self) -> Path:
        return self.root / "data" / "corpus.jsonl"

    @property
    def preprocess_steps(self) -> Path:
        return self.root / "data" / "preprocess_steps.csv"

    @property
    def near_duplicates(self) -> Path:
        return self.root / "data" / "near_duplicates.csv"

    @property
    def provenance(self) -> Path:
        return self.root / "data" / "provenance.json"

    # split step
    def split_file(self, name: str) -> Path:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return self.root / "split" / f"{name}.jsonl"

    @property
    def split_counts(self) -> Path:
        return self.root / "split" / "class_counts.csv"

    @property
    def leakage(self) -> Path:
        return self.root / "split" / "leakage.json"

    # training step, one folder per rank
    def train_dir(self, rank: int) -> Path:
        return self.root / "train" / f"r{rank}"

    def history(self, rank: int) -> Path:
        return self.train_dir(rank) / "history.csv"

    def train_summary(self, rank: int) -> Path:
        return self.train_dir(rank) / "summary.json"

    def val_predictions(self, rank: int) -> Path:
        return self.train_dir(rank) / "val_predictions.csv"

    def adapter(self, rank: int) -> Path:
        return self.train_dir(rank) / "adapter"

    def trained_ranks(self) -> list[int]:
        """Ranks whose training finished (their summary, written last, exists)."""
        found = self.root.glob("train/r*/summary.json")
        return sorted(int(p.parent.name[1:]) for p in found if p.parent.name[1:].isdigit())

    # evaluation step
    @property
    def results(self) -> Path:
        return self.root / "eval" / "results.csv"

    @property
    def results_markdown(self) -> Path:
        return self.root / "eval" / "results_table.md"

    @property
    def paired_predictions(self) -> Path:
        return self.root / "eval" / "paired_preds.csv"

    @property
    def evaluation(self) -> Path:
        return self.root / "eval" / "evaluation.json"

    def confusion(self, method: str) -> Path:
        return self.root / "eval" / f"confusion_{method}.csv"

    # statistics step
    @property
    def stat_tests(self) -> Path:
        return self.root / "stats" / "stat_tests.json"

    @property
    def stats_markdown(self) -> Path:
        return self.root / "stats" / "stats_table.md"

    def figure(self, name: str) -> Path:
        return self.figures / f"{name}.png"


def run_paths(run_id: str, executed_root: Path, reports_root: Path) -> RunPaths:
    """The run folder of a `--run-id`, refused unless it is one folder right inside the executed
    and reports roots: `..`, a path or a link out would write the run (and its notebooks) over
    files elsewhere, such as the project's own notebooks/."""
    roots = (Path(executed_root), Path(reports_root))
    problem = _run_id_problem(run_id) or _link_problem(run_id, roots)
    if problem:
        raise ConfigError(
            f"--run-id {run_id!r}: {problem}\n"
            "  fix: name a folder of letters, digits, '-', '_' and '.', not starting with '.' and "
            "not a link elsewhere, e.g. --run-id smoke-1"
        )
    return RunPaths(Path(executed_root) / run_id)


def _run_id_problem(run_id: str) -> str | None:
    """What makes a run id other than one plain folder name, or None."""
    if not run_id:
        return "the run id is empty"
    if "/" in run_id or "\\" in run_id:
        return "a run id is one folder name, not a path"
    if run_id.startswith("."):
        return "'.' and '..' name the root and its parent, other names starting with '.' hide"
    if set(run_id) - RUN_ID_CHARS:
        return f"{''.join(sorted(set(run_id) - RUN_ID_CHARS))!r} may not appear in a run id"
    return None


def _link_problem(run_id: str, roots: tuple[Path, ...]) -> str | None:
    """Where a run id's folder, once links are followed, is not right inside its root, or None."""
    for root in roots:
        target = (root.resolve() / run_id).resolve()
        if target.parent != root.resolve():
            return f"{root / run_id} is a link to {target}, outside {root}"
    return None


def report_dir(run: RunPaths, reports_root: Path) -> Path:
    return Path(reports_root).resolve() / run.run_id
