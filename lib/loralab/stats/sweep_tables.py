"""The trial grid as the sweep figures and their sentences read it: validation loss per
learning rate and rank, each fold's choice and the points of the learning curve. Only pandas
in, only frames out: the figures draw them, the sentences state them (the optimum learning
rate with its interval: lr_optimum).

Every function accepts the tables as the steps keep them in memory and as `pd.read_csv` reads
them back (a training size such as "16" may come back as 16 or 16.0, an empty one as NaN).
"""

from __future__ import annotations

import math

import pandas as pd

LORA, HEAD, FULL, CLASSIC = "lora", "lora_head", "full", "classic"
VARIANT_NAMES = {"lora": "LoRA", "rslora": "rsLoRA", "dora": "DoRA", "full": "full fine-tuning"}
LABEL_TERMS, ZERO_SHOT = "label_terms", "zero_shot"
GRID_NEEDS = {"fold", "train_size", "method", "variant", "rank", "lr", "selected", "val_loss"}
GRID = ["train_size", "variant", "rank", "lr", "val_loss", "folds", "chosen_by"]
CURVE_NEEDS = {"method", "kind", "train_size", "train_items", "selected", "macro_f1"}


def size_text(value) -> str:
    """A training size as evaluation wrote it: 16, 16.0 and "16" give "16"; "all" stays;
    a missing size (an untrained method) gives ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def size_key(size: str) -> float:
    """Training sizes in order, `all` the largest."""
    return float("inf") if size == "all" else float(size)


def size_label(size: str) -> str:
    """`16` -> `16 items`; `all` -> `all training items`."""
    return "all training items" if size == "all" else f"{size} items"


def with_sizes(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(train_size=frame["train_size"].map(size_text))


def loss_grid(selection: pd.DataFrame, method: str = LORA) -> pd.DataFrame:
    """Per training size and configuration (variant, rank, lr) of `method`: the validation loss
    averaged over folds and seeds (each fold's mean over seeds weighted by its seeds), and how
    many folds chose it. Sorted by size, variant, rank, lr."""
    if not GRID_NEEDS.issubset(selection.columns):  # a run from before the trial grid
        return pd.DataFrame(columns=GRID)
    rows = with_sizes(selection[selection["method"] == method])
    if rows.empty:
        return pd.DataFrame(columns=GRID)
    weights = rows["seeds"] if "seeds" in rows else pd.Series(1, index=rows.index)
    rows = rows.assign(weighted=rows["val_loss"] * weights, weight=weights)
    grid = (
        rows.groupby(["train_size", "variant", "rank", "lr"])
        .agg(
            weighted=("weighted", "sum"),
            weight=("weight", "sum"),
            folds=("fold", "nunique"),
            chosen_by=("selected", "sum"),
        )
        .reset_index()
    )
    grid["val_loss"] = grid["weighted"] / grid["weight"]
    grid["chosen_by"] = grid["chosen_by"].astype(int)
    grid = grid.assign(key=grid["train_size"].map(size_key))
    grid = grid.sort_values(["key", "variant", "rank", "lr"]).reset_index(drop=True)
    return grid[GRID]


def chosen_configs(grid: pd.DataFrame) -> pd.DataFrame:
    """Per training size, the configuration most folds chose (ties: the lowest mean validation
    loss), from `loss_grid`. A size no fold chose anything at has no row."""
    chosen = grid[grid["chosen_by"] > 0].sort_values(
        ["chosen_by", "val_loss"], ascending=[False, True]
    )
    return chosen.drop_duplicates("train_size").set_index("train_size")


def grid_varies(grid: pd.DataFrame) -> bool:
    """Whether the grid has two learning rates or two ranks: something for a heatmap."""
    return grid["lr"].nunique() > 1 or grid["rank"].nunique() > 1


def curve_points(results: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The learning curve's series from results.csv, each sorted by training items: the
    selected LoRA per size (with a classification head too, where trained), the selected full
    fine-tuning per size, TF-IDF at every size it
    was trained at (tfidf_all included). Columns: method, name, train_size, train_items,
    macro_f1, macro_f1_low, macro_f1_high."""
    if not CURVE_NEEDS.issubset(results.columns):  # a run from before the trial grid
        return {}
    frame = with_sizes(results)
    columns = ["method", "name", "train_size", "train_items", "macro_f1", "macro_f1_low"]
    columns.append("macro_f1_high")
    trained = frame["selected"].astype(bool) & frame["train_items"].notna()
    series = {
        "LoRA (selected)": frame[trained & (frame["kind"] == LORA)],
        "LoRA + head (selected)": frame[trained & (frame["kind"] == HEAD)],
        "full fine-tuning (selected)": frame[trained & (frame["kind"] == FULL)],
        "TF-IDF + logistic regression": frame[
            (frame["kind"] == CLASSIC) & frame["train_items"].notna()
        ],
    }
    return {
        name: part.sort_values("train_items")[columns].reset_index(drop=True)
        for name, part in series.items()
        if len(part)
    }


def same_items_baseline(results: pd.DataFrame, method: str) -> pd.Series | None:
    """The TF-IDF row trained at `method`'s training size (or, failing that, on as many
    items), or None when the run has none."""
    frame = with_sizes(results).set_index("method")
    row = frame.loc[method]
    classic = frame[frame["kind"] == CLASSIC]
    for same in (
        classic[classic["train_size"] == row["train_size"]],
        classic[classic["train_items"] == row["train_items"]],
    ):
        if len(same):
            return same.iloc[0].rename(same.index[0])
    return None


def comparison(tests: pd.DataFrame, method: str, baseline: str) -> dict | None:
    """The paired comparison of `method` with `baseline` from stat_tests.json's comparisons,
    oriented as method minus baseline, with its paired bootstrap p (NaN when not recorded);
    None when the study did not test that pair."""
    for a, b, sign in ((method, baseline, 1), (baseline, method, -1)):
        found = tests[(tests["method"] == a) & (tests["baseline"] == b)]
        if len(found):
            row = found.iloc[0]
            low, high = sorted((sign * row["delta_low"], sign * row["delta_high"]))
            p = float(row.get("bootstrap_p", math.nan))
            return {"delta": sign * row["delta_macro_f1"], "low": low, "high": high, "p": p}
    return None
