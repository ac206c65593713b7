"""tracking.py against real sqlite MLflow stores: what a run folder becomes in MLflow, that
logging again repeats nothing, and that a tracker problem never costs the study.

Fast tests log copies of tests/fixtures/smoke-run (artifacts, no notebooks or adapters: the
tests add stand-ins). Slow tests read the tracked smoke sweep (conftest's `sweep`), resume it,
and open its MLflow runs in the MLflow UI in headless Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from loralab.artifacts import read_json
from loralab.config import build_config, load_config, save_config
from loralab.errors import ConfigError
from loralab.layout import NOTEBOOKS, RunPaths
from loralab.records import Provenance
from loralab.run.cli import main
from loralab.run.fingerprints import fingerprint
from loralab.run.runner import run_series
from loralab.run.steps import Step, series
from loralab.run.tracking import Tracker, run_params, track_run

FIXTURE_TRIALS = {"r2-f0-s42", "r4-f0-s42"}


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow sqlite database with its tables made: each test copies it, since MLflow's
    schema migrations take seconds per new database."""
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, empty_store) -> str:
    """The URI of a fresh sqlite store in tmp_path/tracker/."""
    target = tmp_path / "tracker" / "mlflow.db"
    target.parent.mkdir()
    shutil.copy(empty_store, target)
    return f"sqlite:///{target}"


@pytest.fixture
def fixture_run(smoke_artifacts, tmp_path) -> tuple[RunPaths, Path]:
    """A copy of the smoke-run fixture with stand-ins for what it lacks: an executed notebook,
    a report bundle and one trial's adapter. Returns the run and its reports root."""
    run = smoke_artifacts()
    run.executed_notebook("01_eda").parent.mkdir()
    run.executed_notebook("01_eda").write_text("{}")
    run.adapter("r4-f0-s42").mkdir()
    (run.adapter("r4-f0-s42") / "adapter_config.json").write_text('{"r": 4}')
    reports = tmp_path / "reports"
    (reports / run.run_id).mkdir(parents=True)
    (reports / run.run_id / "index.html").write_text("<html>report</html>")
    return run, reports


def logged(uri: str, run_id: str) -> tuple:
    """(parent, {trial id: nested run}) of a loralab run: exactly one parent, and every other
    run of that run id nested under it, one per trial."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("loralab")
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.`loralab.run_id` = '{run_id}'", max_results=1000
    )
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    nested = {r.data.tags["loralab.trial_id"]: r for r in runs if r not in parents}
    assert len(nested) == len(runs) - 1, "two nested runs for one trial"
    assert {r.data.tags["mlflow.parentRunId"] for r in nested.values()} == {parents[0].info.run_id}
    return parents[0], nested


def artifact_paths(uri: str, run_id: str, path: str | None = None) -> set[str]:
    """Every artifact file of an MLflow run, walked through its folders."""
    client, found = MlflowClient(uri), set()
    for item in client.list_artifacts(run_id, path):
        found |= artifact_paths(uri, run_id, item.path) if item.is_dir else {item.path}
    return found


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in MlflowClient(uri).get_metric_history(run_id, key)]


def closed_port() -> int:
    """A localhost port that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- params -------------------------------------------------------------------------------


def test_tracking_is_off_by_default_and_a_folder_uri_is_refused():
    assert build_config({}, "t").tracking.mlflow_uri == ""
    for uri in ("sqlite:///mlflow.db", "http://localhost:5000", "databricks"):
        assert build_config({}, "t", {"tracking.mlflow_uri": uri}).tracking.mlflow_uri == uri
    for uri in ("./mlruns", "file:///tmp/mlruns"):
        with pytest.raises(ConfigError) as exc:
            build_config({}, "p.yaml", {"tracking.mlflow_uri": uri})
        assert "tracking.mlflow_uri" in str(exc.value) and "sqlite:///mlflow.db" in str(exc.value)


def test_tracking_fields_change_no_fingerprint(tmp_path):
    """No step reads `tracking`: turning a tracker on re-runs nothing."""
    run = RunPaths(tmp_path / "run")
    plain = build_config({}, "t", {"split.folds": 1})
    tracked = build_config(
        {},
        "t",
        {"split.folds": 1, "tracking.mlflow_uri": "sqlite:///x.db", "tracking.experiment": "e"},
    )
    other_seed = build_config({}, "t", {"split.folds": 1, "split.seed": 7})  # the check can fail
    prints = {
        name: [fingerprint(s, cfg, run, NOTEBOOKS) for s in series(cfg)]
        for name, cfg in (("plain", plain), ("tracked", tracked), ("seed", other_seed))
    }
    assert prints["tracked"] == prints["plain"]
    assert prints["seed"] != prints["plain"]


def test_without_mlflow_a_set_uri_is_a_config_error_and_no_uri_needs_none(monkeypatch, fixture_run):
    run, _ = fixture_run
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    off = Tracker(load_config(run.params), run, print, "p.yaml")
    off.step_done(Step("03_train", "t", {"trial_id": "r2-f0-s42"}))
    off.finish(run.root / "no-report", failed=False)
    assert "tracking" not in read_json(run.run_record)
    cfg = build_config({}, "t", {"tracking.mlflow_uri": "sqlite:///x.db"})
    with pytest.raises(ConfigError) as exc:
        Tracker(cfg, run, print, "p.yaml")
    assert "tracking.mlflow_uri" in str(exc.value) and "pip install 'loralab[mlflow]'" in str(
        exc.value
    )


# ---- what a run folder becomes in MLflow --------------------------------------------------


def test_loralab_track_logs_a_finished_run(fixture_run, store, capsys):
    run, reports = fixture_run
    argv = ["track", str(run.root), "--uri", store, "--reports", str(reports)]
    assert main(argv) == 0
    parent, nested = logged(store, run.run_id)
    assert capsys.readouterr().out.strip() == f"MLflow run: {parent.info.run_id}"
    assert read_json(run.run_record)["tracking"] == {
        "uri": store,
        "status": "ok",
        "error": None,
        "mlflow_run_id": parent.info.run_id,
    }

    # the parent: params, tags, results per method, paired tests, artifacts
    cfg = load_config(run.params)
    assert parent.data.params == run_params(cfg)
    assert parent.data.params["lora.ranks"] == "[2, 4]" and "train.epochs" in parent.data.params
    assert not [k for k in parent.data.params if k.startswith("tracking.")]
    tags = parent.data.tags
    assert tags["loralab.data_hash"] == Provenance.read(run.provenance).corpus_hash
    assert tags["loralab.params_file"] == "params/smoke.yaml"
    assert tags["loralab.model"] == cfg.model.name_or_path
    assert f"{os.cpu_count()} cores" in tags["loralab.cpu"]
    assert tags["loralab.precision"] == "cpu, weights float32, compute float32"
    assert tags["loralab.primary"] == "lora_r4 vs tfidf_all"
    assert parent.info.status == "FINISHED"
    metrics = parent.data.metrics
    for row in pd.read_csv(run.results).to_dict("records"):
        for key in ("macro_f1", "macro_f1_low", "macro_f1_high", "accuracy", "trainable_mb"):
            assert metrics[f"{key}/{row['method']}"] == pytest.approx(row[key]), key
    assert metrics["latency_p50_ms/zero_shot"] > 0
    for test in read_json(run.stat_tests)["comparisons"]:
        pair = f"{test['method']}-vs-{test['baseline']}"
        for key in ("delta_macro_f1", "delta_low", "delta_high", "bootstrap_p", "mcnemar_b"):
            assert metrics[f"{key}/{pair}"] == pytest.approx(test[key]), (key, pair)
        if test["primary"]:
            assert metrics["mcnemar_c/primary"] == test["mcnemar_c"]
    assert artifact_paths(store, parent.info.run_id) == {
        "report/index.html",
        "notebooks/01_eda.ipynb",
        "run/params.yaml",
        "run/run.json",
        "run/results.csv",
        "run/stat_tests.json",
    }
    beside_db = Path(store.removeprefix("sqlite:///")).parent / "mlartifacts"
    assert list(beside_db.rglob("report/index.html")), "artifacts are not beside the database"

    # a nested run per trial: axes, per-epoch curves, cost, adapter
    assert set(nested) == FIXTURE_TRIALS
    r4 = nested["r4-f0-s42"]
    assert r4.data.params == {
        "variant": "lora",
        "rank": "4",
        "lr": "0.0005",
        "train_size": "8",
        "fold": "0",
        "seed": "42",
    }
    curve = pd.read_csv(run.history("r4-f0-s42"))
    assert history(store, r4.info.run_id, "train_loss") == list(
        zip(curve["epoch"], curve["train_loss"], strict=True)
    )
    assert history(store, r4.info.run_id, "val_macro_f1")[0][1] == curve["val_macro_f1"][0]
    summary = read_json(run.train_summary("r4-f0-s42"))
    for key in ("train_time_s", "train_tokens_per_s", "peak_memory_mb"):
        assert r4.data.metrics[key] == pytest.approx(summary[key]), key
    assert r4.data.metrics["best_val_loss"] == pytest.approx(summary["val_loss"])
    assert artifact_paths(store, r4.info.run_id) == {"adapter/adapter_config.json"}
    assert artifact_paths(store, nested["r2-f0-s42"].info.run_id) == set()


def test_logging_again_adds_no_runs_and_no_points(fixture_run, store):
    run, reports = fixture_run
    track_run(run.root, store, reports, log=print)
    parent, nested = logged(store, run.run_id)
    again = track_run(run.root, store, reports, log=print)
    parent2, nested2 = logged(store, run.run_id)
    assert again == parent.info.run_id == parent2.info.run_id
    assert {t: r.info.run_id for t, r in nested2.items()} == {
        t: r.info.run_id for t, r in nested.items()
    }
    assert len(history(store, parent.info.run_id, "macro_f1/lora_r4")) == 1
    assert len(history(store, nested["r2-f0-s42"].info.run_id, "train_loss")) == 1


def test_a_trial_trained_again_replaces_its_nested_run(fixture_run, store):
    run, reports = fixture_run
    track_run(run.root, store, reports, log=print)
    _, before = logged(store, run.run_id)
    summary = read_json(run.train_summary("r2-f0-s42"))
    run.train_summary("r2-f0-s42").write_text(json.dumps({**summary, "peak_memory_mb": 1.5}))
    track_run(run.root, store, reports, log=print)
    _, after = logged(store, run.run_id)
    assert after["r4-f0-s42"].info.run_id == before["r4-f0-s42"].info.run_id
    assert after["r2-f0-s42"].info.run_id != before["r2-f0-s42"].info.run_id
    assert after["r2-f0-s42"].data.metrics["peak_memory_mb"] == 1.5
    old = MlflowClient(store).get_run(before["r2-f0-s42"].info.run_id)
    assert old.info.lifecycle_stage == "deleted"


def test_changed_params_keep_their_first_values_and_are_named_in_a_tag(fixture_run, store):
    run, reports = fixture_run
    track_run(run.root, store, reports, log=print)
    original = run.params.read_text()
    save_config(load_config(run.params, ["evaluation.few_shot_k=3"]), run.params)
    said: list[str] = []
    track_run(run.root, store, reports, log=said.append)
    parent, _ = logged(store, run.run_id)
    assert parent.data.params["evaluation.few_shot_k"] == "1"
    assert parent.data.tags["loralab.changed_params"] == "evaluation.few_shot_k"
    assert len(said) == 1 and "evaluation.few_shot_k" in said[0]
    run.params.write_text(original)
    track_run(run.root, store, reports, log=print)
    parent, _ = logged(store, run.run_id)
    assert "loralab.changed_params" not in parent.data.tags


def test_track_without_a_uri_names_the_field_and_the_fix(fixture_run, capsys):
    run, _ = fixture_run
    assert main(["track", str(run.root)]) == 1
    err = capsys.readouterr().err
    assert "tracking.mlflow_uri is empty" in err and "--uri sqlite:///mlflow.db" in err
    assert "Traceback" not in err


# ---- a tracker problem never costs the study ----------------------------------------------


def _track_as_the_runner_does(run: RunPaths, uri: str) -> tuple[list[str], list, float]:
    """What the runner asks of its tracker over a run (open, every trial, the results), with
    the messages logged, the warnings and the seconds it took."""
    cfg = load_config(run.params, {"tracking.mlflow_uri": uri})
    said: list[str] = []
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        tracker = Tracker(cfg, run, said.append, "params/smoke.yaml")
        for trial in sorted(FIXTURE_TRIALS):
            tracker.step_done(Step("03_train", "t", {"trial_id": trial}))
        tracker.finish(run.root / "no-report", failed=False)
    return said, warned, time.perf_counter() - start


def _assert_warned_once_and_recorded(run: RunPaths, said: list[str], warned: list, uri: str):
    assert len(warned) == 1 and "loralab track" in str(warned[0].message)
    assert len([s for s in said if s.startswith("warning: tracking")]) == 1, said
    record = read_json(run.run_record)["tracking"]
    assert record["status"] == "failed" and record["uri"] == uri and record["error"]
    assert record["fix"] == f"loralab track {run.root}"


def test_an_unreachable_server_warns_once_within_seconds(fixture_run):
    run, _ = fixture_run
    uri = f"http://127.0.0.1:{closed_port()}"
    said, warned, seconds = _track_as_the_runner_does(run, uri)
    _assert_warned_once_and_recorded(run, said, warned, uri)
    assert "no server answers" in said[0]
    assert seconds < 15


def test_a_locked_database_warns_once_within_seconds(fixture_run, store):
    """One wait for the lock (sqlite's busy timeout), one warning; then tracking is off for the
    rest of the run."""
    run, _ = fixture_run
    database = sqlite3.connect(store.removeprefix("sqlite:///"), isolation_level=None)
    database.execute("BEGIN EXCLUSIVE")
    try:
        said, warned, seconds = _track_as_the_runner_does(run, store)
    finally:
        database.execute("ROLLBACK")
        database.close()
    _assert_warned_once_and_recorded(run, said, warned, store)
    assert "locked" in said[0]
    assert seconds < 30


# ---- the tracked smoke sweep (conftest's `sweep`) -----------------------------------------


def _sweep_uri(run: RunPaths) -> str:
    return load_config(run.params).tracking.mlflow_uri


def _copy(run: RunPaths, root: Path) -> RunPaths:
    """The run folder under root/executed/, same run id: resuming it finds the same MLflow runs."""
    return RunPaths(shutil.copytree(run.root, root / "executed" / run.run_id, symlinks=True))


def _resume(copy: RunPaths, root: Path, uri: str, log) -> Path:
    return run_series(
        copy.params,
        [f"tracking.mlflow_uri={uri}"],
        run_id=copy.run_id,
        executed_root=root / "executed",
        reports_root=root / "reports",
        log=log,
    )


@pytest.mark.slow
def test_a_tracked_sweep_has_its_parent_and_a_nested_run_per_trial(sweep):
    run, index = sweep
    uri = _sweep_uri(run)
    parent, nested = logged(uri, run.run_id)
    assert read_json(run.run_record)["tracking"]["status"] == "ok"
    assert read_json(run.run_record)["tracking"]["mlflow_run_id"] == parent.info.run_id
    assert parent.info.status == "FINISHED" and parent.info.run_name == run.run_id
    assert set(nested) == set(run.trained_trials()) and len(nested) == 20
    assert {r.info.status for r in nested.values()} == {"FINISHED"}

    results = pd.read_csv(run.results)
    lead = results[results["selected"]].iloc[0]
    assert parent.data.metrics[f"macro_f1/{lead['method']}"] == pytest.approx(lead["macro_f1"])
    assert parent.data.tags["loralab.selected"] == ", ".join(
        results.loc[results["selected"], "method"]
    )
    primary = next(t for t in read_json(run.stat_tests)["comparisons"] if t["primary"])
    assert parent.data.metrics["delta_macro_f1/primary"] == pytest.approx(primary["delta_macro_f1"])
    shipped = artifact_paths(uri, parent.info.run_id)
    pages = {f"report/{p.relative_to(index.parent).as_posix()}" for p in index.parent.rglob("*.*")}
    assert pages <= shipped and "report/figures/sweep_val_loss.png" in shipped
    steps = read_json(run.run_record)["steps"]
    assert {f"notebooks/{s['name']}.ipynb" for s in steps} <= shipped

    lora = next(t for t in nested if not t.startswith("full"))
    curve = pd.read_csv(run.history(lora))
    points = history(uri, nested[lora].info.run_id, "val_loss")
    assert points == list(zip(curve["epoch"], curve["val_loss"], strict=True))
    assert nested[lora].data.params["train_size"] in {"8", "16"}
    assert "adapter/adapter_model.safetensors" in artifact_paths(uri, nested[lora].info.run_id)
    full = next(t for t in nested if t.startswith("full"))
    assert nested[full].data.params["variant"] == "full"
    assert artifact_paths(uri, nested[full].info.run_id) == {"adapter/README.md"}  # no weights


@pytest.mark.slow
def test_a_resumed_run_finds_its_mlflow_runs_and_adds_none(sweep, tmp_path):
    run, _ = sweep
    uri = _sweep_uri(run)
    parent, nested = logged(uri, run.run_id)
    said: list[str] = []
    _resume(_copy(run, tmp_path), tmp_path, uri, said.append)
    steps = read_json(run.run_record)["steps"]
    assert sum("done earlier" in line for line in said) == len(steps)  # every step skipped
    again, nested_again = logged(uri, run.run_id)
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    assert {t: r.info.run_id for t, r in nested_again.items()} == {
        t: r.info.run_id for t, r in nested.items()
    }
    assert len(history(uri, parent.info.run_id, "delta_macro_f1/primary")) == 1


@pytest.mark.slow
def test_an_unreachable_tracker_warns_and_the_run_ends_with_its_report(sweep, tmp_path):
    run, _ = sweep
    copy, uri = _copy(run, tmp_path), f"http://127.0.0.1:{closed_port()}"
    said: list[str] = []
    with pytest.warns(UserWarning, match="loralab track") as warned:
        index = _resume(copy, tmp_path, uri, said.append)
    assert len(warned) == 1 and len([s for s in said if s.startswith("warning:")]) == 1
    assert index.is_file() and index.parent == tmp_path / "reports" / run.run_id
    record = read_json(copy.run_record)["tracking"]
    assert record["status"] == "failed" and record["fix"] == f"loralab track {copy.root}"
    # the fix it names: logged afterwards, it finds the runs there are and adds none
    parent, nested = logged(_sweep_uri(run), run.run_id)
    track_run(copy.root, _sweep_uri(run), tmp_path / "reports", log=print)
    again, nested_again = logged(_sweep_uri(run), run.run_id)
    assert again.info.run_id == parent.info.run_id
    assert {r.info.run_id for r in nested_again.values()} == {
        r.info.run_id for r in nested.values()
    }
    assert read_json(copy.run_record)["tracking"]["status"] == "ok"


# ---- the MLflow UI -------------------------------------------------------------------------

SWEEP_COLUMNS = (
    "variant",
    "rank",
    "lr",
    "train_size",
    "seed",
    "best_val_loss",
    "best_val_macro_f1",
    "train_time_s",
    "peak_memory_mb",
)


@pytest.fixture
def mlflow_ui(sweep, tmp_path):
    """`mlflow ui` on the sweep's database, on a free localhost port; its URL."""
    run, _ = sweep
    port = closed_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job workers
    log = tmp_path / "mlflow-ui.log"
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", _sweep_uri(run)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=out, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, server, log)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the uvicorn worker it started
        server.wait(timeout=30)


def _wait_for(url: str, server: subprocess.Popen, log: Path, seconds: int = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(1)
    tail = " | ".join(log.read_text().strip().splitlines()[-3:])
    pytest.skip(f"the MLflow UI server did not answer at {url} within {seconds} s: {tail}")


@pytest.mark.slow
def test_the_mlflow_ui_shows_the_sweep(sweep, mlflow_ui, tmp_path, chromium):
    """Headless Chromium on the MLflow UI: the parent run, then the trials as a sweep's table
    (sorted by validation loss, the axes and costs as columns). Saves a screenshot, also into
    LORALAB_SCREENSHOT_DIR when set (the README's docs/images/mlflow-sweep.png)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    run, _ = sweep
    experiment = MlflowClient(_sweep_uri(run)).get_experiment_by_name("loralab").experiment_id
    browser = chromium(1800, 1100)  # every row of the 20 in view
    runs_page = f"{mlflow_ui}/#/experiments/{experiment}/runs"

    def click(xpath: str) -> None:
        element = browser.find_element(By.XPATH, xpath)
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()
        time.sleep(1)

    def wait_for_text(text: str, seconds: int = 60) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            body = browser.find_element(By.TAG_NAME, "body").text
            if text in body:
                return body
            time.sleep(1)
        raise AssertionError(f"{text!r} not on the page: {body[:2000]}")

    browser.get(runs_page)
    trials = run.trained_trials()
    wait_for_text(f"{len(trials) + 1} matching runs")  # the parent, its trials nested
    # the parent alone: in the whole list it may sort below the rows the page has drawn
    browser.get(f"{runs_page}?searchFilter=tags.%60loralab.kind%60%20%3D%20%27run%27")
    assert run.run_id in wait_for_text("1 matching run").split()

    query = "searchFilter=tags.%60loralab.kind%60%20%3D%20%27trial%27"
    browser.get(f"{runs_page}?{query}&orderByKey=metrics.%60best_val_loss%60&orderByAsc=true")
    body = wait_for_text(f"{len(trials)} matching runs")
    assert set(trials) <= set(body.split())
    for close in browser.find_elements(By.XPATH, "//button[@aria-label='Close']"):
        close.click()  # the assistant's panel
    click("//button[@aria-label='Toggle sidebar']")
    click("//button[normalize-space(.)='Columns']")
    for name in ("Dataset", "Source", "Models", *SWEEP_COLUMNS):  # off, then on
        click(f"(//*[normalize-space(text())='{name}'])[last()]")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    click("//*[normalize-space(text())='Training runs']")  # the pointer off the table's tooltips
    time.sleep(2)
    headers = browser.execute_script(
        "return Array.from(document.querySelectorAll('[role=columnheader]')).map(e => e.innerText)"
    )
    assert set(SWEEP_COLUMNS) <= set(headers) and "Dataset" not in headers, headers
    shot = tmp_path / "mlflow-sweep.png"
    assert browser.save_screenshot(str(shot))
    if os.environ.get("LORALAB_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["LORALAB_SCREENSHOT_DIR"]) / shot.name)
