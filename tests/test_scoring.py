import numpy as np
import pytest

from loralab.models import load_base
from loralab.prompts import PromptBuilder
from loralab.scoring import SharedPrefix, score_batch, score_full_forward, score_texts


@pytest.fixture(scope="module")
def setup(tiny_model_dir):
    from loralab.config import build_config

    cfg = build_config(
        {},
        "t",
        {
            "model.name_or_path": str(tiny_model_dir),
            "data.labels": ["A", "B"],
            "data.verbalizers": {"A": ["alpha", "first class"], "B": ["beta"]},
            "train.seq_len": 64,
            "train.dtype": "float32",
            "train.device": "cpu",
        },
    )
    base = load_base(cfg)
    return cfg, base.tokenizer, base.model.eval(), base.builder


@pytest.mark.parametrize("batch_size", [1, 3])
def test_fast_scores_equal_full_forward_scores(setup, make_texts, batch_size):
    _, _, model, builder = setup
    texts = make_texts(7)
    fast = score_texts(model, builder, texts, batch_size=batch_size)
    slow = np.array(
        [
            [score_full_forward(model, builder.prompt_ids(t), v.ids) for v in builder.verbalizers]
            for t in texts
        ]
    )
    np.testing.assert_allclose(fast.verbalizer_scores, slow, atol=1e-4)
    owner = [builder.label_index(v.label) for v in builder.verbalizers]
    assert fast.predictions == [builder.labels[owner[j]] for j in slow.argmax(axis=1)]


def test_scoring_without_shared_prefix_gives_the_same_numbers(setup, make_texts):
    _, tok, model, builder = setup
    prompts = [builder.prompt_ids(t) for t in make_texts(3, seed=1)]
    conts = [v.ids for v in builder.verbalizers]
    plain = score_batch(model, prompts, conts, tok.pad_token_id)
    prefix = SharedPrefix.build(model, builder.before)
    rest = [p[len(builder.before) :] for p in prompts]
    np.testing.assert_allclose(
        score_batch(model, rest, conts, tok.pad_token_id, prefix), plain, atol=1e-4
    )


def test_prompt_fits_seq_len_and_keeps_instruction_and_generation_prompt(setup):
    cfg, tok, _, builder = setup
    ids = builder.prompt_ids(" ".join(["word"] * 500))
    assert len(ids) + builder.max_answer == cfg.train.seq_len
    assert ids[: len(builder.before)] == builder.before
    assert ids[-len(builder.after) :] == builder.after
    assert tok.decode(builder.after).rstrip().endswith("assistant")
    assert "Reply with one label only." in tok.decode(ids)


def test_trained_answer_is_a_scored_verbalizer(setup):
    _, tok, _, builder = setup
    for label in builder.labels:
        answer = builder.answer_ids(label)
        first = next(v for v in builder.verbalizers if v.label == label)
        assert tuple(answer[: len(first.ids)]) == first.ids
        assert answer[len(first.ids) :] == [tok.eos_token_id]


def test_label_list_in_prompt_uses_the_scored_phrases(setup):
    _, tok, _, builder = setup
    assert "Labels: alpha, beta" in tok.decode(builder.before + builder.after)


def test_seq_len_too_small_for_the_prompt_is_refused(setup):
    cfg, tok, _, _ = setup
    with pytest.raises(ValueError, match="raise train.seq_len"):
        PromptBuilder(tok, cfg.prompt, cfg.data, 40)


def test_latency_and_throughput_are_recorded(setup, make_texts):
    _, _, model, builder = setup
    s = score_texts(model, builder, make_texts(5), batch_size=1)
    summary = s.latency_summary()
    assert 0 < summary["latency_p50_ms"] <= summary["latency_p95_ms"]
    assert summary["prompt_tokens_per_s"] > 0 and s.prompt_tokens.min() > len(builder.before)
