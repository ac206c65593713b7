"""Figures: labels people can read."""

import pytest

from loralab.figures import number


@pytest.mark.parametrize(
    ("value", "shown"), [(0.0123, "0.0123"), (42.5, "42.5"), (1120.4, "1,120")]
)
def test_figure_labels_never_use_scientific_notation(value, shown):
    assert number(value) == shown
