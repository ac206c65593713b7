"""Words that name a label (`data.label_terms`): counted by the label-term rule, masked on request.

A task that a handful of site words solves says little about what LoRA adds; these patterns let
the study show that rule beside every method, and let a run take the words away from all of them
(`data.mask_label_terms`).
"""

from __future__ import annotations

import re

from loralab.config import DataConfig

MASK = "[term]"


def term_patterns(cfg: DataConfig) -> dict[str, re.Pattern[str]]:
    """One case-insensitive pattern per task label that has terms, in `data.labels` order."""
    return {
        label: re.compile("|".join(f"(?:{p})" for p in cfg.label_terms[label]), re.IGNORECASE)
        for label in cfg.labels
        if cfg.label_terms.get(label)
    }


def term_counts(text: str, patterns: dict[str, re.Pattern[str]]) -> dict[str, int]:
    return {label: len(p.findall(text)) for label, p in patterns.items()}


def holds_a_term(text: str, patterns: dict[str, re.Pattern[str]]) -> bool:
    return any(p.search(text) for p in patterns.values())


def mask_terms(text: str, patterns: dict[str, re.Pattern[str]]) -> str:
    for pattern in patterns.values():
        text = pattern.sub(MASK, text)
    return text
