import numpy as np
import pandas as pd
import torch

from loralab.data.splits import read_split
from loralab.model.adapters import load_adapter, wrap_with_lora
from loralab.model.loading import load_base
from loralab.model.scoring import score_texts
from loralab.train.batching import Encoded, collate
from loralab.train.loop import answer_loss, train_trial
from loralab.train.trials import trial_of


def test_a_saved_adapter_reloads_onto_a_fresh_base_with_identical_predictions(prepared_run):
    cfg, run = prepared_run()
    result = train_trial(cfg, run, trial_of(cfg, "r2-f0-s42"), log=lambda _: None)
    files = {p.name for p in run.adapter("r2-f0-s42").iterdir()}
    assert files == {"adapter_model.safetensors", "adapter_config.json", "README.md"}
    card = (run.adapter("r2-f0-s42") / "README.md").read_text()
    assert "validation macro-F1" in card and "PeftModel.from_pretrained" in card
    base = load_base(cfg)
    texts = read_split(run, "test", 0)["text"].tolist()
    trained = score_texts(result.model, base.builder, texts)
    reloaded = score_texts(load_adapter(base.model, run.adapter("r2-f0-s42")), base.builder, texts)
    assert trained.predictions == reloaded.predictions
    np.testing.assert_allclose(trained.verbalizer_scores, reloaded.verbalizer_scores, atol=1e-5)
    history = pd.read_csv(run.history("r2-f0-s42"))
    assert list(history.columns[:6]) == [
        "epoch",
        "steps",
        "train_loss",
        "val_macro_f1",
        "val_accuracy",
        "val_loss",
    ]
    assert run.trained_trials() == ["r2-f0-s42"]


def test_activation_checkpointing_changes_memory_not_the_gradients(tiny_config, long_text):
    frame = pd.DataFrame({"text": [long_text(20, 1), long_text(25, 2)], "label": ["A", "B"]})
    grads = {}
    for every in (0, 1, 2):
        cfg = tiny_config(**{"train.activation_checkpointing": every})
        base = load_base(cfg)
        model = wrap_with_lora(base.model, cfg, 4, in_place=True).train()
        torch.nn.init.normal_(next(p for n, p in model.named_parameters() if "lora_B" in n))
        layers = model.base_model.model.model.layers
        assert [layer.gradient_checkpointing for layer in layers] == [
            bool(every) and i % every == 0 for i in range(len(layers))
        ]
        batch = collate(Encoded.build(base.builder, frame), np.array([0, 1]), 0)
        answer_loss(model, *batch).backward()
        grads[every] = [p.grad.clone() for p in model.parameters() if p.requires_grad]
        assert model.base_model.model is base.model  # in place: no second copy of the weights
    for every in (1, 2):
        for a, b in zip(grads[0], grads[every], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
