"""Long texts: windows that cover a text, their aggregate, training draws, and the synthetic
long-document variant on which reading every window finds what the first window cannot."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax

from loralab.data.long_documents import long_documents
from loralab.evaluate.methods import Study
from loralab.evaluate.methods.prompting import CalibratedZeroShot
from loralab.evaluate.methods.rules import LabelTermRule
from loralab.model.loading import load_base, load_tokenizer
from loralab.model.scoring import score_chunks, score_texts
from loralab.model.windows import DocumentView, aggregate, window_summary
from loralab.train.batching import TrainingWindows


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from loralab.config import ModelConfig

    return load_tokenizer(ModelConfig(name_or_path=str(tiny_model_dir)))


def view_of(tokenizer, tiny_config, **sets) -> DocumentView:
    return DocumentView.for_tokenizer(tokenizer, tiny_config(**sets))


def test_windows_cover_the_whole_text_overlap_and_each_fits_the_prompt(
    tokenizer, tiny_config, long_text
):
    view = view_of(
        tokenizer,
        tiny_config,
        data__long_text="chunks",
        data__chunk_overlap=6,
        evaluation__max_chunks=100,
    )
    text = long_text(60)
    windows = view.windows(text)
    chunks = windows.chunks
    assert len(chunks) == windows.needed > 5
    assert text.startswith(chunks[0]) and text.endswith(chunks[-1])
    start = 0
    for before, after in zip(chunks, chunks[1:], strict=False):
        begin = text.index(after, start + 1)
        assert start < begin < start + len(before)  # each window overlaps the one before
        start = begin
    assert start + len(chunks[-1]) == len(text)  # together they cover the whole text
    builder = view.builder
    for chunk in chunks:  # each window's prompt shows it whole or nearly (one token trimmed)
        assert len(builder.prompt_ids(chunk)) + builder.max_answer <= builder.seq_len
        assert len(builder.visible_text(chunk)) >= len(chunk) - 12


def test_max_chunks_keeps_the_first_the_last_and_evenly_spaced_windows(
    tokenizer, tiny_config, long_text
):
    text = long_text(90, seed=1)
    every = view_of(tokenizer, tiny_config, data__long_text="chunks", evaluation__max_chunks=99)
    kept = view_of(tokenizer, tiny_config, data__long_text="chunks", evaluation__max_chunks=4)
    all_windows, four = every.chunks(text), kept.chunks(text)
    assert len(four) == 4 and kept.windows(text).needed == len(all_windows) > 8
    assert four[0] == all_windows[0] and four[-1] == all_windows[-1]
    picked = [all_windows.index(c) for c in four]
    gaps = np.diff(picked)
    assert gaps.max() - gaps.min() <= 1


def test_truncate_reads_the_first_window_as_the_prompt_shows_it(tokenizer, tiny_config, long_text):
    view = view_of(tokenizer, tiny_config)
    text = long_text(60)
    assert view.chunks(text) == (text,)  # the prompt cuts it, as it always did
    assert view.visible(text) == view.builder.visible_text(text)
    assert view.windows(text).needed > 1
    summary = window_summary(view, [text, "short text"])
    assert summary.texts_longer_than_one_window == 1 and summary.mean_windows_read == 1


def test_aggregates_mean_logsumexp_and_vote():
    # one window sure of the first label, three mildly for the second; a fifth text alone
    probs = np.array([[0.999, 0.001], [0.2, 0.8], [0.2, 0.8], [0.2, 0.8], [0.5, 0.5]])
    scores, owner = np.log(probs), np.array([0, 0, 0, 0, 1])
    mean = aggregate(scores, owner, 2, "mean")
    assert np.allclose(mean[0], scores[:4].mean(axis=0)) and np.allclose(mean[1], scores[4])
    assert mean[0].argmax() == 0  # the sure window's 0.001 vetoes the second label
    lse = aggregate(scores, owner, 2, "logsumexp")
    assert np.allclose(np.exp(lse[0]), probs[:4].mean(axis=0))
    assert lse[0].argmax() == 1  # its say is bounded by its share of the windows
    vote = aggregate(scores, owner, 2, "vote")
    assert np.allclose(vote[0], [0.25, 0.75] + probs[:4].mean(axis=0) / 5)
    tied = aggregate(np.log(np.array([[0.9, 0.1], [0.45, 0.55]])), np.array([0, 0]), 1, "vote")
    assert tied[0].argmax() == 0  # one vote each: the larger mean probability decides
    with pytest.raises(ValueError, match="chunk aggregate"):
        aggregate(scores, owner, 2, "max")


def test_document_scores_are_the_aggregate_of_their_windows(scoring_setup, long_text):
    cfg, _, model, builder = scoring_setup
    chunked_cfg = cfg.model_copy(
        update={"data": cfg.data.model_copy(update={"long_text": "chunks"})}
    )
    view = DocumentView(builder, chunked_cfg)
    texts = [long_text(30, seed=s) for s in range(3)] + ["a short one"]
    chunked = score_chunks(model, builder, view, texts, batch_size=3)
    windows, owner = view.expand(texts)
    direct = score_texts(model, builder, windows, batch_size=1)
    assert np.allclose(chunked.windows.label_scores, direct.label_scores, atol=1e-4)
    for how in ("mean", "vote", "logsumexp"):
        docs = chunked.documents(builder.labels, how)
        assert np.allclose(
            docs.label_scores, aggregate(direct.label_scores, owner, 4, how), atol=1e-4
        )
        assert docs.chunk_counts.tolist() == np.bincount(owner).tolist()
        assert docs.prompt_tokens.sum() == direct.prompt_tokens.sum()


def test_training_draws_at_most_chunks_per_item_windows_of_every_text(tiny_config, long_text):
    cfg = tiny_config(data__long_text="chunks", evaluation__max_chunks=5)
    base = load_base(cfg)
    frame = pd.DataFrame(
        {
            "text": [long_text(150, seed=s) for s in range(6)] + ["short"],
            "label": ["A", "B"] * 3 + ["A"],
        }
    )
    windows = TrainingWindows.build(base, frame)
    rng = np.random.default_rng(0)
    drawn = [windows.draw(2, rng) for _ in range(3)]
    for enc in drawn:
        assert len(enc.ids) == 6 * 2 + 1
        assert enc.labels.tolist() == np.repeat(frame["label"].to_numpy(), [2] * 6 + [1]).tolist()
    assert drawn[0].ids != drawn[1].ids  # another draw each epoch
    assert windows.draw(5, rng) is windows.encoded
    truncated = TrainingWindows.build(load_base(tiny_config()), frame)
    state = np.random.default_rng(1)
    assert truncated.draw(1, state) is truncated.encoded
    assert state.random() == np.random.default_rng(1).random()  # truncation draws nothing


def test_calibration_applies_to_each_window_before_aggregation(prepared_run, long_text):
    cfg, run = prepared_run(data__long_text="chunks", evaluation__chunk_aggregate="logsumexp")
    study = Study.load(cfg, run)
    method = CalibratedZeroShot(study)
    method.fit(study.train, study.val)
    texts = [long_text(30, seed=s) for s in range(3)]
    got = method.score(texts)
    base = study.base
    windows, owner = base.view.expand(texts)
    raw = score_texts(base.model, base.builder, windows).label_scores
    want = aggregate(log_softmax(raw, axis=1) - method.prior, owner, 3, "logsumexp")
    assert np.allclose(got.label_scores, want, atol=1e-4)
    assert got.chunks.tolist() == np.bincount(owner).tolist() and got.chunks.max() > 1


TERMS = {"A": [r"\blung\b"], "B": [r"\bcolon\b"]}


@pytest.fixture
def evidence_deep_inside(long_text, tiny_config):
    """Texts that name their label once, in the middle, joined by long_documents: two of the
    same label per document, the first with its term masked."""
    labelled = pd.DataFrame(
        {
            "id": [f"pmid:{i}" for i in range(48)],
            "text": [
                f"{long_text(30, i)} {'lung' if i % 2 else 'colon'} {long_text(30, 100 + i)}"
                for i in range(48)
            ],
            "label": ["A" if i % 2 else "B" for i in range(48)],
        }
    )
    return long_documents(labelled, tiny_config(data__label_terms=TERMS).data)


def test_long_documents_name_the_site_only_in_their_second_half(evidence_deep_inside):
    docs = evidence_deep_inside
    assert len(docs) == 24 and docs["id"].str.startswith("long:").all()
    parts = [p for i in docs["id"] for p in i.removeprefix("long:").split("+")]
    assert sorted(parts, key=int) == [str(i) for i in range(48)]  # every abstract once
    for text, at, label in zip(
        docs["text"], docs["evidence_from_word"], docs["label"], strict=True
    ):
        words = text.split()
        assert "[term]" in words[:at] and not {"lung", "colon"} & set(words[:at])
        assert {"A": "lung", "B": "colon"}[label] in words[at:]
    assert (docs["evidence_from_word"] > 60).all()


def test_chunking_finds_evidence_that_truncation_cannot(
    evidence_deep_inside, tmp_path, tiny_config, write_table
):
    from loralab.data.eda import eda_step
    from loralab.data.splits import split_step
    from loralab.layout import RunPaths

    accuracy = {}
    for mode in ("truncate", "chunks"):
        cfg = tiny_config(
            data__path=str(write_table(evidence_deep_inside.drop(columns="evidence_from_word"))),
            data__label_terms=TERMS,
            data__long_text=mode,
            evaluation__max_chunks=200,
        )
        run = RunPaths(tmp_path / mode)
        eda_step(cfg, run)
        split_step(cfg, run)
        study = Study.load(cfg, run)
        rule = LabelTermRule(study)
        rule.fit(study.train, study.val)
        docs = evidence_deep_inside
        result = rule.score(docs["text"].tolist())
        accuracy[mode] = np.mean(np.array(result.predictions) == docs["label"].to_numpy())
        if mode == "chunks":
            assert result.chunks.min() > 3
    assert accuracy["chunks"] == 1.0
    assert accuracy["truncate"] == 0.5  # no term in the first window: all to the majority
