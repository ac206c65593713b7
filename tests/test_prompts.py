import pytest

from loralab.prompts import PromptBuilder


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
