"""Shared fixtures: small labelled tables written to disk the way a user would give them.

Tests never import a package named `tests` (pubmed-parser installs one into site-packages);
helpers live here as fixtures instead.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from loralab.config import Config, build_config

REPO = Path(__file__).resolve().parents[1]
VOCAB = [f"w{i}" for i in range(2000)]


def random_text(rng: random.Random, words: int = 40) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(words))


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep the parsed-corpus cache of tests (and of the kernels they start) out of ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LORALAB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        yield


@pytest.fixture
def make_rows():
    """Distinct random texts, `per_class` for each label, with ids."""

    def make(labels=("A", "B"), per_class=20, seed=0) -> pd.DataFrame:
        rng = random.Random(seed)
        rows = [
            {"id": f"{label}-{i}", "text": random_text(rng), "label": label}
            for label in labels
            for i in range(per_class)
        ]
        return pd.DataFrame(rows)

    return make


@pytest.fixture
def write_table(tmp_path):
    """Write a DataFrame as CSV (or JSONL) and return its path."""

    def write(frame: pd.DataFrame, name: str = "data.csv") -> Path:
        path = tmp_path / name
        if name.endswith(".jsonl"):
            frame.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_csv(path, index=False)
        return path

    return write


@pytest.fixture
def file_config():
    """A Config for a data file with labels A and B, overridable with dotted keys."""

    def make(path: Path, **overrides) -> Config:
        sets = {"data.path": str(path), "data.labels": ["A", "B"], "data.verbalizers": {}}
        sets.update({k.replace("__", "."): v for k, v in overrides.items()})
        return build_config({}, "test", sets)

    return make
