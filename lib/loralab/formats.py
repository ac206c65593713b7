"""Numbers as the tables, figures and ids write them: one place, so the report, the figures and
a trial's id never spell the same value two ways."""

from __future__ import annotations

import numpy as np


def seconds(value: float) -> str:
    """A duration as people read it: `1120 s`, never `1.12e+03`."""
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def number(value: float) -> str:
    """A figure's label: three significant digits below 1000, whole numbers above, never
    `1.12e+03`."""
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def learning_rate(value: float) -> str:
    """1e-3, 5e-5, 1.5e-4: a learning rate as people write it."""
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def plain_number(value: float) -> str:
    """A number in positional notation, as short as it reads exactly (0.00005, 0.001)."""
    return np.format_float_positional(value, trim="-")
