"""A finished study exported as committed files, and the findings page read from them."""

import json

import pytest

from loralab.records import TrainSummary
from loralab.report.findings import BEGIN, END, export, findings_block, verdict


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
    block = findings_block(tmp_path / "findings")
    assert "1.5 min, peak 2.25 GiB" in block and "docs/findings/tiny" in block
    assert "Chosen by the validation label loss: fold 0, all items: lora r=" in block
    assert "Optimum learning rates" not in block  # one learning rate: no optimum to find


def test_a_ratio_is_read_against_its_anchor_and_the_rival_one():
    assert verdict(0.5, 2.0, (1.0,)) == "agrees"
    assert verdict(0.05, 0.5, (1.0,)) == "disagrees"
    assert verdict(0.1, 2.0, (1.0,), (0.18,)) == "cannot tell"
    assert verdict(3.0, 12.0, (10.0, 15.0)) == "agrees"


def test_the_findings_page_says_what_the_committed_files_give(repo):
    """Every number docs/findings.md states about a study comes from docs/findings/."""
    text = (repo / "docs" / "findings.md").read_text()
    if BEGIN not in text:
        pytest.fail("docs/findings.md lacks the generated findings block")
    between = text.split(BEGIN)[1].split(END)[0]
    expected = findings_block(repo / "docs" / "findings")
    assert between == expected, "regenerate: .venv/bin/python -m loralab.report.findings"


# what a summary holds beside a trial's axes, as a finished trial writes it
COST = {
    "best_epoch": 2,
    "epochs_run": 2,
    "val_macro_f1": 0.9,
    "val_accuracy": 0.9,
    "val_loss": 0.2,
    "trainable_params": 1,
    "trainable_mb": 0.1,
    "time_to_best_s": 1.0,
    "train_time_s": 1.0,
    "train_tokens_per_s": 1.0,
    "peak_memory_mb": 1.0,
    "precision": "cpu, weights float32, compute float32",
    "processes": 1,
    "train_items": 64,
    "val_items": 23,
    "adapter_bytes": 1,
}


def test_the_rule_before_is_read_from_the_same_trials_histories(tmp_path):
    """r=16 spells out the answer's format better (lower answer-token loss at its best epoch),
    r=8 tells the labels apart better (chosen by the label loss): the finding says both."""
    import pandas as pd

    from loralab.report.findings import choices_by_rule, study_block

    folder = tmp_path / "study"
    (folder / "eval").mkdir(parents=True)
    rows = [(0, "64", "lora", "lora", 8, 1e-3, True), (0, "64", "lora", "lora", 16, 1e-3, False)]
    columns = ["fold", "train_size", "method", "variant", "rank", "lr", "selected"]
    pd.DataFrame(rows, columns=columns).to_csv(folder / "eval" / "selection.csv", index=False)
    for rank, losses in ((8, [0.30, 0.25]), (16, [0.22, 0.19])):
        trial = folder / "train" / f"r{rank}"
        trial.mkdir(parents=True)
        axes = dict(zip(columns[:-1], (0, "64", "lora", "lora", rank, 1e-3), strict=True))
        TrainSummary(**COST, **axes, trial=trial.name, seed=42).write(trial / "summary.json")
        pd.DataFrame({"epoch": [1, 2], "val_loss": losses}).to_csv(trial / "history.csv")
    choices = choices_by_rule(folder)
    assert (choices["rank"].item(), choices["rank_before"].item()) == (8, 16)
    (folder / "stats").mkdir()
    (folder / "stats" / "stat_tests.json").write_text(json.dumps({"comparisons": []}))
    pd.DataFrame(columns=["method"]).to_csv(folder / "eval" / "results.csv", index=False)
    record = {"params": "p.yaml", "date": "d", "commit": "c", "cpu": "x", "dtype": "y"}
    (folder / "finding.json").write_text(json.dumps(record | {"command": "c", "wall_min": 1}))
    assert "lora r=8, lr 1e-3 (the answer-token loss, the rule before: lora r=16, lr 1e-3)" in (
        study_block(folder)
    )
