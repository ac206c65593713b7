"""Atomic writes of run artifacts, so a half-written file never looks finished.

Every artifact is written to a temporary file in the same folder and renamed into place
(`os.replace` is atomic on one filesystem). A crash, a kill or a full disk leaves either the old
file or none, plus at most a `.tmp-*` file that no reader ever opens.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd


def cache_dir() -> Path:
    """Where work that outlives a run is kept (the parsed corpus, converted model weights):
    LORALAB_CACHE, else ~/.cache/loralab. Deleting it costs only the time to redo that work."""
    root = os.environ.get("LORALAB_CACHE") or Path.home() / ".cache" / "loralab"
    return Path(root)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it onto `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
    try:
        kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> Path:
    with atomic_open(path) as fh:
        fh.write(text)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> Path:
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return Path(path)


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    with atomic_open(path) as fh:
        frame.to_csv(fh, index=False)
    return Path(path)


def read_jsonl(path: str | Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, dtype=False)
