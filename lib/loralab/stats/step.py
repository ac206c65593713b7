"""The statistics step: which paired comparisons the study makes, their tests, and the table.

Comparisons: first the primary one, `stats.primary`, declared before the run so that the
headline's first answer was not chosen after seeing the results; then every trained method
against the anchor (zero-shot), and the lead (the selected method) against every baseline; the
roles are the methods' own, recorded in evaluation.json (candidates, configurations no fold
selected, are not tested).
Each gets McNemar's test (b, c, p) with the smallest difference in accuracy it detects with 80 %
power at this n, and a paired bootstrap of the macro-F1 difference (mean, BCa or percentile CI,
p), its resamples stratified by fold when the study has several, and drawing one of a method's
training seeds (draw_predictions.csv) per resample when it has several; Holm's correction is
applied across all the comparisons, the primary one included, separately for each test. With
`split.repeats` > 1, also the corrected resampled t-test over every fold of every repeat, and
with 2 folds Dietterich's 5x2cv t-test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loralab.config import Config, StatsConfig
from loralab.data.splits import read_split, repeat_folds
from loralab.errors import ConfigError
from loralab.layout import SPLITS, RunPaths
from loralab.records import EvaluationRecord, PrimaryDeclaration, StatTestsRecord
from loralab.roles import ANCHOR, BASELINE, HEADLINE, TRAINED, with_role
from loralab.stats.paired_tests import (
    Draws,
    corrected_cv_t_test,
    five_by_two_cv_t_test,
    holm,
    mcnemar_detectable_difference,
    mcnemar_test,
    paired_bootstrap_delta,
    resample_weights,
)

POWER = 0.8  # the power at which the detectable difference is stated
SELECTED = "selected"  # stats.primary's name for evaluation.json's selected_method
SELECTED_HEAD = "selected_head"  # the same for LoRA with a classification head
TRAINED_KINDS = ("lora", "lora_head", "full")
ALL_ITEMS_BASELINE = "tfidf_all"  # the default primary baseline: TF-IDF on every training item


def item_folds(run: RunPaths, ids: pd.Series, folds: int, repeats: int = 1) -> np.ndarray:
    """The fold whose test split holds each item, per repeat of the folds (repeats x items): the
    bootstrap's strata. The split step's files say it; the paired predictions list the items in
    repeat 0's fold order but do not record the fold."""
    tests = [read_split(run, "test", k) for k in range(folds * repeats)]
    return repeat_folds(tests, folds, ids)


def primary_comparison(
    primary: list[str], selected: str | None, results: pd.DataFrame, head: str | None = None
) -> tuple[tuple[str, str], str]:
    """stats.primary as two results.csv ids, and a note where a stand-in was taken.

    'selected' names the lead, 'selected_head' LoRA with a classification head selected at the
    largest size (`head`). An id the run lacks is a ConfigError: a declared comparison is
    never silently swapped for another. One exception: tfidf_all exists only where the trained
    method saw fewer than every training item; where it saw them all, TF-IDF on those same
    items (the classic row with the same training items) is that comparison."""
    ids = results["method"].tolist()
    aliases = {SELECTED: selected, SELECTED_HEAD: head}
    method, baseline = (aliases.get(m, m) for m in primary)
    note = ""
    rows = results.set_index("method")
    if baseline == ALL_ITEMS_BASELINE and baseline not in rows.index and method in rows.index:
        same = rows[
            (rows["kind"] == "classic") & (rows["train_items"] == rows.at[method, "train_items"])
        ]
        if len(same):
            baseline = same.index[0]
            note = (
                f"stats.primary names {ALL_ITEMS_BASELINE}, which this run lacks: "
                f"{rows.at[method, 'name']} trained on every training item, so TF-IDF on the "
                f"same items ({rows.at[baseline, 'name']}) is the primary baseline."
            )
    for declared, found in zip(primary, (method, baseline), strict=True):
        if found not in rows.index:
            what = "no selected method" if found is None else f"no method {found!r}"
            alias = f" ('{declared}' is {found})" if declared in aliases and found else ""
            raise ConfigError(
                f"stats.primary = {primary}: this run has {what}{alias}; its methods: "
                f"{', '.join(ids)}. Declare two of them ('selected': the selected LoRA; "
                "'selected_head': the selected LoRA with a classification head)."
            )
    return (method, baseline), note


DEFAULT_PRIMARY_CAVEAT = (
    "This is stats.primary's default, which was set after a run of the default study had "
    "shown this pair (as not separated): declared before this run, but not before every look "
    "at the data. A study that needs a clean primary comparison declares its own in its params "
    "file before its first run."
)


def primary_caveat(primary: list[str]) -> str:
    """What a reader must know of the primary comparison's history: the default's was chosen
    after a result; one a params file declares carries no such note."""
    default = StatsConfig.model_fields["primary"].default
    return DEFAULT_PRIMARY_CAVEAT if list(primary) == list(default) else ""


def competitive_rules(results: pd.DataFrame, lead: str) -> list[str]:
    """The trivial rules (kind "rule": the majority class, the label-term rule) whose test
    macro-F1 reaches the lead's lower bound: a rule that learns nothing yet scores as high
    must stand beside the lead wherever its score is stated."""
    rows = results.set_index("method")
    rules = rows[(rows["kind"] == "rule") & (rows["macro_f1"] >= rows.loc[lead, "macro_f1_low"])]
    return [m for m in rules.index if m != lead]


def planned_comparisons(
    roles: dict[str, str],
    selected: str | None,
    primary: tuple[str, str] | None = None,
    same_items: list[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """(method, baseline) pairs, each once: the primary one first, then every trained method
    against each anchor and against the classic baseline trained on its items (the learning
    curve's crossing), then the selected method against every anchor, headline and baseline
    method. Candidates (trained, selected by no fold) are in the tables, not tested."""
    pairs = [primary] if primary else []
    trained, anchors = with_role(roles, TRAINED), with_role(roles, ANCHOR)
    pairs += [(m, a) for m in trained for a in anchors]
    pairs += [pair for pair in same_items if pair[0] in trained]
    if selected:
        compared = [m for m, r in roles.items() if r in (ANCHOR, HEADLINE, BASELINE)]
        pairs += [(selected, b) for b in compared if b != selected]
    return list(dict.fromkeys(pairs))


def same_items_pairs(results: pd.DataFrame) -> list[tuple[str, str]]:
    """Pairs of methods trained on the same items: each trained row with the classic row
    (TF-IDF) at its training size, and each selected LoRA-with-head row with the selected
    verbalizer LoRA at its size (lora.formats: the head against the verbalizer)."""
    if "train_size" not in results:  # a run older than the trial grid
        return []
    sized = results.dropna(subset=["train_size"]).astype({"train_size": str})
    classic = sized[sized["kind"] == "classic"].set_index("train_size")["method"]
    trained = sized[sized["kind"].isin(TRAINED_KINDS)]
    pairs = [
        (m, classic[s])
        for m, s in zip(trained["method"], trained["train_size"], strict=True)
        if s in classic.index
    ]
    chosen = trained[trained["selected"].astype(bool)]
    verbalizer = chosen[chosen["kind"] == "lora"].set_index("train_size")["method"]
    heads = chosen[chosen["kind"] == "lora_head"]
    return pairs + [
        (m, verbalizer[s])
        for m, s in zip(heads["method"], heads["train_size"], strict=True)
        if s in verbalizer.index
    ]


def method_draws(run: RunPaths, ids: pd.Series) -> dict[str, np.ndarray]:
    """Each method's predictions per draw (draws x items, in paired order) and the repeat of the
    folds each came from, from draw_predictions.csv: training seeds, few-shot's draws. Empty for
    runs without the file; a file older than its repeat column gives draws of no repeat."""
    if not run.draw_predictions.is_file():
        return {}
    frame = pd.read_csv(run.draw_predictions, dtype={"id": str})
    out = {}
    for method, part in frame.groupby("method", sort=False):
        table = part.pivot(index="draw", columns="id", values="prediction")
        table = table.reindex(columns=ids.astype(str))
        if table.isna().any().any():
            raise ValueError(
                f"{run.draw_predictions}: {method}'s draws miss paired test items; evaluate again"
            )
        repeats = part.groupby("draw")["repeat"].first() if "repeat" in part else None
        out[method] = Draws(
            table.to_numpy(), None if repeats is None else repeats[table.index].to_numpy()
        )
    return out


def compare(
    paired: pd.DataFrame, a: str, b: str, labels, resamples, cfg: Config, draws=None
) -> dict:
    """One planned comparison: McNemar with its power, and the paired bootstrap of Δ macro-F1
    (drawing a seed, then items, for a method with several draws in `draws`)."""
    alpha = round(1 - cfg.stats.confidence, 12)  # 0.05, not 0.050000000000000044
    gold = paired["gold"].to_numpy()
    pred_a, pred_b = paired[f"pred_{a}"].to_numpy(), paired[f"pred_{b}"].to_numpy()
    mc = mcnemar_test(pred_a == gold, pred_b == gold)
    draws = draws or {}
    boot = paired_bootstrap_delta(
        gold,
        pred_a,
        pred_b,
        labels,
        resamples,
        cfg.stats.confidence,
        draws_a=draws.get(a),
        draws_b=draws.get(b),
    )
    discordant = (mc.b + mc.c) / len(paired)
    return {
        "method": a,
        "baseline": b,
        "mcnemar_b": mc.b,
        "mcnemar_c": mc.c,
        "mcnemar_test": mc.method,
        "mcnemar_statistic": mc.statistic,
        "mcnemar_p": mc.p_value,
        "discordant_rate": discordant,
        "detectable_delta_80": mcnemar_detectable_difference(len(paired), discordant, alpha, POWER),
        "delta_macro_f1": boot.observed,
        "delta_mean": boot.mean,
        "delta_low": boot.low,
        "delta_high": boot.high,
        "delta_ci_method": boot.ci_method,
        "bootstrap_p": boot.p_value,
        "draws_method": boot.draws[0],
        "draws_baseline": boot.draws[1],
    }


def cv_test_to_train(results: pd.DataFrame, a: str, b: str, n_test: float, pool: float) -> float:
    """n_test / n_train of a pair's corrected t-test. n_train is what the learner learned from:
    the first method's training items (the comparisons put the trained method first), else the
    baseline's, else, where neither learned from any item (zero-shot against a rule), the
    train and val items of the fold: a method trained on 64 of them has a ratio near 2.4 where
    the whole pool gives about 0.3, a correction seven times too small."""
    items = results.set_index("method")["train_items"]
    learned = [float(items[m]) for m in (a, b) if m in items.index and items[m] > 0]
    return n_test / (learned[0] if learned else pool)


def repeated_cv_tests(
    run: RunPaths, pairs: list[tuple[str, str]], folds: int, repeats: int, results: pd.DataFrame
) -> pd.DataFrame:
    """The corrected resampled t-test of each pair's per-fold macro-F1 differences over every
    fold of every repeat (fold_results.csv), n_test / n_train as cv_test_to_train says; with 2
    folds, Dietterich's 5x2cv t-test of the same differences beside it."""
    per_fold = pd.read_csv(run.fold_results).pivot(
        index="fold", columns="method", values="macro_f1"
    )
    runs = folds * repeats
    size = {name: [len(read_split(run, name, k)) for k in range(runs)] for name in SPLITS}
    n_test, pool = np.mean(size["test"]), np.mean(size["train"]) + np.mean(size["val"])
    rows = []
    for a, b in pairs:
        row = {"cv_test_to_train": cv_test_to_train(results, a, b, n_test, pool)}
        if a in per_fold and b in per_fold:
            differences = (per_fold[a] - per_fold[b]).sort_index().to_numpy()
            test = corrected_cv_t_test(differences, row["cv_test_to_train"])
            row |= {"cv_delta_mean": test.mean, "cv_t": test.statistic, "cv_df": test.df}
            row["cv_p"] = test.p_value
            if folds == 2:
                five = five_by_two_cv_t_test(differences.reshape(repeats, 2))
                row |= {"cv52_t": five.statistic, "cv52_df": five.df, "cv52_p": five.p_value}
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class Statistics:
    """Everything the statistics notebook shows, so it reads no file the step wrote."""

    tests: pd.DataFrame  # stat_tests.json's comparisons
    record: StatTestsRecord  # stat_tests.json
    results: pd.DataFrame  # results.csv, for the figures


def statistics_step(cfg: Config, run: RunPaths) -> Statistics:
    """Run every planned comparison on the paired predictions; write them (stat_tests.json)."""
    paired = pd.read_csv(run.paired_predictions, dtype={"id": str})
    meta = EvaluationRecord.read(run.evaluation)
    results = pd.read_csv(run.results)
    names = meta.methods
    selected = meta.selected_method
    head = meta.lead_of("lora_head")
    primary, stand_in = primary_comparison(cfg.stats.primary, selected, results, head)
    repeats = meta.repeats
    folds = item_folds(run, paired["id"], meta.folds, repeats)
    resamples = resample_weights(
        len(paired), cfg.stats.bootstrap_resamples, cfg.stats.seed, strata=folds
    )
    draws = method_draws(run, paired["id"])
    pairs = planned_comparisons(meta.roles, selected, primary, same_items_pairs(results))
    rows = [
        {"comparison": f"{names[a]} vs {names[b]}", "primary": (a, b) == primary}
        | compare(paired, a, b, meta.labels, resamples, cfg, draws)
        for a, b in pairs
    ]
    table = pd.DataFrame(rows)
    if repeats > 1 and not table.empty:
        cv = repeated_cv_tests(run, pairs, meta.folds, repeats, results)
        table = pd.concat([table, cv], axis=1)
    if cfg.stats.correction == "holm" and not table.empty:
        table["mcnemar_p_holm"] = holm(table["mcnemar_p"].tolist())
        table["bootstrap_p_holm"] = holm(table["bootstrap_p"].tolist())
        for column in ("cv_p", "cv52_p"):
            if column in table:
                table[f"{column}_holm"] = holm_present(table[column])
    declared = PrimaryDeclaration(
        list(cfg.stats.primary), list(primary), stand_in, primary_caveat(cfg.stats.primary)
    )
    record = stat_tests_record(table, cfg, len(paired), meta.folds, declared)
    record.write(run.stat_tests)
    return Statistics(table, record, results)


def holm_present(p_values: pd.Series) -> list[float | None]:
    """Holm over the comparisons that have a p-value; None where one has none."""
    known = p_values.notna()
    adjusted = iter(holm(p_values[known].astype(float).tolist()))
    return [next(adjusted) if k else None for k in known]


def stat_tests_record(
    table: pd.DataFrame, cfg: Config, n_test: int, folds: int, primary: PrimaryDeclaration
) -> StatTestsRecord:
    """The comparisons, the settings they were computed with and what their columns mean."""
    power = {"power": POWER, "alpha": round(1 - cfg.stats.confidence, 12)} | POWER_MEANS
    return StatTestsRecord(
        # NaN (no detectable difference) is written as null, which JSON has
        comparisons=table.astype(object).where(table.notna(), None).to_dict("records"),
        correction=cfg.stats.correction,
        bootstrap_resamples=cfg.stats.bootstrap_resamples,
        seed=cfg.stats.seed,
        confidence=cfg.stats.confidence,
        n_test=n_test,
        folds=folds,  # the strata of the bootstrap
        primary=primary,
        explained=COLUMNS_MEAN | {"power": power},
    )


POWER_MEANS = {
    "detectable_delta_80_means": (
        "the smallest difference in accuracy, |b - c| / n, that McNemar's test at "
        "level alpha (unadjusted) detects with 80 % power at this n and the observed "
        "discordant rate (b + c) / n; null: fewer than about 10 discordant items, too "
        "few to state one"
    ),
    "method": "Connor (1987) normal approximation, with continuity correction",
}
# stat_tests.json's explanations, for a reader of the file alone
COLUMNS_MEAN = {
    "primary_means": "the comparison stats.primary declared before the run: the headline "
    "leads with it whatever its outcome; the others follow, Holm-adjusted",
    "b_means": "first method right, baseline wrong",
    "c_means": "first method wrong, baseline right",
    "ci_methods": {
        "delta_macro_f1": "BCa (scipy.stats.bootstrap, paired resamples of the test "
        "items, stratified by fold when there are several); percentile where BCa is "
        "undefined, as delta_ci_method says, and where a method has several draws",
    },
    "draws_means": "draws_method, draws_baseline: the draws (training seeds, few-shot "
    "draws) each resample picked one of, uniformly, before resampling the items; 1: the "
    "method's one row of predictions",
    "cv_means": "with split.repeats > 1: the corrected resampled t-test (Nadeau and Bengio "
    "2003) of the per-fold macro-F1 differences over every fold of every repeat "
    "(fold_results.csv): cv_delta_mean their mean, cv_t, cv_df (folds - 1), cv_p two-sided, "
    "cv_test_to_train the n_test / n_train that inflates the variance (n_train: the "
    "training items of the first method, else of the baseline, else the fold's train and "
    "val items); null for a method without per-fold results. With split.folds = 2, "
    "cv52_t, cv52_df (repeats), cv52_p: Dietterich's 5x2cv paired t-test of the same "
    "differences",
}
