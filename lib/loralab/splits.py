"""Stratified train/val/test splits that are identical on every run, and a check for leakage.

The split is drawn per class by hand rather than with scikit-learn's `train_test_split` because
we need two guarantees it does not give: every class appears in every split (a validation set
without a class makes macro-F1 meaningless for early stopping), and the result depends only on
the set of ids and the seed, not on the order of rows in the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .artifacts import read_json, read_jsonl, write_csv, write_json, write_jsonl
from .config import Config, SplitConfig
from .errors import DataError, LeakageError
from .layout import SPLITS, RunPaths
from .preprocess import near_duplicate_pairs, pair_table


def _per_class_sizes(n: int, cfg: SplitConfig) -> dict[str, int]:
    val, test = round(n * cfg.val), round(n * cfg.test)
    return {"train": n - val - test, "val": val, "test": test}


def min_items_per_class(cfg: SplitConfig) -> int:
    """Fewest items a class needs so that each split gets at least one of it."""
    n = 3
    while min(_per_class_sizes(n, cfg).values()) < 1:
        n += 1
    return n


def stratified_split(
    frame: pd.DataFrame, cfg: SplitConfig, source: str, label_column: str = "label"
) -> pd.Series:
    """A split name per row, drawn per class in the proportions of `cfg` with its seed."""
    need = min_items_per_class(cfg)
    counts = frame["label"].value_counts()
    short = counts[counts < need]
    if not short.empty:
        raise DataError(
            source,
            label_column,
            f"too few items for a {cfg.train:g}/{cfg.val:g}/{cfg.test:g} split: "
            f"{short.to_dict()} (each class needs at least {need})",
            "add items for those labels, drop them from data.labels, or raise split.val and "
            "split.test",
        )
    rng = np.random.default_rng(cfg.seed)
    assignment = pd.Series(index=frame.index, dtype=object)
    for label in sorted(counts.index):
        idx = frame.index[frame["label"] == label]
        order = idx[np.argsort(frame.loc[idx, "id"].to_numpy(), kind="stable")]
        shuffled = order[rng.permutation(len(order))]
        sizes = _per_class_sizes(len(order), cfg)
        start = 0
        for name in SPLITS:
            assignment.loc[shuffled[start : start + sizes[name]]] = name
            start += sizes[name]
    return assignment


def class_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Items per label and split, with totals and each split's share of a label."""
    table = pd.crosstab(frame["label"], frame["split"]).reindex(columns=list(SPLITS), fill_value=0)
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    return table


@dataclass
class LeakageReport:
    exact: pd.DataFrame
    near: pd.DataFrame

    @property
    def clean(self) -> bool:
        return self.exact.empty and self.near.empty

    def pairs(self) -> pd.DataFrame:
        """Every leaking pair, exact ones first, with the kind of overlap."""
        return pd.concat(
            [self.exact.assign(kind="exact"), self.near.assign(kind="near")], ignore_index=True
        )

    def summary(self) -> pd.DataFrame:
        """Overlapping items for every pair of splits, exact and near."""
        rows = []
        for i, a in enumerate(SPLITS):
            for b in SPLITS[i + 1 :]:
                pair = {a, b}
                rows.append(
                    {
                        "splits": f"{a} / {b}",
                        "exact": int(
                            sum(
                                {x, y} == pair
                                for x, y in zip(
                                    self.exact["split_a"], self.exact["split_b"], strict=True
                                )
                            )
                        ),
                        "near": int(
                            sum(
                                {x, y} == pair
                                for x, y in zip(
                                    self.near["split_a"], self.near["split_b"], strict=True
                                )
                            )
                        ),
                    }
                )
        return pd.DataFrame(rows)


def leakage_report(frame: pd.DataFrame, threshold: float) -> LeakageReport:
    """Texts shared across splits: identical after normalization, or near-identical."""
    frame = frame.reset_index(drop=True)
    cols = ["id", "split", "label"]
    merged = frame[cols + ["text_key"]].merge(
        frame[cols + ["text_key"]], on="text_key", suffixes=("_a", "_b")
    )
    exact = merged[(merged["split_a"] < merged["split_b"])].drop(columns="text_key")
    near = pair_table(frame, near_duplicate_pairs(frame["text"], threshold))
    near = near[(near["split_a"] != near["split_b"])]
    exact_ids = set(zip(exact["id_a"], exact["id_b"], strict=True))
    also_exact = pd.Series(
        [
            (x, y) in exact_ids or (y, x) in exact_ids
            for x, y in zip(near["id_a"], near["id_b"], strict=True)
        ],
        index=near.index,
        dtype=bool,
    )
    near = near[~also_exact]
    return LeakageReport(exact.reset_index(drop=True), near.reset_index(drop=True))


def check_leakage(report: LeakageReport, cfg: SplitConfig, source: str) -> None:
    if report.clean or cfg.on_leakage == "warn":
        return
    examples = report.pairs()[["kind", "id_a", "split_a", "id_b", "split_b"]].head(5)
    raise LeakageError(
        f"{source}: {len(report.exact)} exact and {len(report.near)} near-duplicate text pairs "
        f"sit in two different splits, so test scores would be inflated:\n"
        f"{examples.to_string(index=False)}\n"
        "  fix: remove one text of each pair from the data (or from the split column), or set "
        "split.on_leakage=warn to go on knowingly"
    )


@dataclass
class Splits:
    frame: pd.DataFrame
    counts: pd.DataFrame
    leakage: LeakageReport
    given: bool

    def part(self, name: str) -> pd.DataFrame:
        return self.frame[self.frame["split"] == name].reset_index(drop=True)


def split_step(cfg: Config, run: RunPaths) -> Splits:
    """The split step: take the file's split or draw one, check leakage, write one file each."""
    corpus = read_jsonl(run.corpus)
    provenance = read_json(run.provenance)
    given = bool(provenance.get("split_given"))
    source = provenance["source"]
    if not given:
        corpus["split"] = stratified_split(corpus, cfg.split, source, cfg.data.label_column)
    leakage = leakage_report(corpus, cfg.data.near_duplicate_threshold)
    write_json(
        run.leakage,
        {
            "clean": leakage.clean,
            "policy": cfg.split.on_leakage,
            "summary": leakage.summary().to_dict("records"),
            "exact": leakage.exact.to_dict("records"),
            "near": leakage.near.to_dict("records"),
        },
    )
    check_leakage(leakage, cfg.split, source)
    counts = class_counts(corpus)
    out = Splits(corpus, counts, leakage, given)
    for name in SPLITS:
        write_jsonl(
            run.split_file(name), out.part(name)[["id", "text", "label"]].to_dict("records")
        )
    write_csv(run.split_counts, counts.reset_index())
    return out


def read_split(run: RunPaths, name: str) -> pd.DataFrame:
    return read_jsonl(run.split_file(name))
