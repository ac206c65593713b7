"""Bad parameters stop `loralab run` before anything is written, naming the file and the key."""

import pytest

from loralab.run.cli import main


@pytest.mark.parametrize(
    "sets, needles",
    [
        (["train.epoch=3"], ["--set train.epoch", "did you mean 'train.epochs'"]),
        (["train.lrs=[fast]"], ["train.lrs", "valid number", "'fast'"]),
        (["train.lr=0.001"], ["unknown key 'train.lr'", "now train.lrs, a list"]),
        (["train.max_train_items=8"], ["now train.train_sizes", "null: all"]),
        (["train.lrs=[0.001, 0.001]"], ["train.lrs", "distinct"]),
        (["split.test=0.5"], ["must sum to 1"]),
        (["lora.ranks=[0]"], ["lora.ranks", "positive integer"]),
        (["data.labels=[0,1]"], ["--set data.labels=[0, 1]: data.labels.0", "valid string"]),
    ],
)
def test_bad_parameters_end_cleanly(capsys, repo, tmp_path, sets, needles):
    args = [
        "run",
        str(repo / "params/smoke.yaml"),
        "--executed",
        str(tmp_path / "e"),
        "--reports",
        str(tmp_path / "r"),
    ]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "params/smoke.yaml" in err and all(n in err for n in needles), err
    assert not (tmp_path / "e").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "files, chain",
    [
        ({"a.yaml": "extends: a.yaml\n"}, ["a.yaml", "a.yaml"]),
        (
            {"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"},
            ["a.yaml", "b.yaml", "a.yaml"],
        ),
    ],
)
def test_params_files_that_extend_each_other_end_cleanly(capsys, tmp_path, files, chain):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = ["run", str(tmp_path / "a.yaml"), "--executed", str(tmp_path / "e")]
    assert main([*args, "--reports", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert " extends ".join(str(tmp_path / n) for n in chain) in err and "fix:" in err, err
    assert not (tmp_path / "e").exists() and not (tmp_path / "r").exists()
