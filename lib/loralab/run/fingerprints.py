"""When a step counts as done: the fingerprint of its inputs, and the hashes of its outputs.

A step is done when its marker (`steps/<name>.json`, written last) holds the fingerprint of the
inputs it ran with, and every output file it recorded is still there with the same content. The
fingerprint covers what can change a step's outputs:

- the notebook's code cells, normalized: markdown, comments, blank lines and formatting left
  out, so a markdown or comment edit re-runs nothing (the report page keeps the old text until
  the step runs again for another reason);
- the source of every loralab module the step's library function imports, followed
  transitively through the library (imports inside functions too), normalized the same way and
  without docstrings, so editing `train/loop.py` re-runs training and, through its outputs,
  what comes after it; and the modules the notebook's cells import, followed the same way
  except into `loralab.report` (DISPLAY), which only draws or words what the steps wrote and
  which no step function imports: rewording a table or headline or recolouring a figure
  re-runs no step (`loralab report` renders the pages again; a step's own page shows the old
  figure until the step runs again for another reason);
- the declared params fields (but not config.PLACEMENT_FIELDS, which say where a trial runs)
  and the step's own parameters (the trial), so a changed
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
import io
import json
import tokenize
from pathlib import Path

from loralab.artifacts import read_json, write_json
from loralab.config import PLACEMENT_FIELDS, Config, dotted
from loralab.layout import RunPaths
from loralab.run.steps import Contract, Step, declared

LIB = Path(__file__).resolve().parents[1]  # the loralab package whose modules are fingerprinted
PACKAGE = "loralab"
DISPLAY = "loralab.report"  # only draws or words what steps wrote: never followed from cells


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def output_hashes(run: RunPaths, step: Step) -> dict[str, str]:
    """Content hash of every file the step wrote (temporary files, and those it hands over for
    a later step to delete, excluded)."""
    handover = set(step.handover)
    files = []
    for rel in step.outputs:
        target = run.root / rel
        files += sorted(target.rglob("*")) if target.is_dir() else [target]
    return {
        str(p.relative_to(run.root)): _sha256(p)
        for p in files
        if p.is_file()
        and not p.name.startswith(".tmp-")
        and p.relative_to(run.root).as_posix() not in handover
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
        "params": {
            key: value
            for key, value in fields.items()
            if declared(key, reads) and key not in PLACEMENT_FIELDS
        },
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
    """The loralab modules a step's code imports, followed through the library, inside
    functions too: everything the declared function's module reaches, and what the notebook's
    code cells reach without entering DISPLAY modules. Parent packages count, since importing
    a module runs them."""
    shown: set[str] = set()
    for code in cells:
        with contextlib.suppress(SyntaxError):
            shown |= imported_modules(ast.parse(code), PACKAGE, lib)
    function = {contract.function.rpartition(".")[0]} if contract else set()
    return sorted(_reached(function, lib) | _reached(shown, lib, stop=DISPLAY))


def _reached(start: set[str], lib: Path, stop: str | None = None) -> set[str]:
    """The modules `start` imports, transitively, never entering the package `stop`."""
    seen: set[str] = set()
    todo = sorted(m for m in start if not _inside(m, stop))
    while todo:
        name = todo.pop()
        path = module_path(name, lib)
        if name in seen or path is None:
            continue
        seen.add(name)
        _, candidates = _module_facts(path.read_text(encoding="utf-8"), name, _is_package(path))
        todo += sorted(m for m in _ours(candidates, lib) if not _inside(m, stop))
    return seen


def _inside(module: str, package: str | None) -> bool:
    return package is not None and (module == package or module.startswith(package + "."))


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


def package_digest(lib: Path | None = None) -> str:
    """Every loralab module as the fingerprints see it, hashed: two machines with the same
    digest run the same code, whatever version number they report."""
    lib = lib or LIB
    names = []
    for path in sorted(lib.rglob("*.py")):
        parts = path.relative_to(lib).with_suffix("").parts
        names.append(".".join((PACKAGE, *parts[: -1 if parts[-1] == "__init__" else None])))
    return _digest(module_hashes(names, lib))[:16]


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
