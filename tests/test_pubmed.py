import gzip

import pytest

from loralab.errors import DataError
from loralab.pubmed import corpus_files, label_records, load_pubmed

ABSTRACT = " ".join(f"word{i}" for i in range(40))


def _article(pmid, title, descriptors=(), lang="eng", abstract=ABSTRACT):
    mesh = "".join(
        f"<MeshHeading><DescriptorName>{d}</DescriptorName></MeshHeading>" for d in descriptors
    )
    mesh = f"<MeshHeadingList>{mesh}</MeshHeadingList>" if descriptors else ""
    return (
        f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article>"
        f"<Journal><JournalIssue><PubDate><Year>1999</Year></PubDate></JournalIssue></Journal>"
        f"<ArticleTitle>{title}</ArticleTitle><Abstract>"
        f"<AbstractText Label='A'>{abstract[:60]}</AbstractText>"
        f"<AbstractText Label='B'><i>{abstract[60:]}</i></AbstractText></Abstract>"
        f"<Language>{lang}</Language></Article>{mesh}</MedlineCitation></PubmedArticle>"
    )


def test_labelling_rule_on_a_small_file(tmp_path):
    xml = (
        "<PubmedArticleSet>"
        + "".join(
            [
                _article(1, "Some title", ["Humans", "Lung Neoplasms"]),
                _article(
                    2, "Lung cancer in mice", ["Colorectal Neoplasms"]
                ),  # MeSH wins over title
                _article(3, "Surgery for rectal cancer"),  # title fallback
                _article(4, "Thyroid carcinoma", ["Thyroid Neoplasms"]),
                _article(5, "x", ["Lung Neoplasms", "Colonic Neoplasms"]),  # two sites: dropped
                _article(6, "x", ["Lung Neoplasms"], lang="fre"),
                _article(7, "x", ["Lung Neoplasms"], abstract="too short"),
                _article(8, "Asthma", ["Asthma"]),
            ]
        )
        + "</PubmedArticleSet>"
    )
    path = tmp_path / "mini.xml.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(xml)
    frame, why = label_records([path], min_words=30)
    assert dict(zip(frame["id"], frame["label"], strict=True)) == {
        "pmid:1": "Lung_Cancer",
        "pmid:2": "Colon_Cancer",
        "pmid:3": "Colon_Cancer",
        "pmid:4": "Thyroid_Cancer",
    }
    assert why == {
        "read": 8,
        "not English": 1,
        "abstract too short": 1,
        "no cancer site": 1,
        "several sites": 1,
    }
    assert frame["text"].iloc[0] == ABSTRACT  # inline markup flattened, title withheld
    assert frame.set_index("id").loc["pmid:3", "labelled_from"] == "title"


def test_unknown_corpus_file_names_the_choices():
    with pytest.raises(DataError, match="pubmed20n0014.xml.gz"):
        corpus_files(["nope.xml.gz"])


@pytest.mark.slow
def test_embedded_corpus_counts_and_cache():
    frame, info = load_pubmed(["pubmed21n1298.xml.gz", "pubmed20n0014.xml.gz"], 30)
    counts = frame["label"].value_counts()
    assert 200 <= counts["Colon_Cancer"] <= 280 and 200 <= counts["Lung_Cancer"] <= 260
    assert 20 <= counts["Thyroid_Cancer"] <= 60
    assert info["excluded"]["read"] == 50788
    again, _ = load_pubmed(["pubmed21n1298.xml.gz", "pubmed20n0014.xml.gz"], 30)
    assert again.equals(frame)
