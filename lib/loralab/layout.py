"""Where every file of a run lives: the one place that names paths inside a run folder.

The tree of a run folder is generated from `RunPaths` itself, each path with its member's
docstring: `run_folder_tree()`, printed by `python -m loralab.layout` and copied into
docs/architecture.md (a test keeps the copy exact).
"""

from __future__ import annotations

import inspect
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import NewType, get_type_hints

from loralab.errors import ConfigError

SPLITS = ("train", "val", "test")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = PROJECT_ROOT / "notebooks"
RUN_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
# A fully fine-tuned model's weights, in its trial's adapter folder
FULL_WEIGHTS = "model.safetensors"
# A Path that names a folder, not a file: the type says so, and the run-folder tree marks it "/".
Folder = NewType("Folder", Path)


@dataclass(frozen=True)
class RunPaths:
    """The paths of one run folder; every member that returns a path says what the file holds."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def params(self) -> Path:
        """resolved parameters of the run, with help comments"""
        return self.root / "params.yaml"

    @property
    def run_record(self) -> Path:
        """the runner's record of the steps (status, seconds, errors) and of tracking"""
        return self.root / "run.json"

    def step_marker(self, step: str) -> Path:
        """a done step's fingerprint and output hashes, written last"""
        return self.root / "steps" / f"{step}.json"

    @property
    def lock(self) -> Path:
        """held by the one runner working on this run folder"""
        return self.root / ".lock"

    @property
    def notebooks(self) -> Folder:
        """the executed notebooks"""
        return Folder(self.root / "notebooks")

    def executed_notebook(self, step: str) -> Path:
        """a step's executed notebook, errors kept visible"""
        return self.notebooks / f"{step}.ipynb"

    @property
    def figures(self) -> Folder:
        """the figures the notebooks draw and the report shows"""
        return Folder(self.root / "figures")

    def figure(self, name: str) -> Path:
        """one figure, as PNG"""
        return self.figures / f"{name}.png"

    # data step
    @property
    def corpus(self) -> Path:
        """cleaned items: id, text, label, [split], text_key, near_dup_group"""
        return self.root / "data" / "corpus.jsonl"

    @property
    def preprocess_steps(self) -> Path:
        """rows dropped at each preprocessing step, and why"""
        return self.root / "data" / "preprocess_steps.csv"

    @property
    def near_duplicates(self) -> Path:
        """near-duplicate pairs found: ids, labels, Jaccard"""
        return self.root / "data" / "near_duplicates.csv"

    @property
    def provenance(self) -> Path:
        """source, labelling rule, exclusions, corpus hash"""
        return self.root / "data" / "provenance.json"

    # split step
    def split_file(self, split: str, fold: int = 0) -> Path:
        """one fold's items of one split: id, text, label (fold 0 alone without folds)"""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return self.root / "split" / f"fold{fold}" / f"{split}.jsonl"

    @property
    def split_counts(self) -> Path:
        """items per label and split"""
        return self.root / "split" / "class_counts.csv"

    @property
    def leakage(self) -> Path:
        """exact and near-duplicate overlap between every pair of splits"""
        return self.root / "split" / "leakage.json"

    # training step, one folder per trial (configuration, size, fold, seed)
    def train_dir(self, trial: str) -> Folder:
        """everything training wrote for one trial, e.g. r8-f0-s42"""
        return Folder(self.root / "train" / trial)

    def history(self, trial: str) -> Path:
        """per epoch: train loss, val macro-F1/accuracy/loss/label loss, time, tok/s"""
        return self.train_dir(trial) / "history.csv"

    def train_summary(self, trial: str) -> Path:
        """best epoch, params, adapter size, times, memory; written last"""
        return self.train_dir(trial) / "summary.json"

    def val_predictions(self, trial: str) -> Path:
        """per val item: gold, the best epoch's prediction and scores"""
        return self.train_dir(trial) / "val_predictions.csv"

    def adapter(self, trial: str) -> Folder:
        """the best epoch's adapter (safetensors, config) or full weights, README.md (card)"""
        return Folder(self.train_dir(trial) / "adapter")

    def full_weights(self, trial: str) -> Path:
        """full fine-tuning: the best epoch's weights; evaluation deletes those it never scores"""
        return self.adapter(trial) / FULL_WEIGHTS

    def trained_trials(self) -> list[str]:
        """Trials whose training finished (their summary, written last, exists), by id."""
        return sorted(p.parent.name for p in self.root.glob("train/*/summary.json"))

    # evaluation step
    @property
    def results(self) -> Path:
        """per method: metrics with CIs, latency, cost; written last"""
        return self.root / "eval" / "results.csv"

    @property
    def trials_table(self) -> Path:
        """per trial: its axes, best epoch, validation losses and macro-F1, test macro-F1, cost"""
        return self.root / "eval" / "trials.csv"

    @property
    def lr_optima(self) -> Path:
        """per method, variant, rank and size: the optimum learning rate with its interval"""
        return self.root / "eval" / "lr_optima.csv"

    @property
    def lr_ratios(self) -> Path:
        """optimum learning rates set against each other: large rank / small, LoRA / full"""
        return self.root / "eval" / "lr_ratios.csv"

    @property
    def selection_table(self) -> Path:
        """per fold, size and method: each configuration's validation results, chosen marked"""
        return self.root / "eval" / "selection.csv"

    @property
    def draw_predictions(self) -> Path:
        """per test item, method and draw (seed, few-shot draw): repeat, prediction"""
        return self.root / "eval" / "draw_predictions.csv"

    @property
    def fold_results(self) -> Path:
        """per method and fold: macro-F1, accuracy, per-class F1 on the fold's test items"""
        return self.root / "eval" / "fold_results.csv"

    @property
    def paired_predictions(self) -> Path:
        """per test item: id, gold, every method's prediction and score"""
        return self.root / "eval" / "paired_preds.csv"

    @property
    def evaluation(self) -> Path:
        """the selected configurations and the rule, every configuration's val results, roles"""
        return self.root / "eval" / "evaluation.json"

    def confusion(self, method: str) -> Path:
        """one method's confusion matrix on the test set"""
        return self.root / "eval" / f"confusion_{method}.csv"

    # statistics step
    @property
    def stat_tests(self) -> Path:
        """every comparison: McNemar b, c, p; bootstrap Δ, CI, p; Holm"""
        return self.root / "stats" / "stat_tests.json"


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
    """the report: index.html, an HTML page per notebook, figures/"""
    return Path(reports_root).resolve() / run.run_id


# What the tree shows for each argument of a RunPaths method, by parameter name. The methods only
# format their argument into a file name, so a placeholder string stands in for a trial too.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "step": ("<step>",),
    "name": ("<name>",),
    "split": SPLITS,
    "fold": ("<k>",),
    "trial": ("<trial>",),
    "method": ("<method>",),
}


def run_folder_tree() -> str:
    """The files of a run folder and of its report, each with what it holds, built from RunPaths
    so that the documented layout cannot drift from the code (`python -m loralab.layout`)."""
    root, reports = Path("executed", "<run-id>"), Path("reports")
    run = RunPaths(root)
    report = reports / report_dir(run, reports).relative_to(reports.resolve())
    rows = [(f"  {path}", doc) for path, doc in sorted(_path_rows(run), key=_tree_order)]
    rows.append((f"{report.as_posix()}/", inspect.getdoc(report_dir)))
    width = max(len(path) for path, _ in rows)
    lines = [f"{root.as_posix()}/"] + [f"{path:<{width}}  {doc}" for path, doc in rows]
    return "\n".join(lines) + "\n"


def _path_rows(run: RunPaths) -> list[tuple[str, str]]:
    """(path relative to the run folder, docstring) for every RunPaths member that returns a
    path, called with each placeholder of its argument; folders end in "/"."""
    rows = []
    for name, returns in _path_members().items():
        member = getattr(run, name)
        paths = [member] if isinstance(member, Path) else _placeholder_calls(member)
        doc = inspect.getdoc(getattr(RunPaths, name))
        for path in paths:
            rel = path.relative_to(run.root).as_posix()
            rows.append((rel + "/" if returns is Folder else rel, doc))
    return rows


def _path_members() -> dict[str, object]:
    """RunPaths members whose return type is Path or Folder, by name: read from the annotations,
    so a new member is in the tree as soon as it is typed."""
    members = {}
    for name, member in vars(RunPaths).items():
        function = member.fget if isinstance(member, property) else member
        if inspect.isfunction(function):
            returns = get_type_hints(function).get("return")
            if returns in (Path, Folder):
                members[name] = returns
    return members


def _placeholder_calls(method) -> list[Path]:
    """A RunPaths method called once per combination of its arguments' placeholders."""
    names = list(inspect.signature(method).parameters)
    return [method(*values) for values in itertools.product(*(PLACEHOLDERS[n] for n in names))]


def _tree_order(row: tuple[str, str]) -> tuple:
    """Files at the top first, then folder by folder, each folder's own line before its files."""
    path = row[0]
    folder = path.rstrip("/") if path.endswith("/") else path.rpartition("/")[0]
    return (folder != "", folder, not path.endswith("/"), path)


if __name__ == "__main__":
    print(run_folder_tree(), end="")
