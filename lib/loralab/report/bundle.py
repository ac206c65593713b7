"""The report's index page: one HTML file that opens from disk and links every notebook page.

Every number on the page is read from the run's artifacts; nothing is typed in. Figures are
copied next to the page, so the folder `reports/<run-id>/` can be zipped and mailed as is.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd

from loralab.artifacts import write_text
from loralab.environment import git_commit, machine, package_versions
from loralab.evaluate.selection import trained_summaries
from loralab.layout import PROJECT_ROOT, RunPaths
from loralab.records import EvaluationRecord, LeakageRecord, Provenance, StatTestsRecord
from loralab.report.tables import (
    format_cost,
    format_selection,
    headline,
    html_table,
    render_template,
    results_on_page,
    selection_note,
    stats_table,
    window_note,
)

FIGURE_CAPTIONS = {
    "class_balance": "Items per label after preprocessing.",
    "lengths": "Text length per label, in words and in the model's tokens.",
    "split_counts": "Items per split, stacked by label.",
    "validation_curves": "Validation loss (which chooses the epoch) and macro-F1 per epoch for "
    "every LoRA trial.",
    "method_bars": "Macro-F1 (BCa CI) and accuracy (Wilson CI) per method on the test set.",
    "confusion_selected": "Confusion matrix of the selected LoRA on the test set.",
    "efficiency": "Cost per method: trainable parameters, training time, latency per item.",
    "learning_curve": "Test macro-F1 (CI) against training items: the selected LoRA and full "
    "fine-tuning per size, TF-IDF on the same items; the label-term rule and zero-shot as lines; "
    "ringed: the sizes where LoRA is separated from TF-IDF (paired bootstrap, Holm over sizes).",
    "sweep_val_loss": "LoRA's validation loss over learning rate and rank per training size "
    "(mean over folds and seeds); the boxed cell is the configuration chosen.",
    "sweep_best_lr": "The optimum learning rate per rank (parabola through the grid's minimum) "
    "with its bootstrap interval over trials, full fine-tuning's as a line over its interval.",
}
# The study's figures lead; the sweep's, the data and training figures follow.
FIGURE_ORDER = [
    "method_bars",
    "learning_curve",
    "confusion_selected",
    "efficiency",
    "sweep_val_loss",
    "sweep_best_lr",
    "validation_curves",
]


def _caption(stem: str) -> str:
    if stem.startswith("training_"):
        return f"Loss and validation metrics per epoch, trial {stem.removeprefix('training_')}."
    return FIGURE_CAPTIONS.get(stem, stem.replace("_", " "))


def _data_section(run: RunPaths) -> dict:
    section: dict = {}
    if run.provenance.is_file():
        prov = Provenance.read(run.provenance)
        section["provenance"] = prov.as_dict()
        if "excluded" in prov.details:
            section["excluded"] = html_table(
                pd.DataFrame(list(prov.details["excluded"].items()), columns=["records", "count"])
            )
    if run.preprocess_steps.is_file():
        section["steps"] = html_table(pd.read_csv(run.preprocess_steps, keep_default_na=False))
    if run.split_counts.is_file():
        section["split_counts"] = html_table(pd.read_csv(run.split_counts))
    if run.leakage.is_file():
        leak = LeakageRecord.read(run.leakage)
        section["leakage"] = {
            "clean": leak.clean,
            "policy": leak.policy,
            "table": html_table(pd.DataFrame(leak.summary)),
        }
    return section


def _training_section(run: RunPaths) -> dict:
    """Cost per trial from the summaries training wrote; the configurations evaluation chose."""
    summaries = trained_summaries(run)
    if not summaries:
        return {}
    section = {"cost": html_table(format_cost(summaries)), "precision": summaries[0].precision}
    if run.evaluation.is_file():
        chosen = EvaluationRecord.read(run.evaluation)
        section.update(
            note=selection_note(chosen),
            rule=chosen.selection_rule,
            selection=html_table(format_selection(chosen.selection)),
        )
    return section


def _study_section(run: RunPaths) -> dict:
    """The headline and both tables, from results.csv and stat_tests.json."""
    if not run.results.is_file():
        return {}
    shown, left_out = results_on_page(pd.read_csv(run.results))
    section = {"results": html_table(shown), "results_note": left_out, "headline": headline(run)}
    read = EvaluationRecord.read(run.evaluation).long_text if run.evaluation.is_file() else None
    if read:
        section["windows"] = window_note(read)
    if run.stat_tests.is_file():
        shown, note = stats_table(StatTestsRecord.read(run.stat_tests))
        section.update(stats=html_table(shown), stats_note=note)
    return section


def _copy_figures(run: RunPaths, out_dir: Path) -> list[dict]:
    """Copy the steps' figures beside the page; list every figure the page shows."""
    target = out_dir / "figures"
    target.mkdir(parents=True, exist_ok=True)
    if run.figures.is_dir():
        for png in run.figures.glob("*.png"):
            shutil.copy2(png, target / png.name)

    def order(png: Path) -> tuple[int, str]:
        lead = FIGURE_ORDER.index(png.stem) if png.stem in FIGURE_ORDER else len(FIGURE_ORDER)
        return lead, png.stem

    pngs = sorted(target.glob("*.png"), key=order)
    return [{"src": f"figures/{png.name}", "caption": _caption(png.stem)} for png in pngs]


def write_report(run: RunPaths, out_dir: Path, steps: list) -> Path:
    failed = [s for s in steps if s.status == "failed"]
    figures = _copy_figures(run, out_dir)
    page = render_template(
        "index.html.j2",
        run_id=run.run_id,
        created=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        status="failed"
        if failed
        else (
            "complete" if all(s.status in ("ok", "done earlier") for s in steps) else "incomplete"
        ),
        steps=steps,
        data=_data_section(run),
        study=_study_section(run),
        training=_training_section(run),
        figures=figures,
        params=run.params.read_text(encoding="utf-8") if run.params.is_file() else "",
        packages=package_versions(),
        machine=machine(),
        commit=git_commit(PROJECT_ROOT),
    )
    return write_text(out_dir / "index.html", page)
