"""Every bad input a user can fix gets a DataError naming the file, the field and the fix."""

import pandas as pd
import pytest

from loralab.data.eda import eda_step
from loralab.data.splits import split_step
from loralab.errors import DataError
from loralab.layout import RunPaths


def _fail(cfg, tmp_path) -> DataError:
    run = RunPaths(tmp_path / "run")
    with pytest.raises(DataError) as exc:
        eda_step(cfg, run)
        split_step(cfg, run)
    return exc.value


def _assert_nothing_written(tmp_path):
    run = RunPaths(tmp_path / "run")
    assert not run.corpus.exists() and not run.split_file("train").exists()


def test_missing_file(tmp_path, file_config):
    err = _fail(file_config(tmp_path / "nope.csv"), tmp_path)
    assert "nope.csv" in str(err) and err.field == "data.path" and "file not found" in str(err)
    _assert_nothing_written(tmp_path)


def test_unreadable_encoding(tmp_path, file_config):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncaf\xe9 tumour,A\n".encode("latin-1"))
    err = _fail(file_config(path), tmp_path)
    assert "latin.csv" in str(err) and "not UTF-8" in str(err) and "iconv" in err.fix
    _assert_nothing_written(tmp_path)


@pytest.mark.parametrize(
    "column, key", [("text", "data.text_column"), ("label", "data.label_column")]
)
def test_missing_column(tmp_path, file_config, make_rows, write_table, column, key):
    path = write_table(make_rows().drop(columns=column))
    err = _fail(file_config(path), tmp_path)
    assert err.field == key and f"no column '{column}'" in str(err) and key in err.fix
    _assert_nothing_written(tmp_path)


def test_configured_label_absent(tmp_path, file_config, make_rows, write_table):
    path = write_table(make_rows(labels=("A", "C")))
    err = _fail(file_config(path), tmp_path)
    assert err.field == "data.labels" and "['B']" in str(err) and "'C'" in str(err)
    _assert_nothing_written(tmp_path)


def test_only_empty_texts(tmp_path, file_config, make_rows, write_table):
    frame = make_rows().assign(text="   ")
    err = _fail(file_config(write_table(frame)), tmp_path)
    assert "empty" in err.problem and "text" in str(err)
    _assert_nothing_written(tmp_path)


def test_single_class_after_cleaning(tmp_path, file_config, make_rows, write_table):
    frame = make_rows()
    frame.loc[frame["label"] == "B", "text"] = ""
    err = _fail(file_config(write_table(frame)), tmp_path)
    assert "only one class" in err.problem and err.field == "label"
    _assert_nothing_written(tmp_path)


def test_too_few_items_per_class_for_the_split(tmp_path, file_config, make_rows, write_table):
    frame = pd.concat(
        [make_rows(labels=("A",), per_class=30), make_rows(labels=("B",), per_class=4, seed=1)]
    )
    err = _fail(file_config(write_table(frame)), tmp_path)
    assert "{'B': 4}" in err.problem and "at least 6" in err.problem
    assert "split.val" in err.fix
    assert not RunPaths(tmp_path / "run").split_file("train").exists()


def test_unknown_split_values(tmp_path, file_config, make_rows, write_table):
    frame = make_rows().assign(split=["train"] * 30 + ["holdout"] * 10)
    err = _fail(file_config(write_table(frame)), tmp_path)
    assert err.field == "split" and "['holdout']" in err.problem and "train" in err.fix
    _assert_nothing_written(tmp_path)


def test_split_column_missing_a_split(tmp_path, file_config, make_rows, write_table):
    frame = make_rows().assign(split=["train"] * 30 + ["test"] * 10)
    err = _fail(file_config(write_table(frame)), tmp_path)
    assert "['val']" in err.problem


def test_duplicated_ids(tmp_path, file_config, make_rows, write_table):
    frame = make_rows()
    frame.loc[1, "id"] = frame.loc[0, "id"]
    err = _fail(file_config(write_table(frame)), tmp_path)
    assert err.field == "id" and "A-0" in err.problem


def test_unsupported_type_and_bad_jsonl(tmp_path, file_config):
    (tmp_path / "d.xlsx").write_text("x")
    assert "unsupported file type" in str(_fail(file_config(tmp_path / "d.xlsx"), tmp_path))
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": "A"}\nnot json\n')
    assert "d.jsonl:2" in str(_fail(file_config(tmp_path / "d.jsonl"), tmp_path))
