"""Numbers about predictions: metrics, paired tests, the optimum learning rate, the crossing of
two learning curves, and step 05 (`step.statistics_step`).

Nothing here loads a model or reads a config section beyond `stats`: these modules take
predictions and tables, so the model and training code below them can use the metrics too.
"""

__all__ = [
    "metrics",  # macro-F1, accuracy, the label loss; the selection criteria
    "paired_tests",  # McNemar, paired bootstrap, corrected t-tests, Holm
    "sweep_tables",  # the trial grid's tables, shaped for curves and optima
    "lr_optimum",  # the optimum learning rate per curve, with its interval
    "crossing",  # who leads at each training size, and where that changes
    "step",  # step 05: the planned comparisons
]
