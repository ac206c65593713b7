"""Who leads at each training size, the selected LoRA or TF-IDF on the same items, and where
the lead changes hands.

Stopping at the first size separated in either direction would call a curve "TF-IDF ahead"
when TF-IDF leads at 16 items and LoRA at 64. So every size is tested and classified: with
the paired tests (stat_tests.json), a size is separated when its paired bootstrap p, Holm-
adjusted over the sizes tested, is below 1 - confidence, and the sign of Δ macro-F1 says who
is ahead. Without paired tests the methods' own intervals stand in (separated when they do not
overlap; no adjustment), a cruder reading the sentence states.
"""

from __future__ import annotations

import math

import pandas as pd

from loralab.stats.paired_tests import holm
from loralab.stats.sweep_tables import comparison, curve_points, same_items_baseline

LORA_AHEAD, TFIDF_AHEAD, NOT_SEPARATED = "LoRA ahead", "TF-IDF ahead", "not separated"
UNTESTED, NO_BASELINE = "not tested", "no TF-IDF on the same items"
AHEAD = (LORA_AHEAD, TFIDF_AHEAD)
VERDICTS = ["train_size", "train_items", "method", "macro_f1", "baseline", "delta", "low"]
VERDICTS += ["high", "p", "p_holm", "status"]


def size_verdicts(
    results: pd.DataFrame, tests: pd.DataFrame | None, confidence: float = 0.95
) -> pd.DataFrame:
    """Per training size of the selected LoRA (ascending): its comparison with TF-IDF on the
    same items and the status (LORA_AHEAD, TFIDF_AHEAD, NOT_SEPARATED, UNTESTED, NO_BASELINE).
    `tests`: stat_tests.json's comparisons, or None to read the methods' intervals. A
    comparison without a bootstrap p counts as not tested."""
    lora = curve_points(results).get("LoRA (selected)")
    if lora is None:
        return pd.DataFrame(columns=VERDICTS)
    rows = [_size_row(results, tests, point) for point in lora.itertuples()]
    frame = pd.DataFrame(rows, columns=VERDICTS)
    alpha = round(1 - confidence, 12)
    if tests is None:
        separated = frame["status"].isna()
    else:
        known = frame["p"].notna()
        frame.loc[known, "p_holm"] = holm(frame.loc[known, "p"].astype(float).tolist())
        separated = frame["p_holm"] < alpha
    direction = frame["delta"].map(lambda d: LORA_AHEAD if d > 0 else TFIDF_AHEAD)
    decided = direction.where(separated, NOT_SEPARATED)
    frame["status"] = decided.where(frame["status"].isna(), frame["status"])
    return frame


def _size_row(results: pd.DataFrame, tests: pd.DataFrame | None, point) -> dict:
    """One size's comparison; `status` is set here only where no test decides it (with
    tests=None: set to NOT_SEPARATED where the intervals overlap)."""
    row = {"train_size": point.train_size, "train_items": point.train_items}
    row |= {"method": point.method, "macro_f1": point.macro_f1}
    baseline = same_items_baseline(results, point.method)
    if baseline is None:
        return row | {"status": NO_BASELINE}
    row["baseline"] = baseline.name
    if tests is None:
        low, high = baseline["macro_f1_low"], baseline["macro_f1_high"]
        apart = point.macro_f1_low > high or point.macro_f1_high < low
        row["delta"] = point.macro_f1 - baseline["macro_f1"]
        return row | ({} if apart else {"status": NOT_SEPARATED})
    found = comparison(tests, point.method, baseline.name) if len(tests) else None
    if found is None or math.isnan(found["p"]):
        return row | {"status": UNTESTED}
    return row | found


def lead_changes(verdicts: pd.DataFrame) -> list[tuple[pd.Series, pd.Series]]:
    """Each pair of sizes (before, after) between which the separated lead changes hands:
    `after` is separated the other way from the last size separated before it."""
    ahead = verdicts[verdicts["status"].isin(AHEAD)]
    pairs = zip(ahead.iloc[:-1].itertuples(), ahead.iloc[1:].itertuples(), strict=True)
    return [
        (verdicts.loc[a.Index], verdicts.loc[b.Index]) for a, b in pairs if a.status != b.status
    ]


def first_lora_ahead(verdicts: pd.DataFrame) -> pd.Series | None:
    """The smallest size at which LoRA is separated ahead of TF-IDF, or None."""
    ahead = verdicts[verdicts["status"] == LORA_AHEAD]
    return ahead.iloc[0] if len(ahead) else None
