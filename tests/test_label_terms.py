import pytest

from loralab.config import build_config
from loralab.data.label_terms import MASK, holds_a_term, mask_terms, term_counts, term_patterns
from loralab.data.preprocess import preprocess
from loralab.data.sources import LoadedData


def data_cfg(**sets):
    return build_config({}, "t", {f"data.{k}": v for k, v in sets.items()}).data


def test_the_default_terms_name_the_embedded_corpus_sites():
    patterns = term_patterns(data_cfg())
    text = "Non-small cell lung cancer (NSCLC) and colorectal cancer (CRC) in the rectum."
    assert term_counts(text, patterns) == {"Colon_Cancer": 3, "Lung_Cancer": 3}
    assert not holds_a_term("A study of thyroid nodules.", patterns)


def test_masking_leaves_no_term_behind():
    patterns = term_patterns(data_cfg())
    masked = mask_terms("Pulmonary nodules and colonic polyps; lungs clear.", patterns)
    assert masked.count(MASK) == 3 and not holds_a_term(masked, patterns)


def test_labels_without_terms_have_no_pattern():
    assert term_patterns(data_cfg(labels=["A", "B"])) == {}


def test_a_term_that_is_no_regular_expression_is_refused():
    with pytest.raises(Exception, match=r"data.label_terms.*not a regular expression"):
        data_cfg(label_terms={"Lung_Cancer": ["lung("]})


@pytest.mark.parametrize("masked", [False, True])
def test_preprocessing_counts_items_with_terms_and_masks_them_on_request(masked, make_rows):
    frame = make_rows(labels=("Lung_Cancer", "Colon_Cancer"), per_class=5)
    frame.loc[0, "text"] += " lung cancer"
    frame.loc[6, "text"] += " colorectal"
    pre = preprocess(LoadedData(frame, "test.csv", False, {}), data_cfg(mask_label_terms=masked))
    assert pre.held_terms == 2
    steps = pre.step_table().set_index("step")
    step = steps.loc["mask label terms" if masked else "count label terms"]
    assert "2 of 10 texts" in step["detail"]
    texts = " ".join(pre.frame["text"])
    assert ("lung" in texts) is not masked and (MASK in texts) is masked
