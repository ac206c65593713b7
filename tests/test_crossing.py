"""Who leads at each training size: every size classified, Holm over the sizes, the lead's
changes of hands in either direction."""

import pandas as pd
import pytest

from loralab.stats.crossing import first_lora_ahead, lead_changes, size_verdicts

SIZES = (16, 64, 256)


def _results() -> pd.DataFrame:
    rows = []
    for n in SIZES:
        rows.append((f"tfidf_n{n}", "TF-IDF", "classic", n, str(n), False, 0.7, 0.6, 0.8))
        rows.append((f"lora_n{n}", "LoRA", "lora", n, str(n), True, 0.7, 0.6, 0.8))
    columns = ["method", "name", "kind", "train_items", "train_size", "selected", "macro_f1"]
    return pd.DataFrame(rows, columns=[*columns, "macro_f1_low", "macro_f1_high"])


def _tests(*deltas_and_ps) -> pd.DataFrame:
    rows = [
        (f"lora_n{n}", f"tfidf_n{n}", d, d - 0.05, d + 0.05, p)
        for n, (d, p) in zip(SIZES, deltas_and_ps, strict=True)
    ]
    columns = ["method", "baseline", "delta_macro_f1", "delta_low", "delta_high", "bootstrap_p"]
    return pd.DataFrame(rows, columns=columns)


def _statuses(tests) -> list[str]:
    return size_verdicts(_results(), tests)["status"].tolist()


def test_lora_ahead_at_every_size_never_changes_hands():
    verdicts = size_verdicts(_results(), _tests((0.1, 0.001), (0.2, 0.001), (0.3, 0.001)))
    assert verdicts["status"].tolist() == ["LoRA ahead"] * 3
    assert lead_changes(verdicts) == [] and first_lora_ahead(verdicts)["train_size"] == "16"


def test_tfidf_ahead_at_every_size_has_no_lora_crossing():
    verdicts = size_verdicts(_results(), _tests((-0.1, 0.001), (-0.2, 0.001), (-0.3, 0.001)))
    assert verdicts["status"].tolist() == ["TF-IDF ahead"] * 3
    assert lead_changes(verdicts) == [] and first_lora_ahead(verdicts) is None


def test_a_reversal_is_found_across_a_size_that_is_not_separated():
    verdicts = size_verdicts(_results(), _tests((-0.1, 0.001), (0.0, 0.9), (0.2, 0.001)))
    assert verdicts["status"].tolist() == ["TF-IDF ahead", "not separated", "LoRA ahead"]
    ((before, after),) = lead_changes(verdicts)
    assert (before["train_size"], after["train_size"]) == ("16", "256")
    assert first_lora_ahead(verdicts)["train_size"] == "256"


def test_holm_over_the_sizes_turns_a_borderline_size_to_not_separated():
    tests = _tests((0.1, 0.02), (0.1, 0.02), (0.1, 0.02))  # each below 0.05 on its own
    verdicts = size_verdicts(_results(), tests)
    assert verdicts["p_holm"].tolist() == pytest.approx([0.06, 0.06, 0.06])
    assert verdicts["status"].tolist() == ["not separated"] * 3
    # 0.03 alone is below 0.05; the second smallest of three, Holm makes it 0.03 x 2
    assert _statuses(_tests((0.1, 0.03), (0.1, 0.001), (0.1, 0.5))) == [
        "not separated",
        "LoRA ahead",
        "not separated",
    ]


def test_an_untested_size_or_one_without_a_p_value_is_said_to_be_untested():
    tests = _tests((0.1, 0.001), (0.2, float("nan")), (0.3, 0.001)).drop(index=2)
    assert _statuses(tests) == ["LoRA ahead", "not tested", "not tested"]


def test_without_tests_the_intervals_decide_unadjusted():
    results = _results()
    results.loc[results["method"] == "lora_n256", ["macro_f1", "macro_f1_low"]] = [0.95, 0.85]
    assert _statuses_of(results) == ["not separated", "not separated", "LoRA ahead"]


def _statuses_of(results) -> list[str]:
    return size_verdicts(results, None)["status"].tolist()


def test_the_sentence_gives_the_steps_each_size_took_and_says_when_they_differ():
    from loralab.report.figures import crossing_sentence

    tests = _tests((0.1, 0.001), (0.2, 0.001), (0.3, 0.001))
    unequal = _results().assign(steps_to_best=[None, 4, None, 16, None, 64])
    text = crossing_sentence(unequal, tests)
    assert "4 at 16 items, 16 at 64 items, 64 at 256 items" in text
    assert "differ in steps as well as items" in text
    equal = _results().assign(steps_to_best=[None, 32, None, 32, None, 32])
    assert "differ in steps" not in crossing_sentence(equal, tests)
    assert "same number of epochs" in crossing_sentence(_results(), tests)  # no count: said so
