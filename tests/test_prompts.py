import pytest

from loralab.config import ModelConfig, build_config
from loralab.model.loading import load_tokenizer
from loralab.model.prompts import PromptBuilder


def test_prompt_fits_seq_len_and_keeps_instruction_and_generation_prompt(scoring_setup):
    cfg, tok, _, builder = scoring_setup
    ids = builder.prompt_ids(" ".join(["word"] * 500))
    assert len(ids) + builder.max_answer == cfg.train.seq_len
    assert ids[: len(builder.before)] == builder.before
    assert ids[-len(builder.after) :] == builder.after
    assert tok.decode(builder.after).rstrip().endswith("assistant")
    assert "Reply with one label only." in tok.decode(ids)


def test_trained_answer_is_a_scored_verbalizer(scoring_setup):
    _, tok, _, builder = scoring_setup
    for label in builder.labels:
        answer = builder.answer_ids(label)
        first = next(v for v in builder.verbalizers if v.label == label)
        assert tuple(answer[: len(first.ids)]) == first.ids
        assert answer[len(first.ids) :] == [tok.eos_token_id]


def test_label_list_in_prompt_uses_the_scored_phrases(scoring_setup):
    _, tok, _, builder = scoring_setup
    assert "Labels: alpha, beta" in tok.decode(builder.before + builder.after)


def test_seq_len_too_small_for_the_prompt_is_refused(scoring_setup):
    cfg, tok, _, _ = scoring_setup
    with pytest.raises(ValueError, match="raise train.seq_len"):
        PromptBuilder(tok, cfg.prompt, cfg.data, 40)


@pytest.fixture(scope="module")
def smol():
    """The embedded SmolLM2 tokenizer and a zero-shot builder with the default prompt."""
    cfg = build_config({}, "t", {"train.seq_len": 128})
    tok = load_tokenizer(ModelConfig())
    return tok, PromptBuilder(tok, cfg.prompt, cfg.data, cfg.train.seq_len)


def one_piece(builder: PromptBuilder, text: str) -> list[int]:
    """The tokenizer's own encoding of the whole prompt string around `text`."""
    whole = builder.before_str + text + builder.after_str
    return builder.tokenizer(whole, add_special_tokens=False)["input_ids"]


def holds(ids: list[int], part: list[int]) -> bool:
    return any(ids[i : i + len(part)] == part for i in range(len(ids) - len(part) + 1))


def test_text_is_tokenized_as_in_context_not_apart_from_the_template(smol):
    tok, builder = smol
    text = "Lung cancer in never-smokers: a cohort study."
    ids = builder.prompt_ids(text)
    assert ids == one_piece(builder, text)
    assert holds(ids, tok("Text: Lung", add_special_tokens=False)["input_ids"])  # ' Lung'
    apart = (
        tok("Text: ", add_special_tokens=False)["input_ids"][-1:]
        + tok("Lung", add_special_tokens=False)["input_ids"]
    )
    assert not holds(ids, apart)  # ' ', 'L', 'ung'
    assert builder.visible_text(text) == text


def test_long_text_is_cut_to_seq_len_and_visible_text_is_what_the_prompt_shows(smol):
    tok, builder = smol
    text = "Lung cancer in never-smokers: a cohort study. " * 40
    ids = builder.prompt_ids(text)
    assert len(ids) + builder.max_answer == builder.seq_len
    shown = builder.visible_text(text)
    assert text.startswith(shown) and len(shown) < len(text)
    assert ids == one_piece(builder, shown)
    # its text tokens, the first holding the template's last space: ' Lung', ' cancer', ...
    assert tok.decode(ids[len(builder.before) : -len(builder.after)]) == " " + shown


@pytest.mark.parametrize(
    "start", ["12 patients had T2 nodules. ", "(a) Lung nodules; ", '"Lung" cancer ', "肺癌", "😀 "]
)
@pytest.mark.parametrize("copies", [1, 200])
def test_texts_starting_with_digits_punctuation_or_wide_characters(smol, start, copies):
    _, builder = smol
    text = (start * copies).strip()  # as preprocessing leaves every text
    ids, shown = builder.prompt_ids(text), builder.visible_text(text)
    assert ids == one_piece(builder, shown) and text.startswith(shown)
    assert len(ids) + builder.max_answer <= builder.seq_len
    assert (
        ids[: len(builder.before)] == builder.before and ids[-len(builder.after) :] == builder.after
    )
    if copies == 1:
        assert shown == text


def test_few_shot_prompt_shows_what_the_zero_shot_prompt_shows(smol):
    tok, zero = smol
    cfg = build_config({}, "t", {})
    shots = [("Colon polyps and w1 w2.", "Colon_Cancer"), ("Lung nodules w3.", "Lung_Cancer")]
    few = PromptBuilder.few_shot(tok, cfg.prompt, cfg.data, zero.seq_len, shots)
    text = "Lung cancer in never-smokers: a cohort study. " * 40
    assert few.visible_text(text) == zero.visible_text(text)
    assert len(few.prompt_ids(text)) + few.max_answer == few.seq_len


class NoOffsets:
    """The tokenizer as a Python (slow) one: it leaves character offsets out."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)

    def __call__(self, text, return_offsets_mapping=False, **kwargs):
        return self.tokenizer(text, **kwargs)


def test_without_offsets_the_halves_are_encoded_apart(smol):
    tok, _ = smol
    cfg = build_config({}, "t", {"train.seq_len": 128})
    builder = PromptBuilder(NoOffsets(tok), cfg.prompt, cfg.data, cfg.train.seq_len)
    text = "Lung cancer in never-smokers: a cohort study. " * 40
    ids = tok(text, add_special_tokens=False)["input_ids"][: builder.text_budget]
    assert builder.prompt_ids(text) == builder.before + ids + builder.after
    assert len(builder.prompt_ids(text)) + builder.max_answer == builder.seq_len
    assert builder.visible_text(text) == tok.decode(ids)
