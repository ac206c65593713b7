import gzip

import pytest

from loralab.config import build_config
from loralab.data.eda import eda_step
from loralab.data.pubmed import corpus_files, label_records, load_pubmed
from loralab.errors import DataError
from loralab.layout import RunPaths

ABSTRACT = " ".join(f"word{i}" for i in range(40))


def _heading(spec: str) -> str:
    """A MeSH heading from 'Descriptor[*][/qualifier[*]]'; a star makes that part major."""
    descriptor, _, qualifier = spec.partition("/")

    def part(tag, name):
        major = "Y" if name.endswith("*") else "N"
        return f"<{tag} MajorTopicYN='{major}'>{name.rstrip('*')}</{tag}>"

    qualifier = part("QualifierName", qualifier) if qualifier else ""
    return f"<MeshHeading>{part('DescriptorName', descriptor)}{qualifier}</MeshHeading>"


def _article(pmid, title, descriptors=(), lang="eng", abstract=ABSTRACT):
    mesh = "".join(_heading(d) for d in descriptors)
    mesh = f"<MeshHeadingList>{mesh}</MeshHeadingList>" if descriptors else ""
    return (
        f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article>"
        f"<Journal><JournalIssue><PubDate><Year>1999</Year></PubDate></JournalIssue></Journal>"
        f"<ArticleTitle>{title}</ArticleTitle><Abstract>"
        f"<AbstractText Label='A'>{abstract[:60]}</AbstractText>"
        f"<AbstractText Label='B'><i>{abstract[60:]}</i></AbstractText></Abstract>"
        f"<Language>{lang}</Language></Article>{mesh}</MedlineCitation></PubmedArticle>"
    )


def _write(path, articles):
    with gzip.open(path, "wt") as fh:
        fh.write("<PubmedArticleSet>" + "".join(articles) + "</PubmedArticleSet>")
    return path


def test_labelling_rule_on_a_small_file(tmp_path):
    articles = [
        _article(1, "Some title", ["Humans", "Lung Neoplasms*"]),
        _article(2, "Lung cancer in mice", ["Colorectal Neoplasms/surgery*"]),  # MeSH over title
        _article(3, "Surgery for rectal cancer"),  # title fallback
        _article(4, "Thyroid carcinoma", ["Thyroid Neoplasms*"]),
        _article(5, "x", ["Lung Neoplasms*", "Colonic Neoplasms*"]),  # two sites: dropped
        _article(6, "x", ["Lung Neoplasms*"], lang="fre"),
        _article(7, "x", ["Lung Neoplasms*"], abstract="too short"),
        _article(8, "Asthma", ["Asthma*"]),
        _article(9, "Lung cancer", ["Lung Neoplasms", "Asthma*"]),  # a minor heading: dropped
    ]
    frame, why = label_records([_write(tmp_path / "mini.xml.gz", articles)], min_words=30)
    assert dict(zip(frame["id"], frame["label"], strict=True)) == {
        "pmid:1": "Lung_Cancer",
        "pmid:2": "Colon_Cancer",
        "pmid:3": "Colon_Cancer",
        "pmid:4": "Thyroid_Cancer",
    }
    assert why == {
        "read": 9,
        "not English": 1,
        "abstract too short": 1,
        "no cancer site": 1,
        "site in minor MeSH headings only": 1,
        "several sites": 1,
    }
    assert frame["text"].iloc[0] == ABSTRACT  # inline markup flattened, title withheld
    assert frame.set_index("id").loc["pmid:3", "labelled_from"] == "title"


# Rule 1 labelled these from minor headings (PMIDs 426189, 423061 of pubmed20n0014): issue 19.
HAIRY_CELL = [
    "Leukemia, Hairy Cell/complications*",
    "Colonic Neoplasms/complications",
    "Prostatic Neoplasms/complications",
    "Splenic Rupture/complications*",
]
RHABDOMYOSARCOMA = ["Rectal Neoplasms/surgery", "Pelvic Neoplasms", "Rhabdomyosarcoma/therapy*"]


def test_a_site_named_by_minor_headings_only_labels_nothing(tmp_path):
    articles = [
        _article(1, "Spontaneous rupture of spleen in leukemic reticuloendotheliosis", HAIRY_CELL),
        _article(2, "Recent experience in the treatment of rhabdomyosarcoma", RHABDOMYOSARCOMA),
        _article(3, "x", ["Colonic Neoplasms/complications", "Lung Neoplasms/secondary*"]),
    ]
    frame, why = label_records([_write(tmp_path / "minor.xml.gz", articles)], min_words=30)
    assert frame["id"].tolist() == ["pmid:3"] and frame["label"].tolist() == ["Lung_Cancer"]
    assert why["site in minor MeSH headings only"] == 2 and why["several sites"] == 0


def test_other_cancer_kinds_are_named_not_dropped(tmp_path):
    articles = [
        _article(
            1,
            "Therapy for metastatic osteosarcoma",
            ["Lung Neoplasms/therapy*", "Osteosarcoma/therapy*"],
        ),
        _article(2, "Bronchogenic carcinoma in leukemia", ["Lung Neoplasms*", "Leukemia"]),
        _article(3, "Anaplastic lymphoma kinase inhibitors in non-small cell lung cancer"),
        _article(4, "Synchronous lymphoma and colorectal cancer"),
        _article(5, "KRAS (Kirsten rat sarcoma) in colorectal cancer"),
    ]
    frame, _ = label_records([_write(tmp_path / "kinds.xml.gz", articles)], min_words=30)
    kinds = dict(zip(frame["id"], frame["other_kind"], strict=True))
    # a minor heading names no kind; neither do ALK and KRAS
    assert kinds == {
        "pmid:1": "sarcoma",
        "pmid:2": "",
        "pmid:3": "",
        "pmid:4": "lymphoma",
        "pmid:5": "",
    }


def _abstract(key, *words):
    """40 words of a vocabulary of its own (no near-duplicates), and `words`."""
    return " ".join([*words, *(f"{key}{i}" for i in range(40))])


def test_the_data_step_audits_the_embedded_corpus(tmp_path, monkeypatch):
    """The hairy-cell record leaves the corpus and provenance counts it; kept items whose text
    names no site, or whose record names another cancer kind, are flagged, not dropped."""
    path = _write(
        tmp_path / "audit.xml.gz",
        [
            _article(1, "x", ["Lung Neoplasms*"], abstract=_abstract("a", "lung")),
            _article(2, "x", ["Colonic Neoplasms*"], abstract=_abstract("b", "colon")),
            _article(3, "x", HAIRY_CELL, abstract=_abstract("c", "colon")),
            _article(4, "x", ["Colonic Neoplasms*"], abstract=_abstract("d", "bowel")),
            _article(
                5,
                "x",
                ["Lung Neoplasms/therapy*", "Osteosarcoma/therapy*"],
                abstract=_abstract("e", "lung"),
            ),
        ],
    )
    monkeypatch.setenv("LORALAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("loralab.data.pubmed.corpus_files", lambda names: [path])
    cfg = build_config({}, "test", {"data.pubmed_files": ["audit.xml.gz"], "split.folds": 1})
    corpus = eda_step(cfg, RunPaths(tmp_path / "run"))
    prov = corpus.provenance
    assert sorted(corpus.frame["id"]) == ["pmid:1", "pmid:2", "pmid:4", "pmid:5"]
    assert prov.details["rule_version"] == 2 and "major-topic" in prov.details["rule"]
    assert prov.details["excluded"]["site in minor MeSH headings only"] == 1
    audit = prov.audit
    assert audit["text names no site"]["ids"] == ["pmid:4"]
    assert audit["text names no site"]["labels"] == {"Colon_Cancer": 1}
    assert audit["about another cancer kind"]["ids"] == ["pmid:5"]
    assert corpus.flags.set_index("flag").loc["about another cancer kind", "detail"] == "sarcoma"


def test_unknown_corpus_file_names_the_choices():
    with pytest.raises(DataError, match="pubmed20n0014.xml.gz"):
        corpus_files(["nope.xml.gz"])


@pytest.mark.slow
def test_embedded_corpus_counts_and_cache():
    frame, info = load_pubmed(["pubmed21n1298.xml.gz", "pubmed20n0014.xml.gz"], 30)
    counts = frame["label"].value_counts()
    assert 200 <= counts["Colon_Cancer"] <= 280 and 170 <= counts["Lung_Cancer"] <= 260
    assert 20 <= counts["Thyroid_Cancer"] <= 60
    assert info["excluded"]["read"] == 50788 and info["rule_version"] == 2
    assert info["excluded"]["site in minor MeSH headings only"] == 64  # rule 1 labelled 58 of them
    again, _ = load_pubmed(["pubmed21n1298.xml.gz", "pubmed20n0014.xml.gz"], 30)
    assert again.equals(frame)
