import numpy as np
import pytest

from loralab.scoring import SharedPrefix, score_batch, score_full_forward, score_texts


@pytest.mark.parametrize("batch_size", [1, 3])
def test_fast_scores_equal_full_forward_scores(scoring_setup, make_texts, batch_size):
    _, _, model, builder = scoring_setup
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


def test_scoring_without_shared_prefix_gives_the_same_numbers(scoring_setup, make_texts):
    _, tok, model, builder = scoring_setup
    prompts = [builder.prompt_ids(t) for t in make_texts(3, seed=1)]
    conts = [v.ids for v in builder.verbalizers]
    plain = score_batch(model, prompts, conts, tok.pad_token_id)
    prefix = SharedPrefix.build(model, builder.before)
    rest = [p[len(builder.before) :] for p in prompts]
    np.testing.assert_allclose(
        score_batch(model, rest, conts, tok.pad_token_id, prefix), plain, atol=1e-4
    )


def test_latency_and_throughput_are_recorded(scoring_setup, make_texts):
    _, _, model, builder = scoring_setup
    s = score_texts(model, builder, make_texts(5), batch_size=1)
    summary = s.latency_summary()
    assert 0 < summary["latency_p50_ms"] <= summary["latency_p95_ms"]
    assert summary["prompt_tokens_per_s"] > 0 and s.prompt_tokens.min() > len(builder.before)
