from loralab.artifacts import read_json
from loralab.comparisons import planned_comparisons


def test_statistics_cover_the_planned_comparisons_with_holm(evaluated):
    _, run, _, table = evaluated
    tests = read_json(run.stat_tests)
    assert len(tests["comparisons"]) == len(table) == 4  # 2 ranks + selected vs 2 others
    assert (table["mcnemar_p_holm"] >= table["mcnemar_p"]).all()
    assert "b / c" in run.stats_markdown.read_text()


def test_planned_comparisons_pair_ranks_with_zero_shot_and_selected_with_baselines():
    methods = ["zero_shot", "few_shot", "tfidf", "lora_r8", "lora_r16"]
    assert planned_comparisons(methods, "lora_r16") == [
        ("lora_r8", "zero_shot"),
        ("lora_r16", "zero_shot"),
        ("lora_r16", "few_shot"),
        ("lora_r16", "tfidf"),
    ]
