import random
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from loralab.config import build_config
from loralab.model import scoring
from loralab.model.adapters import wrap_with_lora
from loralab.model.loading import load_base
from loralab.model.scoring import (
    SharedPrefix,
    WindowCache,
    common_prefix_length,
    score_batch,
    score_full_forward,
    score_texts,
)

# float32: summation order changes a sum of a few log-probabilities by far less than this
ATOL = 1e-4
# Verbalizers of 4 and 5 tokens, two sharing their first tokens ('col', 'on'), and a one-token
# one: continuations that a mask mixing them up, or positions off by one, would score wrongly.
VERBALIZERS = {
    "A": ["colon cancer stage", "alpha"],
    "B": ["colon polyp finding"],
    "C": ["lung nodule report"],
}
# The bugs a blurry model hides, each as one edit of scoring.py's source: (found, replacement).
MUTATIONS = {
    "answer positions off by one": (
        "positions[:, q] = last + 1 + k",
        "positions[:, q] = last + k",
    ),
    "positions ignore left padding": (
        "offset + (mask.cumsum(-1) - 1).clamp(min=0)",
        "offset + torch.arange(width)",
    ),
    "answer tokens see other continuations": (
        "if j2 == j and k2 <= k:",
        "if k2 <= k:",
    ),
    "answer tokens ignore their own earlier tokens": (
        "if j2 == j and k2 <= k:",
        "if j2 == j and k2 == k:",
    ),
}


@pytest.fixture(scope="module")
def sharp(tiny_model_dir):
    """(model, builder, texts, full-forward scores) where scorer bugs show.

    The tiny Llama's weight matrices are drawn again from N(0, 0.5): with the default 0.02 its
    attention is nearly uniform and the bugs of MUTATIONS move its scores by thousandths at most;
    here by nats, as on a real model. Texts of 1 to 12 words, one cut, one starting with a digit:
    prompts of many lengths, so batches are left-padded, and the shared prefix ends before the
    template's last space."""
    cfg = build_config(
        {},
        "t",
        {
            "model.name_or_path": str(tiny_model_dir),
            "data.labels": list(VERBALIZERS),
            "data.verbalizers": VERBALIZERS,
            "train.seq_len": 128,
            "train.dtype": "float32",
            "train.device": "cpu",
        },
    )
    base = load_base(cfg)
    torch.manual_seed(0)
    with torch.no_grad():
        for weight in base.model.parameters():
            if weight.dim() == 2:  # embeddings and projections; norms stay at one
                weight.normal_(0.0, 0.5)
    model, builder = base.model.eval(), base.builder
    rng = random.Random(0)
    texts = [
        " ".join(f"w{rng.randrange(2000)}" for _ in range(rng.randint(1, 12))) for _ in "12345678"
    ]
    texts += [" ".join(["w42"] * 40), "12 patients, w7 w9 w11"]
    reference = np.array(
        [
            [score_full_forward(model, builder.prompt_ids(t), v.ids) for v in builder.verbalizers]
            for t in texts
        ]
    )
    return model, builder, texts, reference


@pytest.fixture(scope="module")
def answer_reference(sharp):
    """Items x labels: each label's answer (first verbalizer + end of turn) scored by a full
    forward pass over prompt + answer."""
    model, builder, texts, _ = sharp
    return np.array(
        [
            [
                score_full_forward(model, builder.prompt_ids(t), tuple(builder.answer_ids(label)))
                for label in builder.labels
            ]
            for t in texts
        ]
    )


def mutant(found: str, replacement: str, monkeypatch) -> types.ModuleType:
    """scoring.py with one edit, loaded as a module of its own beside the real one."""
    path = Path(scoring.__file__)
    source = path.read_text()
    assert source.count(found) == 1, f"scoring.py no longer holds {found!r}: update MUTATIONS"
    module = types.ModuleType("loralab._scoring_mutant")
    module.__package__ = "loralab"
    monkeypatch.setitem(sys.modules, module.__name__, module)  # dataclasses look it up
    exec(compile(source.replace(found, replacement), str(path), "exec"), module.__dict__)
    return module


def test_the_sharp_setup_pads_and_shares_continuation_tokens(sharp):
    _, builder, texts, _ = sharp
    lengths = sorted(len(builder.prompt_ids(t)) for t in texts)
    assert len(set(lengths[:3])) == 3  # the first batch of three is padded
    long = [v.ids for v in builder.verbalizers if len(v.ids) >= 3]
    assert len(long) >= 3 and long[0][0] == long[1][0]


@pytest.mark.parametrize("batch_size", [1, 3])
def test_fast_scores_equal_full_forward_scores(sharp, batch_size):
    model, builder, texts, reference = sharp
    fast = score_texts(model, builder, texts, batch_size=batch_size)
    np.testing.assert_allclose(fast.verbalizer_scores, reference, atol=ATOL, rtol=0)
    owner = [builder.label_index(v.label) for v in builder.verbalizers]
    assert fast.predictions == [builder.labels[owner[j]] for j in reference.argmax(axis=1)]


@pytest.mark.parametrize("batch_size", [1, 3])
def test_answer_scores_equal_full_forward_scores(sharp, answer_reference, batch_size):
    """Answers scored in the label-scoring pass (batches of 3: left-padded prompts; every call:
    a shared prefix) are the log-probabilities of a full forward pass over prompt + answer."""
    model, builder, texts, _ = sharp
    assert all(len(builder.answer_ids(label)) > 1 for label in builder.labels)
    scores = score_texts(model, builder, texts, batch_size=batch_size, answers=True)
    assert scores.answer_scores.shape == (len(texts), len(builder.labels))
    np.testing.assert_allclose(scores.answer_scores, answer_reference, atol=ATOL, rtol=0)


def test_scoring_answers_changes_no_verbalizer_score_or_prediction(sharp):
    model, builder, texts, _ = sharp
    plain = score_texts(model, builder, texts, batch_size=3)
    with_answers = score_texts(model, builder, texts, batch_size=3, answers=True)
    assert plain.answer_scores is None  # off by default: evaluation does not pay for them
    assert with_answers.verbalizer_scores.shape == plain.verbalizer_scores.shape
    np.testing.assert_allclose(
        with_answers.verbalizer_scores, plain.verbalizer_scores, atol=ATOL, rtol=0
    )
    np.testing.assert_allclose(with_answers.label_scores, plain.label_scores, atol=ATOL, rtol=0)
    assert with_answers.predictions == plain.predictions


@pytest.mark.parametrize("bug", MUTATIONS)
def test_each_known_scorer_bug_fails_the_comparison(sharp, answer_reference, bug, monkeypatch):
    model, builder, texts, reference = sharp
    broken = mutant(*MUTATIONS[bug], monkeypatch)
    scores = broken.score_texts(model, builder, texts, batch_size=3, answers=True)
    assert np.abs(scores.verbalizer_scores - reference).max() > 100 * ATOL
    assert np.abs(scores.answer_scores - answer_reference).max() > 100 * ATOL


def test_scoring_without_shared_prefix_gives_the_same_numbers(sharp):
    model, builder, texts, _ = sharp
    prompts = [builder.prompt_ids(t) for t in texts[:4]]
    conts = [v.ids for v in builder.verbalizers]
    pad = builder.tokenizer.pad_token_id
    plain = score_batch(model, prompts, conts, pad)
    shared = common_prefix_length(prompts)
    prefix = SharedPrefix.build(model, prompts[0][:shared])
    rest = [p[shared:] for p in prompts]
    np.testing.assert_allclose(score_batch(model, rest, conts, pad, prefix), plain, atol=ATOL)


def test_shared_prefix_leaves_every_prompt_a_token():
    assert common_prefix_length([[1, 2, 3], [1, 2, 4, 5]]) == 2
    assert common_prefix_length([[1, 2], [1, 2, 3]]) == 1
    assert common_prefix_length([[7, 8, 9]]) == 2
    assert common_prefix_length([[1], [2]]) == 0
    assert common_prefix_length([]) == 0


def test_latency_and_throughput_are_recorded(scoring_setup, make_texts):
    _, _, model, builder = scoring_setup
    s = score_texts(model, builder, make_texts(5), batch_size=1)
    summary = s.latency_summary()
    assert 0 < summary["latency_p50_ms"] <= summary["latency_p95_ms"]
    assert summary["prompt_tokens_per_s"] > 0 and s.prompt_tokens.min() > len(builder.before)


def test_a_window_cache_scores_each_window_once_and_as_a_fresh_pass_would(
    scoring_setup, make_texts
):
    """Two overlapping requests: the second scores only its new windows, in one pass, and every
    window's scores equal a fresh pass over the same request; one item asked twice in a request
    is scored once. The gathered passes keep their tokens per second."""
    _, _, model, builder = scoring_setup
    texts = make_texts(7)
    asked: list[list[str]] = []
    passes = []

    def score(new: list[str]):
        asked.append(new)
        passes.append(score_texts(model, builder, new, batch_size=3))
        return passes[-1]

    cache = WindowCache()
    first = cache.scores(texts[:4] + texts[:1], score)
    second = cache.scores(texts[2:], score)
    assert asked == [texts[:4], texts[4:]]
    fresh = score_texts(model, builder, texts[2:], batch_size=3)
    assert second.predictions == fresh.predictions
    np.testing.assert_allclose(second.label_scores, fresh.label_scores, atol=ATOL)
    assert np.array_equal(first.label_scores[4], first.label_scores[0])
    again = cache.scores(texts[:4], lambda new: pytest.fail("nothing is new"))
    assert again.seconds == pytest.approx(passes[0].seconds)  # the first pass, whole
    assert again.tokens_per_second == pytest.approx(passes[0].tokens_per_second)


def test_lora_scoring_on_the_bf16_path_skips_the_input_upcast_and_changes_no_score(
    tiny_config, make_texts
):
    """Scoring under a precision turns off PEFT's float32 cast of each LoRA input (autocast casts
    it straight back down): every score equals that of plain autocast with the cast on."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    cfg = tiny_config(**{"lora.dropout": 0.0, "train.dtype": "bfloat16"})
    base = load_base(cfg)
    model = wrap_with_lora(base.model, cfg, 4)
    torch.nn.init.normal_(next(p for n, p in model.named_parameters() if "lora_B" in n))
    layer = next(m for m in model.modules() if isinstance(m, BaseTunerLayer))
    casts: list[bool] = []
    hook = layer.register_forward_pre_hook(lambda m, _: casts.append(m.cast_input_dtype_enabled))
    texts = make_texts(5)
    lean = score_texts(model, base.builder, texts, base.precision, batch_size=2)
    calls = len(casts)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        plain = score_texts(model, base.builder, texts, batch_size=2)
    hook.remove()
    assert calls and not any(casts[:calls]) and all(casts[calls:])
    assert np.array_equal(lean.verbalizer_scores, plain.verbalizer_scores)
