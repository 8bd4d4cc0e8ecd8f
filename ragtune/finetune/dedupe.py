"""Duplicate and conflict detection over validated examples, first occurrence kept.

Three passes, each linear in the number of examples except the optional
embedding pass:

1. **Conflicts**: examples whose normalised input (every message before the
   last assistant turn) is the same but whose normalised output differs. Every
   example of such a group is rejected: nothing says which answer is right.
2. **Duplicates**: same normalised text (case, punctuation and whitespace
   ignored); ``duplicate`` when byte-identical after fixes, ``near_duplicate``
   otherwise.
3. **Embedding near-duplicates** (with an embedder): cosine similarity of the
   example texts at or above a threshold, compared against every kept example
   in blocks (``O(n * kept)``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ragtune.finetune.records import Example
from ragtune.finetune.validate import Problem

_NON_WORD_RE = re.compile(r"[\W_]+", re.UNICODE)
EMBED_BLOCK = 512


def normalise_text(text: str) -> str:
    """Lower-case, drop punctuation and collapse whitespace: the near-duplicate key."""
    return _NON_WORD_RE.sub(" ", text.casefold()).strip()


def _messages_text(messages: Sequence[dict[str, Any]]) -> str:
    parts = []
    for m in messages:
        content = m.get("content")
        calls = m.get("tool_calls")
        text = content if isinstance(content, str) else ""
        if calls:
            text += json.dumps(calls, sort_keys=True)
        parts.append(f"{m.get('role')}: {text}")
    return "\n".join(parts)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def exact_key(example: Example) -> str:
    """Digest of the example's canonical OpenAI JSON."""
    return _digest(json.dumps(example.openai_json(), sort_keys=True, ensure_ascii=False))


def where(example: Example) -> str:
    return f"{example.source.file}:{example.source.line}"


def find_conflicts(examples: Sequence[Example]) -> dict[int, Problem]:
    """Positions of every example in a conflicting group, with the reason."""
    outputs: dict[str, dict[str, int]] = {}
    members: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        key = _digest(normalise_text(_messages_text(example.prompt_messages)))
        out = _digest(normalise_text(example.completion))
        outputs.setdefault(key, {}).setdefault(out, i)
        members.setdefault(key, []).append(i)
    problems: dict[int, Problem] = {}
    for key, outs in outputs.items():
        if len(outs) < 2:
            continue
        group = members[key]
        others = ", ".join(where(examples[j]) for j in group[:6]) + (" ..." if len(group) > 6 else "")
        reason = (
            f"conflicting duplicate: the same input has {len(outs)} different answers ({others}); "
            "every record of the group is rejected. Keep one answer and drop the others."
        )
        for i in group:
            problems[i] = Problem("conflicting_duplicate", reason)
    return problems


def find_duplicates(examples: Sequence[Example], skip: Callable[[int], bool]) -> dict[int, Problem]:
    """Later examples whose normalised text equals an earlier kept one."""
    first: dict[str, int] = {}
    problems: dict[int, Problem] = {}
    for i, example in enumerate(examples):
        if skip(i):
            continue
        key = _digest(normalise_text(_messages_text(example.messages)))
        j = first.setdefault(key, i)
        if j == i:
            continue
        exact = exact_key(example) == exact_key(examples[j])
        code = "duplicate" if exact else "near_duplicate"
        kind = "exact duplicate" if exact else "near duplicate (same normalised text)"
        problems[i] = Problem(code, f"{kind} of {where(examples[j])}; the first occurrence is kept")
    return problems


def find_embedding_duplicates(
    examples: Sequence[Example],
    skip: Callable[[int], bool],
    embed: Callable[[list[str]], np.ndarray],
    *,
    threshold: float,
) -> dict[int, Problem]:
    """Later examples whose embedding cosine to a kept example is at least ``threshold``.

    Args:
        embed: Texts to L2-normalised rows (e.g. ``Embedder.embed_documents``).
    """
    order = [i for i in range(len(examples)) if not skip(i)]
    kept_vectors: list[np.ndarray] = []
    kept_ids: list[int] = []
    problems: dict[int, Problem] = {}
    for start in range(0, len(order), EMBED_BLOCK):
        block = order[start : start + EMBED_BLOCK]
        vectors = np.asarray(embed([_messages_text(examples[i].messages) for i in block]), dtype=np.float32)
        previous = np.vstack(kept_vectors) if kept_vectors else np.zeros((0, vectors.shape[1]), np.float32)
        against_kept = vectors @ previous.T
        within = vectors @ vectors.T
        block_kept: list[int] = []
        for row, i in enumerate(block):
            best, best_id = -1.0, -1
            if previous.shape[0]:
                col = int(np.argmax(against_kept[row]))
                best, best_id = float(against_kept[row, col]), kept_ids[col]
            for other in block_kept:
                if within[row, other] > best:
                    best, best_id = float(within[row, other]), block[other]
            if best >= threshold:
                reason = f"near duplicate of {where(examples[best_id])} (cosine {best:.3f} >= {threshold}); first kept"
                problems[i] = Problem("near_duplicate", reason)
            else:
                block_kept.append(row)
        if block_kept:
            kept_vectors.append(vectors[block_kept])
            kept_ids.extend(block[r] for r in block_kept)
    return problems


__all__ = ["exact_key", "find_conflicts", "find_duplicates", "find_embedding_duplicates", "normalise_text"]
