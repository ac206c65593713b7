"""The test items that any method got wrong: a static table for the report, a browser in Lab.

Texts come from the dataset and may hold anything, markup included; every HTML rendering here
goes through pandas' escaping, so a `<script>` in a text is shown, never run.
"""

from __future__ import annotations

import pandas as pd


def wrong_items(paired: pd.DataFrame, test: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """One row per test item that at least one method misclassified, most-missed first."""
    preds = {names[m]: paired[f"pred_{m}"] for m in names}
    table = pd.DataFrame({"id": paired["id"], "gold": paired["gold"], **preds})
    wrong = pd.DataFrame({n: p != paired["gold"] for n, p in preds.items()})
    table.insert(2, "methods wrong", wrong.sum(axis=1))
    for m in names:
        table[f"score {names[m]}"] = paired[f"score_{m}"].round(3)
    table["text"] = table["id"].map(test.set_index("id")["text"])
    table = table[table["methods wrong"] > 0]
    return table.sort_values(["methods wrong", "id"], ascending=[False, True]).reset_index(
        drop=True
    )


def static_view(table: pd.DataFrame, rows: int = 25, chars: int = 300) -> pd.DataFrame:
    """The first rows with texts cut short, for the HTML report."""
    shown = table.head(rows).copy()
    shown["text"] = shown["text"].str.slice(0, chars) + "…"
    return shown


def error_browser(table: pd.DataFrame, page_size: int = 10):
    """An ipywidgets browser: filter by the method that erred, page through full texts."""
    import ipywidgets as widgets

    methods = [
        c
        for c in table.columns
        if c not in ("id", "gold", "methods wrong", "text") and not c.startswith("score ")
    ]
    choose = widgets.Dropdown(options=["any method", *methods], description="wrong by")
    page = widgets.IntSlider(min=0, max=0, description="page")
    out = widgets.HTML()

    def refresh(*_):
        rows = (
            table if choose.value == "any method" else table[table[choose.value] != table["gold"]]
        )
        page.max = max(0, (len(rows) - 1) // page_size)
        part = rows.iloc[page.value * page_size : (page.value + 1) * page_size]
        out.value = f"<p>{len(rows)} items</p>" + part.to_html(index=False, escape=True, border=0)

    choose.observe(refresh, names="value")
    page.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox([choose, page]), out])
