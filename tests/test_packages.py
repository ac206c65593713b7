"""The library's shape: stage packages that import only what comes before them, no import
cycle, and each package's public face named in its `__all__`."""

import ast
import graphlib
from pathlib import Path

import pytest

# The stages in import order: a module may import from its own stage and those before it.
# "": the base modules at the top of the package (errors, config, layout, records, ...).
STAGES = ["", "data", "stats", "model", "train", "evaluate", "report", "run"]


def _modules(lib: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    out = {}
    for path in lib.rglob("*.py"):
        parts = path.relative_to(lib.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(lib: Path) -> dict[str, set[str]]:
    """What each module imports of the library, anywhere in it (inside functions too)."""
    modules = _modules(lib)
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                subs = {f"{node.module}.{a.name}" for a in node.names}
                found |= (subs & modules.keys()) or {node.module}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or parts[1:] and parts[1] in STAGES else ""


@pytest.fixture(scope="module")
def graph(repo):
    return _imports(repo / "lib" / "loralab")


def test_every_module_sits_in_a_declared_stage(repo, graph):
    assert {_stage(m) for m in graph} <= set(STAGES)
    folders = {
        p.name for p in (repo / "lib" / "loralab").iterdir() if (p / "__init__.py").is_file()
    }
    assert folders == set(STAGES) - {""}


def test_stages_import_only_from_themselves_and_the_stages_before(graph):
    upward = [
        f"{module} -> {imported}"
        for module, imports in graph.items()
        for imported in imports
        if module != "loralab.__main__"
        and STAGES.index(_stage(imported)) > STAGES.index(_stage(module))
    ]
    assert not upward, upward


def test_no_module_imports_itself_back(graph):
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_each_stage_package_names_its_modules_in_all(repo):
    for stage in STAGES[1:]:
        folder = repo / "lib" / "loralab" / stage
        init = ast.parse((folder / "__init__.py").read_text(encoding="utf-8"))
        assert ast.get_docstring(init), f"{stage}/__init__.py: say what the stage holds"
        (assign,) = [n for n in init.body if isinstance(n, ast.Assign)]
        names = ast.literal_eval(assign.value)
        files = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
        subpackages = {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
        assert sorted(names) == sorted(files | subpackages), stage


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    lib = tmp_path / "loralab"
    for stage in ("data", "run"):
        (lib / stage).mkdir(parents=True)
        (lib / stage / "__init__.py").write_text("")
    (lib / "__init__.py").write_text("")
    (lib / "data" / "a.py").write_text("from loralab.run.b import f\n")
    (lib / "run" / "b.py").write_text("def f():\n    from loralab.data import a\n")
    graph = _imports(lib)
    assert graph["loralab.data.a"] == {"loralab.run.b"}
    assert graph["loralab.run.b"] == {"loralab.data.a"}
    assert STAGES.index(_stage("loralab.run.b")) > STAGES.index(_stage("loralab.data.a"))
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter(graph).static_order())
