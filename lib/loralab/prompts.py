"""Chat prompts that fit `seq_len` exactly, and the answer tokens each label is scored by.

The prompt is rendered once through the tokenizer's chat template with a placeholder for the
text; the token ids before and after the placeholder are kept, and each item's text tokens are cut
to the budget left between them. The instruction and the generation prompt are never truncated,
and every prompt plus its longest answer fits `seq_len`.

The answer a LoRA adapter is trained to produce is the first verbalizer of its label, followed by
the end-of-turn token; the scorer scores that same verbalizer, so training and scoring agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .config import DataConfig, PromptConfig

_SLOT = "\u2063TEXT\u2063"  # invisible separators: cannot occur in a template by accident


@dataclass(frozen=True)
class Verbalizer:
    label: str
    phrase: str
    ids: tuple[int, ...]


class PromptBuilder:
    """Token ids of prompts and answers for one tokenizer, prompt config and label set."""

    def __init__(self, tokenizer, prompt: PromptConfig, data: DataConfig, seq_len: int):
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.labels = list(data.labels)
        self.phrases = {label: data.verbalizers_for(label) for label in self.labels}
        self.end = self._end_of_turn_ids()
        self.verbalizers = [
            Verbalizer(label, phrase, tuple(self._encode(phrase)))
            for label in self.labels
            for phrase in self.phrases[label]
        ]
        self.max_answer = max(len(v.ids) for v in self.verbalizers) + len(self.end)
        self._render(())
        self.seq_len = seq_len
        self.text_budget = seq_len - len(self.before) - len(self.after) - self.max_answer
        if self.text_budget < 8:
            raise ValueError(
                f"train.seq_len={seq_len} leaves {self.text_budget} tokens for the text after the "
                f"prompt ({len(self.before) + len(self.after)} tokens) and the longest answer "
                f"({self.max_answer}); raise train.seq_len or shorten prompt.system/prompt.user"
            )

    @classmethod
    def few_shot(
        cls,
        tokenizer,
        prompt: PromptConfig,
        data: DataConfig,
        seq_len: int,
        examples: Sequence[tuple[str, str]],
        example_tokens: int = 64,
    ) -> PromptBuilder:
        """A prompt whose earlier chat turns are `examples` (text, label), each answered with its
        label's verbalizer. The item itself keeps the zero-shot text budget, so it is cut exactly
        as in the zero-shot and LoRA prompts; only the prompt grows past `seq_len`."""
        builder = cls(tokenizer, prompt, data, seq_len)
        builder._render(examples, example_tokens)
        builder.seq_len = (
            len(builder.before) + len(builder.after) + builder.max_answer + builder.text_budget
        )
        return builder

    def _render(self, examples: Sequence[tuple[str, str]], example_tokens: int = 64) -> None:
        """Render the chat once with a placeholder for the text; keep the ids around it."""
        label_list = ", ".join(self.phrases[label][0] for label in self.labels)
        user = self.prompt.user.replace("{labels}", label_list)
        messages = [{"role": "system", "content": self.prompt.system}]
        for text, label in examples:
            shown = self.tokenizer.decode(self._encode(text)[:example_tokens]).strip()
            messages += [
                {"role": "user", "content": user.replace("{text}", shown)},
                {"role": "assistant", "content": self.phrases[label][0]},
            ]
        messages.append({"role": "user", "content": user.replace("{text}", _SLOT)})
        if self.tokenizer.chat_template:
            rendered = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        else:  # a base model without a chat template: plain text turns
            rendered = (
                "\n\n".join(
                    m["content"] if m["role"] != "assistant" else f"Answer: {m['content']}"
                    for m in messages
                )
                + "\n\nAnswer: "
            )
        before, after = rendered.split(_SLOT)
        self.before = self._encode(before)
        self.after = self._encode(after)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _end_of_turn_ids(self) -> list[int]:
        """Tokens that close the assistant's turn: what the template puts after a reply."""
        eos = self.tokenizer.eos_token_id
        return [eos] if eos is not None else []

    def prompt_ids(self, text: str) -> list[int]:
        """The full prompt for one text, its text cut so the prompt plus any answer fits."""
        ids = self._encode(text)[: self.text_budget]
        return self.before + ids + self.after

    def answer_ids(self, label: str) -> list[int]:
        """What the adapter learns to say for `label`: its first verbalizer, then end of turn."""
        first = next(v for v in self.verbalizers if v.label == label)
        return list(first.ids) + self.end

    def visible_text(self, text: str) -> str:
        """The part of `text` a prompt shows: what a non-LLM baseline should see too."""
        return self.tokenizer.decode(self._encode(text)[: self.text_budget])

    def label_index(self, label: str) -> int:
        return self.labels.index(label)
