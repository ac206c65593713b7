"""Mirror a run folder into MLflow, so that a sweep is read in a tracker's table and charts.

Everything logged is read from the run folder's artifacts, in the process that runs the series
(or `loralab track`): a backend that trains elsewhere needs no access to the tracker, and a run
made before tracking was on can be logged afterwards. mlflow is imported only here and only when
a tracker is set, so loralab works without the `mlflow` extra.

- One parent MLflow run per loralab run, found again by its tag `loralab.run_id`: the resolved
  params by their dotted names (without the `tracking` section, which says where the run is
  logged, not what it is), tags (params file, git commit, data hash, model, CPU, dtype path, the
  selected methods and the primary comparison), per method the metrics of results.csv as
  `<metric>/<method>`, per paired test of stat_tests.json `<statistic>/<method>-vs-<baseline>`
  (the primary test also as `<statistic>/primary`, a column that every run has), and as
  artifacts the report bundle, the executed notebooks and the files the metrics come from.
- One nested run per trial, found by `loralab.trial_id` under that run id: its axes as params,
  train loss, validation loss, macro-F1 and accuracy per epoch as step metrics, its cost and
  best epoch from summary.json, and its adapter folder.

Logging again adds only what changed, so a resumed run finds its MLflow runs and updates them:
- a trial whose summary.json is unchanged (tag `loralab.summary_sha256`, set last) logs nothing;
  a trial trained again replaces its nested run (the old one is deleted, which MLflow can undo),
  since a metric's history cannot be rewritten;
- the parent's metrics are logged again only when results.csv or stat_tests.json changed (tag
  `loralab.results_sha256`); the newer value is the one the UI shows;
- params are logged when the parent is created: MLflow refuses to change a logged param. A
  resumed run whose params differ keeps the first values as params, names the changed fields in
  the tag `loralab.changed_params` (its params.yaml artifact holds the new values) and says so in
  the log; fields that are new are logged.

The CPU tag is that of the process that logs (the runner's machine); the dtype path comes from
each trial's own summary.json, wherever it trained.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from loralab.artifacts import read_json, write_json
from loralab.config import Config, dotted, load_config
from loralab.environment import cpu_description, git_commit
from loralab.errors import ConfigError, LoralabError, TrackingError
from loralab.layout import PROJECT_ROOT, RunPaths, report_dir
from loralab.records import Provenance, StatTestsRecord, TrainSummary
from loralab.train.trials import Trial, trial_of, trials

INSTALL = "pip install 'loralab[mlflow]'"
# MLflow retries a failed HTTP request 7 times with growing waits, minutes in all; a tracker
# must not hold up a study that long. Values set in the environment win.
HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
PROBE_SECONDS = 5  # a server that does not accept a connection by then counts as unreachable
RESULT_METRICS = (
    "macro_f1",
    "macro_f1_low",
    "macro_f1_high",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "latency_p50_ms",
    "trainable_mb",
    "train_time_s",
)
TEST_METRICS = (
    "delta_macro_f1",
    "delta_low",
    "delta_high",
    "bootstrap_p",
    "bootstrap_p_holm",
    "mcnemar_p",
    "mcnemar_p_holm",
    "mcnemar_b",
    "mcnemar_c",
)
EPOCH_METRICS = (
    "train_loss",
    "train_label_loss",
    "val_loss",
    "val_label_loss",
    "val_macro_f1",
    "val_accuracy",
)
# summary.json field -> metric; the best epoch's validation scores are named as such, since the
# epoch metrics of the same name end at the last epoch.
TRIAL_METRICS = {
    "best_epoch": "best_epoch",
    "val_loss": "best_val_loss",
    "val_label_loss": "best_val_label_loss",
    "train_label_loss": "best_train_label_loss",
    "val_macro_f1": "best_val_macro_f1",
    "train_time_s": "train_time_s",
    "time_to_best_s": "time_to_best_s",
    "train_tokens_per_s": "train_tokens_per_s",
    "peak_memory_mb": "peak_memory_mb",
    "trainable_mb": "trainable_mb",
}
SUMMARY_TAG, RESULTS_TAG = "loralab.summary_sha256", "loralab.results_sha256"
Metric = tuple[str, float, int]  # key, value, step


def import_mlflow():
    """mlflow, or a ConfigError that names the field and the fix: a run that asks for a tracker
    learns before its first step that it cannot have one."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError(
            "tracking.mlflow_uri is set but mlflow is not installed\n"
            f"  fix: {INSTALL}, or leave tracking.mlflow_uri empty"
        ) from None
    return mlflow


# ---- what is logged, read from the run folder ---------------------------------------------


def run_params(cfg: Config) -> dict[str, str]:
    """The resolved params as MLflow params: dotted names, non-text values as JSON (the form
    `--set` reads), cut to MLflow's length limit."""
    fields = dotted(cfg.model_dump(mode="json"))
    return {k: _text(v, 6000) for k, v in fields.items() if not k.startswith("tracking.")}


def _text(value, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def results_metrics(run: RunPaths) -> list[Metric]:
    """Per method of results.csv: macro-F1 and accuracy with their CI bounds, latency, cost."""
    rows = pd.read_csv(run.results).to_dict("records")
    return _metrics((f"{m}/{row['method']}", row.get(m), 0) for row in rows for m in RESULT_METRICS)


def paired_test_metrics(run: RunPaths) -> list[Metric]:
    """Per paired test of stat_tests.json: Δ macro-F1 with its CI, p values, McNemar's b and c."""
    pairs = []
    for test in StatTestsRecord.read(run.stat_tests).comparisons:
        names = [f"{test['method']}-vs-{test['baseline']}"]
        names += ["primary"] if test["primary"] else []
        pairs += [(f"{s}/{name}", test.get(s), 0) for name in names for s in TEST_METRICS]
    return _metrics(pairs)


def trial_metrics(run: RunPaths, trial: str) -> list[Metric]:
    """A trial's per-epoch curves (step: the epoch) and its summary: best epoch, cost."""
    history = pd.read_csv(run.history(trial))
    per_epoch = [
        (key, row.get(key), int(row["epoch"]))
        for row in history.to_dict("records")
        for key in EPOCH_METRICS
    ]
    summary = TrainSummary.read(run.train_summary(trial))
    once = [(name, getattr(summary, field), 0) for field, name in TRIAL_METRICS.items()]
    return _metrics(per_epoch + once)


def _metrics(points) -> list[Metric]:
    """The points that have a value: an empty cell or NaN was not measured."""
    return [(key, float(value), step) for key, value, step in points if pd.notna(value)]


def trial_params(trial: Trial) -> dict[str, str]:
    """A trial's axes: what a sweep's table sorts and groups by."""
    axes = {
        "variant": trial.variant,
        "rank": trial.rank,
        "lr": trial.lr_text,
        "train_size": trial.size,
        "fold": trial.fold,
        "seed": trial.seed,
    }
    return {k: str(v) for k, v in axes.items()}


def run_tags(cfg: Config, run: RunPaths, params_file: str) -> dict[str, str]:
    """What identifies the loralab run, from what the run folder holds so far."""
    tags = {
        "loralab.run_id": run.run_id,
        "loralab.params_file": params_file,
        "loralab.model": cfg.model.name_or_path,
        "loralab.cpu": cpu_description(),
    }
    commit = git_commit(PROJECT_ROOT)
    if not commit.startswith("unknown"):
        tags["loralab.git_commit"] = commit
    if run.provenance.is_file():
        tags["loralab.data_hash"] = Provenance.read(run.provenance).corpus_hash
    precisions = {TrainSummary.read(run.train_summary(t)).precision for t in run.trained_trials()}
    if precisions:
        tags["loralab.precision"] = "; ".join(sorted(precisions))
    if run.results.is_file():
        results = pd.read_csv(run.results)
        tags["loralab.selected"] = ", ".join(results.loc[results["selected"], "method"])
    if run.stat_tests.is_file():
        tests = StatTestsRecord.read(run.stat_tests).comparisons
        primary = [f"{c['method']} vs {c['baseline']}" for c in tests if c["primary"]]
        tags["loralab.primary"] = ", ".join(primary)
    return {k: _text(v, 8000) for k, v in tags.items()}


def _sha256(*paths: Path) -> str:
    """One hash of the files that exist among `paths`, so a file that appears changes it."""
    h = hashlib.sha256()
    for path in paths:
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


# ---- the MLflow side ----------------------------------------------------------------------


class Mirror:
    """The MLflow runs of one run folder: found by their tags, created when missing, updated
    with what changed. Raises whatever MLflow raises; `Tracker` decides what a failure costs."""

    def __init__(self, uri: str, experiment: str, run: RunPaths, log: Callable[[str], None]):
        mlflow = import_mlflow()
        _prepare(uri)
        for key, value in HTTP_ENV.items():
            os.environ.setdefault(key, value)
        # A failure is reported once, by the caller; MLflow would log a traceback per failed
        # statement (a locked database) and its schema migrations on every new database.
        logging.getLogger("mlflow").setLevel(logging.CRITICAL)
        self.client = mlflow.MlflowClient(tracking_uri=uri)
        self.run, self.log = run, log
        self.experiment_id = self._experiment(experiment, uri)
        self.parent: str | None = None

    def _experiment(self, name: str, uri: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is None:
            return self.client.create_experiment(name, artifact_location=_artifact_location(uri))
        if found.lifecycle_stage == "deleted":
            raise TrackingError(
                f"{uri}: the experiment {name!r} is deleted\n  fix: restore it (`mlflow "
                "experiments restore`) or name another with tracking.experiment"
            )
        return found.experiment_id

    def _find(self, **tags: str) -> list:
        query = " AND ".join(f"tags.`loralab.{k}` = '{v}'" for k, v in tags.items())
        return self.client.search_runs([self.experiment_id], query, max_results=100)

    def open(self, cfg: Config, params_file: str) -> None:
        """The parent run, found or created, marked running, with its params and tags."""
        params = run_params(cfg)
        found = self._find(run_id=self.run.run_id, kind="run")
        if found:
            self.parent = found[0].info.run_id
            logged, tags = found[0].data.params, found[0].data.tags
            changed = sorted(k for k, v in params.items() if k in logged and logged[k] != v)
            self._log(self.parent, params={k: v for k, v in params.items() if k not in logged})
            if changed:
                self._log(self.parent, tags={"loralab.changed_params": ", ".join(changed)})
                self.log(
                    f"tracking: params changed since MLflow run {self.parent} was created "
                    f"({', '.join(changed)}); MLflow keeps a param's first value, the run's "
                    "params.yaml artifact has the new ones"
                )
            elif "loralab.changed_params" in tags:
                self.client.delete_tag(self.parent, "loralab.changed_params")
            self.client.update_run(self.parent, status="RUNNING")
        else:
            self.parent = self.client.create_run(
                self.experiment_id, run_name=self.run.run_id, tags={"loralab.kind": "run"}
            ).info.run_id
            self._log(self.parent, params=params)
        self._log(self.parent, tags=run_tags(cfg, self.run, params_file))

    def log_trial(self, trial: Trial) -> bool:
        """The trial's nested run, unless one holds this very summary; whether it logged."""
        sha = _sha256(self.run.train_summary(trial.id))
        found = self._find(run_id=self.run.run_id, trial_id=trial.id)
        tags = found[0].data.tags if found else {}
        if tags.get(SUMMARY_TAG) == sha and tags.get("mlflow.parentRunId") == self.parent:
            return False
        # trained again, logged only in part, or under a parent since deleted: replaced
        for old in found:
            self.client.delete_run(old.info.run_id)
        summary = TrainSummary.read(self.run.train_summary(trial.id))
        # The run spans the training, not the logging: summary.json is written as it ends.
        end = int(self.run.train_summary(trial.id).stat().st_mtime * 1000)
        start = end - int(1000 * summary.train_time_s)
        tags = {
            "mlflow.parentRunId": self.parent,
            "loralab.run_id": self.run.run_id,
            "loralab.kind": "trial",
            "loralab.trial_id": trial.id,
            "loralab.method": trial.method,
            "loralab.precision": summary.precision,
        }
        nested = self.client.create_run(self.experiment_id, start, tags, run_name=trial.id)
        run_id = nested.info.run_id
        self._log(run_id, params=trial_params(trial), metrics=trial_metrics(self.run, trial.id))
        folder = self.run.adapter(trial.id)
        if trial.full and (folder / "README.md").is_file():  # the card; 0.5 GB of weights stay
            self.client.log_artifact(run_id, str(folder / "README.md"), "adapter")
        elif not trial.full and folder.is_dir():
            self.client.log_artifacts(run_id, str(folder), "adapter")
        self.client.set_tag(run_id, SUMMARY_TAG, sha)  # last: a run cut short is logged again
        self.client.set_terminated(run_id, "FINISHED", end_time=end)
        return True

    def log_results(self, cfg: Config, params_file: str, out_dir: Path, status: str) -> None:
        """The parent's results, paired tests and artifacts, then its final status."""
        run = self.run
        self._log(self.parent, tags=run_tags(cfg, run, params_file))
        sha = _sha256(run.results, run.stat_tests)
        if self.client.get_run(self.parent).data.tags.get(RESULTS_TAG) != sha:
            metrics = results_metrics(run) if run.results.is_file() else []
            metrics += paired_test_metrics(run) if run.stat_tests.is_file() else []
            self._log(self.parent, metrics=metrics)
        folders = {"report": out_dir, "notebooks": run.notebooks}
        for name, folder in folders.items():
            if folder.is_dir():
                self.client.log_artifacts(self.parent, str(folder), name)
        for path in (run.params, run.run_record, run.results, run.stat_tests):
            if path.is_file():
                self.client.log_artifact(self.parent, str(path), "run")
        self.client.set_tag(self.parent, RESULTS_TAG, sha)
        self.client.set_terminated(self.parent, status)

    def _log(self, run_id: str, params=None, tags=None, metrics: list[Metric] | None = None):
        """In batches within MLflow's limits (100 params or tags, 1000 metrics per call)."""
        from mlflow.entities import Metric as Point
        from mlflow.entities import Param, RunTag

        now = int(time.time() * 1000)
        batches = (
            ("params", [Param(k, v) for k, v in (params or {}).items()], 100),
            ("tags", [RunTag(k, v) for k, v in (tags or {}).items()], 100),
            ("metrics", [Point(k, v, now, step) for k, v, step in metrics or []], 1000),
        )
        for field, items, size in batches:
            for start in range(0, len(items), size):
                self.client.log_batch(run_id, **{field: items[start : start + size]})


def _prepare(uri: str) -> None:
    """What MLflow would only find out slowly: a server that does not answer (it retries for
    minutes), a database folder that does not exist yet."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=PROBE_SECONDS).close()
        except OSError as exc:
            raise TrackingError(
                f"{uri}: no server answers at {parts.hostname}:{port} ({exc})"
            ) from None
    elif parts.scheme == "sqlite":
        _sqlite_file(uri).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_file(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///")).resolve()


def _artifact_location(uri: str) -> str | None:
    """For a sqlite database, mlartifacts/ beside it (MLflow's default is the working folder);
    a server stores a new experiment's artifacts where it is configured to."""
    if urlsplit(uri).scheme != "sqlite":
        return None
    return (_sqlite_file(uri).parent / "mlartifacts").as_uri()


# ---- the runner's tracker and `loralab track` ---------------------------------------------


class Tracker:
    """Tracking as the runner uses it: off when tracking.mlflow_uri is empty. A failure of the
    tracker never costs the study: it warns once (the runner's log and `warnings`), turns
    tracking off for the rest of the run, and run.json records it with the command that logs
    the finished run later. Trials may finish in several threads at once (`--jobs`)."""

    def __init__(self, cfg: Config, run: RunPaths, log: Callable[[str], None], params_file: str):
        self.cfg, self.run, self.log, self.params_file = cfg, run, log, params_file
        self.uri = cfg.tracking.mlflow_uri
        self.mirror: Mirror | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        if self.uri:
            import_mlflow()  # a missing extra is a params mistake, told before any step runs
            self._guard("connecting", self._open)

    def _open(self) -> None:
        experiment = self.cfg.tracking.experiment
        self.mirror = Mirror(self.uri, experiment, self.run, self.log)
        self.mirror.open(self.cfg, self.params_file)
        self.log(f"tracking: MLflow run {self.mirror.parent}, experiment {experiment}, {self.uri}")

    def step_done(self, step) -> None:
        """Called as a step finishes or is found done: a trial's nested run, so a long sweep is
        visible while it runs."""
        if step.trial:
            self._guard(
                f"logging trial {step.trial}",
                lambda: self.mirror.log_trial(trial_of(self.cfg, step.trial)),
            )

    def finish(self, out_dir: Path, failed: bool) -> None:
        """After the report: the parent's results and artifacts, and run.json's record."""
        status = "FAILED" if failed else "FINISHED"
        self._guard(
            "logging the results",
            lambda: self.mirror.log_results(self.cfg, self.params_file, out_dir, status),
        )
        if self.uri:
            record_tracking(self.run, self.uri, self.mirror, self.error)

    def _guard(self, what: str, action: Callable[[], object]) -> None:
        with self._lock:
            if not self.uri or self.error:
                return
            try:
                action()
            except Exception as exc:
                self.error = f"{what}: {type(exc).__name__}: {_first_line(exc)}"
                message = (
                    f"tracking to {self.uri} failed ({self.error}); this run goes on without "
                    f"it. fix: `{_track_command(self.run)}` logs it once the tracker works"
                )
                self.log(f"warning: {message}")
                warnings.warn(message, stacklevel=3)


def _first_line(exc: Exception) -> str:
    return next(iter(str(exc).strip().splitlines()), "")[:500]


def _track_command(run: RunPaths) -> str:
    try:
        folder = run.root.relative_to(Path.cwd())
    except ValueError:
        folder = run.root
    return f"loralab track {folder}"


def record_tracking(run: RunPaths, uri: str, mirror: Mirror | None, error: str | None) -> None:
    """run.json's `tracking` entry: where the run was logged, or why not and the fix."""
    record = {
        "uri": uri,
        "status": "failed" if error else "ok",
        "error": error,
        "mlflow_run_id": mirror.parent if mirror else None,
    }
    if error:
        record["fix"] = _track_command(run)
    write_json(run.run_record, {**read_json(run.run_record), "tracking": record})


def track_run(
    run_dir: str | Path,
    uri: str | None = None,
    reports_root: str | Path = "reports",
    log: Callable[[str], None] = print,
) -> str:
    """`loralab track`: log a run folder (finished, or made before tracking was on) to the
    tracker of `uri`, else of its params' tracking.mlflow_uri; returns the parent's MLflow run
    id. Unlike the runner it fails on a tracker problem: logging is all it does."""
    run = RunPaths(Path(run_dir))
    if not run.run_record.is_file() or not run.params.is_file():
        raise ConfigError(
            f"{run.root}: no run.json or params.yaml; give a folder `loralab run` wrote"
        )
    cfg = load_config(run.params, {"tracking.mlflow_uri": uri} if uri else None)
    uri = cfg.tracking.mlflow_uri
    if not uri:
        raise ConfigError(
            f"{run.params}: tracking.mlflow_uri is empty, so there is no tracker to log to\n"
            f"  fix: loralab track {run_dir} --uri sqlite:///mlflow.db (or a server's URI)"
        )
    record = read_json(run.run_record)
    failed = any(step.get("status") == "failed" for step in record.get("steps", []))
    try:
        mirror = Mirror(uri, cfg.tracking.experiment, run, log)
        mirror.open(cfg, record.get("params", ""))
        for trial in trials(cfg):
            if run.train_summary(trial.id).is_file():
                mirror.log_trial(trial)
        out_dir = report_dir(run, Path(reports_root))
        mirror.log_results(
            cfg, record.get("params", ""), out_dir, "FAILED" if failed else "FINISHED"
        )
    except LoralabError:
        raise
    except Exception as exc:
        raise TrackingError(
            f"tracking to {uri} failed: {type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    record_tracking(run, uri, mirror, None)
    return mirror.parent
