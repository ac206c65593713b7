"""A finished study's answers as committed files, and the findings page read from them.

A run folder is not kept (`executed/` is ignored, and a session's machine is not either), so a
finding the docs state must rest on files in the repository: `export` copies a run's small
artifacts (tables, records, figures; no adapters) to `docs/findings/<study>/` with when, where
and at what cost it ran. `findings_block` writes the findings page's (docs/findings.md) block
from those files alone, each ratio beside its anchor from the study's declaration, so the two
cannot drift apart (a test compares them).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd

from loralab.artifacts import read_json, write_json, write_text
from loralab.formats import learning_rate
from loralab.layout import RunPaths
from loralab.records import StatTestsRecord, TrainSummary
from loralab.report.tables import format_results, stats_table
from loralab.stats.crossing import first_lora_ahead, lead_changes, size_verdicts
from loralab.stats.lr_optimum import curve_name
from loralab.stats.step import primary_caveat

# what a finding keeps: small tables and records, by RunPaths member
KEPT = (
    "params",
    "results",
    "fold_results",
    "paired_predictions",
    "draw_predictions",
    "selection_table",
    "trials_table",
    "lr_optima",
    "lr_ratios",
    "evaluation",
    "stat_tests",
)
RECORD = "finding.json"
TABLES = {"results": "eval/results_table.md", "stats": "stats/stats_table.md"}  # rendered
# the anchors each study declared in its params file: what the literature leads one to expect
ANCHORS = {
    ("rank", "lora"): (1.0,),
    ("rank", "rslora"): ((2 / 64) ** 0.5,),
    ("lora_over_full", "lora"): (10.0, 15.0),
}


def measured_defaults(run: RunPaths) -> dict:
    """What `export` records unless told otherwise: this checkout's commit, this CPU, the dtype
    path of the run's first trial, the run's params and the sum of its steps' times (the wall
    time of a run with one job; `--wall-min` gives a measured one)."""
    from loralab.environment import cpu_kind, git_commit

    record = read_json(run.run_record)
    trials = run.trained_trials()
    precision = TrainSummary.read(run.train_summary(trials[0])).precision if trials else "?"
    return {
        "params": record["params"],
        "commit": git_commit(Path.cwd()),
        "cpu": cpu_kind(),
        "dtype": precision,
        "command": f"loralab run {record['params']} --run-id {record['run_id']}",
        "wall_min": sum(s["seconds"] or 0 for s in record["steps"]) / 60,
    }


def export(run: RunPaths, dest: Path, measured: dict) -> Path:
    """Copy the run's kept artifacts and figures to `dest` (replacing what was there) with
    `measured` (commit, CPU kind, dtype path, command, wall time, peak memory) and the date."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    for member in KEPT:
        source = getattr(run, member)
        if source.is_file():
            target = dest / source.relative_to(run.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for trial in run.trained_trials():  # small: what selection and the optimum read
        for source in (run.history(trial), run.train_summary(trial), run.val_predictions(trial)):
            target = dest / source.relative_to(run.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    if run.figures.is_dir():
        shutil.copytree(run.figures, dest / "figures")
    _write_tables(run, dest)
    record = {"run_id": run.root.name, "date": date.today().isoformat(), **measured}
    write_json(dest / RECORD, record)
    return dest


def _write_tables(run: RunPaths, dest: Path) -> None:
    """The results and the paired tests as the report words them, for a reader of the folder
    on GitHub; rendered here, since the steps write data only."""
    if run.results.is_file():
        shown = format_results(pd.read_csv(run.results))
        write_text(dest / TABLES["results"], _markdown(shown) + "\n")
    if run.stat_tests.is_file():
        shown, note = stats_table(StatTestsRecord.read(run.stat_tests))
        write_text(dest / TABLES["stats"], _markdown(shown) + "\n\n" + note + "\n")


def _markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, disable_numparse=True)


def verdict(low: float, high: float, anchors: tuple[float, ...], others: tuple = ()) -> str:
    """The declared reading of a ratio's interval against its anchors: it agrees when it holds
    one of them (and, where the study names a rival anchor, not that one), disagrees when it
    holds none, and cannot tell when it holds the rival too."""

    def held(values: tuple) -> bool:
        return any(low <= a <= high for a in values)

    if held(anchors) and held(others):
        return "cannot tell"
    return "agrees" if held(anchors) else "disagrees"


def ratio_rows(folder: Path) -> pd.DataFrame:
    """A finding's ratios with their anchors and readings."""
    path = Path(folder) / "eval" / "lr_ratios.csv"
    if not path.is_file():  # a run from before the optima were written
        return pd.DataFrame()
    ratios = pd.read_csv(path)
    rows = []
    for r in ratios.itertuples():
        variant = r.numerator.split(" ")[0]
        anchors = ANCHORS.get((r.kind, variant), ())
        rival = ANCHORS.get((r.kind, "rslora" if variant == "lora" else "lora"), ())
        others = rival if r.kind == "rank" else ()
        reading = verdict(r.low, r.high, anchors, others) if anchors else ""
        rows.append(r._asdict() | {"anchor": anchors, "reading": reading})
    return pd.DataFrame(rows)


def _ratio_line(r) -> str:
    anchor = " or ".join(f"{a:.2g}" for a in r.anchor)
    overlap = "" if r.grids_overlap else "; the grids do not overlap"
    return (
        f"| {r.numerator} / {r.denominator} | {r.ratio:.3g} [{r.low:.3g}, {r.high:.3g}] | "
        f"{anchor} | {r.reading}{overlap} |"
    )


def _optima_lines(folder: Path) -> list[str]:
    path = Path(folder) / "eval" / "lr_optima.csv"
    if not path.is_file():
        return []
    optima = pd.read_csv(path)
    lines = []
    for r in optima[optima["lr_min"] < optima["lr_max"]].itertuples():  # a grid to find it on
        name = curve_name(r.method, r.variant, r.rank)
        edge = ", at the grid's edge" if r.edge else ""
        lines.append(
            f"{name}: {learning_rate(r.lr)} [{learning_rate(r.low)}, {learning_rate(r.high)}]{edge}"
        )
    return lines


def choices_by_rule(folder: Path) -> pd.DataFrame:
    """Per fold, size and method: the configuration the label loss chose (selection.csv) and
    the one the answer-token loss, the rule before 2026-12-07, would have chosen from the same
    trials' histories (each trial at its own best epoch by that loss, averaged over seeds)."""
    folder = Path(folder)
    chosen = pd.read_csv(folder / "eval" / "selection.csv", dtype={"train_size": str})
    chosen = chosen[chosen["selected"]]
    trials = []
    for summary_path in sorted(folder.glob("train/*/summary.json")):
        s = TrainSummary.read(summary_path).row()
        history = pd.read_csv(summary_path.parent / "history.csv")
        trials.append(
            {k: s[k] for k in (*KEY, *CONFIG, "seed")} | {"loss": history["val_loss"].min()}
        )
    if not trials:
        return pd.DataFrame()
    mean = pd.DataFrame(trials).groupby([*KEY, *CONFIG], as_index=False)["loss"].mean()
    mean["train_size"] = mean["train_size"].astype(str)
    mean = mean[mean.groupby(KEY)["loss"].transform("size") > 1]  # one candidate: no choice
    before = mean.sort_values([*KEY, "loss", "rank", "lr"]).drop_duplicates(KEY)
    out = chosen[[*KEY, *CONFIG]].merge(before[[*KEY, *CONFIG]], on=KEY, suffixes=("", "_before"))
    return out


KEY = ["fold", "train_size", "method"]
CONFIG = ["variant", "rank", "lr"]


def _config_name(method: str, variant: str, rank: int, lr: float) -> str:
    what = "full fine-tuning" if method == "full" else curve_name(method, variant, rank)
    return f"{what}, lr {learning_rate(lr)}"


def _choice_line(choices: pd.DataFrame) -> list[str]:
    if choices.empty:
        return []
    said = []
    for r in choices.itertuples():
        now = _config_name(r.method, r.variant, r.rank, r.lr)
        then = _config_name(r.method, r.variant_before, r.rank_before, r.lr_before)
        where = f"fold {r.fold}, {r.train_size} items"
        before = "the same" if now == then else then
        said.append(f"{where}: {now} (the answer-token loss, the rule before: {before})")
    return ["", "Chosen by the validation label loss: " + "; ".join(said) + "."]


def _resampled(folder: Path) -> str:
    """What the optima's intervals resampled, as a finding's table says."""
    optima = pd.read_csv(Path(folder) / "eval" / "lr_optima.csv")
    units = optima.get("resampled", pd.Series(dtype=str)).dropna().unique()
    return f", bootstrap over {units[0]}" if len(units) == 1 else ""


def study_block(folder: Path) -> str:
    """One study's findings in Markdown: its optima and ratios against their anchors, and its
    run's date, commit, CPU kind, time and peak memory."""
    folder = Path(folder)
    record = read_json(folder / RECORD)
    peak = record.get("peak_gib")
    memory = f"peak {peak:.2f} GiB" if peak is not None else "peak memory not measured"
    lines = [
        f"**`{record['params']}`** ({record['date']}, commit `{record['commit']}`, "
        f"{record['cpu']}, {record['dtype']}: {record['wall_min']:.1f} min, {memory}; "
        f"`{record['command']}`; files in `docs/findings/{folder.name}`)."
    ]
    ratios = ratio_rows(folder)
    if len(ratios):
        lines += ["", "| optimum ratio | estimate [95% CI] | anchor | reading |"]
        lines += ["|---|---|---|---|", *(_ratio_line(r) for r in ratios.itertuples())]
    optima = _optima_lines(folder)
    if optima:
        over = _resampled(folder)
        lines += ["", f"Optimum learning rates [95% CI{over}]: " + "; ".join(optima) + "."]
    lines += _choice_line(choices_by_rule(folder))
    lines += _primary_lines(folder)
    lines += _crossing_lines(folder)
    return "\n".join(lines)


def _crossing_lines(folder: Path) -> list[str]:
    """Per training size: the selected LoRA against TF-IDF on the same items, Holm over the
    sizes (crossing.size_verdicts), where a study has more than one size."""
    results = pd.read_csv(folder / "eval" / "results.csv")
    tests = StatTestsRecord.read(folder / "stats" / "stat_tests.json")
    verdicts = size_verdicts(results, tests.table, tests.confidence)
    if len(verdicts) < 2:
        return []
    steps = results.set_index("method").get("steps_to_best")
    head = "| training items | LoRA macro-F1 | steps to its best round | Δ against TF-IDF on the "
    lines = ["", head + "same items [95% CI] | Holm p | reading |", "|---|---|---|---|---|---|"]
    for v in verdicts.itertuples():
        took = f"{steps[v.method]:g}" if steps is not None else "not recorded"
        lines.append(
            f"| {v.train_items:g} | {v.macro_f1:.3f} | {took} | {v.delta:+.3f} [{v.low:+.3f}, "
            f"{v.high:+.3f}] | {v.p_holm:.2g} | {v.status} |"
        )
    first, changes = first_lora_ahead(verdicts), lead_changes(verdicts)
    where = "never" if first is None else f"at {first['train_items']:g} items"
    hands = "it changes hands" if changes else "the lead never changes hands"
    return [*lines, "", f"LoRA is first separated ahead of TF-IDF {where}; {hands}."]


def _primary_lines(folder: Path) -> list[str]:
    """The primary comparison a study declared in its params file (none where it kept the
    default, which was set after a result): both methods' macro-F1, the paired difference with
    its interval, McNemar's counts, and, where not separated, what it had the power to see."""
    tests = StatTestsRecord.read(folder / "stats" / "stat_tests.json")
    if not tests.primary or primary_caveat(tests.primary.declared):  # runs before the caveat too
        return []
    comparisons = tests.table
    c = comparisons[comparisons["primary"].astype(bool)].iloc[0]
    rows = pd.read_csv(folder / "eval" / "results.csv").set_index("method")
    scores = "; ".join(
        f"{rows.at[m, 'name']} {rows.at[m, 'macro_f1']:.3f} "
        f"[{rows.at[m, 'macro_f1_low']:.3f}, {rows.at[m, 'macro_f1_high']:.3f}]"
        for m in (c["method"], c["baseline"])
    )
    separated = c["delta_low"] > 0 or c["delta_high"] < 0
    reading = "separated (the interval excludes 0)" if separated else "not separated"
    if not separated and pd.notna(c.get("detectable_delta_80")):
        reading += (
            f"; McNemar had 80 % power only for an accuracy difference of "
            f"{c['detectable_delta_80']:.3f} or more"
        )
    return [
        "",
        f"Primary comparison, declared before the run: {c['comparison']} over "
        f"{tests.n_test} paired test items. Macro-F1 [95% CI]: {scores}. Δ macro-F1 "
        f"{c['delta_macro_f1']:+.3f} [{c['delta_low']:+.3f}, {c['delta_high']:+.3f}] (paired "
        f"bootstrap p {c['bootstrap_p']:.2g}); McNemar b={c['mcnemar_b']}, c={c['mcnemar_c']}, "
        f"p {c['mcnemar_p']:.2g}: {reading}.",
    ]


def findings_block(root: Path) -> str:
    """Every committed finding under `root` (docs/findings), one block each, by study name."""
    folders = sorted(p.parent for p in Path(root).glob(f"*/{RECORD}"))
    return "\n\n".join(study_block(f) for f in folders) + "\n"


BEGIN = "<!-- findings: generated by loralab.report.findings.findings_block -->\n"
END = "<!-- end of findings -->"


def rewrite_page(page: Path, root: Path) -> None:
    """Replace the findings page's generated block with what the committed findings give."""
    text = page.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN)
    tail = rest.split(END, 1)[1]
    page.write_text(head + BEGIN + findings_block(root) + END + tail, encoding="utf-8")


if __name__ == "__main__":  # python -m loralab.report.findings, from the repository root
    rewrite_page(Path("docs/findings.md"), Path("docs/findings"))
