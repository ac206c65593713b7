"""Faults met by the runner: failing cells, injection through parameters, kills, locks, races."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from loralab.artifacts import read_jsonl
from loralab.errors import ConfigError, StepFailedError
from loralab.layout import NOTEBOOKS, RunPaths
from loralab.run import fingerprints
from loralab.run.execution import execute_step
from loralab.run.runner import run_series
from loralab.run.steps import Step

pytestmark = pytest.mark.slow
METRICS = ["method", "macro_f1", "macro_f1_low", "macro_f1_high", "accuracy", "f1_A", "f1_B"]


def _notebook(folder: Path, name: str, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('params_file = ""\nrun_dir = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")


@pytest.mark.parametrize(
    "cell, error",
    [
        ("raise RuntimeError('boom')", "RuntimeError: boom"),
        ("import sys\nsys.exit(1)", "SystemExit"),
        ("%load_ext no_such_extension", "ModuleNotFoundError"),
        ("%no_such_magic", "UsageError"),
    ],
)
def test_a_failing_cell_magic_or_exit_fails_the_step_and_keeps_the_notebook(tmp_path, cell, error):
    _notebook(tmp_path / "nb", "broken", "x = 1", cell, "y = 2")
    run = RunPaths(tmp_path / "run")
    with pytest.raises(StepFailedError) as exc:
        execute_step(Step("broken", "t"), run, tmp_path / "nb")
    assert exc.value.notebook == "broken" and error in exc.value.reason
    # the execution count shown as In [4]: parameters, injected parameters, x = 1, the fault
    assert exc.value.cell == 4
    kept = nbformat.read(exc.value.executed_path, as_version=4)
    assert "An Exception was encountered" in kept.cells[0].source  # papermill's banner
    assert kept.cells[-1].get("execution_count") is None  # nothing ran after the fault


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory, tiny_model_dir):
    """Params and data for a whole series on the tiny model: seconds per step."""
    import random

    root = tmp_path_factory.mktemp("tiny-study")
    rng = random.Random(0)
    rows = [
        {
            "id": f"{lab}-{i}",
            "label": lab,
            "text": f"{lab.lower()}x " + " ".join(f"w{rng.randrange(300)}" for _ in range(25)),
        }
        for lab in ("A", "B")
        for i in range(20)
    ]
    pd.DataFrame(rows).to_csv(root / "data.csv", index=False)
    params = {
        "data": {
            "path": str(root / "data.csv"),
            "labels": ["A", "B"],
            "verbalizers": {"A": ["alpha"], "B": ["beta"]},
        },
        "split": {"train": 0.6, "val": 0.2, "test": 0.2, "folds": 1},
        "model": {"name_or_path": str(tiny_model_dir)},
        "lora": {"ranks": [2, 4], "target_modules": ["q_proj", "v_proj"]},
        "train": {
            "epochs": 2,
            "seq_len": 64,
            "train_sizes": [None],
            "lrs": [0.01],
            "dtype": "float32",
            "device": "cpu",
        },
        "stats": {"bootstrap_resamples": 500},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def _run(study: Path, run_id: str, sets=(), **kw):
    lines = []
    index = run_series(
        study / "params.yaml",
        list(sets),
        run_id=run_id,
        executed_root=study / "executed",
        reports_root=study / "reports",
        log=lines.append,
        **kw,
    )
    return index, lines


@pytest.fixture(scope="module")
def uninterrupted(tiny_study):
    _run(tiny_study, "straight")
    return RunPaths(tiny_study / "executed/straight")


def _metrics(run: RunPaths) -> pd.DataFrame:
    return pd.read_csv(run.results)[METRICS]


def test_rerunning_a_finished_run_skips_every_step(tiny_study, uninterrupted):
    _, lines = _run(tiny_study, "straight")
    assert sum("done earlier with the same inputs, skipped" in line for line in lines) == 6


def test_an_edited_eval_field_reruns_only_evaluation_and_statistics(tiny_study, uninterrupted):
    _, lines = _run(tiny_study, "straight", ["evaluation.few_shot_k=2"])
    ran = [line.split(":")[0].split("] ")[1] for line in lines if line.endswith(" s")]
    assert ran == ["04_evaluate", "05_statistics"]
    _run(tiny_study, "straight")  # back to the original parameters for the other tests


def test_a_run_killed_in_training_resumes_to_the_same_results(tiny_study, uninterrupted):
    run = RunPaths(tiny_study / "executed/killed")
    cmd = [
        sys.executable,
        "-m",
        "loralab.run.cli",
        "run",
        str(tiny_study / "params.yaml"),
        "--run-id",
        "killed",
        "--executed",
        str(tiny_study / "executed"),
        "--reports",
        str(tiny_study / "reports"),
    ]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not (run.notebooks / "03_train_r2-f0-s42.ipynb").exists():
        assert time.time() < deadline and proc.poll() is None, "training never started"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not run.step_marker("03_train_r2-f0-s42").exists()  # nothing half-done taken as done
    _, lines = _run(tiny_study, "killed")
    assert any(line.startswith("[2/6] 02_split: done earlier") for line in lines)
    pd.testing.assert_frame_equal(_metrics(run), _metrics(uninterrupted))
    assert pd.read_csv(run.paired_predictions).equals(pd.read_csv(uninterrupted.paired_predictions))


def test_parallel_ranks_give_the_same_results_as_sequential(tiny_study, uninterrupted):
    _run(tiny_study, "parallel", jobs=2)
    run = RunPaths(tiny_study / "executed/parallel")
    leftovers = [p.name for p in NOTEBOOKS.iterdir() if p.suffix != ".ipynb"]
    assert not leftovers, f"kernels left files beside the notebooks: {leftovers}"
    pd.testing.assert_frame_equal(_metrics(run), _metrics(uninterrupted))
    for trial in ("r2-f0-s42", "r4-f0-s42"):
        assert pd.read_csv(run.history(trial))["val_loss"].tolist() == pytest.approx(
            pd.read_csv(uninterrupted.history(trial))["val_loss"].tolist()
        )


def test_two_runs_in_parallel_with_different_ids_both_finish_identically(tiny_study):
    errors = []

    def go(run_id):
        try:
            _run(tiny_study, run_id, only=["01_eda", "02_split"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(f"twin-{i}",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    a, b = (RunPaths(tiny_study / f"executed/twin-{i}") for i in (1, 2))
    for name in ("train", "val", "test"):
        assert a.split_file(name).read_bytes() == b.split_file(name).read_bytes()


def test_a_live_run_holds_its_folder(tiny_study):
    run = RunPaths(tiny_study / "executed/locked")
    run.root.mkdir(parents=True)
    run.lock.write_text(str(os.getpid()))  # this very process: alive
    with pytest.raises(ConfigError, match="another loralab run"):
        _run(tiny_study, "locked")
    run.lock.write_text("999999999")  # a dead pid: a killed run's leftover
    _run(tiny_study, "locked", only=["01_eda"])
    assert not run.lock.exists()


def test_parameters_are_data_never_code(tmp_path, tiny_study):
    evil = 'x"; import os; os.system("touch PWNED"); "\nline two'
    frame = pd.read_csv(tiny_study / "data.csv").replace({"label": {"A": evil}})
    frame.to_csv(tmp_path / "evil.csv", index=False)
    params = yaml.safe_load((tiny_study / "params.yaml").read_text())
    params["data"].update(
        path=str(tmp_path / "evil.csv"),
        labels=[evil, "B"],
        verbalizers={evil: ["alpha"], "B": ["beta"]},
    )
    (tmp_path / "evil.yaml").write_text(yaml.safe_dump(params))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        run_series(
            tmp_path / "evil.yaml",
            run_id="evil",
            executed_root=tmp_path / "e",
            reports_root=tmp_path / "r",
            log=lambda _: None,
            only=["01_eda", "02_split"],
        )
    finally:
        os.chdir(cwd)
    labels = set(read_jsonl(RunPaths(tmp_path / "e/evil").split_file("train"))["label"])
    assert labels == {evil, "B"}
    assert not list(tmp_path.rglob("PWNED")) and not (Path(cwd) / "PWNED").exists()
    with pytest.raises(ConfigError, match="--run-id"):
        run_series(tmp_path / "evil.yaml", run_id='a"; b', executed_root=tmp_path / "e")


def test_dataset_text_with_script_is_escaped_in_the_report(tmp_path, tiny_study):
    frame = pd.read_csv(tiny_study / "data.csv")
    frame["text"] = "<script>alert('x')</script> " + frame["text"]
    frame.to_csv(tmp_path / "xss.csv", index=False)
    index = run_series(
        tiny_study / "params.yaml",
        [f"data.path={tmp_path / 'xss.csv'}"],
        run_id="xss",
        executed_root=tmp_path / "e",
        reports_root=tmp_path / "r",
        log=lambda _: None,
        only=["01_eda", "02_split"],
    )
    page = (index.parent / "01_eda.html").read_text()
    assert "&lt;script&gt;alert" in page and "<script>alert" not in page


def test_a_missing_model_fails_the_first_step_that_needs_it(tmp_path, tiny_study):
    with pytest.raises(StepFailedError) as exc:
        run_series(
            tiny_study / "params.yaml",
            [f"model.name_or_path={tmp_path / 'gone'}"],
            run_id="nomodel",
            executed_root=tmp_path / "e",
            reports_root=tmp_path / "r",
            log=lambda _: None,
        )
    assert exc.value.notebook == "01_eda" and "ModelNotFoundError" in exc.value.reason
    assert "not found" in exc.value.reason


def _ran(lines: list[str]) -> list[str]:
    return [line.split(":")[0].split("] ")[1] for line in lines if line.endswith(" s")]


def test_edited_library_code_reruns_its_steps_and_notebook_prose_reruns_none(
    tmp_path, tiny_study, uninterrupted, monkeypatch
):
    shutil.copytree(uninterrupted.root, tiny_study / "executed/edited")
    _, lines = _run(tiny_study, "edited")
    assert _ran(lines) == []  # a copy of a finished run is done for the same inputs

    notebooks = shutil.copytree(NOTEBOOKS, tmp_path / "notebooks")
    nb = nbformat.read(notebooks / "03_train.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = ("# edited\n" if cell.cell_type == "code" else "Edited. ") + cell.source
    nbformat.write(nb, notebooks / "03_train.ipynb")
    _, lines = _run(tiny_study, "edited", notebooks_dir=notebooks)
    assert _ran(lines) == []  # markdown and comments are not inputs

    lib = shutil.copytree(
        fingerprints.LIB, tmp_path / "loralab", ignore=shutil.ignore_patterns("*.pyc")
    )
    monkeypatch.setattr(fingerprints, "LIB", lib)  # the fingerprints read the edited copy
    for module in (lib / "report").glob("*.py"):
        module.write_text(module.read_text() + "\nREWORDED = True\n")
    _, lines = _run(tiny_study, "edited")
    assert _ran(lines) == []  # rewording a table or headline re-runs no step

    loop = lib / "train" / "loop.py"
    loop.write_text(loop.read_text() + "\nEDITED = True\n")
    _, lines = _run(tiny_study, "edited")
    # evaluation follows because the trials' outputs (their measured times) change
    assert _ran(lines)[:3] == ["03_train_r2-f0-s42", "03_train_r4-f0-s42", "04_evaluate"]
    assert any(line.startswith("[1/6] 01_eda: done earlier") for line in lines)
    assert any(line.startswith("[2/6] 02_split: done earlier") for line in lines)
    run = RunPaths(tiny_study / "executed/edited")
    pd.testing.assert_frame_equal(_metrics(run), _metrics(uninterrupted))
