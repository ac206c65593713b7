"""A classification head on the base model: the other answer format of lora.formats.

The head is a linear layer from the last prompt token's hidden state to one logit per label:
transformers' sequence classification (`LlamaForSequenceClassification` and its kin pool the
same position), built here around the causal LM already loaded rather than loaded again, so the
transformer's weights are shared and the LM head (the vocabulary projection) is left out. The last
token, not a mean over tokens: in a causal model only that position has read the whole prompt, and
it is the very position whose next-token distribution the verbalizer reads, so the two formats
differ in their output layer alone.

Its submodules are named as transformers names them (`model`, `score`), so an adapter trained on
it (with the head in PEFT's modules_to_save) also loads onto `AutoModelForSequenceClassification`
with plain PEFT, as the model card says.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

HEAD_MODULE = "score"  # transformers' name for the sequence-classification head


class HeadClassifier(nn.Module):
    """A transformer body and a linear head over the labels at the last real token."""

    def __init__(self, body, n_labels: int):
        super().__init__()
        self.model, self.config = body, body.config
        weight = next(body.parameters())
        self.score = nn.Linear(self.config.hidden_size, n_labels, bias=False, device=weight.device)
        std = getattr(self.config, "initializer_range", 0.02)
        nn.init.normal_(self.score.weight, std=std)  # as transformers initialises its head

    def forward(
        self, input_ids, attention_mask=None, position_ids=None, cache=None, use_cache=False
    ):
        """Label logits (items x labels). A 2-D mask is the training batch's padding (either
        side); a 4-D mask comes from the scorer, whose rows are left-padded, so their last
        column is the last real token, as it is without a mask. With `use_cache` the body's
        cache is returned too (the scorer's shared prefix)."""
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=use_cache,
        )
        hidden = out.last_hidden_state
        width = hidden.shape[1]
        if attention_mask is not None and attention_mask.dim() == 2:
            real = attention_mask[:, -width:]
            last = width - 1 - real.flip(1).argmax(1)
        else:
            last = torch.full((hidden.shape[0],), width - 1, device=hidden.device)
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        logits = self.score(pooled.to(self.score.weight.dtype))
        return HeadOutput(logits, out.cache if use_cache else None)

    def set_attn_implementation(self, name: str) -> None:
        self.model.set_attn_implementation(name)

    def activation_checkpointing_enable(self, **kwargs) -> None:
        self.model.activation_checkpointing_enable(**kwargs)


def head_on(causal_lm, n_labels: int, in_place: bool = False) -> HeadClassifier:
    """A new head on the causal LM's transformer body: a copy of the body unless `in_place`
    (the LM head is never copied: Mistral-7B's vocabulary projection alone holds 131M weights)."""
    body = getattr(causal_lm, causal_lm.base_model_prefix)
    return HeadClassifier(body if in_place else copy.deepcopy(body), n_labels)


@dataclass
class HeadOutput:
    """What the head's forward returns: its label logits and, if asked, the body's cache."""

    logits: torch.Tensor
    cache: object = None


def is_head(model) -> bool:
    """Whether `model` (bare, compiled or under PEFT) answers through a classification head."""
    inner = getattr(model, "_orig_mod", model)  # torch.compile's wrapper
    inner = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    return isinstance(inner, HeadClassifier)


def head_loss(model, ids, mask, targets) -> torch.Tensor:
    """Mean cross-entropy over the labels: the head's training loss."""
    logits = model(input_ids=ids, attention_mask=mask).logits
    return nn.functional.cross_entropy(logits.float(), targets)
