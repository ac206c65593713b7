import argparse
import subprocess
import sys

import yaml

from loralab.run.cli import build_parser, main


def test_params_prints_resolved_yaml_with_help(capsys, repo):
    assert main(["params", str(repo / "params/smoke.yaml"), "--set", "train.epochs=2"]) == 0
    out = capsys.readouterr().out
    assert yaml.safe_load(out)["train"]["epochs"] == 2
    assert "# Most epochs per trial" in out


def test_bad_params_exit_1_with_the_message_and_no_traceback(capsys, tmp_path):
    (tmp_path / "p.yaml").write_text("lora: {ranks: [-1]}\n")
    assert (
        main(
            [
                "run",
                str(tmp_path / "p.yaml"),
                "--executed",
                str(tmp_path / "e"),
                "--reports",
                str(tmp_path / "r"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "p.yaml" in err and "lora.ranks" in err and "Traceback" not in err
    assert not (tmp_path / "e").exists()


def test_every_command_has_help():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for args in ([], *([c] for c in commands.choices)):
        out = subprocess.run(
            [sys.executable, "-m", "loralab.run.cli", *args, "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "usage: loralab" in out


def test_report_of_a_folder_that_is_no_run_says_so(capsys, tmp_path):
    assert main(["report", str(tmp_path)]) == 1
    assert "no run.json" in capsys.readouterr().err


def test_run_only_names_the_steps_there_are(capsys, repo, tmp_path):
    assert (
        main(
            [
                "run",
                str(repo / "params/smoke.yaml"),
                "--only",
                "01_eda,99_nope",
                "--executed",
                str(tmp_path / "e"),
                "--reports",
                str(tmp_path / "r"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "99_nope" in err and "05_statistics" in err


def test_trials_lists_the_grid_one_line_each(repo, capsys):
    assert main(["trials", str(repo / "params/sweep-smoke.yaml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "20 trials" and len(lines) == 21
    assert lines[0].split()[0] == "r2-lr0.0005-n8-f0-s1" and "full" in lines[4]
