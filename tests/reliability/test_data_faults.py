"""Faults in the data path beyond bad files: a huge text, a disk that fills up mid-write."""

import errno
import os

import pytest

from loralab.data.eda import eda_step
from loralab.data.splits import read_split, split_step
from loralab.layout import RunPaths
from loralab.model.loading import load_tokenizer
from loralab.model.prompts import PromptBuilder


def test_a_huge_single_text_is_kept_and_cut_to_the_prompt(
    tmp_path, file_config, make_rows, write_table, tiny_config
):
    frame = make_rows(per_class=15)
    frame.loc[0, "text"] = " ".join(f"t{i}" for i in range(300_000))  # about 2 MB
    cfg = file_config(write_table(frame))
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    split_step(cfg, run)
    splits = [read_split(run, s, 0) for s in ("train", "val", "test")]
    assert sum(len(s) for s in splits) == 30
    tcfg = tiny_config()
    builder = PromptBuilder(load_tokenizer(tcfg.model), tcfg.prompt, tcfg.data, 64)
    assert len(builder.prompt_ids(frame.loc[0, "text"])) + builder.max_answer == 64


def test_a_full_disk_during_the_split_keeps_the_previous_split_whole(
    tmp_path, file_config, make_rows, write_table, monkeypatch
):
    cfg = file_config(write_table(make_rows(per_class=20)))
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    split_step(cfg, run)
    before = {s: run.split_file(s).read_bytes() for s in ("train", "val", "test")}
    calls = {"n": 0}
    real_fsync = os.fsync

    def fill_up(fd):
        calls["n"] += 1
        if calls["n"] == 3:  # leakage.json and train.jsonl written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fill_up)
    cfg.split.seed = 7  # a different split, so a half-written one would show
    with pytest.raises(OSError, match="No space"):
        split_step(cfg, run)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert run.split_file("val").read_bytes() == before["val"]
    assert run.split_file("test").read_bytes() == before["test"]
    assert not list(run.root.rglob(".tmp-*"))
