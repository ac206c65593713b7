import pandas as pd

from loralab.config import DataConfig
from loralab.data.near_duplicates import near_duplicate_pairs
from loralab.data.preprocess import normalize_text, preprocess
from loralab.data.sources import LoadedData


def _loaded(frame: pd.DataFrame) -> LoadedData:
    return LoadedData(frame, "mem", has_split="split" in frame)


def _cfg(**kw) -> DataConfig:
    return DataConfig(labels=["A", "B"], verbalizers={}, **kw)


def test_normalize_text_collapses_whitespace_and_compatibility_forms():
    assert normalize_text("  ﬁbrosis\u00a0and\n\tCOPD  ") == "fibrosis and COPD"


def test_exact_duplicates_after_normalization_are_dropped(make_rows):
    frame = make_rows(per_class=5)
    frame.loc[1, "text"] = "  " + frame.loc[0, "text"].replace(" ", "\n ") + " "
    out = preprocess(_loaded(frame), _cfg())
    steps = out.step_table().set_index("step")
    assert steps.loc["drop exact duplicates", "dropped"] == 1
    assert len(out.frame) == 9 and "A-1" not in set(out.frame["id"])


def test_other_labels_are_counted_and_dropped(make_rows):
    out = preprocess(_loaded(make_rows(labels=("A", "B", "C"), per_class=4)), _cfg())
    step = out.step_table().set_index("step").loc["keep configured labels"]
    assert step["dropped"] == 4 and step["detail"] == "C: 4"


def test_rows_with_an_empty_label_are_named_in_the_drop_detail(make_rows):
    frame = make_rows(labels=("A", "B", "C"), per_class=4).replace({"label": {"C": ""}})
    frame.loc[0, "label"] = "C"
    step = preprocess(_loaded(frame), _cfg()).step_table().set_index("step")
    assert step.loc["keep configured labels", "detail"] == "empty label: 4, C: 1"


def test_near_duplicates_are_found_that_exact_dedupe_misses(make_rows):
    frame = make_rows(per_class=6)
    words = frame.loc[0, "text"].split()
    frame.loc[3, "text"] = " ".join(words[:-2] + ["edited"] + words[-1:])
    pairs = near_duplicate_pairs(frame["text"], 0.8)
    assert pairs[["a", "b"]].values.tolist() == [[0, 3]]
    assert 0.8 <= pairs.loc[0, "jaccard"] < 1
    out = preprocess(_loaded(frame), _cfg())
    assert len(out.near_duplicates) == 1 and len(out.frame) == 11
    kept = preprocess(_loaded(frame), _cfg(near_duplicates="keep"))
    assert len(kept.frame) == 12 and len(kept.near_duplicates) == 1


def test_unrelated_texts_are_not_near_duplicates(make_rows):
    assert near_duplicate_pairs(make_rows(per_class=50)["text"], 0.5).empty


def test_duplicates_across_given_splits_are_kept_for_the_leakage_check(make_rows):
    frame = make_rows(per_class=5).assign(split=["train", "train", "val", "test", "test"] * 2)
    frame.loc[3, "text"] = frame.loc[0, "text"]  # train and test share a text
    frame.loc[1, "text"] = frame.loc[0, "text"]  # two copies inside train
    out = preprocess(_loaded(frame), _cfg())
    assert set(out.frame["id"]) >= {"A-0", "A-3"} and "A-1" not in set(out.frame["id"])
