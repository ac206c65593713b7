"""The steps of the series as one declared contract each, and when a step counts as done.

`SERIES` is the series as data: per step its notebook, the library function the notebook calls,
the `RunPaths` members the step writes, the params fields it reads and the steps whose outputs
it reads. `series(cfg)` builds the steps from it; `tests/test_steps.py` runs each notebook's
code on a tiny study with recording params and fails when a field read is not declared.

A step is done when its marker (`steps/<name>.json`, written last) holds the fingerprint of the
inputs it ran with, and every output file it recorded is still there with the same content. The
fingerprint covers what can change a step's outputs:

- the notebook's code cells, normalized: markdown, comments, blank lines and formatting left
  out, so a markdown or comment edit re-runs nothing (the report page keeps the old text until
  the step runs again for another reason);
- the source of every loralab module the step's code imports, followed transitively through
  the library (imports inside functions too), normalized the same way and without docstrings,
  so editing `training.py` re-runs training and, through its outputs, what comes after it;
- the declared params fields and the step's own parameters (the rank), so a changed
  `evaluation.*` field re-runs evaluation and statistics but not training (except
  `evaluation.batch_size`, which validation during training reads too);
- the content hashes of the upstream steps' outputs.

Installed packages (torch, transformers, ...) are not part of it, and a half-written step is
never taken as done.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import inspect
import io
import json
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_type_hints

from .artifacts import read_json, write_json
from .config import Config, dotted
from .layout import PLACEHOLDERS, Folder, RunPaths
from .trials import trial_parameters, trials

LIB = Path(__file__).resolve().parent  # the loralab package whose modules are fingerprinted
PACKAGE = "loralab"


@dataclass(frozen=True)
class Contract:
    """One step of the series, declared: what runs, what it reads and what it writes."""

    notebook: str
    title: str  # "{rank}" is filled in for a step per rank
    function: str  # the library function the notebook calls, dotted from the package
    writes: tuple[str, ...]  # RunPaths members; the step owns the folders they live in
    reads: tuple[str, ...]  # params fields read, as dotted prefixes ("data", "train.seq_len")
    after: tuple[str, ...] = ()  # notebooks whose outputs the step reads
    per_trial: bool = False  # one step per trial (rank, fold, seed), see trials.py


# What training a trial reads, and so evaluation too: the model, its prompt, the trials' ranks,
# folds and seeds, and the items LoRA trains on (drawn with split.seed).
TRIAL_READS = ("data", "model", "prompt", "lora", "train", "split.folds", "split.seed")

SERIES = (
    Contract(
        "01_eda",
        "Data: source, cleaning, class balance, lengths",
        "loralab.corpus.corpus_step",
        writes=("corpus", "preprocess_steps", "near_duplicates", "provenance"),
        reads=("data", "model", "prompt", "train.seq_len", "split.seed", "evaluation.max_chunks"),
    ),
    Contract(
        "02_split",
        "Data: train/val/test split and leakage check",
        "loralab.splits.split_step",
        writes=("split_file", "split_counts", "leakage"),
        reads=("data", "split"),
        after=("01_eda",),
    ),
    Contract(
        "03_train",
        "LoRA training, trial {trial}: curves, cost, adapter card",
        "loralab.training.train_step",
        writes=("train_dir", "adapter", "history", "val_predictions", "train_summary"),
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
        "loralab.evaluation.evaluate_step",
        writes=(
            "results",
            "results_markdown",
            "paired_predictions",
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
        "loralab.comparisons.statistics_step",
        writes=("stat_tests", "stats_markdown"),
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

    @property
    def contract(self) -> Contract | None:
        return CONTRACTS.get(self.notebook)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The folders inside the run folder that hold what the step writes."""
        if not self.contract:
            return ()
        return output_folders(self.contract, {**self.parameters, "trial": self.trial})

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
    """The steps of a study in order (data, split, a training run per trial, evaluation,
    statistics), built from SERIES."""
    steps: list[Step] = []
    for contract in SERIES:
        upstream = tuple(s.name for s in steps if s.notebook in contract.after)
        if contract.per_trial:
            for t in trials(cfg):
                title = contract.title.format(trial=t.id)
                parameters = trial_parameters(cfg, t)
                steps.append(Step(contract.notebook, title, parameters, upstream, t.id))
        else:
            steps.append(Step(contract.notebook, contract.title, {}, upstream))
    return steps


def output_folders(contract: Contract, parameters: dict) -> tuple[str, ...]:
    """The folders (relative to a run folder) of a contract's RunPaths members: a Folder member
    itself, a file's parent; a folder inside another is left out. A member's argument is the
    step parameter of that name (the rank), else the first of layout.PLACEHOLDERS for it (a
    confusion matrix's method)."""
    run = RunPaths(Path("run"))
    folders: list[str] = []
    for name in contract.writes:
        member = getattr(run, name)
        if callable(member):
            args = inspect.signature(member).parameters
            member = member(*(parameters.get(a) or PLACEHOLDERS[a][0] for a in args))
        returns = getattr(RunPaths, name)
        returns = get_type_hints(returns.fget if isinstance(returns, property) else returns)
        folder = member if returns["return"] is Folder else member.parent
        rel = folder.relative_to(run.root).as_posix()
        if rel == ".":
            raise ValueError(f"{contract.notebook}: {name} lies in the run folder itself")
        folders.append(rel)
    inside = {f for f in folders for g in folders if f.startswith(g + "/")}
    return tuple(dict.fromkeys(f for f in folders if f not in inside))


def missing_reads(contract: Contract, fields: set[str]) -> list[str]:
    """The params fields in `fields` (dotted) that the contract does not declare."""
    return sorted(f for f in fields if not _declared(f, contract.reads))


def _declared(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


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


def fingerprint(
    step: Step, cfg: Config, run: RunPaths, notebooks_dir: Path, lib: Path | None = None
) -> str:
    """What the step's outputs follow from (see the module docstring), hashed. `lib` is the
    loralab package folder whose modules are read (default: LIB, this package)."""
    lib = lib or LIB
    contract = step.contract
    cells = code_cells(notebooks_dir / f"{step.notebook}.ipynb")
    fields = dotted(cfg.model_dump(mode="json"))
    reads = contract.reads if contract else ()
    upstream = {}
    for name in step.after:
        marker = run.step_marker(name)
        upstream[name] = read_json(marker)["outputs"] if marker.is_file() else None
    payload = {
        "code": cells,
        "function": contract.function if contract else None,
        "modules": module_hashes(step_modules(cells, contract, lib), lib),
        "parameters": step.parameters,
        "params": {key: value for key, value in fields.items() if _declared(key, reads)},
        "upstream": upstream,
    }
    return _digest(payload)


def _digest(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def code_cells(notebook: Path) -> list[str]:
    """The notebook's code cells (the parameters cell included), each normalized; cells left
    empty by that (only comments) are dropped."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    sources = ("".join(c["source"]) for c in cells if c.get("cell_type") == "code")
    return [code for code in map(normalized_cell, sources) if code]


def normalized_cell(source: str) -> str:
    """A notebook cell as Python without comments, blank lines or formatting; IPython magics
    become the calls that IPython makes of them."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except ImportError:  # pragma: no cover - IPython comes with the notebook kernel
        pass
    return normalized_code(source, docstrings=True)


def normalized_code(source: str, docstrings: bool = False) -> str:
    """Source as `ast.unparse` writes it back: comments, blank lines and formatting left out,
    docstrings too unless `docstrings`. Source that does not parse loses its comments and
    blank lines only."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return _without_comments(source)
    if not docstrings:
        _drop_docstrings(tree)
    return ast.unparse(tree)


def _drop_docstrings(tree: ast.AST) -> None:
    scopes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if isinstance(node, scopes) and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:] or [ast.Pass()]


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(
        getattr(statement.value, "value", None), str
    )


def _without_comments(source: str) -> str:
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type != tokenize.COMMENT
        ]
        source = tokenize.untokenize(tokens)
    except (tokenize.TokenError, SyntaxError):
        pass
    return "\n".join(line.rstrip() for line in source.splitlines() if line.strip())


def step_modules(cells: list[str], contract: Contract | None, lib: Path = LIB) -> list[str]:
    """The loralab modules a step's code imports, followed through the library: those its
    notebook's code cells import, the declared function's module, then what they import,
    inside functions too. Parent packages count, since importing a module runs them."""
    start: set[str] = set()
    for code in cells:
        with contextlib.suppress(SyntaxError):
            start |= imported_modules(ast.parse(code), PACKAGE, lib)
    if contract:
        start.add(contract.function.rpartition(".")[0])
    seen: set[str] = set()
    todo = sorted(start)
    while todo:
        name = todo.pop()
        path = module_path(name, lib)
        if name in seen or path is None:
            continue
        seen.add(name)
        _, candidates = _module_facts(path.read_text(encoding="utf-8"), name, _is_package(path))
        todo += sorted(_ours(candidates, lib))
    return sorted(seen)


def imported_modules(tree: ast.AST, module: str, lib: Path, package: bool = False) -> set[str]:
    """The loralab modules (and their parent packages) that a module's code imports anywhere
    in it; `module` resolves relative imports (`package`: it is a package's __init__)."""
    return _ours(_import_candidates(tree, module, package), lib)


def _import_candidates(tree: ast.AST, module: str, package: bool) -> frozenset[str]:
    """Every module name an import in the tree may load: `from x import y` gives x and x.y."""
    here = module.split(".") if package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = here[: len(here) - node.level + 1] if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            found |= {base, *(f"{base}.{a.name}" for a in node.names)}
    return frozenset(found)


def _ours(candidates: frozenset[str], lib: Path) -> set[str]:
    """The candidates that are modules of the package inside `lib`, with their parents."""
    ours = {m for m in candidates if m == PACKAGE or m.startswith(PACKAGE + ".")}
    parents = {".".join(m.split(".")[:i]) for m in ours for i in range(1, m.count(".") + 1)}
    return {m for m in ours | parents if module_path(m, lib)}


@functools.lru_cache(maxsize=512)
def _module_facts(source: str, module: str, package: bool) -> tuple[str, frozenset[str]]:
    """(hash of the normalized source, import candidates) of a module's source text."""
    code = normalized_code(source)
    try:
        candidates = _import_candidates(ast.parse(source), module, package)
    except SyntaxError:
        candidates = frozenset()
    return hashlib.sha256(code.encode()).hexdigest(), candidates


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def module_path(name: str, lib: Path = LIB) -> Path | None:
    """The file of a loralab module inside `lib` (the package folder), or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = lib.joinpath(*parts[1:])
    for path in (base / "__init__.py", base.with_suffix(".py") if parts[1:] else None):
        if path is not None and path.is_file():
            return path
    return None


def module_hashes(modules: list[str], lib: Path = LIB) -> dict[str, str]:
    """Each module's normalized source (no comments, docstrings or formatting), hashed."""
    out = {}
    for name in modules:
        path = module_path(name, lib)
        out[name] = _module_facts(path.read_text(encoding="utf-8"), name, _is_package(path))[0]
    return out


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
