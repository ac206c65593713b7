"""The records one step hands the next: each written and read in records.py alone, a write
read back unchanged, and the files of older runs still read."""

import dataclasses
import json
import re

import pytest

from loralab.records import (
    Configuration,
    EvaluationRecord,
    LeakageRecord,
    Provenance,
    StatTestsRecord,
    TrainSummary,
)

STEP_RECORDS = ("provenance", "leakage", "train_summary", "evaluation", "stat_tests")


def test_no_module_but_records_reads_or_writes_a_step_record_by_its_keys(repo):
    member = "|".join(STEP_RECORDS)
    by_hand = re.compile(rf"(read|write)_json\([^)]*\.({member})\b")
    found = [
        f"{path.relative_to(repo)}:{n}"
        for path in sorted((repo / "lib" / "loralab").rglob("*.py"))
        if path.name != "records.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if by_hand.search(line)
    ]
    assert not found, found


@pytest.mark.parametrize(
    "record, member",
    [
        (Provenance, "provenance"),
        (LeakageRecord, "leakage"),
        (EvaluationRecord, "evaluation"),
        (StatTestsRecord, "stat_tests"),
    ],
)
def test_a_record_read_back_after_its_write_is_the_same(smoke_artifacts, record, member):
    run = smoke_artifacts()
    path = getattr(run, member)
    first = record.read(path)
    first.write(path)
    assert record.read(path) == first


def test_a_train_summary_reads_back_and_rejects_a_key_it_does_not_know(smoke_artifacts, tmp_path):
    run = smoke_artifacts()
    (trial,) = run.trained_trials()[:1]
    summary = TrainSummary.read(run.train_summary(trial))
    summary.write(tmp_path / "summary.json")
    again = TrainSummary.read(tmp_path / "summary.json")
    assert json.dumps(again.row()) == json.dumps(summary.row())  # NaN where older trials lack
    assert summary.configuration == Configuration(summary.variant, summary.rank, summary.lr)
    (tmp_path / "summary.json").write_text(json.dumps(summary.row() | {"renamed": 1}))
    with pytest.raises(TypeError, match="renamed"):
        TrainSummary.read(tmp_path / "summary.json")


def test_an_older_evaluation_record_is_read_with_what_that_run_did(smoke_artifacts):
    """The smoke fixture predates the typed record: selected_methods' keys, no lead
    configurations."""
    record = EvaluationRecord.read(smoke_artifacts().evaluation)
    assert record.lead_configurations == {}
    (lead,) = [c for c in record.choices if c.kind == "lora"]
    assert lead.method == record.selected_method == record.lead_of("lora") == record.lead
    assert record.long_text.mode == "truncate"
    assert dataclasses.replace(record, selected_method=None).lead == record.anchor == "zero_shot"
