"""The best learning rate as an estimate with an interval, not a grid's bare minimum.

A grid of learning rates answers "which lr is best" only up to its spacing and to the noise of
a few folds and seeds. Per curve (method, variant, rank, training size) the optimum is the
vertex of a parabola in log10(lr) through the grid's lowest mean criterion and its two
neighbours (the grid minimum itself with fewer than three learning rates or a curve that is
not convex there), clipped to the grid. Its interval comes from a bootstrap over the units the
frame holds: trials (fold x seed) in trials.csv, folds in selection.csv (whose rows are already
means over seeds). Validation items are not resampled: no per-item validation losses are kept,
so the interval holds the spread between trials, not the validation set's sampling error.
A draw resamples the units once for every curve at a size, so curves that share folds and
seeds (LoRA's and full fine-tuning's) move together and their ratio is bootstrapped jointly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .sweep_tables import FULL, LORA, with_sizes

CURVE = ["method", "variant", "rank", "train_size"]
OPTIMA = [*CURVE, "criterion", "lr", "low", "high", "grid_best", "best_value", "plausible"]
OPTIMA += ["edge", "lr_min", "lr_max", "units"]


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
    unit: str  # what a draw resamples: "trials" or "folds"

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


def lr_optima(
    frame: pd.DataFrame,
    criterion: str | None = None,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> Optima:
    """Per curve of LoRA and full fine-tuning in `frame` (trials.csv or selection.csv rows):
    the optimum learning rate, its `confidence` interval, the grid minimum, the grid learning
    rates not separated from it and whether that minimum sits at the grid's edge.

    Not separated (`plausible`): a grid learning rate that is the curve's lowest in at least
    1 - `confidence` of the bootstrap draws. `edge`: the grid minimum is the smallest or the
    largest learning rate tried, so the optimum may lie outside the grid."""
    column = criterion_column(frame, criterion)
    rows = with_sizes(frame[frame["method"].isin([LORA, FULL])])
    rows = rows.assign(unit=_units(rows))
    rng = np.random.default_rng(seed)
    table, draws = [], {}
    for size, part in rows.groupby("train_size", sort=False):
        values = part.pivot_table(index="unit", columns=[*CURVE[:3], "lr"], values=column)
        picks = rng.integers(0, len(values), size=(resamples, len(values)))
        for curve, block in values.T.groupby(level=[0, 1, 2], sort=False):
            key = (*curve, size)
            lrs = block.index.get_level_values("lr").to_numpy(dtype=float)
            found = _curve_optimum(lrs, block.to_numpy().T, picks, confidence)
            draws[key] = found.pop("draws")
            table.append(dict(zip(CURVE, key, strict=True)) | {"criterion": column} | found)
    unit = "trials" if "seed" in frame else "folds"
    return Optima(pd.DataFrame(table, columns=OPTIMA), draws, confidence, unit)


def _curve_optimum(lrs: np.ndarray, values: np.ndarray, picks: np.ndarray, confidence: float):
    """One curve: `values` is units x learning rates (`lrs` ascending)."""
    x = np.log10(lrs)
    mean = np.nanmean(values, axis=0)[None, :]
    sampled = np.nanmean(values[picks], axis=1)  # draws x learning rates
    vertices = parabola_vertex(x, sampled)
    low, high = _interval(vertices, confidence)
    grid_best = int(np.argmin(mean[0]))
    share = np.bincount(np.argmin(sampled, axis=1), minlength=len(x)) / len(sampled)
    return {
        "lr": _rate(parabola_vertex(x, mean)[0]),
        "low": low,
        "high": high,
        "grid_best": float(lrs[grid_best]),
        "best_value": float(mean[0, grid_best]),
        "plausible": tuple(float(lr) for lr in lrs[share >= round(1 - confidence, 12)]),
        "edge": len(x) > 1 and grid_best in (0, len(x) - 1),
        "lr_min": float(lrs[0]),
        "lr_max": float(lrs[-1]),
        "units": len(values),
        "draws": vertices,
    }


def grids_overlap(a: pd.Series, b: pd.Series) -> bool:
    """Whether two curves' learning-rate ranges (OPTIMA rows) share any stretch: a ratio of
    optima from disjoint grids is set by where the grids were put, not by the training."""
    return a["lr_min"] <= b["lr_max"] and b["lr_min"] <= a["lr_max"]
