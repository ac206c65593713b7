"""What a JupyterLab user meets after `make lab`: the notebooks open with the project's kernel,
and each runs top to bottom with the defaults of its parameters cell, nothing injected."""

import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

from loralab.config import config_to_yaml, load_config
from loralab.layout import NOTEBOOKS, RunPaths

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_the_notebooks_ask_for_the_projects_registered_kernel():
    spec = KernelSpecManager().get_kernel_spec("loralab")  # `make install` registers it
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        assert nbformat.read(path, 4).metadata.kernelspec.name == "loralab", path.name


def outputs(nb, kind: str) -> list:
    return [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == kind]


@pytest.mark.slow
def test_every_notebook_runs_top_to_bottom_with_its_defaults(repo, tmp_path):
    """Run All in each notebook, in series order, in a copy of the project: the defaults cell
    points at ../params/default.yaml and ../executed/interactive, relative to notebooks/. The
    copy's default.yaml holds the smoke study, resolved: the notebooks run unchanged, at the
    cost of a smoke run (the default study took 15 min of the suite on a 2-core AVX2 CPU)."""
    project = tmp_path / "clone"
    for folder in ("notebooks", "params"):
        shutil.copytree(repo / folder, project / folder)
    smoke = config_to_yaml(load_config(repo / "params/smoke.yaml"))
    (project / "params/default.yaml").write_text(smoke)
    executed = {}
    for path in sorted((project / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, 4)
        NotebookClient(
            nb, timeout=1800, resources={"metadata": {"path": str(path.parent)}}
        ).execute()
        assert not outputs(nb, "error"), path.name
        executed[path.stem] = nb
    run = RunPaths(project / "executed" / "interactive")
    first = load_config(repo / "params/smoke.yaml").lora.ranks[0]
    assert run.trained_trials() == [f"r{first}-f0-s42"]  # rank = None: the first of lora.ranks
    assert run.results.is_file() and run.stat_tests.is_file()
    shown = [o.data for o in outputs(executed["04_evaluate"], "display_data")]
    assert any(WIDGET_VIEW in d for d in shown)  # the error browser is a live widget here
