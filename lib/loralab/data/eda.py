"""The EDA step: read the configured source, preprocess it and write the corpus of the run; and
the descriptive tables the EDA notebook shows (lengths, examples, audit flags).

Later steps read only what this step wrote (`data/corpus.jsonl`), never the source again, so
every number downstream refers to the same cleaned items.

The audit flags items whose label the text may not bear out; it drops nothing. They are items
that every method may miss for a reason no method can fix, so provenance.json lists them, per
kind, for the error analysis to set beside the misses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

from loralab.artifacts import write_csv, write_jsonl
from loralab.config import Config, DataConfig
from loralab.data.label_terms import holds_a_term, term_patterns
from loralab.data.preprocess import Preprocessed, normalize_text, preprocess
from loralab.data.sources import load_raw
from loralab.layout import RunPaths
from loralab.records import Provenance

CORPUS_COLUMNS = ["id", "text", "label", "split", "text_key", "near_dup_group"]

# What each audit flag means; a flag is checked only where its evidence exists (label terms are
# configured; the source says which other cancer kinds a record is about).
AUDIT_FLAGS = {
    "text names no site": "the text as read (before any masking) holds no term of "
    "data.label_terms, of any label: the label rests on what the model never sees (a withheld "
    "title, MeSH indexing)",
    "about another cancer kind": "the record's major MeSH headings (or, unindexed, its title) "
    "also name another cancer kind (leukaemia, lymphoma, sarcoma, melanoma, ...): the label "
    "may name the wrong disease",
}


@dataclass
class Corpus:
    frame: pd.DataFrame
    steps: pd.DataFrame
    near_duplicates: pd.DataFrame
    provenance: Provenance
    flags: pd.DataFrame = field(default_factory=pd.DataFrame)  # id, label, flag, detail


def corpus_hash(frame: pd.DataFrame) -> str:
    """Fingerprint of the items (ids, texts, labels) for the report's environment section."""
    h = hashlib.sha256()
    for row in frame[["id", "text", "label"]].itertuples(index=False):
        h.update("\x1f".join(row).encode("utf-8") + b"\x1e")
    return h.hexdigest()[:16]


def eda_step(cfg: Config, run: RunPaths) -> Corpus:
    """The EDA step: read, preprocess, and write the corpus every later step reads."""
    raw = load_raw(cfg.data)
    pre: Preprocessed = preprocess(raw, cfg.data)
    frame = pre.frame[[c for c in CORPUS_COLUMNS if c in pre.frame.columns]]
    flags = audit_flags(raw.frame, frame["id"], cfg.data)
    provenance = Provenance(
        source=raw.source,
        split_given=raw.has_split,
        items=len(frame),
        labels=frame["label"].value_counts().to_dict(),
        corpus_hash=corpus_hash(frame),
        label_terms={
            "held": pre.held_terms,
            "masked": cfg.data.mask_label_terms and pre.held_terms is not None,
        },
        audit=audit_summary(flags, audit_checks(raw.frame, cfg.data)),
        details=raw.provenance,
    )
    write_csv(run.preprocess_steps, pre.step_table())
    write_csv(run.near_duplicates, pre.near_duplicates)
    provenance.write(run.provenance)
    write_jsonl(run.corpus, frame.to_dict("records"))
    return Corpus(frame, pre.step_table(), pre.near_duplicates, provenance, flags)


def audit_checks(raw: pd.DataFrame, cfg: DataConfig) -> list[str]:
    """The AUDIT_FLAGS whose evidence this source and configuration give."""
    checks = ["text names no site"] if term_patterns(cfg) else []
    return checks + (["about another cancer kind"] if "other_kind" in raw.columns else [])


def audit_flags(raw: pd.DataFrame, ids: pd.Series, cfg: DataConfig) -> pd.DataFrame:
    """One row per flag raised on a kept item (`ids`): id, label, flag (AUDIT_FLAGS), detail.

    Read from the source table as loaded (`raw`), so a masked run flags the same items."""
    items = raw[raw["id"].isin(set(ids))].drop_duplicates("id")
    rows = []
    patterns = term_patterns(cfg)
    if patterns:
        texts = items["text"].map(normalize_text)
        for item in items[~texts.map(lambda t: holds_a_term(t, patterns))].itertuples():
            rows.append(
                {"id": item.id, "label": item.label, "flag": "text names no site", "detail": ""}
            )
    if "other_kind" in items.columns:
        for item in items[items["other_kind"].fillna("").astype(bool)].itertuples():
            rows.append(
                {
                    "id": item.id,
                    "label": item.label,
                    "flag": "about another cancer kind",
                    "detail": item.other_kind,
                }
            )
    return pd.DataFrame(rows, columns=["id", "label", "flag", "detail"])


def audit_summary(flags: pd.DataFrame, checks: list[str]) -> dict:
    """For provenance.json: per flag checked, what it means, how many items, per label, the ids."""
    out = {}
    for flag in checks:
        hit = flags[flags["flag"] == flag]
        out[flag] = {
            "meaning": AUDIT_FLAGS[flag],
            "items": len(hit),
            "labels": hit["label"].value_counts().to_dict(),
            "ids": hit["id"].tolist(),
        }
    return out


def audit_table(audit: dict) -> pd.DataFrame:
    """provenance.json's audit as a table: flagged items per flag, in all and per label."""
    table = pd.DataFrame(
        {flag: {"items": a["items"], **a["labels"]} for flag, a in audit.items()}
    ).T
    return table.fillna(0).astype(int).rename_axis("flag")


def flagged_examples(flags: pd.DataFrame, frame: pd.DataFrame, chars: int = 200) -> pd.DataFrame:
    """The flagged items with the start of their texts, for reading beside the flags."""
    texts = frame[["id", "text"]].assign(text=frame["text"].str.slice(0, chars) + "…")
    merged = flags.merge(texts, on="id", how="left")
    return merged.sort_values(["flag", "label", "id"]).reset_index(drop=True)


def text_lengths(frame: pd.DataFrame, tokenizer=None) -> pd.DataFrame:
    """Length of every text in words and, given the model's tokenizer, in tokens.

    Token counts matter more than words: they decide how much of a text fits `train.seq_len`.
    """
    out = frame[["id", "label"]].copy()
    out["words"] = frame["text"].str.split().str.len()
    if tokenizer is not None:
        enc = tokenizer(frame["text"].tolist(), add_special_tokens=False)["input_ids"]
        out["tokens"] = [len(ids) for ids in enc]
    return out


def length_summary(lengths: pd.DataFrame) -> pd.DataFrame:
    """Median, 90th percentile and maximum length per label and unit."""
    units = [u for u in ("words", "tokens") if u in lengths.columns]
    stats = lengths.groupby("label")[units].describe(percentiles=[0.5, 0.9])
    keep = [(u, s) for u in units for s in ("count", "mean", "50%", "90%", "max")]
    return stats[keep].round(1)


def examples_per_class(frame: pd.DataFrame, n: int = 2, seed: int = 0, chars: int = 400):
    """A few texts of each label, cut to `chars` characters, drawn reproducibly."""
    shuffled = frame.sample(frac=1.0, random_state=seed)
    picked = shuffled.groupby("label").head(n).sort_values("label")[["id", "label", "text"]]
    picked["text"] = picked["text"].str.slice(0, chars) + "…"
    return picked.reset_index(drop=True)
