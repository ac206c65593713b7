"""The statistics step: which paired comparisons the study makes, their tests, and the table.

Comparisons: every LoRA rank against zero-shot, and the selected rank against every baseline.
Each gets McNemar's test (b, c, p) and a paired bootstrap of the macro-F1 difference (mean,
CI, p); Holm's correction is applied across the comparisons, separately for each test.
"""

from __future__ import annotations

import pandas as pd

from .artifacts import read_json, write_json, write_text
from .config import Config
from .layout import RunPaths
from .paired_tests import holm, mcnemar_test, paired_bootstrap_delta, resample_weights
from .present import format_stats
from .selection import lora_method


def planned_comparisons(methods: list[str], selected: str | None) -> list[tuple[str, str]]:
    """(method, baseline) pairs, each once: ranks vs zero-shot, selected vs every baseline."""
    ranks = [m for m in methods if m.startswith("lora_r")]
    baselines = [m for m in methods if not m.startswith("lora_r")]
    pairs = [(r, "zero_shot") for r in ranks if "zero_shot" in methods]
    if selected:
        pairs += [(selected, b) for b in baselines if (selected, b) not in pairs]
    return pairs


def statistics_step(cfg: Config, run: RunPaths) -> pd.DataFrame:
    """Run every planned comparison on the paired predictions; write the JSON and the table."""
    paired = pd.read_csv(run.paired_predictions, dtype={"id": str})
    meta = read_json(run.evaluation)
    names, labels = meta["methods"], meta["labels"]
    selected = lora_method(meta["selected_rank"])
    weights = resample_weights(len(paired), cfg.stats.bootstrap_resamples, cfg.stats.seed)
    gold = paired["gold"].to_numpy()
    rows = []
    for a, b in planned_comparisons(list(names), selected):
        pred_a, pred_b = paired[f"pred_{a}"].to_numpy(), paired[f"pred_{b}"].to_numpy()
        mc = mcnemar_test(pred_a == gold, pred_b == gold)
        boot = paired_bootstrap_delta(gold, pred_a, pred_b, labels, weights, cfg.stats.confidence)
        rows.append(
            {
                "method": a,
                "baseline": b,
                "comparison": f"{names[a]} vs {names[b]}",
                "mcnemar_b": mc.b,
                "mcnemar_c": mc.c,
                "mcnemar_test": mc.method,
                "mcnemar_statistic": mc.statistic,
                "mcnemar_p": mc.p_value,
                "delta_macro_f1": boot.observed,
                "delta_mean": boot.mean,
                "delta_low": boot.low,
                "delta_high": boot.high,
                "bootstrap_p": boot.p_value,
            }
        )
    table = pd.DataFrame(rows)
    if cfg.stats.correction == "holm" and not table.empty:
        table["mcnemar_p_holm"] = holm(table["mcnemar_p"].tolist())
        table["bootstrap_p_holm"] = holm(table["bootstrap_p"].tolist())
    shown, note = format_stats(
        table, cfg.stats.confidence, cfg.stats.bootstrap_resamples, cfg.stats.seed
    )
    write_text(
        run.stats_markdown,
        shown.to_markdown(index=False, disable_numparse=True) + "\n\n" + note + "\n",
    )
    write_json(
        run.stat_tests,
        {
            "comparisons": table.to_dict("records"),
            "correction": cfg.stats.correction,
            "bootstrap_resamples": cfg.stats.bootstrap_resamples,
            "seed": cfg.stats.seed,
            "confidence": cfg.stats.confidence,
            "n_test": len(paired),
            "b_means": "first method right, baseline wrong",
            "c_means": "first method wrong, baseline right",
        },
    )
    return table
