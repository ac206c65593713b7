"""What a reader sees: tables, figures, the report bundle, run comparison, the committed
findings.

Nothing here computes a result a step writes, so rewording or restyling re-runs no step
(`run.fingerprints` never follows a notebook's imports into this package).
"""

__all__ = [
    "tables",  # numbers formatted for reading; HTML pages from templates
    "figures",  # matplotlib/seaborn figures
    "error_analysis",  # the wrong items, static and browsable
    "bundle",  # reports/<run-id>/: the index page and the notebook pages
    "compare",  # `loralab compare`
    "findings",  # a study's small artifacts under docs/findings/
]
