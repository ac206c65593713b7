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
from .environment import git_commit, machine, package_versions
from .layout import RunPaths

TEMPLATES = Path(__file__).resolve().parent / "templates"
FIGURE_CAPTIONS = {
    "class_balance": "Items per label after preprocessing.",
    "lengths": "Text length per label, in words and in the model's tokens.",
    "split_counts": "Items per split, stacked by label.",
}


def _table(frame: pd.DataFrame, index: bool = False) -> str:
    """An HTML table; pandas escapes cell text, so dataset text cannot inject markup."""
    return frame.to_html(index=index, classes="table", border=0, escape=True, na_rep="")


def _data_section(run: RunPaths) -> dict:
    section: dict = {}
    if run.provenance.is_file():
        prov = read_json(run.provenance)
        section["provenance"] = prov
        if "excluded" in prov:
            section["excluded"] = _table(
                pd.DataFrame(list(prov["excluded"].items()), columns=["records", "count"])
            )
    if run.preprocess_steps.is_file():
        section["steps"] = _table(pd.read_csv(run.preprocess_steps, keep_default_na=False))
    if run.split_counts.is_file():
        section["split_counts"] = _table(pd.read_csv(run.split_counts))
    if run.leakage.is_file():
        leak = read_json(run.leakage)
        section["leakage"] = {
            "clean": leak["clean"],
            "policy": leak["policy"],
            "table": _table(pd.DataFrame(leak["summary"])),
        }
    return section


def _copy_figures(run: RunPaths, out_dir: Path) -> list[dict]:
    figures = []
    if run.figures.is_dir():
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
        for png in sorted(run.figures.glob("*.png")):
            shutil.copy2(png, out_dir / "figures" / png.name)
            figures.append(
                {"src": f"figures/{png.name}", "caption": FIGURE_CAPTIONS.get(png.stem, png.stem)}
            )
    return figures


def write_report(run: RunPaths, out_dir: Path, steps: list) -> Path:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    failed = [s for s in steps if s.status == "failed"]
    page = env.get_template("index.html.j2").render(
        run_id=run.run_id,
        created=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        status="failed"
        if failed
        else ("complete" if all(s.status == "ok" for s in steps) else "incomplete"),
        steps=steps,
        data=_data_section(run),
        figures=_copy_figures(run, out_dir),
        params=run.params.read_text(encoding="utf-8") if run.params.is_file() else "",
        packages=package_versions(),
        machine=machine(),
        commit=git_commit(Path(__file__).resolve().parents[2]),
    )
    return write_text(out_dir / "index.html", page)
