from loralab.methods.prompting import few_shot_examples
from loralab.models import load_tokenizer
from loralab.prompts import PromptBuilder
from loralab.splits import read_split


def test_merged_adapters_score_what_the_unmerged_ones_scored(evaluated):
    _, _, ev, _ = evaluated
    lora = ev.results["kind"] == "lora"
    # float32 weights: folding B @ A into W changes scores by rounding only
    assert (ev.results.loc[lora, "merge_val_agreement"] == 1.0).all()
    assert (ev.results.loc[lora, "merge_val_max_score_change"] < 1e-4).all()
    assert ev.results.loc[~lora, "merge_val_agreement"].isna().all()


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
