"""Figures of the series, sized to read well in the HTML report.

Each function takes tables the steps wrote and returns a matplotlib Figure; the notebook shows
it and `save_figure` writes the PNG that the report's index page embeds. The trial grid's
figures come by name from `sweep_figures` and `curve_figures`, only those with something to
show, each with a sentence that states what it shows (`lr_ratio_sentence`, `crossing_sentence`).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle
from matplotlib.ticker import NullLocator

from loralab.artifacts import atomic_open
from loralab.formats import learning_rate, number
from loralab.stats.crossing import (
    AHEAD,
    NO_BASELINE,
    UNTESTED,
    first_lora_ahead,
    lead_changes,
    size_verdicts,
)
from loralab.stats.lr_optimum import CURVE, Optima, grids_overlap, lr_optima
from loralab.stats.metrics import CRITERIA
from loralab.stats.sweep_tables import (
    FULL,
    GRID_NEEDS,
    LABEL_TERMS,
    LORA,
    VARIANT_NAMES,
    ZERO_SHOT,
    chosen_configs,
    curve_points,
    grid_varies,
    loss_grid,
    size_key,
    size_label,
)

FIGSIZE = (7.5, 3.6)


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


def training_curves(history: pd.DataFrame, trial: str, n_labels: int = 0) -> plt.Figure:
    """Loss (train and validation) and validation metrics per epoch for one trial. The label
    losses, of validation and of the scored training items, are drawn against their value at
    chance, ln(`n_labels`): an answer-token loss that falls while the label loss stays there is
    a model that learned the answer's format and nothing that tells the labels apart; a training
    label loss that stays there too is a model that never fitted its own items."""
    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE)
    left.plot(history["epoch"], history["train_loss"], marker="o", label="train")
    left.plot(history["epoch"], history["val_loss"], marker="o", label="validation")
    if "val_label_loss" in history:
        label_loss = history["val_label_loss"]
        left.plot(history["epoch"], label_loss, marker="^", label="validation, label")
        if history.get("train_label_loss", pd.Series(dtype=float)).notna().any():
            fit = history["train_label_loss"]
            left.plot(history["epoch"], fit, marker="v", ls=":", label="training items, label")
        if n_labels > 1:
            left.axhline(np.log(n_labels), ls="--", c="grey", label="label loss at chance")
    left.set(title=f"Loss, {trial}", xlabel="epoch", ylabel="cross-entropy (nats)")
    left.legend()
    right.plot(history["epoch"], history["val_macro_f1"], marker="o", label="macro-F1")
    right.plot(history["epoch"], history["val_accuracy"], marker="s", label="accuracy")
    right.set(title=f"Validation, {trial}", xlabel="epoch", ylim=(0, 1.02))
    right.legend()
    for ax in (left, right):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return fig


# a history or selection column -> the measure in words
CRITERION_NAMES = {c.column: c.name.split(" (")[0] for c in CRITERIA.values()}


def validation_curves(histories: dict[str, pd.DataFrame], by: str = "label_loss") -> plt.Figure:
    """Per epoch and trial, the validation measure that chooses each trial's epoch
    (train.select_by), its chosen epoch ringed; validation macro-F1 beside it (or the label loss
    where macro-F1 chooses)."""
    fig, axes = plt.subplots(1, 2, figsize=FIGSIZE)
    criterion = CRITERIA[by]
    other = CRITERIA["label_loss" if by == "val_macro_f1" else "val_macro_f1"]
    for ax, shown in zip(axes, (criterion, other), strict=True):
        column = shown.column
        best = min if shown.lower_is_better else max
        for trial, history in sorted(histories.items()):
            (line,) = ax.plot(history["epoch"], history[column], marker="o", label=trial)
            if shown is criterion:
                chosen = history.loc[history[column] == best(history[column])].iloc[0]
                ax.plot(chosen["epoch"], chosen[column], "o", ms=12, mfc="none", c=line.get_color())
        ax.set(xlabel="epoch", ylabel=shown.name.split(" (")[0])
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].set_title(f"{_sentence(criterion.name.split(' (')[0])} (chooses the epoch, ringed)")
    axes[1].set_title(_sentence(other.name.split(" (")[0]))
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


# ---- the trial grid: learning rate x rank, and the learning curve --------------------------

CHOSEN_EDGE = (0.9, 0.6, 0.0)  # orange: reads on every shade of the Blues heatmap


def sweep_figures(
    selection: pd.DataFrame, optima: Optima | pd.DataFrame | None = None
) -> dict[str, plt.Figure]:
    """The validation figures of the trial grid that have something to show, by the name
    `save_figure` gives their PNG: a heatmap of validation loss over learning rate x rank
    (two learning rates or two ranks), the optimum learning rate per rank (two learning
    rates): `optima` as the evaluation step found them, or bootstrapped over these trials'
    rows (trials.csv), or else over selection's folds. Empty for a grid of one configuration."""
    figures = {
        "sweep_val_loss": sweep_heatmaps(selection),
        "sweep_best_lr": best_lr_figure(selection if optima is None else optima),
    }
    return {name: fig for name, fig in figures.items() if fig is not None}


def curve_figures(
    results: pd.DataFrame, tests: pd.DataFrame | None = None, confidence: float = 0.95
) -> dict[str, plt.Figure]:
    """The learning curve by the name of its PNG, when the trained methods have two training
    sizes; else empty. With `tests` (stat_tests.json's comparisons), the sizes at which LoRA
    is separated from TF-IDF (`crossing.size_verdicts`) are ringed."""
    verdicts = None if tests is None else size_verdicts(results, tests, confidence)
    fig = learning_curve(results, verdicts)
    return {} if fig is None else {"learning_curve": fig}


def _panel_width(columns: int) -> float:
    return min(max(FIGSIZE[0], 3.0 * columns), 12.0)


def _variant_title(variant: str, size: str, variants: int) -> str:
    size_part = size_label(size)
    return f"{VARIANT_NAMES.get(variant, variant)}, {size_part}" if variants > 1 else size_part


def sweep_heatmaps(selection: pd.DataFrame) -> plt.Figure | None:
    """LoRA's validation loss (mean over folds and seeds) over learning rate x rank, one panel
    per training size (and variant, when the grid has several), the configuration most folds
    chose boxed. None when LoRA has one learning rate and one rank."""
    grid = loss_grid(selection, LORA)
    if grid.empty or not grid_varies(grid):
        return None
    chosen = chosen_configs(grid)
    variants = sorted(grid["variant"].unique())
    sizes = sorted(grid["train_size"].unique(), key=size_key)
    fig, axes = plt.subplots(
        len(variants),
        len(sizes),
        figsize=(_panel_width(len(sizes)), 0.5 + FIGSIZE[1] * 0.9 * len(variants)),
        squeeze=False,
    )
    for row, variant in enumerate(variants):
        for col, size in enumerate(sizes):
            part = grid[(grid["variant"] == variant) & (grid["train_size"] == size)]
            if part.empty:
                axes[row][col].remove()
                continue
            pick = (
                chosen.loc[size]
                if size in chosen.index and chosen.at[size, "variant"] == variant
                else None
            )
            _loss_panel(axes[row][col], part, pick, col == 0)
            axes[row][col].set_title(_variant_title(variant, size, len(variants)))
    fig.suptitle(
        "Validation loss of LoRA, mean over folds and seeds (boxed: chosen by most folds)",
        fontsize="medium",
    )
    fig.tight_layout()
    return fig


def _loss_panel(ax, part: pd.DataFrame, pick: pd.Series | None, first_column: bool) -> None:
    """One training size's (and variant's) validation loss over rank x learning rate, the
    configuration most folds chose (`pick`) boxed."""
    table = part.pivot(index="rank", columns="lr", values="val_loss").sort_index()
    table = table[sorted(table.columns)]
    sns.heatmap(
        table,
        annot=True,
        fmt=".3f",
        cmap="Blues_r",
        cbar=False,
        annot_kws={"fontsize": "small"},
        xticklabels=[learning_rate(lr) for lr in table.columns],
        yticklabels=[str(r) for r in table.index],
        ax=ax,
    )
    ax.set(xlabel="learning rate", ylabel="rank" if first_column else "")
    ax.tick_params(axis="y", rotation=0)
    if pick is not None:
        y, x = list(table.index).index(pick["rank"]), list(table.columns).index(pick["lr"])
        ax.add_patch(
            Rectangle((x, y), 1, 1, fill=False, edgecolor=CHOSEN_EDGE, lw=3, clip_on=False)
        )


def _optima_of(frame: Optima | pd.DataFrame, criterion=None, confidence=0.95) -> Optima | None:
    """`frame` itself if it holds the optima, else those of its rows (trials.csv or
    selection.csv); None without LoRA rows to find one for."""
    if isinstance(frame, Optima):
        return frame if (frame.table["method"] == LORA).any() else None
    if not GRID_NEEDS.issubset(frame.columns) or LORA not in set(frame["method"]):
        return None
    return lr_optima(frame, criterion, confidence)


def best_lr_figure(frame: Optima | pd.DataFrame, criterion: str | None = None) -> plt.Figure | None:
    """Per training size, LoRA's optimum learning rate at each rank with its interval (a line
    per variant; `lr_optimum.lr_optima`), full fine-tuning's as a dashed line over its interval.
    `frame`: the optima, or trials.csv (or selection.csv) rows. None when LoRA tried one
    learning rate, or one rank with no full fine-tuning to set it against."""
    found = _optima_of(frame, criterion)
    if found is None:
        return None
    optima = found.table
    best, full_best = optima[optima["method"] == LORA], optima[optima["method"] == FULL]
    if (best["lr_min"] == best["lr_max"]).all() or (best["rank"].nunique() < 2 and full_best.empty):
        return None
    sizes = sorted(best["train_size"].unique(), key=size_key)
    fig, axes = plt.subplots(
        1, len(sizes), figsize=(_panel_width(len(sizes)), FIGSIZE[1]), sharey=True, squeeze=False
    )
    for ax, size in zip(axes[0], sizes, strict=True):
        _draw_optima(
            ax, best[best["train_size"] == size], full_best[full_best["train_size"] == size]
        )
        _lr_axes(ax, list(found.lrs), sorted(best["rank"].unique()))
        ax.set(title=size_label(size), xlabel="rank")
    axes[0][0].set_ylabel("optimum learning rate")
    shown = {}  # one legend for all panels, each line once
    for ax in axes[0]:
        handles, labels = ax.get_legend_handles_labels()
        shown.update(zip(labels, handles, strict=True))
    fig.suptitle(
        f"Optimum learning rate per rank, lowest {CRITERION_NAMES[optima['criterion'].iloc[0]]} "
        "(parabola through the grid's minimum; bootstrap interval)",
        fontsize="medium",
    )
    fig.tight_layout()
    fig.legend(
        shown.values(),
        shown.keys(),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=len(shown),
        fontsize="small",
        frameon=False,
    )
    return fig


def _draw_optima(ax, lora: pd.DataFrame, full: pd.DataFrame) -> None:
    for variant, part in lora.groupby("variant"):
        lr = part["lr"]
        below, above = (lr - part["low"]).clip(lower=0), (part["high"] - lr).clip(lower=0)
        name = VARIANT_NAMES.get(variant, variant)
        ax.errorbar(part["rank"], lr, yerr=[below, above], marker="o", capsize=3, label=name)
    if len(full):
        row = full.iloc[0]
        ax.axhspan(row["low"], row["high"], color="black", alpha=0.08, lw=0)
        ax.axhline(row["lr"], ls="--", c="black", lw=1.2, label="full fine-tuning, its optimum")


def _lr_axes(ax, lrs: list[float], ranks: list[int]) -> None:
    """Log axes: ranks on x, the grid's learning rates on y."""
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(ranks, labels=[str(r) for r in ranks])
    ax.set_yticks(lrs, labels=[learning_rate(lr) for lr in lrs])
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_locator(NullLocator())
    ax.set_ylim(lrs[0] / 1.6, lrs[-1] * 1.6)
    if len(ranks) == 1:
        ax.set_xlim(ranks[0] / 2, ranks[0] * 2)


# the trained series drawn apart on the log x axis
CURVE_SHIFT = {
    "LoRA (selected)": 0.95,
    "LoRA + head (selected)": 0.9,
    "full fine-tuning (selected)": 1.05,
}
UNTRAINED_LINES = ((LABEL_TERMS, ":"), (ZERO_SHOT, "-."))


def learning_curve(
    results: pd.DataFrame, verdicts: pd.DataFrame | None = None
) -> plt.Figure | None:
    """Test macro-F1 with its interval against training items (log scale): the selected LoRA
    (with a classification head too, where trained) and full fine-tuning per size, TF-IDF at
    the same sizes and on every item; the label-term rule and zero-shot as horizontal lines
    over their intervals; LoRA's sizes separated from TF-IDF in `verdicts` ringed. None when
    the trained methods have fewer than two training sizes."""
    series = curve_points(results)
    trained = [s for name, s in series.items() if name in CURVE_SHIFT]
    if len({n for s in trained for n in s["train_items"]}) < 2:
        return None
    fig, ax = plt.subplots(figsize=FIGSIZE)
    colors = sns.color_palette("colorblind")
    for color, (name, points) in zip(colors, series.items(), strict=False):
        f1 = points["macro_f1"]
        ax.errorbar(
            points["train_items"] * CURVE_SHIFT.get(name, 1.0),
            f1,
            yerr=[(f1 - points["macro_f1_low"]).clip(lower=0), (points["macro_f1_high"] - f1)],
            marker="o",
            capsize=3,
            color=color,
            label=name,
        )
    _ring_separated(ax, verdicts)
    rows = results.set_index("method")
    for method, style in UNTRAINED_LINES:
        if method in rows.index:
            row = rows.loc[method]
            ax.axhspan(row["macro_f1_low"], row["macro_f1_high"], color="grey", alpha=0.12, lw=0)
            ax.axhline(row["macro_f1"], ls=style, c="dimgrey", label=f"{row['name']} (untrained)")
    items = sorted({n for points in series.values() for n in points["train_items"]})
    ax.set_xscale("log")
    ax.set_xticks(items, labels=[number(n) for n in items])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set(
        title="Test macro-F1 against training items, with confidence intervals",
        xlabel="training items (log scale)",
        ylabel="test macro-F1",
    )
    _legend_trained_first(ax)
    fig.tight_layout()
    return fig


def _legend_trained_first(ax) -> None:
    """The legend beside the axes, the untrained methods' lines last."""
    handles, labels = ax.get_legend_handles_labels()
    trained_first = sorted(range(len(labels)), key=lambda i: labels[i].endswith("(untrained)"))
    ax.legend(
        [handles[i] for i in trained_first],
        [labels[i] for i in trained_first],
        fontsize="small",
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
    )


def _ring_separated(ax, verdicts: pd.DataFrame | None) -> None:
    ahead = None if verdicts is None else verdicts[verdicts["status"].isin(AHEAD)]
    if ahead is not None and len(ahead):
        ax.plot(
            ahead["train_items"] * CURVE_SHIFT["LoRA (selected)"],
            ahead["macro_f1"],
            "o",
            ms=14,
            mfc="none",
            mec="black",
            label="LoRA separated from TF-IDF (paired, Holm)",
        )


# ---- what the sweep figures say, in words --------------------------------------------------


def lr_ratio_sentence(
    frame: Optima | pd.DataFrame, criterion: str | None = None, confidence: float = 0.95
) -> str:
    """Per training size: LoRA's optimum learning rate per rank with its interval, the grid
    rates not separated from the minimum, a warning where the minimum sits at the grid's edge,
    and the ratio to full fine-tuning's optimum with its interval, or that the grids cannot
    give one (`lr_optimum.lr_optima` holds the rules). `frame`: the optima, or trials.csv or
    selection.csv rows."""
    optima = _optima_of(frame, criterion, confidence)
    if optima is None:
        return "No LoRA configuration was trained, so there is no learning rate to compare."
    sizes = sorted(
        set(optima.table.loc[optima.table["method"] == LORA, "train_size"]), key=size_key
    )
    return " ".join(_lr_sentence(optima, size) for size in sizes)


def _lr_sentence(optima: Optima, size: str) -> str:
    table = optima.table[optima.table["train_size"] == size]
    lora, full = table[table["method"] == LORA], table[table["method"] == FULL]
    where = f"({size_label(size)})"
    if (lora["lr_min"] == lora["lr_max"]).all():
        return (
            f"LoRA trained at one learning rate, {learning_rate(lora['lr'].iloc[0])}, so the "
            f"study cannot say which is best {where}."
        )
    variants = lora["variant"].nunique()
    per_rank = _per_rank(lora, variants)
    level = (
        f"{optima.confidence:.0%} interval, bootstrap over {lora['units'].iloc[0]} {optima.unit}"
    )
    criterion = CRITERION_NAMES[lora["criterion"].iloc[0]]
    lead = f"LoRA's optimum learning rate by {criterion} ({size_label(size)}; {level})"
    parts = [f"{lead}: {per_rank}."]
    edges = [_config(r.variant, r.rank, variants) for r in lora.itertuples() if r.edge]
    if edges:
        every = len(edges) == len(lora) > 1
        at = "every rank" if every and variants == 1 else ", ".join(edges)
        parts.append(f"At {at} the minimum is {_edge_of(lora.iloc[0])}.")
    if full.empty:
        parts.append("No full fine-tuning was trained to compare with.")
        return " ".join(parts)
    parts.append(_versus_full(optima, lora, full.iloc[0], variants))
    return " ".join(parts)


def _versus_full(optima: Optima, lora: pd.DataFrame, full: pd.Series, variants: int) -> str:
    """Full fine-tuning's optimum and LoRA's best configuration's ratio to it."""
    only = ", its only learning rate" if full["lr_min"] == full["lr_max"] else ""
    edge = f"; the minimum is {_edge_of(full)}" if full["edge"] else ""
    text = f"Full fine-tuning's: {_optimum(full)}{only}{edge}."
    best = lora.sort_values(["best_value", "rank"]).iloc[0]
    ratio, low, high = optima.ratio(tuple(best[CURVE]), tuple(full[CURVE]))
    config = _config(best["variant"], best["rank"], variants)
    text += (
        f" LoRA ({config}, its best) over full: {number(ratio)}x [{number(low)}x, {number(high)}x]."
    )
    if not grids_overlap(best, full):
        text += (
            f" The grids do not overlap (LoRA {_grid(best)}, full fine-tuning {_grid(full)}), "
            "so they cannot test the 10x claim: the grids must overlap."
        )
    return text


def _per_rank(lora: pd.DataFrame, variants: int) -> str:
    """`1e-3 [5e-4, 2e-3] at r=4, r=8; ...`: configurations with the same answer named once."""
    said: dict[str, list[str]] = {}
    for r in lora.itertuples():
        said.setdefault(_optimum(r) + _plausible(r), []).append(
            _config(r.variant, r.rank, variants)
        )
    if len(said) == 1 and len(lora) > 1:
        return f"{next(iter(said))}, at every {'rank' if variants == 1 else 'configuration'}"
    return "; ".join(f"{answer} at {', '.join(configs)}" for answer, configs in said.items())


def _optimum(row) -> str:
    return f"{learning_rate(row.lr)} [{learning_rate(row.low)}, {learning_rate(row.high)}]"


def _plausible(row) -> str:
    rates = row.plausible
    return (
        f" (not separated on the grid: {', '.join(map(learning_rate, rates))})"
        if len(rates) > 1
        else ""
    )


def _grid(row: pd.Series) -> str:
    return f"{learning_rate(row['lr_min'])} to {learning_rate(row['lr_max'])}"


def _edge_of(row: pd.Series) -> str:
    return f"at the edge of the grid ({_grid(row)}): widen it"


def _config(variant: str, rank: int, variants: int) -> str:
    return f"{VARIANT_NAMES.get(variant, variant)} r={rank}" if variants > 1 else f"r={rank}"


STEPS_NOTE = (
    "Every size trained for the same number of epochs (early stopping aside), so the smaller "
    "sizes took fewer optimizer steps."
)


def steps_sentence(results: pd.DataFrame, verdicts: pd.DataFrame) -> str:
    """The optimizer steps the selected LoRA took to its best epoch at each size, from
    results.csv (mean over folds and seeds): at equal epochs a smaller size takes fewer, so
    the curve then measures steps as well as items; runs before the count say so in general."""
    if "steps_to_best" not in results:
        return STEPS_NOTE
    steps = results.set_index("method")["steps_to_best"].reindex(verdicts["method"])
    if steps.isna().any():
        return STEPS_NOTE
    said = ", ".join(
        f"{number(n)} at {size_label(size)}"
        for n, size in zip(steps, verdicts["train_size"], strict=True)
    )
    text = f"LoRA's optimizer steps to its best epoch: {said}."
    if steps.max() > 1.5 * steps.min():
        text += " The sizes differ in steps as well as items (train.steps holds steps equal)."
    return text


def crossing_sentence(
    results: pd.DataFrame, tests: pd.DataFrame | dict | None = None, confidence: float = 0.95
) -> str:
    """Who is ahead at every training size, the selected LoRA or TF-IDF on the same items,
    where the lead changes hands and the first size at which LoRA is separated ahead
    (`crossing.size_verdicts` holds the rule). `tests`: stat_tests.json (its record, whose
    confidence then applies, or its comparisons); None reads the methods' own intervals and
    the sentence says so."""
    if isinstance(tests, dict):
        confidence = tests.get("confidence", confidence)
        tests = pd.DataFrame(tests.get("comparisons", []))
    verdicts = size_verdicts(results, tests, confidence)
    if verdicts.empty:
        return "No LoRA was trained, so there is no size at which it separates from TF-IDF."
    paired = tests is not None
    parts = [_lead_sentence(verdicts), _sizes_sentence(verdicts, results, paired, confidence)]
    if len(verdicts) > 1:
        parts.append(steps_sentence(results, verdicts))
    if not paired:
        parts.insert(
            0,
            "No paired test is available, so this reads the methods' own intervals "
            "(separated: they do not overlap; cruder than a paired test).",
        )
    return " ".join(parts)


def _lead_sentence(verdicts: pd.DataFrame) -> str:
    first = first_lora_ahead(verdicts)
    text = (
        "LoRA's separation ahead of TF-IDF on the same items: not reached."
        if first is None
        else f"LoRA is first separated ahead of TF-IDF on the same items at "
        f"{size_label(first['train_size'])}."
    )
    changes = lead_changes(verdicts)
    if changes:
        hands = "; ".join(
            f"{a['status']} at {size_label(a['train_size'])}, "
            f"{b['status']} at {size_label(b['train_size'])}"
            for a, b in changes
        )
        text += f" The lead changes hands: {hands}."
    elif verdicts["status"].isin(AHEAD).any():
        text += " The lead never changes hands."
    return text


def _sizes_sentence(
    verdicts: pd.DataFrame, results: pd.DataFrame, paired: bool, confidence: float
) -> str:
    tested = int(verdicts["p"].notna().sum())
    rule = (
        f"paired bootstrap p, Holm-adjusted over the sizes tested ({tested}), separated when "
        f"below {round(1 - confidence, 12):g}"
        if paired
        else "the methods' own intervals"
    )
    rows = results.set_index("method")
    said = "; ".join(
        f"{size_label(v['train_size'])}, {v['status']}{_evidence(v, rows, paired, confidence)}"
        for _, v in verdicts.iterrows()
    )
    return f"Per size ({rule}): {said}."


def _evidence(verdict: pd.Series, rows: pd.DataFrame, paired: bool, confidence: float) -> str:
    if verdict["status"] in (UNTESTED, NO_BASELINE):
        return ""
    if paired:
        return (
            f" (Δ macro-F1 {verdict['delta']:+.3f}, {confidence:.0%} CI {verdict['low']:+.3f} "
            f"to {verdict['high']:+.3f}, Holm p {verdict['p_holm']:.3g})"
        )
    lora, tfidf = rows.loc[verdict["method"]], rows.loc[verdict["baseline"]]
    return f" (LoRA {_f1_interval(lora)}, TF-IDF {_f1_interval(tfidf)})"


def _f1_interval(row: pd.Series) -> str:
    return f"{row['macro_f1']:.3f} [{row['macro_f1_low']:.3f}, {row['macro_f1_high']:.3f}]"
