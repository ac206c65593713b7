import numpy as np
import pandas as pd

from loralab.adapters import load_adapter
from loralab.models import load_base
from loralab.scoring import score_texts
from loralab.splits import read_split
from loralab.training import train_trial
from loralab.trials import trial_of


def test_a_saved_adapter_reloads_onto_a_fresh_base_with_identical_predictions(prepared_run):
    cfg, run = prepared_run()
    result = train_trial(cfg, run, trial_of(cfg, 2), log=lambda _: None)
    files = {p.name for p in run.adapter("r2-f0-s42").iterdir()}
    assert files == {"adapter_model.safetensors", "adapter_config.json", "README.md"}
    card = (run.adapter("r2-f0-s42") / "README.md").read_text()
    assert "validation macro-F1" in card and "PeftModel.from_pretrained" in card
    base = load_base(cfg)
    texts = read_split(run, "test")["text"].tolist()
    trained = score_texts(result.model, base.builder, texts)
    reloaded = score_texts(load_adapter(base.model, run.adapter("r2-f0-s42")), base.builder, texts)
    assert trained.predictions == reloaded.predictions
    np.testing.assert_allclose(trained.verbalizer_scores, reloaded.verbalizer_scores, atol=1e-5)
    history = pd.read_csv(run.history("r2-f0-s42"))
    assert list(history.columns[:5]) == [
        "epoch",
        "train_loss",
        "val_macro_f1",
        "val_accuracy",
        "val_loss",
    ]
    assert run.trained_trials() == ["r2-f0-s42"]
