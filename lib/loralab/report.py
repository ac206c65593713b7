"""The report's index page: one HTML file that opens from disk and links every notebook page.

Every number on the page is read from the run's artifacts; nothing is typed in. Figures are
copied next to the page, so the folder `reports/<run-id>/` can be zipped and mailed as is.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import jinja2
import pandas as pd

from .artifacts import read_json, write_text
from .comparisons import format_stats
from .config import load_config
from .environment import git_commit, machine, package_versions
from .evaluation import format_results
from .figures import save_figure, validation_curves
from .layout import PROJECT_ROOT, RunPaths
from .selection import SELECTION_RULE, select_rank, trained_summaries

TEMPLATES = Path(__file__).resolve().parent / "templates"
FIGURE_CAPTIONS = {
    "class_balance": "Items per label after preprocessing.",
    "lengths": "Text length per label, in words and in the model's tokens.",
    "split_counts": "Items per split, stacked by label.",
    "validation_curves": "Validation macro-F1 per epoch for every LoRA rank.",
    "method_bars": "Macro-F1 and accuracy per method on the test set, with 95% bootstrap CIs.",
    "confusion_selected": "Confusion matrix of the selected LoRA rank on the test set.",
    "efficiency": "Cost per method: trainable parameters, training time, latency per item.",
}
# The study's figures lead; the data and training figures follow.
FIGURE_ORDER = ["method_bars", "confusion_selected", "efficiency", "validation_curves"]


def _caption(stem: str) -> str:
    if stem.startswith("training_r"):
        return f"Loss and validation metrics per epoch, LoRA rank {stem[len('training_r') :]}."
    return FIGURE_CAPTIONS.get(stem, stem.replace("_", " "))


def render_template(name: str, **context) -> str:
    """A page from lib/loralab/templates, every value HTML-escaped unless marked safe."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    return env.get_template(name).render(**context)


def html_table(frame: pd.DataFrame, index: bool = False) -> str:
    """An HTML table; pandas escapes cell text, so dataset text cannot inject markup."""
    html = frame.to_html(index=index, classes="table", border=0, escape=True, na_rep="")
    return f'<div class="scroll">{html}</div>'


def _data_section(run: RunPaths) -> dict:
    section: dict = {}
    if run.provenance.is_file():
        prov = read_json(run.provenance)
        section["provenance"] = prov
        if "excluded" in prov:
            section["excluded"] = html_table(
                pd.DataFrame(list(prov["excluded"].items()), columns=["records", "count"])
            )
    if run.preprocess_steps.is_file():
        section["steps"] = html_table(pd.read_csv(run.preprocess_steps, keep_default_na=False))
    if run.split_counts.is_file():
        section["split_counts"] = html_table(pd.read_csv(run.split_counts))
    if run.leakage.is_file():
        leak = read_json(run.leakage)
        section["leakage"] = {
            "clean": leak["clean"],
            "policy": leak["policy"],
            "table": html_table(pd.DataFrame(leak["summary"])),
        }
    return section


def _training_section(run: RunPaths, out_dir: Path) -> dict:
    """Rank selection and cost per rank, from the summaries each training step wrote."""
    summaries = trained_summaries(run)
    if not summaries:
        return {}
    ranks = [s["rank"] for s in summaries]
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    selected, table = select_rank(summaries)
    cost = pd.DataFrame(summaries).assign(adapter_mb=lambda f: f["adapter_bytes"] / 2**20)[
        [
            "rank",
            "trainable_params",
            "trainable_mb",
            "adapter_mb",
            "best_epoch",
            "epochs_run",
            "time_to_best_s",
            "train_time_s",
            "train_tokens_per_s",
            "peak_memory_mb",
        ]
    ]
    histories = {r: pd.read_csv(run.history(r)) for r in ranks}
    save_figure(validation_curves(histories), out_dir / "figures" / "validation_curves.png")
    return {
        "selected": selected,
        "rule": SELECTION_RULE,
        "selection": html_table(table.round(4)),
        "cost": html_table(cost.round(2)),
        "precision": summaries[0]["precision"],
    }


def _study_section(run: RunPaths) -> dict:
    """The headline and both tables, from results.csv and stat_tests.json."""
    if not run.results.is_file():
        return {}
    results = pd.read_csv(run.results)
    rows = results.set_index("method")
    section = {"results": html_table(format_results(results))}
    selected = rows.index[rows["selected"]].tolist()
    lead = selected[0] if selected else None
    compared = pd.DataFrame()
    if run.stat_tests.is_file():
        tests = read_json(run.stat_tests)
        compared = pd.DataFrame(tests["comparisons"])
        shown, note = format_stats(compared, load_config(run.params))
        section.update(stats=html_table(shown), stats_note=note)
    if lead is None:
        return section

    def metric(method: str) -> dict:
        r = rows.loc[method]
        return {
            "name": r["name"],
            "value": r["macro_f1"],
            "low": r["macro_f1_low"],
            "high": r["macro_f1_high"],
            "accuracy": r["accuracy"],
        }

    def versus(baseline: str) -> dict | None:
        if compared.empty:
            return None
        hit = compared[(compared["method"] == lead) & (compared["baseline"] == baseline)]
        if hit.empty:
            return None
        c = hit.iloc[0]
        return {
            "name": rows.loc[baseline, "name"],
            "delta": c["delta_macro_f1"],
            "low": c["delta_low"],
            "high": c["delta_high"],
            "p": c.get("bootstrap_p_holm", c["bootstrap_p"]),
            "b": int(c["mcnemar_b"]),
            "c": int(c["mcnemar_c"]),
            "mcnemar_p": c.get("mcnemar_p_holm", c["mcnemar_p"]),
        }

    lead_row = rows.loc[lead]
    section["headline"] = {
        "lead": metric(lead),
        "others": [metric(m) for m in ("zero_shot", "tfidf") if m in rows.index],
        "versus": [v for v in (versus("zero_shot"), versus("tfidf")) if v],
        "adjusted": "bootstrap_p_holm" in compared,
        "cost": {
            "trainable_mb": lead_row["trainable_mb"],
            "adapter_mb": lead_row.get("adapter_mb", float("nan")),
            "train_time_s": lead_row["train_time_s"],
            "latency_ms": lead_row["latency_p50_ms"],
            "zero_shot_latency_ms": rows.loc["zero_shot", "latency_p50_ms"]
            if "zero_shot" in rows.index
            else None,
        },
        "n_test": int(lead_row["n_test"]),
    }
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
    study = _study_section(run)
    training = _training_section(run, out_dir)  # draws a figure that the list below includes
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
        study=study,
        training=training,
        figures=figures,
        params=run.params.read_text(encoding="utf-8") if run.params.is_file() else "",
        packages=package_versions(),
        machine=machine(),
        commit=git_commit(PROJECT_ROOT),
    )
    return write_text(out_dir / "index.html", page)
