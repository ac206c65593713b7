"""The language model: loading it, building its prompts, cutting long texts into windows,
scoring the labels, and the adapters (and head) trained on it."""

__all__ = [
    "gguf_cache",  # a GGUF file converted once
    "prompts",  # chat prompts within seq_len, verbalizers
    "windows",  # a long text's windows and their aggregation
    "loading",  # resolve a model and load it: LoadedModel
    "head",  # a linear classification head on the causal LM's body
    "scoring",  # label scores, one pass per item
    "adapters",  # wrap with LoRA, save and reload adapters
]
