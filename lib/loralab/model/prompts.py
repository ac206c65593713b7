"""Chat prompts that fit `seq_len` exactly, and the answer tokens each label is scored by.

The prompt is rendered once through the tokenizer's chat template with a placeholder for the
text, and each item's prompt is encoded in one piece: the rendered text before the placeholder,
the item's text, the rendered text after it. Encoding the halves apart would tokenize a text as
no model saw in training ('Text', ':', ' ', 'L', 'ung' where the tokenizer gives 'Text', ':',
' Lung'). A text too long is cut at a token boundary of that one-piece encoding, so the prompt is
the one-piece encoding of exactly the text it shows. The instruction and the generation prompt
are never truncated, and every prompt plus its longest answer fits `seq_len`. A tokenizer that
cannot report character offsets falls back to encoding the halves apart.

The answer a LoRA adapter is trained to produce is the first verbalizer of its label, followed by
the end-of-turn token; the scorer scores that same verbalizer, so training and scoring agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loralab.config import DataConfig, PromptConfig

_SLOT = "\u2063TEXT\u2063"  # invisible separators: cannot occur in a template by accident
# A text that starts and ends with a word, as most do: `before` and `after` are the template's
# tokens around it. A text that starts with a digit may leave the template's last space a token
# of its own; its prompt then holds one text token less.
_PROBE = "text"


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
        self.one_piece = _reports_offsets(tokenizer)
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
        """Render the chat once with a placeholder for the text; keep what is around it."""
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
        self.before_str, self.after_str = rendered.split(_SLOT)
        self.before, self.after = self._template_ids()

    def _template_ids(self) -> tuple[list[int], list[int]]:
        """The template's tokens before and after a text, as a one-piece prompt holds them."""
        if not self.one_piece:
            return self._encode(self.before_str), self._encode(self.after_str)
        ids, offsets = self._encode_around(_PROBE)
        start, end = len(self.before_str), len(self.before_str) + len(_PROBE)
        before = [i for i, (_, e) in zip(ids, offsets, strict=True) if e <= start]
        after = [i for i, (s, _) in zip(ids, offsets, strict=True) if s >= end]
        return before, after

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _encode_around(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids of the whole prompt around `text`, with each token's character span."""
        enc = self.tokenizer(
            self.before_str + text + self.after_str,
            add_special_tokens=False,
            return_offsets_mapping=True,
        )
        return enc["input_ids"], enc["offset_mapping"]

    def _fit(self, text: str) -> tuple[list[int], str]:
        """The prompt for `text` and the part of `text` it shows.

        Tokens that reach into the text (the first may also hold the template's last space) are
        dropped from the end until the prompt plus the longest answer fits; the shown text is
        encoded again in one piece, since a cut can change how its last characters tokenize.
        """
        if not self.one_piece:
            ids = self._encode(text)[: self.text_budget]
            return self.before + ids + self.after, self.tokenizer.decode(ids)
        room = self.seq_len - self.max_answer
        start, shown = len(self.before_str), len(text)
        ids, offsets = self._encode_around(text)
        while len(ids) > room and shown:
            ends = [min(e - start, shown) for s, e in offsets if e > start and s < start + shown]
            keep = ends[: max(len(ends) - (len(ids) - room), 0)]
            # pieces of one character share its span: cut before the character, never inside
            shown = max((e for e in keep if e < shown), default=0)
            ids, offsets = self._encode_around(text[:shown])
        return ids, text[:shown]

    def _end_of_turn_ids(self) -> list[int]:
        """Tokens that close the assistant's turn: what the template puts after a reply."""
        eos = self.tokenizer.eos_token_id
        return [eos] if eos is not None else []

    def prompt_ids(self, text: str) -> list[int]:
        """The full prompt for one text, its text cut so the prompt plus any answer fits."""
        return self._fit(text)[0]

    def answer_ids(self, label: str) -> list[int]:
        """What the adapter learns to say for `label`: its first verbalizer, then end of turn."""
        first = next(v for v in self.verbalizers if v.label == label)
        return list(first.ids) + self.end

    def visible_text(self, text: str) -> str:
        """The part of `text` a prompt shows (a prefix of it): what a non-LLM baseline should see
        too."""
        return self._fit(text)[1]

    def label_index(self, label: str) -> int:
        return self.labels.index(label)


def _reports_offsets(tokenizer) -> bool:
    """Whether the tokenizer gives each token's character span (fast tokenizers do; Python ones
    leave it out or refuse)."""
    try:
        enc = tokenizer("a", add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, ValueError):
        return False
    return "offset_mapping" in enc
