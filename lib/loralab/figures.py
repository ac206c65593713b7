"""Figures of the series, sized to read well in the HTML report.

Each function takes tables the steps wrote and returns a matplotlib Figure; the notebook shows
it and `save_figure` writes the PNG that the report's index page embeds.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .artifacts import atomic_open

FIGSIZE = (7.5, 3.6)


def number(value: float) -> str:
    """A figure's label: three significant digits below 1000, whole numbers above, never
    `1.12e+03`."""
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def use_report_style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "savefig.bbox": "tight"})


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    """Write the PNG for the report page; returns nothing so a notebook cell shows no path."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    with atomic_open(path, "wb") as fh:
        fh.write(buf.getvalue())


def class_balance(frame: pd.DataFrame) -> plt.Figure:
    counts = frame["label"].value_counts().sort_index()
    fig, ax = plt.subplots(figsize=(FIGSIZE[0] * 0.6, FIGSIZE[1]))
    sns.barplot(x=counts.index, y=counts.to_numpy(), hue=counts.index, ax=ax, legend=False)
    for container in ax.containers:
        ax.bar_label(container)
    ax.set(xlabel="label", ylabel="items", title=f"Class balance ({len(frame)} items)")
    return fig


def length_distribution(lengths: pd.DataFrame) -> plt.Figure:
    """Histograms of text length per label, in words and (when present) in tokens."""
    units = [u for u in ("words", "tokens") if u in lengths.columns]
    fig, axes = plt.subplots(1, len(units), figsize=FIGSIZE, squeeze=False)
    for ax, unit in zip(axes[0], units, strict=True):
        sns.histplot(
            data=lengths,
            x=unit,
            hue="label",
            hue_order=sorted(lengths["label"].unique()),
            element="step",
            bins=30,
            ax=ax,
        )
        ax.set(title=f"Text length in {unit}", xlabel=unit, ylabel="items")
    fig.tight_layout()
    return fig


def split_counts(counts: pd.DataFrame) -> plt.Figure:
    """Items per split, stacked by label, from the class-count table of the split step."""
    body = counts.drop(index="total", errors="ignore").drop(columns="total", errors="ignore")
    fig, ax = plt.subplots(figsize=(FIGSIZE[0] * 0.6, FIGSIZE[1]))
    body.T.plot(kind="bar", stacked=True, ax=ax, rot=0)
    ax.set(xlabel="split", ylabel="items", title="Items per split and label")
    ax.legend(title="label", fontsize="small")
    return fig


def training_curves(history: pd.DataFrame, trial: str) -> plt.Figure:
    """Loss (train and validation) and validation metrics per epoch for one trial."""
    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE)
    left.plot(history["epoch"], history["train_loss"], marker="o", label="train")
    left.plot(history["epoch"], history["val_loss"], marker="o", label="validation")
    left.set(title=f"Answer-token loss, {trial}", xlabel="epoch", ylabel="cross-entropy")
    left.legend()
    right.plot(history["epoch"], history["val_macro_f1"], marker="o", label="macro-F1")
    right.plot(history["epoch"], history["val_accuracy"], marker="s", label="accuracy")
    right.set(title=f"Validation, {trial}", xlabel="epoch", ylim=(0, 1.02))
    right.legend()
    for ax in (left, right):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return fig


CRITERIA = {"val_loss": ("validation loss", min), "val_macro_f1": ("validation macro-F1", max)}


def validation_curves(histories: dict[str, pd.DataFrame], by: str = "val_loss") -> plt.Figure:
    """Per epoch and trial, the validation measure that chooses each trial's epoch
    (train.best_epoch_by), its chosen epoch ringed; validation macro-F1 beside it."""
    fig, axes = plt.subplots(1, 2, figsize=FIGSIZE)
    other = "val_macro_f1" if by == "val_loss" else "val_loss"
    for ax, column in zip(axes, (by, other), strict=True):
        label, best = CRITERIA[column]
        for trial, history in sorted(histories.items()):
            (line,) = ax.plot(history["epoch"], history[column], marker="o", label=trial)
            if column == by:
                chosen = history.loc[history[column] == best(history[column])].iloc[0]
                ax.plot(chosen["epoch"], chosen[column], "o", ms=12, mfc="none", c=line.get_color())
        ax.set(xlabel="epoch", ylabel=label)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].set_title(f"{_sentence(CRITERIA[by][0])} (chooses the epoch, ringed)")
    axes[1].set_title(_sentence(CRITERIA[other][0]))
    axes[1].legend(title="trial", fontsize="small")
    fig.tight_layout()
    return fig


def _sentence(label: str) -> str:
    """`validation macro-F1` -> `Validation macro-F1` (str.capitalize lowercases the rest)."""
    return label[:1].upper() + label[1:]


def text_color_on(color) -> str:
    """Black or white, whichever reads better on `color` (relative luminance, sRGB)."""
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in color[:3])
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.18 else "white"


LABEL_WIDTH = 0.35  # of a 0-1 axis: a bold "0.912" inside a bar, with its margin


def method_bars(results: pd.DataFrame) -> plt.Figure:
    """Macro-F1 and accuracy per method with their bootstrap confidence intervals. A value
    sits inside its bar in the colour that reads on it, or past the interval's end when the
    bar is too short to hold it clear of the interval's lower end."""
    fig, axes = plt.subplots(1, 2, figsize=FIGSIZE, sharey=True)
    names = results["name"] + results["selected"].map({True: " *", False: ""})
    colors = sns.color_palette("colorblind", len(results))
    for ax, metric, title in zip(
        axes, ("macro_f1", "accuracy"), ("Macro-F1", "Accuracy"), strict=True
    ):
        values, low = results[metric].to_numpy(), results[f"{metric}_low"].to_numpy()
        high = results[f"{metric}_high"].to_numpy()
        ax.barh(names, values, xerr=[values - low, high - values], color=colors, capsize=3)
        for y, (v, lo, hi, color) in enumerate(zip(values, low, high, colors, strict=True)):
            inside = lo >= LABEL_WIDTH
            x, shade = (0.02, text_color_on(color)) if inside else (hi + 0.02, "black")
            ax.text(x, y, f"{v:.3f}", va="center", color=shade, fontweight="bold")
        ax.set(title=title, xlim=(0, 1.12))
    axes[0].invert_yaxis()  # shared y: once for both, first method on top
    fig.suptitle("Test set, 95% CIs: BCa bootstrap, Wilson (* selected)", fontsize="medium")
    fig.tight_layout()
    return fig


def confusion_heatmaps(confusion: pd.DataFrame, title: str) -> plt.Figure:
    """Counts and row-normalized shares (recall per gold label) side by side."""
    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE)
    sns.heatmap(confusion, annot=True, fmt="d", cbar=False, cmap="Blues", ax=left)
    shares = confusion.div(confusion.sum(axis=1).replace(0, 1), axis=0)
    sns.heatmap(shares, annot=True, fmt=".2f", cbar=False, cmap="Blues", vmin=0, vmax=1, ax=right)
    left.set(title=f"{title}: counts", xlabel="predicted", ylabel="gold")
    right.set(title="row-normalized", xlabel="predicted", ylabel="")
    fig.tight_layout()
    return fig


def efficiency_panel(results: pd.DataFrame) -> plt.Figure:
    """What each method costs: trainable MB, time to train, and latency per item."""
    fig, axes = plt.subplots(1, 3, figsize=(FIGSIZE[0] * 1.3, FIGSIZE[1]), sharey=True)
    panels = [
        ("trainable_mb", "Trainable parameters (MB)"),
        ("train_time_s", "Train time to best (s)"),
        ("latency_p50_ms", "Latency p50 per item (ms)"),
    ]
    colors = sns.color_palette("colorblind", len(results))
    for ax, (column, title) in zip(axes, panels, strict=True):
        bars = ax.barh(results["name"], results[column].fillna(0), color=colors)
        ax.bar_label(bars, fmt=number, padding=2, fontsize="small")
        ax.set(title=title)
        ax.margins(x=0.25)
    axes[0].invert_yaxis()  # shared y: once for all three
    fig.tight_layout()
    return fig
