"""A finished study exported as committed files, and the README's findings read from them."""

import json

import pytest

from loralab.findings import BEGIN, END, export, readme_block, verdict


def test_an_exported_finding_keeps_the_tables_and_says_when_where_and_at_what_cost(
    evaluated, tmp_path
):
    _, run, _, _ = evaluated
    measured = {"params": "p.yaml", "commit": "abc", "cpu": "some CPU", "dtype": "float32"}
    measured |= {"command": "loralab run p.yaml", "wall_min": 1.5, "peak_gib": 2.25}
    dest = export(run, tmp_path / "findings" / "tiny", measured)
    assert (dest / "eval" / "lr_optima.csv").is_file()
    assert (dest / "figures").is_dir() == run.figures.is_dir()  # the notebooks draw them
    assert not list(dest.rglob("*.safetensors"))  # no weights
    record = json.loads((dest / "finding.json").read_text())
    assert record["commit"] == "abc" and record["date"]
    block = readme_block(tmp_path / "findings")
    assert "1.5 min, peak 2.25 GiB" in block and "docs/findings/tiny" in block
    assert "Optimum learning rates [95% CI]: lora r=" in block


def test_a_ratio_is_read_against_its_anchor_and_the_rival_one():
    assert verdict(0.5, 2.0, (1.0,)) == "agrees"
    assert verdict(0.05, 0.5, (1.0,)) == "disagrees"
    assert verdict(0.1, 2.0, (1.0,), (0.18,)) == "cannot tell"
    assert verdict(3.0, 12.0, (10.0, 15.0)) == "agrees"


def test_the_readmes_findings_are_those_the_committed_files_give(repo):
    """Every number the README states about a study comes from docs/findings/."""
    text = (repo / "README.md").read_text()
    if BEGIN not in text:
        pytest.fail("README.md lacks the generated findings block")
    between = text.split(BEGIN)[1].split(END)[0]
    expected = readme_block(repo / "docs" / "findings")
    assert between == expected, "regenerate: .venv/bin/python -m loralab.findings"
