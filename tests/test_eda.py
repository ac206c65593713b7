import pandas as pd

from loralab.data.eda import audit_table, eda_step, flagged_examples
from loralab.layout import RunPaths


def _rows():
    """Texts of two labels that name their label's term, but for one of label A."""
    rows = [
        {
            "id": f"{label}-{i}",
            "label": label,
            "text": f"{word} " + " ".join(f"{label}{i}w{j}" for j in range(30)),
        }
        for label, word in (("A", "alpha"), ("B", "beta"))
        for i in range(6)
    ]
    rows[3]["text"] = rows[3]["text"].replace("alpha", "gamma")
    return pd.DataFrame(rows)


def test_a_text_naming_no_label_term_is_flagged_not_dropped(tmp_path, write_table, file_config):
    path = write_table(_rows())
    terms = {"A": ["alpha"], "B": ["beta"]}
    for masked in (False, True):
        cfg = file_config(path, data__label_terms=terms, data__mask_label_terms=masked)
        corpus = eda_step(cfg, RunPaths(tmp_path / f"run-{masked}"))
        audit = corpus.provenance.audit
        assert len(corpus.frame) == 12 and list(audit) == ["text names no site"]
        assert audit["text names no site"]["ids"] == ["A-3"]  # read before masking
        assert audit["text names no site"]["labels"] == {"A": 1}
        assert audit_table(audit).loc["text names no site"].to_dict() == {"items": 1, "A": 1}
        assert flagged_examples(corpus.flags, corpus.frame)["text"][0].startswith("gamma A3w0")


def test_no_label_terms_no_audit(tmp_path, write_table, file_config):
    cfg = file_config(write_table(_rows()), data__label_terms={})
    corpus = eda_step(cfg, RunPaths(tmp_path / "run"))
    assert corpus.provenance.audit == {} and corpus.flags.empty
    assert audit_table({}).empty
