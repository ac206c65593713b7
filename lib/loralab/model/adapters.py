"""LoRA adapters: wrapping a base model with new ones, and saving them (safetensors only, a model
card that says how they were made) and loading them back; a fully fine-tuned model's weights
are saved and loaded the same way, in the same folder, for evaluation to score.

An adapter folder is written to a temporary sibling and renamed into place, so a folder named
`adapter/` is always complete.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from loralab.artifacts import write_text
from loralab.config import Config
from loralab.layout import FULL_WEIGHTS
from loralab.model.head import HEAD_MODULE, head_on
from loralab.model.loading import quiet_peft
from loralab.records import Provenance
from loralab.stats.metrics import CRITERIA

CARD = """# {title}

Trained by loralab on `{base}` to classify text as {labels}.

| | |
|---|---|
| best epoch | {best_epoch} of {epochs_run} run (chosen and early-stopped by {select_by_name}) |
| validation macro-F1 | {val_macro_f1:.3f} |
| validation accuracy | {val_accuracy:.3f} |
| validation loss ({loss_of}) | {val_loss:.3f} |
| validation cross-entropy of the label (chance: {chance:.3f}) | {val_label_loss:.3f} |
| training items' cross-entropy of the label, same epoch | {train_label_loss:.3f} |
| trainable parameters | {trainable_params:,} ({trainable_mb:.2f} MB) |
| training items / validation items | {train_items} / {val_items} |
| time to best epoch | {time_to_best_s:.0f} s |
| precision | {precision} |
| data | {source}, corpus hash `{corpus_hash}` |

{reads}

## Load it

```python
from loralab.model.adapters import {loader}
from loralab.config import load_config
from loralab.model.loading import load_base

base = load_base(load_config("params.yaml"))  # run it in the run folder: params.yaml is there
model = {loader}(base{loader_args}, "{folder}")
```

{note}

## Parameters

```yaml
{params}
```
"""

VERBALIZER_READS = (
    "The model answers with the first verbalizer of each label ({answers}); the scorer compares "
    "the\nsummed log-probabilities of every verbalizer after the prompt."
)
# What differs between the cards of a LoRA adapter, of one with a classification head and of a
# fully fine-tuned model, by method
KINDS = {
    "lora": {
        "title": "LoRA adapter: rank {rank}",
        "loader": "load_adapter",
        "loader_args": ".model",
        "loss_of": "answer tokens",
        "reads": VERBALIZER_READS,
        "note": 'Plain PEFT works too: `PeftModel.from_pretrained(base_model, "{folder}")`.',
    },
    "lora_head": {
        "title": "LoRA adapter with a classification head: rank {rank}",
        "loader": "load_head_adapter",
        "loader_args": ".model, len(base.builder.labels)",
        "loss_of": "cross-entropy of the label, per window",
        "reads": (
            "A linear head (`score`, trained in full) reads the hidden state of the prompt's last "
            "token and\ngives one logit per label, in this order: {label_order}. No answer "
            "tokens are generated."
        ),
        "note": (
            "Plain transformers and PEFT work too: "
            "`AutoModelForSequenceClassification.from_pretrained(<base model folder>, "
            'num_labels={n_labels})`, then `PeftModel.from_pretrained(model, "{folder}")`. '
            "transformers pools the last token that is not the pad token, so pad on the right "
            "or the left, and keep the prompt's last token other than the pad token."
        ),
    },
    "full": {
        "title": "Fully fine-tuned model",
        "loader": "load_full_weights",
        "loader_args": ".model",
        "loss_of": "answer tokens",
        "reads": VERBALIZER_READS,
        "note": (
            "Every weight of the base in float32, the dtype it trained in, in `model.safetensors`"
            " (the base's config and tokenizer are the run's). Evaluation "
            "deletes it unless the fold chose this configuration on validation (or "
            "`evaluation.test_candidates` is on): only the card is then left."
        ),
    },
}


def wrap_with_lora(
    base,
    cfg: Config,
    rank: int,
    seed: int | None = None,
    in_place: bool = False,
    variant: str = "lora",
    head: bool = False,
):
    """`base` with new adapters of `rank` and `variant` (lora, rslora, dora: PEFT's own
    options), drawn with `seed` (the first of train.seeds by default): a fresh copy, so `base`
    is never touched, unless `in_place` (a caller that loaded the base for this trial alone
    saves a copy of the weights: 0.5 GB in float32). With `head`, its body under a new
    classification head over data.labels, which trains in full beside the adapters."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(cfg.train.seeds[0] if seed is None else seed)
    if head:
        model = head_on(base, len(cfg.data.labels), in_place)
    else:
        model = base if in_place else copy.deepcopy(base)
    lora = LoraConfig(
        r=rank,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        bias="none",
        task_type=None if head else "CAUSAL_LM",
        modules_to_save=[HEAD_MODULE] if head else None,
        use_rslora=variant == "rslora",
        use_dora=variant == "dora",
    )
    with quiet_peft():
        model = get_peft_model(model, lora)
    checkpoint_activations(model.base_model.model, cfg)
    return model


def checkpoint_activations(model, cfg: Config) -> None:
    """train.activation_checkpointing on the transformer itself (under its PEFT wrapper, if any)."""
    every = cfg.train.activation_checkpointing
    if every:
        model.activation_checkpointing_enable(every_n_layers=every)


def model_card(summary: dict, cfg, provenance: Provenance, folder: Path) -> str:
    labels = cfg.data.labels
    fields = {
        **summary,
        "folder": folder,
        "answers": ", ".join(f'{lab} → "{cfg.data.verbalizers_for(lab)[0]}"' for lab in labels),
        "label_order": ", ".join(labels),
        "n_labels": len(labels),
    }
    params = {
        "lora": cfg.lora.model_dump(),
        "train": cfg.train.model_dump(),
        "prompt": cfg.prompt.model_dump(),
    }
    kind = {k: v.format(**fields) for k, v in KINDS[summary["method"]].items()}
    return CARD.format(
        **fields,
        **kind,
        base=cfg.model.name_or_path,
        labels=" / ".join(labels),
        source=provenance.source,
        corpus_hash=provenance.corpus_hash,
        select_by_name=CRITERIA[cfg.train.select_by].name,
        chance=math.log(len(labels)),
        params=yaml.safe_dump(params, sort_keys=False).strip(),
    )


def save_adapter(model, folder: Path, card: str) -> int:
    """Write adapter weights (safetensors) and config plus our card; returns bytes on disk."""
    return _write_folder(
        folder,
        card,
        lambda tmp: model.save_pretrained(
            tmp, safe_serialization=True, save_embedding_layers=False
        ),
    )


def save_full_weights(model, folder: Path, card: str) -> int:
    """Write every weight of a fully fine-tuned model in the dtype it trained in, plus our
    card; returns bytes on disk. A state dict, not a model folder: the base's config and
    tokenizer are the run's, and loading needs them anyway (`load_full_weights`)."""
    from safetensors.torch import save_model

    return _write_folder(folder, card, lambda tmp: save_model(model, str(tmp / FULL_WEIGHTS)))


def _write_folder(folder: Path, card: str, write) -> int:
    """A weights folder written by `write(tmp)` into a temporary sibling, the card beside, then
    renamed into place; returns the bytes of its weights."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".tmp-{folder.name}."))
    try:
        write(tmp)
        write_text(tmp / "README.md", card)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return adapter_bytes(folder)


def adapter_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))


def load_adapter(base, folder: str | Path):
    """`base` with the saved adapter attached, ready for scoring."""
    from peft import PeftModel

    with quiet_peft():
        return PeftModel.from_pretrained(base, str(folder)).eval()


def load_head_adapter(base, n_labels: int, folder: str | Path):
    """A classification head and its adapter, trained by a `lora_head` trial, on a copy of
    `base`'s transformer body, ready for scoring; `base` (the causal LM) is not touched."""
    from peft import PeftModel

    with quiet_peft():
        return PeftModel.from_pretrained(head_on(base, n_labels), str(folder)).eval()


def load_full_weights(base, folder: str | Path):
    """A float32 copy of `base` (full fine-tuning trains in float32) holding a fully fine-tuned
    model's weights, ready for scoring; `base` is not touched."""
    from safetensors.torch import load_model

    path = Path(folder) / FULL_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: evaluation deletes a full fine-tuning trial's weights once "
            "its fold has chosen another configuration. To score it (evaluation.test_candidates), "
            "train it again: delete its folder under train/ and its steps/03_train_* marker, "
            "then run again"
        )
    model = copy.deepcopy(base).float()
    load_model(model, path, device=str(next(model.parameters()).device))
    return model.eval()
