import re

import pandas as pd
import pytest

from loralab.artifacts import read_json
from loralab.comparisons import statistics_step
from loralab.corpus import corpus_step
from loralab.error_analysis import error_browser, static_view, wrong_items
from loralab.evaluation import evaluate_step
from loralab.layout import RunPaths
from loralab.methods.prompting import few_shot_examples
from loralab.models import load_tokenizer
from loralab.prompts import PromptBuilder
from loralab.splits import read_split, split_step
from loralab.training import train_rank


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_model_dir):
    """A full tiny study: data with a <script> text, two ranks, evaluation, statistics."""
    import random

    from loralab.config import build_config

    root = tmp_path_factory.mktemp("study")
    rng = random.Random(0)
    rows = [
        {
            "id": f"{lab}-{i}",
            "label": lab,
            "text": " ".join(rng.choice([f"w{j}" for j in range(500)]) for _ in range(30)),
        }
        for lab in ("A", "B")
        for i in range(25)
    ]
    rows[0]["text"] = "<script>alert('x')</script> " + rows[0]["text"]
    pd.DataFrame(rows).to_csv(root / "data.csv", index=False)
    cfg = build_config(
        {},
        "t",
        {
            "model.name_or_path": str(tiny_model_dir),
            "data.path": str(root / "data.csv"),
            "data.labels": ["A", "B"],
            "data.verbalizers": {"A": ["alpha"], "B": ["beta"]},
            "lora.ranks": [2, 4],
            "lora.target_modules": ["q_proj", "v_proj"],
            "train.seq_len": 64,
            "train.epochs": 1,
            "train.max_train_items": None,
            "train.dtype": "float32",
            "train.device": "cpu",
            "stats.bootstrap_resamples": 500,
            "split.train": 0.6,
            "split.val": 0.2,
            "split.test": 0.2,
        },
    )
    run = RunPaths(root / "run")
    corpus_step(cfg, run)
    split_step(cfg, run)
    for rank in (2, 4):
        train_rank(cfg, run, rank, log=lambda _: None)
    evaluation = evaluate_step(cfg, run, log=lambda _: None)
    return cfg, run, evaluation, statistics_step(cfg, run)


def test_every_method_is_scored_on_the_same_test_items(evaluated):
    cfg, run, ev, _ = evaluated
    test = read_split(run, "test")
    assert ev.results["method"].tolist() == ["zero_shot", "few_shot", "tfidf", "lora_r2", "lora_r4"]
    assert (ev.results["n_test"] == len(test)).all()
    assert ev.paired["id"].tolist() == test["id"].tolist()
    assert ev.results["selected"].sum() == 1
    assert ev.results.loc[ev.results["selected"], "method"].item() == f"lora_r{ev.selected_rank}"
    for method, frame in ev.confusion.items():
        assert frame.to_numpy().sum() == len(test), method
    for col in ("macro_f1", "accuracy", "f1_A", "f1_B"):
        assert (ev.results[f"{col}_low"] <= ev.results[col]).all()
        assert (ev.results[col] <= ev.results[f"{col}_high"]).all()


def test_merged_adapters_score_what_the_unmerged_ones_scored(evaluated):
    _, _, ev, _ = evaluated
    lora = ev.results["kind"] == "lora"
    # float32 weights: folding B @ A into W changes scores by rounding only
    assert (ev.results.loc[lora, "merge_val_agreement"] == 1.0).all()
    assert (ev.results.loc[lora, "merge_val_max_score_change"] < 1e-4).all()
    assert ev.results.loc[~lora, "merge_val_agreement"].isna().all()


def test_every_number_in_results_table_md_comes_from_results_csv(evaluated):
    _, run, _, _ = evaluated
    csv = pd.read_csv(run.results)
    md = run.results_markdown.read_text().splitlines()[2:]
    assert len(md) == len(csv)
    for line, (_, row) in zip(md, csv.iterrows(), strict=True):
        numbers = [float(x) for x in re.findall(r"-?\d+\.\d+", line)]
        expected = [
            row["macro_f1"],
            row["macro_f1_low"],
            row["macro_f1_high"],
            row["accuracy"],
            row["accuracy_low"],
            row["accuracy_high"],
            row["latency_p50_ms"],
            row["latency_p95_ms"],
            row["trainable_mb"],
            row["train_time_s"],
        ]
        assert numbers == pytest.approx(expected, abs=0.051), line


def test_statistics_cover_the_planned_comparisons_with_holm(evaluated):
    _, run, _, table = evaluated
    tests = read_json(run.stat_tests)
    assert len(tests["comparisons"]) == len(table) == 4  # 2 ranks + selected vs 2 others
    assert (table["mcnemar_p_holm"] >= table["mcnemar_p"]).all()
    assert "b / c" in run.stats_markdown.read_text()


def test_tfidf_sees_the_same_truncated_text_as_the_llm(evaluated):
    cfg, _, _, _ = evaluated
    tok = load_tokenizer(cfg.model)
    builder = PromptBuilder(tok, cfg.prompt, cfg.data, cfg.train.seq_len)
    long = " ".join(["word"] * 400)
    shown = builder.visible_text(long)
    assert len(tok(shown, add_special_tokens=False)["input_ids"]) <= builder.text_budget
    assert (
        builder.prompt_ids(long)[len(builder.before) : -len(builder.after)]
        == tok(shown, add_special_tokens=False)["input_ids"]
    )


def test_few_shot_examples_come_from_training_and_keep_the_test_truncation(evaluated):
    cfg, run, _, _ = evaluated
    train = read_split(run, "train")
    shots = few_shot_examples(train, ["A", "B"], 2, seed=0)
    assert [label for _, label in shots] == ["A", "B", "A", "B"]
    assert all(text in set(train["text"]) for text, _ in shots)
    tok = load_tokenizer(cfg.model)
    zero = PromptBuilder(tok, cfg.prompt, cfg.data, cfg.train.seq_len)
    few = PromptBuilder.few_shot(tok, cfg.prompt, cfg.data, cfg.train.seq_len, shots)
    assert few.text_budget == zero.text_budget and len(few.before) > len(zero.before)


def test_error_analysis_escapes_dataset_text_and_filters_in_the_widget(evaluated):
    _, run, ev, _ = evaluated
    names = read_json(run.evaluation)["methods"]
    test = read_split(run, "test")
    test.loc[0, "text"] = "<script>alert('x')</script> " + test.loc[0, "text"]
    errors = wrong_items(ev.paired, test, names)
    assert (errors["methods wrong"] > 0).all()
    html = static_view(errors, rows=len(errors)).to_html(escape=True)
    if test.loc[0, "id"] in set(errors["id"]):
        assert "&lt;script&gt;" in html and "<script>" not in html
    browser = error_browser(errors)
    choose, _ = browser.children[0].children
    out = browser.children[1]
    choose.value = names["zero_shot"]  # drive the widget's model from Python
    wrong_zero = (ev.paired["pred_zero_shot"] != ev.paired["gold"]).sum()
    assert f"<p>{wrong_zero} items</p>" in out.value
    assert "<script>" not in out.value
