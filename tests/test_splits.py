import pandas as pd
import pytest

from loralab.config import SplitConfig
from loralab.data.eda import eda_step
from loralab.data.splits import class_counts, read_split, split_step, stratified_split
from loralab.errors import LeakageError
from loralab.layout import RunPaths


def test_split_is_stratified_and_every_class_is_in_every_split(make_rows):
    frame = make_rows(labels=("A", "B", "C"), per_class=31)
    split = stratified_split(frame, SplitConfig(), "t")
    counts = class_counts(frame.assign(split=split))
    for label in ("A", "B", "C"):
        assert counts.loc[label, ["train", "val", "test"]].tolist() == [25, 3, 3]
    assert counts.loc["total", "total"] == 93


def test_split_depends_on_ids_and_seed_not_row_order(make_rows):
    frame = make_rows(per_class=40)
    a = stratified_split(frame, SplitConfig(seed=7), "t")
    shuffled = frame.sample(frac=1, random_state=3)
    b = stratified_split(shuffled, SplitConfig(seed=7), "t").loc[frame.index]
    c = stratified_split(frame, SplitConfig(seed=8), "t")
    assert a.equals(b)
    assert not a.equals(c)


def test_split_files_are_identical_across_runs(tmp_path, file_config, make_rows, write_table):
    cfg = file_config(write_table(make_rows(per_class=30)))
    outputs = []
    for name in ("one", "two"):
        run = RunPaths(tmp_path / name)
        eda_step(cfg, run)
        split_step(cfg, run)
        outputs.append([run.split_file(s).read_bytes() for s in ("train", "val", "test")])
    assert outputs[0] == outputs[1]


def test_given_split_is_taken_unchanged(tmp_path, file_config, make_rows, write_table):
    frame = make_rows(per_class=10)
    frame["split"] = (["train"] * 6 + ["val"] * 2 + ["test"] * 2) * 2
    frame.loc[0, "split"] = " Validation "  # aliases and case are understood
    cfg = file_config(write_table(frame))
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    splits = split_step(cfg, run)
    assert splits.given
    expected = frame.assign(
        split=frame["split"].str.strip().str.lower().replace({"validation": "val"})
    )
    for name in ("train", "val", "test"):
        assert (
            read_split(run, name, 0)["id"].tolist()
            == expected.loc[expected["split"] == name, "id"].tolist()
        )


def test_exact_leakage_in_a_given_split_fails_and_writes_no_split(
    tmp_path, file_config, make_rows, write_table
):
    frame = make_rows(per_class=10)
    frame["split"] = (["train"] * 6 + ["val"] * 2 + ["test"] * 2) * 2
    frame.loc[9, "text"] = frame.loc[0, "text"]  # a training text again in test
    cfg = file_config(write_table(frame))
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    with pytest.raises(LeakageError, match=r"1 exact and 0 near-duplicate") as exc:
        split_step(cfg, run)
    assert "A-0" in str(exc.value) and "A-9" in str(exc.value)
    assert not run.split_file("train").exists()
    assert run.leakage.exists()


def test_near_leakage_is_found_and_warn_policy_goes_on(
    tmp_path, file_config, make_rows, write_table
):
    frame = make_rows(per_class=10)
    frame["split"] = (["train"] * 6 + ["val"] * 2 + ["test"] * 2) * 2
    words = frame.loc[0, "text"].split()
    frame.loc[8, "text"] = " ".join(words[:-1] + ["changed"])  # one word edited
    cfg = file_config(write_table(frame))
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    with pytest.raises(LeakageError, match="0 exact and 1 near-duplicate"):
        split_step(cfg, run)
    cfg.split.on_leakage = "warn"
    splits = split_step(cfg, run)
    assert not splits.leakage.clean
    summary = splits.leakage.summary().set_index("splits")
    assert summary.loc["train / test", "near"] == 1 and summary["exact"].sum() == 0


def test_drawn_split_has_no_leakage_on_clean_data(tmp_path, file_config, make_rows, write_table):
    cfg = file_config(write_table(make_rows(per_class=30)))
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    splits = split_step(cfg, run)
    assert splits.leakage.clean
    sizes = {s: len(read_split(run, s, 0)) for s in ("train", "val", "test")}
    assert sizes == {"train": 48, "val": 6, "test": 6}
    assert pd.read_csv(run.split_counts).set_index("label").loc["total", "total"] == 60


def test_folds_test_every_item_once_and_split_the_rest_per_class(
    tmp_path, file_config, make_rows, write_table
):
    cfg = file_config(write_table(make_rows(labels=("A", "B"), per_class=31)), split__folds=3)
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    split_step(cfg, run)
    tested = []
    for fold in range(3):
        parts = {name: read_split(run, name, fold) for name in ("train", "val", "test")}
        ids = [set(p["id"]) for p in parts.values()]
        assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
        assert sum(len(p) for p in parts.values()) == 62
        for part in parts.values():
            assert set(part["label"]) == {"A", "B"}
        assert abs(len(parts["val"]) / (len(parts["train"]) + len(parts["val"])) - 1 / 9) < 0.05
        tested += parts["test"]["id"].tolist()
    assert len(tested) == len(set(tested)) == 62


def test_folds_depend_on_ids_and_seed_not_row_order(tmp_path, file_config, make_rows, write_table):
    frame = make_rows(per_class=20)
    tests = []
    for name, rows in (("a", frame), ("b", frame.sample(frac=1, random_state=1))):
        run = RunPaths(tmp_path / name)
        cfg = file_config(write_table(rows, f"{name}.csv"), split__folds=4)
        eda_step(cfg, run)
        split_step(cfg, run)
        tests.append([sorted(read_split(run, "test", k)["id"]) for k in range(4)])
    assert tests[0] == tests[1]


def test_folds_with_a_given_split_are_refused(tmp_path, file_config, make_rows, write_table):
    frame = make_rows(per_class=10).assign(split=(["train"] * 6 + ["val"] * 2 + ["test"] * 2) * 2)
    cfg = file_config(write_table(frame), split__folds=2)
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    with pytest.raises(Exception, match="split.folds=1"):
        split_step(cfg, run)


def test_repeats_draw_the_folds_anew_and_keep_repeat_0(
    tmp_path, file_config, make_rows, write_table
):
    """2 folds x 3 repeats: every repeat tests every item once, repeat 0 is the folds of one
    repeat, and the later repeats deal the items differently."""
    data = write_table(make_rows(labels=("A", "B"), per_class=20))
    tested = {}
    for repeats in (1, 3):
        cfg = file_config(data, split__folds=2, split__repeats=repeats)
        run = RunPaths(tmp_path / f"r{repeats}")
        eda_step(cfg, run)
        splits = split_step(cfg, run)
        assert splits.folds == 2 * repeats
        assert ("drawn 3 times" in splits.describe(cfg.split)) == (repeats == 3)
        tested[repeats] = [sorted(read_split(run, "test", k)["id"]) for k in range(2 * repeats)]
    assert tested[3][:2] == tested[1]
    for r in range(3):
        pair = tested[3][2 * r : 2 * r + 2]
        assert sorted(pair[0] + pair[1]) == sorted(tested[1][0] + tested[1][1])
    assert tested[3][2] != tested[3][0] and tested[3][2] != tested[3][1]
    with pytest.raises(ValueError, match="split.folds to 2 or more"):
        SplitConfig(folds=1, repeats=2)
