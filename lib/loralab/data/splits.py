"""Stratified train/val/test splits that are identical on every run, and a check for leakage.

The split is drawn per class by hand rather than with scikit-learn's `train_test_split` because
we need two guarantees it does not give: every class appears in every split (a validation set
without a class makes macro-F1 meaningless for early stopping), and the result depends only on
the set of ids and the seed, not on the order of rows in the file.

With `split.folds` K > 1 the items are dealt into K stratified folds (scikit-learn's
StratifiedGroupKFold, near-duplicate groups kept together); fold k's test split is fold k, and
the other folds' items are split into train and val as above. Every item is tested once. With
`split.repeats` R > 1 the K folds are drawn R times, repeat r with seed + r; fold f of the study
is fold f % K of repeat f // K, so every item is tested once per repeat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loralab.artifacts import read_jsonl, write_csv, write_jsonl
from loralab.config import Config, SplitConfig
from loralab.data.near_duplicates import near_duplicate_pairs, pair_table
from loralab.errors import DataError, LeakageError
from loralab.layout import SPLITS, RunPaths
from loralab.records import LeakageRecord, Provenance


def _per_class_sizes(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Items of one class per split: each split but the first rounded, the first the rest."""
    first, *others = fractions
    sizes = {name: round(n * fractions[name]) for name in others}
    return {first: n - sum(sizes.values()), **sizes}


def _fractions(cfg: SplitConfig) -> dict[str, float]:
    if cfg.folds == 1:
        return {"train": cfg.train, "val": cfg.val, "test": cfg.test}
    rest = cfg.train + cfg.val  # the other folds' items, split train : val
    return {"train": cfg.train / rest, "val": cfg.val / rest}


def min_items_per_class(cfg: SplitConfig) -> int:
    """Fewest items a class needs so that each split (of every fold) gets at least one."""

    def fits(n: int) -> bool:
        rest = n - -(-n // cfg.folds) if cfg.folds > 1 else n  # the largest fold is tested
        return min(_per_class_sizes(rest, _fractions(cfg)).values()) >= 1

    n = max(3, cfg.folds)
    while not fits(n):
        n += 1
    return n


def _draw(frame: pd.DataFrame, fractions: dict[str, float], seed: int) -> pd.Series:
    """A split name per row, drawn per class in `fractions` with `seed`, in id order first so
    the result does not depend on the order of rows."""
    rng = np.random.default_rng(seed)
    assignment = pd.Series(index=frame.index, dtype=object)
    for label in sorted(frame["label"].unique()):
        idx = frame.index[frame["label"] == label]
        order = idx[np.argsort(frame.loc[idx, "id"].to_numpy(), kind="stable")]
        shuffled = order[rng.permutation(len(order))]
        start = 0
        for name, size in _per_class_sizes(len(order), fractions).items():
            assignment.loc[shuffled[start : start + size]] = name
            start += size
    return assignment


def _check_class_sizes(frame: pd.DataFrame, cfg: SplitConfig, source: str, column: str) -> None:
    need = min_items_per_class(cfg)
    counts = frame["label"].value_counts()
    short = counts[counts < need]
    if not short.empty:
        how = (
            f"a {cfg.train:g}/{cfg.val:g}/{cfg.test:g} split"
            if cfg.folds == 1
            else f"{cfg.folds} folds, each split {cfg.train:g} : {cfg.val:g} into train and val"
        )
        raise DataError(
            source,
            column,
            f"too few items for {how}: {short.to_dict()} (each class needs at least {need})",
            "add items for those labels, drop them from data.labels, or raise split.val and "
            "split.test" + (" or lower split.folds" if cfg.folds > 1 else ""),
        )


def stratified_split(
    frame: pd.DataFrame, cfg: SplitConfig, source: str, label_column: str = "label"
) -> pd.Series:
    """A split name per row, drawn per class in the proportions of `cfg` with its seed: the
    single train/val/test split, whatever `cfg.folds` says."""
    cfg = cfg.model_copy(update={"folds": 1})
    _check_class_sizes(frame, cfg, source, label_column)
    return _draw(frame, _fractions(cfg), cfg.seed)


def fold_splits(
    frame: pd.DataFrame, cfg: SplitConfig, source: str, label_column: str = "label"
) -> list[pd.Series]:
    """For each fold of every repeat, a split name per row: its own fold is the test split."""
    from sklearn.model_selection import StratifiedGroupKFold

    _check_class_sizes(frame, cfg, source, label_column)
    order = frame.sort_values("id", kind="stable")
    # a near-duplicate group is named by its smallest id: the same groups whatever the row order
    groups = (
        order.groupby("near_dup_group")["id"].transform("min")
        if "near_dup_group" in order
        else order["id"]
    )
    out = []
    for repeat in range(cfg.repeats):
        kfold = StratifiedGroupKFold(
            n_splits=cfg.folds, shuffle=True, random_state=cfg.seed + repeat
        )
        for _, test in kfold.split(order, order["label"], groups):
            is_test = frame.index.isin(order.index[test])
            split = pd.Series("test", index=frame.index, dtype=object)
            split[~is_test] = _draw(frame[~is_test], _fractions(cfg), cfg.seed + len(out))
            out.append(split)
    return out


def class_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Items per label and split, with totals and each split's share of a label."""
    table = pd.crosstab(frame["label"], frame["split"]).reindex(columns=list(SPLITS), fill_value=0)
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    return table


@dataclass
class LeakageReport:
    exact: pd.DataFrame  # pairs of ids, with their splits and the fold
    near: pd.DataFrame

    @property
    def clean(self) -> bool:
        return self.exact.empty and self.near.empty

    def verdict(self, policy: str) -> str:
        """The check's outcome in one line, with the policy that decides what it does."""
        status = "no leakage found" if self.clean else "LEAKAGE FOUND"
        return f"**{status}** (split.on_leakage: {policy})."

    def pairs(self) -> pd.DataFrame:
        """Every leaking pair, exact ones first, with the kind of overlap."""
        return pd.concat(
            [self.exact.assign(kind="exact"), self.near.assign(kind="near")], ignore_index=True
        )

    def summary(self, folds: int = 1) -> pd.DataFrame:
        """Overlapping items for every pair of splits (of every fold), exact and near."""
        rows = []
        for fold in range(folds):
            for i, a in enumerate(SPLITS):
                for b in SPLITS[i + 1 :]:
                    row = {"fold": fold} if folds > 1 else {}
                    row["splits"] = f"{a} / {b}"
                    for kind, pairs in (("exact", self.exact), ("near", self.near)):
                        mine = pairs[pairs["fold"] == fold]
                        row[kind] = int(
                            sum(
                                {x, y} == {a, b}
                                for x, y in zip(mine["split_a"], mine["split_b"], strict=True)
                            )
                        )
                    rows.append(row)
        return pd.DataFrame(rows)


def leakage_report(
    frame: pd.DataFrame, threshold: float, near_pairs: pd.DataFrame | None = None, fold: int = 0
) -> LeakageReport:
    """Texts shared across splits: identical after normalization, or near-identical.
    `near_pairs` (positional, of `frame`'s rows) can be passed in when folds share the texts."""
    frame = frame.reset_index(drop=True)
    cols = ["id", "split", "label"]
    merged = frame[cols + ["text_key"]].merge(
        frame[cols + ["text_key"]], on="text_key", suffixes=("_a", "_b")
    )
    exact = merged[(merged["split_a"] < merged["split_b"])].drop(columns="text_key")
    if near_pairs is None:
        near_pairs = near_duplicate_pairs(frame["text"], threshold)
    near = pair_table(frame, near_pairs)
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
    return LeakageReport(
        exact.reset_index(drop=True).assign(fold=fold),
        near.reset_index(drop=True).assign(fold=fold),
    )


def check_leakage(report: LeakageReport, cfg: SplitConfig, source: str) -> None:
    if report.clean or cfg.on_leakage == "warn":
        return
    examples = report.pairs()[["kind", "fold", "id_a", "split_a", "id_b", "split_b"]].head(5)
    raise LeakageError(
        f"{source}: {len(report.exact)} exact and {len(report.near)} near-duplicate text pairs "
        f"sit in two different splits, so test scores would be inflated:\n"
        f"{examples.to_string(index=False)}\n"
        "  fix: remove one text of each pair from the data (or from the split column), or set "
        "split.on_leakage=warn to go on knowingly"
    )


@dataclass
class Splits:
    frame: pd.DataFrame  # the corpus with one split column per fold: split (fold 0), split_1 ...
    # (over all repeats)
    counts: pd.DataFrame
    leakage: LeakageReport
    given: bool
    folds: int = 1

    def part(self, name: str, fold: int = 0) -> pd.DataFrame:
        return self.frame[self.frame[split_column(fold)] == name].reset_index(drop=True)

    def fold_counts(self, fold: int = 0) -> pd.DataFrame:
        """One fold's items per label and split (the only fold without folds)."""
        return self.counts.loc[fold] if self.folds > 1 else self.counts

    def describe(self, cfg: SplitConfig) -> str:
        """How the split was made, in a sentence."""
        if self.given:
            return "taken from the data file as given"
        if self.folds == 1:
            return f"drawn per class, {cfg.train:g}/{cfg.val:g}/{cfg.test:g}, seed {cfg.seed}"
        repeats = (
            f", drawn {cfg.repeats} times (seeds {cfg.seed} to {cfg.seed + cfg.repeats - 1}): "
            f"every item is tested once per repeat"
            if cfg.repeats > 1
            else ""
        )
        return (
            f"{cfg.folds} stratified folds, seed {cfg.seed}{repeats}: each fold is tested by "
            f"methods trained on the others, whose items are split {cfg.train:g} : {cfg.val:g} "
            "into train and val"
        )


def split_column(fold: int) -> str:
    return "split" if fold == 0 else f"split_{fold}"


def split_step(cfg: Config, run: RunPaths) -> Splits:
    """The split step: take the file's split or draw one (or one per fold), check leakage, write
    one file per split and fold."""
    corpus = read_jsonl(run.corpus)
    provenance = Provenance.read(run.provenance)
    given, source = provenance.split_given, provenance.source
    if not given:
        draw_splits(corpus, cfg, source)
    elif cfg.split.folds > 1:
        raise DataError(
            source,
            cfg.data.split_column,
            f"the file gives its own split, and split.folds={cfg.split.folds} asks for folds",
            "set split.folds=1 to use the given split, or drop the split column to draw folds",
        )
    leakage = fold_leakage(corpus, cfg)
    LeakageRecord(
        clean=leakage.clean,
        policy=cfg.split.on_leakage,
        summary=leakage.summary(cfg.split.runs).to_dict("records"),
        exact=leakage.exact.to_dict("records"),
        near=leakage.near.to_dict("records"),
    ).write(run.leakage)
    check_leakage(leakage, cfg.split, source)
    counts = pd.concat(
        {k: class_counts(fold_view(corpus, k)) for k in range(cfg.split.runs)},
        names=["fold", "label"],
    )
    if cfg.split.runs == 1:
        counts = counts.droplevel("fold")
    out = Splits(corpus, counts, leakage, given, cfg.split.runs)
    for fold in range(cfg.split.runs):
        for name in SPLITS:
            rows = out.part(name, fold)[["id", "text", "label"]].to_dict("records")
            write_jsonl(run.split_file(name, fold), rows)
    write_csv(run.split_counts, counts.reset_index())
    return out


def draw_splits(corpus: pd.DataFrame, cfg: Config, source: str) -> None:
    """One split column per fold: a single stratified draw, or K stratified folds per repeat."""
    label_column = cfg.data.label_column
    draws = (
        [stratified_split(corpus, cfg.split, source, label_column)]
        if cfg.split.folds == 1
        else fold_splits(corpus, cfg.split, source, label_column)
    )
    for fold, split in enumerate(draws):
        corpus[split_column(fold)] = split


def fold_view(corpus: pd.DataFrame, fold: int) -> pd.DataFrame:
    """The corpus with `split` holding the given fold's split."""
    return corpus.assign(split=corpus[split_column(fold)])


def fold_leakage(corpus: pd.DataFrame, cfg: Config) -> LeakageReport:
    """Exact and near-duplicate overlap between the splits of every fold, in one report."""
    threshold = cfg.data.near_duplicate_threshold
    near_pairs = near_duplicate_pairs(corpus["text"], threshold)
    reports = [
        leakage_report(fold_view(corpus, k), threshold, near_pairs, k)
        for k in range(cfg.split.runs)
    ]
    return LeakageReport(
        pd.concat([r.exact for r in reports], ignore_index=True),
        pd.concat([r.near for r in reports], ignore_index=True),
    )


def read_split(run: RunPaths, name: str, fold: int) -> pd.DataFrame:
    """One fold's items of one split. The fold is always named: a study of K folds has K test
    splits, and reading the first alone silently loses the others' items."""
    return read_jsonl(run.split_file(name, fold))


def repeat_folds(tests: list[pd.DataFrame], folds: int, ids) -> np.ndarray:
    """Per repeat of the folds (rows), the fold of that repeat (0 to folds - 1) whose test split
    holds each of `ids`: the bootstrap's strata, each repeat's its own, as each repeat deals the
    items into folds anew. `tests`: every fold's test split, the study's fold order."""
    ids = pd.Series(ids).astype(str).reset_index(drop=True)
    rows = []
    for start in range(0, len(tests), folds):
        fold_of = {str(i): k for k, t in enumerate(tests[start : start + folds]) for i in t["id"]}
        found = ids.map(fold_of)
        if found.isna().any():
            raise ValueError(
                f"{int(found.isna().sum())} paired items are in no fold's test split of repeat "
                f"{start // folds} (first: {ids[found.isna()].iloc[0]}); the split changed after "
                "evaluation: evaluate again"
            )
        rows.append(found.astype(int).to_numpy())
    return np.array(rows)
