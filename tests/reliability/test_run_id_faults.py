"""A `--run-id` that would put the run anywhere but one new folder inside executed/ is refused
before anything is written: `..` once wrote the run over the project's own notebooks."""

import hashlib

import pytest

from loralab.errors import ConfigError
from loralab.layout import RunPaths
from loralab.run.cli import main
from loralab.run.execution import execute_step
from loralab.run.steps import Step


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.ipynb")}


@pytest.mark.parametrize(
    "run_id, needle",
    [
        (".", "name the root and its parent"),
        ("..", "name the root and its parent"),
        (".hidden", "starting with '.'"),
        ("/tmp/elsewhere", "not a path"),
        ("evil", "is a link to"),
    ],
)
def test_a_run_id_outside_the_executed_folder_is_refused(capsys, repo, tmp_path, run_id, needle):
    (tmp_path / "e").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "e/evil").symlink_to(tmp_path / "outside")
    before = _digest(repo / "notebooks")
    args = ["run", str(repo / "params/smoke.yaml"), "--run-id", run_id, "--only", "01_eda"]
    args += ["--executed", str(tmp_path / "e"), "--reports", str(tmp_path / "r")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"--run-id {run_id!r}" in err and needle in err and "fix:" in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["e", "evil", "outside"]
    assert _digest(repo / "notebooks") == before


def test_an_executed_notebook_is_never_written_into_the_notebooks_folder(tmp_path):
    (tmp_path / "notebooks").mkdir()
    with pytest.raises(ConfigError, match="notebooks folder"):
        execute_step(Step("01_eda", "t"), RunPaths(tmp_path), tmp_path / "notebooks")
    assert not list((tmp_path / "notebooks").iterdir())
