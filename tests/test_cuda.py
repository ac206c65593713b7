"""The CUDA paths, on the tiny model: skipped without a GPU (`pytest -m cuda` on one).

The same checks ran as a script on an H100 during development: bf16 weights with SDPA scored
within 4e-3 of the full forward pass (float32: 2e-6) with the same predictions, and both ranks
trained and evaluated.
"""

import numpy as np
import pytest
import torch

from loralab.data.eda import eda_step
from loralab.data.splits import split_step
from loralab.layout import RunPaths
from loralab.model.loading import load_base
from loralab.model.scoring import score_chunks, score_full_forward, score_texts
from loralab.train.loop import train_trial
from loralab.train.trials import trial_of

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("dtype, atol", [("auto", 1e-2), ("float32", 1e-4)])
def test_cuda_scoring_matches_the_full_forward_pass(tiny_config, make_texts, dtype, atol):
    cfg = tiny_config(**{"train.device": "cuda", "train.dtype": dtype})
    base = load_base(cfg)
    model, builder, precision = base.model, base.builder, base.precision
    assert model.config._attn_implementation == "sdpa"
    texts = make_texts(9)
    fast = score_texts(model, builder, texts, precision, batch_size=4)
    with torch.autocast(
        "cuda", dtype=precision.autocast or torch.float32, enabled=precision.autocast is not None
    ):
        slow = np.array(
            [
                [
                    score_full_forward(model, builder.prompt_ids(t), v.ids)
                    for v in builder.verbalizers
                ]
                for t in texts
            ]
        )
    np.testing.assert_allclose(fast.verbalizer_scores, slow, atol=atol)


def test_cuda_scores_chunked_documents_as_the_cpu_does(tiny_config, long_text):
    sets = {"data.long_text": "chunks", "train.dtype": "float32"}
    texts = [long_text(120, seed) for seed in range(4)] + ["short"]
    docs = {}
    for device in ("cuda", "cpu"):
        base = load_base(tiny_config(**sets, **{"train.device": device}))
        chunked = score_chunks(base.model, base.builder, base.view, texts, base.precision, 4)
        docs[device] = chunked.documents(base.builder.labels, "logsumexp")
    assert docs["cuda"].chunk_counts.tolist() == docs["cpu"].chunk_counts.tolist()
    assert docs["cuda"].chunk_counts.max() > 3
    np.testing.assert_allclose(docs["cuda"].label_scores, docs["cpu"].label_scores, atol=1e-3)


@pytest.mark.parametrize("trial", ["r2-f0-s42", "head-r2-f0-s42"])
def test_cuda_training_in_bf16(tmp_path, tiny_config, make_rows, write_table, trial):
    """The verbalizer and the classification head (lora.formats) alike."""
    cfg = tiny_config(
        **{
            "data.path": str(write_table(make_rows(per_class=24))),
            "train.device": "cuda",
            "train.dtype": "auto",
            "lora.formats": ["verbalizer", "head"],
        }
    )
    run = RunPaths(tmp_path / "run")
    eda_step(cfg, run)
    split_step(cfg, run)
    result = train_trial(cfg, run, trial_of(cfg, trial), log=lambda _: None)
    assert result.summary["precision"].startswith("cuda, weights bfloat16")
    assert result.summary["peak_memory_mb"] > 0 and run.trained_trials() == [trial]
