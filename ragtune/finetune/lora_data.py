"""Tokenise chat examples for causal-LM training with loss on assistant tokens only.

The conversation is rendered with the model's own chat template. Each
assistant turn's character span is found by rendering the conversation up to
the turn (with the generation prompt) and through it; tokens whose offsets
fall in such a span get their id as label, every other token gets ``-100``
(ignored by the loss). Assistant turns with ``weight: 0`` are not learned.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import torch

from ragtune.errors import InputError
from ragtune.finetune.records import Example

IGNORE_INDEX = -100


class Encoded(NamedTuple):
    """One tokenised example."""

    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def _plain(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages the local chat template can render: tool calls inlined as JSON text."""
    out = []
    for m in messages:
        content = m.get("content") if isinstance(m.get("content"), str) else ""
        if m.get("tool_calls"):
            content = (content + "\n" if content else "") + json.dumps(m["tool_calls"])
        out.append({"role": str(m.get("role")), "content": content})
    return out


def encode_example(tokenizer: Any, example: Example, *, max_length: int) -> Encoded | None:
    """Token ids and labels of one example, or ``None`` when no assistant token survives truncation.

    Raises:
        InputError: the chat template does not render the conversation prefix-consistently.
    """
    messages = _plain(example.messages)
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(example.messages):
        if message.get("role") != "assistant" or message.get("weight", 1) == 0:
            continue
        before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True) if i else ""
        through = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not (text.startswith(through) and through.startswith(before)):
            where = f"{example.source.file}:{example.source.line}"
            raise InputError(f"{where}: the chat template renders assistant turn {i + 1} inconsistently")
        spans.append((len(before), len(through)))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(encoded["input_ids"])[:max_length]
    offsets = list(encoded["offset_mapping"])[:max_length]
    labels = [
        token if any(start <= begin < end for start, end in spans) else IGNORE_INDEX
        for token, (begin, _) in zip(ids, offsets, strict=True)
    ]
    result = Encoded(ids, labels)
    return result if result.trained_tokens else None


PAD_MULTIPLE = 16
"""Batches are padded to a multiple of this width: few distinct shapes keep CPU kernels warm."""
LENGTH_GROUP = 8
"""Batches per group of examples sorted by length (see :func:`batches`)."""


def batches(
    items: Sequence[Encoded], *, batch_size: int, pad_id: int, shuffle: bool, seed: int
) -> Iterator[dict[str, torch.Tensor]]:
    """Right-padded batches (``input_ids``, ``attention_mask``, ``labels``).

    With ``shuffle``, examples of similar length share a batch (as transformers' ``group_by_length``):
    the shuffled order is cut into groups of :data:`LENGTH_GROUP` batches, each group is sorted by
    length, and the batches are shuffled again. Mixing a 60-token question with a 600-token one
    with passages padded the short one ten-fold; this spends the time on real tokens.
    """
    order = list(range(len(items)))
    if shuffle:
        rng = random.Random(seed)
        rng.shuffle(order)
        size = batch_size * LENGTH_GROUP
        groups = []
        for start in range(0, len(order), size):
            group = sorted(order[start : start + size], key=lambda i: len(items[i].input_ids), reverse=True)
            groups += [group[b : b + batch_size] for b in range(0, len(group), batch_size)]
        rng.shuffle(groups)
    else:
        groups = [order[b : b + batch_size] for b in range(0, len(order), batch_size)]
    for group in groups:
        chunk = [items[i] for i in group]
        longest = max(len(e.input_ids) for e in chunk)
        width = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE_INDEX, dtype=torch.long)
        for row, e in enumerate(chunk):
            n = len(e.input_ids)
            ids[row, :n] = torch.tensor(e.input_ids)
            mask[row, :n] = 1
            labels[row, :n] = torch.tensor(e.labels)
        yield {"input_ids": ids, "attention_mask": mask, "labels": labels}


def token_loss_sum(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the batch's labelled tokens, and how many there were.

    Logits are computed only at the positions that predict a labelled token
    (``logits_to_keep``), which skips most of the vocabulary projection.
    """
    targets = batch["labels"][:, 1:]
    keep = torch.nonzero((targets != IGNORE_INDEX).any(dim=0)).flatten()
    if keep.numel() == 0:
        return torch.zeros((), requires_grad=True), 0
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep).logits
    kept = targets[:, keep].reshape(-1)
    flat = logits.reshape(-1, logits.size(-1)).float()
    loss = torch.nn.functional.cross_entropy(flat, kept, ignore_index=IGNORE_INDEX, reduction="sum")
    return loss, int((kept != IGNORE_INDEX).sum())


__all__ = ["Encoded", "IGNORE_INDEX", "batches", "encode_example", "token_loss_sum"]
