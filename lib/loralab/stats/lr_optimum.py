"""The best learning rate as an estimate with an interval, not a grid's bare minimum.

A grid of learning rates answers "which lr is best" only up to its spacing and to the noise of
a few validation items, folds and seeds. Per curve (method, variant, rank, training size) the
optimum is the vertex of a parabola in log10(lr) through the grid's lowest mean criterion and
its two neighbours (the grid minimum itself with fewer than three learning rates or a curve
that is not convex there), clipped to the grid.

Its interval comes from a bootstrap. With each trial's per-item validation label losses
(`items`, from the trials' saved validation predictions) a draw resamples the validation items
within each fold and the training seeds, the same items and seeds for every configuration, since
every configuration of a fold is validated on the same items: the interval then holds the
validation set's sampling error and the seeds' spread. Without them (an answer-token criterion,
whose per-item values are not kept) a draw resamples trials (fold x seed), or folds in
selection.csv, and the interval holds only the spread between those.
A draw is shared by every curve at a size, so curves that share folds, seeds and items (LoRA's
at two ranks, LoRA's and full fine-tuning's) move together and their ratio is bootstrapped
jointly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loralab.stats.sweep_tables import FULL, HEAD, LORA, with_sizes

CURVE = ["method", "variant", "rank", "train_size"]
OPTIMA = [*CURVE, "criterion", "lr", "low", "high", "grid_best", "best_value", "plausible"]
OPTIMA += ["edge", "lr_min", "lr_max", "units", "resampled"]


def criterion_column(frame: pd.DataFrame, criterion: str | None = None) -> str:
    """The column the optimum minimizes: `criterion` when given, else the label loss where
    every row has one (train.select_by's default), else the answer-token validation loss."""
    if criterion:
        return criterion
    label = frame.get("val_label_loss")
    return "val_label_loss" if label is not None and label.notna().all() else "val_loss"


def parabola_vertex(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per row of `y` (draws x learning rates, x = log10 lr ascending): the vertex of the
    parabola through the lowest point and its neighbours, clipped to the grid; the lowest
    point itself where there are fewer than three or the parabola opens downward."""
    best = np.argmin(y, axis=1)  # ties: the smaller learning rate
    if len(x) < 3:
        return x[best]
    rows = np.arange(len(y))
    mid = np.clip(best, 1, len(x) - 2)
    x0, x1, x2 = x[mid - 1], x[mid], x[mid + 1]
    y0, y1, y2 = y[rows, mid - 1], y[rows, mid], y[rows, mid + 1]
    curvature = ((y2 - y1) / (x2 - x1) - (y1 - y0) / (x1 - x0)) / (x2 - x0)
    slope = (y1 - y0) / (x1 - x0) - curvature * (x0 + x1)
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(curvature > 0, -slope / (2 * curvature), x[best])
    return np.clip(vertex, x[0], x[-1])


@dataclass
class Optima:
    """Every curve's optimum (`table`, one row per curve as OPTIMA) and its bootstrap draws
    of log10 optimum (`draws`, by the curve's key), draw k of every curve at a size from the
    same resample of units."""

    table: pd.DataFrame
    draws: dict[tuple, np.ndarray]
    confidence: float
    unit: str  # what a draw resamples, in words
    lrs: tuple[float, ...] = ()  # every learning rate of the grid, LoRA's and full's

    def ratio(self, curve: tuple, other: tuple) -> tuple[float, float, float]:
        """The ratio of two curves' optima at one size with its percentile interval."""
        point = self.table.set_index(CURVE)
        estimate = point.at[curve, "lr"] / point.at[other, "lr"]
        low, high = _interval(self.draws[curve] - self.draws[other], self.confidence)
        return estimate, low, high


def _interval(log_draws: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(log_draws, [tail, 100 - tail])
    return _rate(low), _rate(high)


def _rate(log10_lr: float) -> float:
    """Back from log10, rounded so that a grid point comes back as itself (1e-3, not
    0.0010000000000000002)."""
    return float(f"{10**log10_lr:.6g}")


def _units(frame: pd.DataFrame) -> pd.Series:
    """Each row's resampling unit: its fold and seed (a trial), or its fold alone."""
    keys = [c for c in ("fold", "seed") if c in frame]
    return frame[keys].astype(str).agg("/".join, axis=1) if keys else frame.index.to_series()


CONFIG = [*CURVE[:3], "lr"]  # a column of the draws: a curve's point


def _unit_draws(part: pd.DataFrame, column: str, resamples: int, rng) -> tuple:
    """Mean criterion per configuration and its draws (draws x configurations), resampling
    trials (or folds) with replacement."""
    values = part.assign(unit=_units(part)).pivot_table(index="unit", columns=CONFIG, values=column)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    sampled = np.nanmean(values.to_numpy()[picks], axis=1)
    mean = pd.Series(np.nanmean(values.to_numpy(), axis=0), index=values.columns)
    unit = "trials" if "seed" in part else "folds"
    return mean, pd.DataFrame(sampled, columns=values.columns), len(values), unit


def _item_draws(items: pd.DataFrame, resamples: int, rng) -> tuple:
    """Mean label loss per configuration and its draws: each draw resamples every fold's
    validation items and the training seeds, the same for every configuration; a fold's mean
    counts once, as selection averages folds' choices."""
    configs = pd.MultiIndex.from_frame(items[CONFIG].drop_duplicates().sort_values(CONFIG))
    seeds = sorted(items["seed"].unique())
    picks = rng.integers(0, len(seeds), size=(resamples, len(seeds)))
    folds = items.groupby("fold", sort=True)
    point, total = np.zeros(len(configs)), np.zeros((resamples, len(configs)))
    for _, part in folds:
        cube = part.pivot_table(index=[*CONFIG, "seed"], columns="id", values="loss")
        full = [(*config, seed) for config in configs for seed in seeds]
        cube = cube.reindex(pd.MultiIndex.from_tuples(full, names=[*CONFIG, "seed"]))
        losses = cube.to_numpy().reshape(len(configs), len(seeds), -1)
        n = losses.shape[-1]
        weights = np.zeros((resamples, n))
        np.add.at(weights, (np.arange(resamples)[:, None], rng.integers(0, n, (resamples, n))), 1)
        per_seed = np.einsum("dn,csn->dcs", weights / n, losses)
        total += np.nanmean(np.take_along_axis(per_seed, picks[:, None, :], axis=2), axis=2)
        point += np.nanmean(losses.mean(axis=2), axis=1)
    unit = f"validation items (resampled per fold) and {len(seeds)} training seed(s)"
    items_seen = int(folds["id"].nunique().sum())  # every fold's validation items
    mean = pd.Series(point / folds.ngroups, index=configs)
    return mean, pd.DataFrame(total / folds.ngroups, columns=configs), items_seen, unit


def lr_optima(
    frame: pd.DataFrame,
    criterion: str | None = None,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
    items: pd.DataFrame | None = None,
) -> Optima:
    """Per curve of LoRA and full fine-tuning in `frame` (trials.csv or selection.csv rows):
    the optimum learning rate, its `confidence` interval, the grid minimum, the grid learning
    rates not separated from it and whether that minimum sits at the grid's edge. `items`
    (selection.validation_item_losses) resamples validation items for the label loss.

    Not separated (`plausible`): a grid learning rate that is the curve's lowest in at least
    1 - `confidence` of the bootstrap draws. `edge`: the grid minimum is the smallest or the
    largest learning rate tried, so the optimum may lie outside the grid."""
    column = criterion_column(frame, criterion)
    rows = with_sizes(frame[frame["method"].isin([LORA, FULL])])
    by_items = items is not None and column == "val_label_loss" and len(items) > 0
    items = with_sizes(items) if by_items else None
    rng = np.random.default_rng(seed)
    table, draws, unit = [], {}, ""
    for size, part in rows.groupby("train_size", sort=False):
        if by_items:
            mean, sampled, units, unit = _item_draws(
                items[items["train_size"] == size], resamples, rng
            )
        else:
            mean, sampled, units, unit = _unit_draws(part, column, resamples, rng)
        for curve, block in mean.groupby(level=[0, 1, 2], sort=False):
            key = (*curve, size)
            lrs = block.index.get_level_values("lr").to_numpy(dtype=float)
            found = _curve_optimum(lrs, block.to_numpy(), sampled[block.index].to_numpy())
            found |= {"units": units, "resampled": unit}
            found |= _spread(found.pop("draws"), lrs, confidence)
            draws[key] = found.pop("vertices")
            table.append(dict(zip(CURVE, key, strict=True)) | {"criterion": column} | found)
    grid = tuple(sorted(set(rows["lr"].astype(float))))
    return Optima(pd.DataFrame(table, columns=OPTIMA), draws, confidence, unit, grid)


def _curve_optimum(lrs: np.ndarray, mean: np.ndarray, sampled: np.ndarray) -> dict:
    """One curve: `mean` per learning rate (`lrs` ascending), `sampled` draws x learning rates."""
    x = np.log10(lrs)
    grid_best = int(np.argmin(mean))
    return {
        "lr": _rate(parabola_vertex(x, mean[None, :])[0]),
        "grid_best": float(lrs[grid_best]),
        "best_value": float(mean[grid_best]),
        "edge": len(x) > 1 and grid_best in (0, len(x) - 1),
        "lr_min": float(lrs[0]),
        "lr_max": float(lrs[-1]),
        "draws": sampled,
    }


def _spread(sampled: np.ndarray, lrs: np.ndarray, confidence: float) -> dict:
    """The optimum's interval over the draws, and the grid rates that are lowest in at least
    1 - `confidence` of them."""
    vertices = parabola_vertex(np.log10(lrs), sampled)
    low, high = _interval(vertices, confidence)
    share = np.bincount(np.argmin(sampled, axis=1), minlength=len(lrs)) / len(sampled)
    plausible = tuple(float(lr) for lr in lrs[share >= round(1 - confidence, 12)])
    return {"low": low, "high": high, "plausible": plausible, "vertices": vertices}


RATIOS = ["train_size", "kind", "numerator", "denominator", "ratio", "low", "high"]
RATIOS += ["grids_overlap"]


def optimum_ratios(optima: Optima) -> pd.DataFrame:
    """The ratios the studies ask about, each with its interval from the joint draws: per
    training size and variant, LoRA's optimum at its largest rank over that at its smallest
    (`rank`: about 1 if the optimum does not move with rank), and LoRA's optimum at each rank
    over full fine-tuning's (`lora_over_full`), with whether the two grids overlap."""
    table = optima.table
    rows = []
    for _, part in table.groupby("train_size", sort=False):
        lora, full = part[part["method"] == LORA], part[part["method"] == FULL]
        for _, curves in lora.groupby("variant", sort=False):
            if curves["rank"].nunique() > 1:
                low, high = curves.loc[curves["rank"].idxmin()], curves.loc[curves["rank"].idxmax()]
                rows.append(_ratio_row(optima, "rank", high, low))
        for _, curve in lora.iterrows() if len(full) else ():
            rows.append(_ratio_row(optima, "lora_over_full", curve, full.iloc[0]))
    return pd.DataFrame(rows, columns=RATIOS)


def _ratio_row(optima: Optima, kind: str, top: pd.Series, bottom: pd.Series) -> dict:
    ratio, low, high = optima.ratio(tuple(top[CURVE]), tuple(bottom[CURVE]))
    return {
        "train_size": top["train_size"],
        "kind": kind,
        "numerator": curve_name(top["method"], top["variant"], top["rank"]),
        "denominator": curve_name(bottom["method"], bottom["variant"], bottom["rank"]),
        "ratio": ratio,
        "low": low,
        "high": high,
        "grids_overlap": grids_overlap(top, bottom),
    }


def curve_name(method: str, variant: str, rank) -> str:
    """A learning-rate curve as findings and ratios name it: `full`, `lora r=8`, `rslora r=64`,
    `lora r=8 + head` (lora.formats: head)."""
    if method == FULL:
        return "full"
    return f"{variant} r={int(rank)}" + (" + head" if method == HEAD else "")


def grids_overlap(a: pd.Series, b: pd.Series) -> bool:
    """Whether two curves' learning-rate ranges (OPTIMA rows) share any stretch: a ratio of
    optima from disjoint grids is set by where the grids were put, not by the training."""
    return a["lr_min"] <= b["lr_max"] and b["lr_min"] <= a["lr_max"]
