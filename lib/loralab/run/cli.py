"""`loralab` on the command line: a thin layer over the library, never a second implementation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loralab import __version__
from loralab.errors import ConfigError, LoralabError


def _cmd_run(args: argparse.Namespace) -> int:
    from loralab.run.ray_backend import RayOptions
    from loralab.run.runner import run_series

    index = run_series(
        args.params,
        args.set,
        run_id=args.run_id,
        executed_root=args.executed,
        reports_root=args.reports,
        only=args.only,
        jobs=args.jobs,
        backend=args.backend,
        ray=RayOptions(args.ray_address, args.max_retries),
    )
    print(f"report: {index}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from loralab.config import load_config
    from loralab.layout import RunPaths
    from loralab.run.notebook import configure_torch
    from loralab.train.loop import train_step
    from loralab.train.trials import trial_of

    run = RunPaths(args.run_dir)
    if not run.params.is_file():
        raise ConfigError(
            f"{run.root}: no params.yaml; train inside a run folder whose split is done, e.g. "
            "`loralab run PARAMS --only 01_eda,02_split --run-id ID`, then "
            "`loralab train executed/ID --trial TRIAL`"
        )
    cfg = load_config(run.params)
    configure_torch(cfg)
    try:
        trial = trial_of(cfg, args.trial)
    except ValueError as exc:
        raise ConfigError(f"{run.params}: {exc}") from None
    train_step(cfg, run, trial)
    return 0


def _cmd_trials(args: argparse.Namespace) -> int:
    from loralab.config import load_config
    from loralab.train.trials import trials

    cfg = load_config(args.params, args.set)
    found = trials(cfg)
    for t in found:
        axes = f"{t.kind:9} {t.variant:6} r={t.rank:<3} lr={t.lr:<8g} {t.size + ' items':9}"
        print(f"{t.id:36} {axes} fold {t.fold} seed {t.seed}")
    print(f"{len(found)} trials")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from loralab.run.runner import render_report

    print(f"report: {render_report(args.run_dir, args.reports)}")
    return 0


def _cmd_findings(args: argparse.Namespace) -> int:
    from loralab.layout import RunPaths
    from loralab.report.findings import export, measured_defaults

    run = RunPaths(args.run_dir)
    measured = measured_defaults(run) | {
        k: v for k, v in vars(args).items() if k in MEASURED and v is not None
    }
    print(f"findings: {export(run, args.dest, measured)}")
    return 0


MEASURED = ("commit", "cpu", "dtype", "command", "wall_min", "peak_gib")


def _cmd_compare(args: argparse.Namespace) -> int:
    from loralab.report.compare import compare_runs, paired_across_runs, write_comparison

    headlines, differ = compare_runs(args.runs)
    print(headlines.to_string())
    print("\nthe first run against the others, item by item:")
    print(paired_across_runs(args.runs).to_string(index=False))
    print("\nparameters that differ:" if len(differ) else "\nno parameter differs")
    if len(differ):
        print(differ.to_string())
    if args.html:
        print(f"page: {write_comparison(args.runs, args.html)}")
    return 0


def _cmd_track(args: argparse.Namespace) -> int:
    from loralab.run.tracking import track_run

    print(f"MLflow run: {track_run(args.run_dir, args.uri, args.reports)}")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    from loralab.config import Config, config_to_yaml, load_config

    cfg = load_config(args.params, args.set) if args.params else Config()
    sys.stdout.write(config_to_yaml(cfg))
    return 0


def params_options() -> argparse.ArgumentParser:
    """A params file and `--set` overrides: the options of every command that reads params."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one field, e.g. --set train.epochs=3 (repeatable; the value "
        "is read as YAML: 3 is an int, [8,16] a list, null empty)",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loralab",
        description="Measure what LoRA fine-tuning buys a language model on a text-classification "
        "task: a papermill notebook series with an HTML report.",
    )
    parser.add_argument("--version", action="version", version=f"loralab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sets = params_options()
    _add_run(sub, sets)
    _add_trials(sub, sets)
    _add_others(sub, sets)
    _add_track(sub)
    _add_findings(sub)
    return parser


def _add_reports_option(parser: argparse.ArgumentParser, what: str = "") -> None:
    parser.add_argument(
        "--reports",
        type=Path,
        default=Path("reports"),
        help=f"folder of report bundles{what} (default: reports)",
    )


def _add_run(sub, sets: argparse.ArgumentParser) -> None:
    run = sub.add_parser(
        "run",
        parents=[sets],
        help="run the notebook series into a report",
        description="Execute the notebooks headless with papermill into "
        "executed/<run-id>/ and write reports/<run-id>/index.html.",
    )
    run.add_argument("params", type=Path, help="params YAML file, e.g. params/default.yaml")
    run.add_argument("--run-id", help="name of the run folder (default: <params>-<timestamp>)")
    run.add_argument(
        "--executed",
        type=Path,
        default=Path("executed"),
        help="folder of run folders (default: executed)",
    )
    _add_reports_option(run)
    run.add_argument(
        "--only",
        type=lambda v: v.split(","),
        metavar="NB[,NB...]",
        help="run only these notebooks, e.g. --only 01_eda,02_split",
    )
    _add_backend_options(run)
    run.set_defaults(func=_cmd_run)


def _add_backend_options(run: argparse.ArgumentParser) -> None:
    """Where and how many trials train at once: --jobs, --backend and Ray's options."""
    run.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="train up to N trials at once, each in its own process with 1/N of "
        "the CPU threads (and its own GPU on a multi-GPU machine)",
    )
    run.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where the training trials run: local (this machine, --jobs at a time) or ray "
        "(one Ray task per trial with train.cpus_per_trial and train.gpus_per_trial; the other "
        "steps run here)",
    )
    run.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="a Ray cluster to join, e.g. 10.0.0.1:6379 (default: RAY_ADDRESS, else a local "
        "Ray instance sized to this machine)",
    )
    run.add_argument(
        "--max-retries",
        type=int,
        default=2,
        metavar="N",
        help="with --backend ray: times a trial is tried again when its worker process dies "
        "(a failing cell is not retried; default: 2)",
    )


def _add_trials(sub, sets: argparse.ArgumentParser) -> None:
    listing = sub.add_parser(
        "trials",
        parents=[sets],
        help="list the trials of a params file: id and axes",
        description="Every trial of the grid (variants x ranks x learning rates x training "
        "sizes x seeds x folds, plus full fine-tuning), one per line, without running any.",
    )
    listing.add_argument("params", type=Path, help="params YAML file, e.g. params/sweep.yaml")
    listing.set_defaults(func=_cmd_trials)


def _add_track(sub) -> None:
    track = sub.add_parser(
        "track",
        help="log a finished run to MLflow",
        description="Mirror a run folder into MLflow: a parent run with the params, results, "
        "paired tests, report and notebooks, and a nested run per trial. What is logged "
        "already is found again and not repeated. For runs made before tracking was on, or "
        "whose tracker failed during the run (run.json says so).",
    )
    track.add_argument("run_dir", type=Path, help="the run folder, e.g. executed/<run-id>")
    track.add_argument(
        "--uri",
        help="MLflow tracking URI, e.g. sqlite:///mlflow.db or http://host:5000 "
        "(default: the run's tracking.mlflow_uri)",
    )
    _add_reports_option(track, ", whose <run-id>/ is logged")
    track.set_defaults(func=_cmd_track)


def _add_others(sub, sets: argparse.ArgumentParser) -> None:
    """train, report, compare and params: each a thin layer over one library call."""
    train = sub.add_parser(
        "train",
        help="train one trial of a run, in one process or under accelerate launch",
        description="Train one trial (a configuration at a training size on one fold's split "
        "with one seed) of a run folder with the run's params.yaml, and write train/<trial>/ "
        "(what 03_train does). With train.processes > 1 it starts `accelerate launch` itself; "
        "it also runs as is under `accelerate launch --multi_gpu --num_processes N -m loralab "
        "train RUN --trial ID`.",
    )
    train.add_argument("run_dir", type=Path, help="the run folder, e.g. executed/<run-id>")
    train.add_argument(
        "--trial",
        help="a trial id, e.g. r8-f0-s42 (`loralab trials` lists them; default: the first)",
    )
    train.set_defaults(func=_cmd_train)

    report = sub.add_parser(
        "report",
        help="write a run's HTML report again from its artifacts",
        description="Render reports/<run-id>/ again from executed/<run-id>/ without running "
        "any step (after an upgrade of loralab, say).",
    )
    report.add_argument("run_dir", type=Path, help="the run folder, e.g. executed/<run-id>")
    _add_reports_option(report)
    report.set_defaults(func=_cmd_report)

    compare = sub.add_parser(
        "compare",
        help="put several runs side by side",
        description="Headline metrics, costs and the parameters that differ, for two or more "
        "run folders; optionally as an HTML page.",
    )
    compare.add_argument("runs", nargs="+", type=Path, help="run folders (executed/<run-id>)")
    compare.add_argument("--html", type=Path, help="also write the comparison page here")
    compare.set_defaults(func=_cmd_compare)

    params = sub.add_parser(
        "params",
        parents=[sets],
        help="print parameters with their help texts as YAML",
        description="Print the resolved parameters of a params file (or the "
        "defaults) as YAML, every field with its help text.",
    )
    params.add_argument("params", type=Path, nargs="?", help="params YAML file (default: none)")
    params.set_defaults(func=_cmd_params)


def _add_findings(sub) -> None:
    findings = sub.add_parser(
        "findings",
        help="copy a finished run's tables, records and figures to a folder to commit",
        description="Copy a finished run's small artifacts (no adapters) and figures to DEST "
        "(e.g. docs/findings/<study>) with when, where and at what cost it ran, for statements "
        "that must outlive the run folder. The commit, CPU kind and dtype path default to "
        "those of this checkout, this CPU and the run's trials.",
    )
    findings.add_argument("run_dir", type=Path, help="the run folder, e.g. executed/<run-id>")
    findings.add_argument("dest", type=Path, help="where the finding goes")
    findings.add_argument("--commit", help="commit of the code that ran")
    findings.add_argument("--cpu", help="the CPU kind it ran on")
    findings.add_argument("--dtype", help="the dtype path it took")
    findings.add_argument("--command", help="the command that ran it")
    findings.add_argument("--wall-min", type=float, help="its wall time in minutes")
    findings.add_argument("--peak-gib", type=float, help="its peak resident memory in GiB")
    findings.set_defaults(func=_cmd_findings)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LoralabError as exc:
        print(f"loralab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("loralab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
