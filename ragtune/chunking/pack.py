"""Token-aware packing: cut a text into chunks of at most ``size`` tokens, with overlap.

The work is linear in the text. LangChain's ``RecursiveCharacterTextSplitter`` cuts the text
into small pieces at the best separators (paragraphs, lines, sentences, words), sized by a
characters-per-token estimate; pieces are then packed into chunks by that estimate and every
chunk is verified with the real tokenizer once (shrunk and re-counted in the rare case it
is over). Each character is tokenized about once, however long the text.

Chunks of one text get about the same size (a 300-token text becomes two chunks of ~170
rather than 200 + 100), end at a sentence or line where one is near, and a tail shorter
than ``min_tokens`` of new text is folded into the chunk before it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import accumulate

from ragtune.chunking.tokens import TokenCounter

SEPARATORS = ["\n\n", "\n", ". ", "! ", "? ", "; ", ": ", ", ", " ", ""]
"""Where pieces are cut, best first (kept at the end of the piece before the cut)."""
EXACT_COUNT_CHARS = 50_000
"""Texts up to this length are counted exactly up front; longer ones are estimated from samples."""
_SAMPLE_CHARS = 4_000
_SAMPLES = 4
_STRONG_END = re.compile(r"(?:[.!?][\"')\]]*|\n)\s*$")
_MIN_FILL = 0.85  # a chunk may end early, at a sentence end, once it holds this share of its target


@dataclass
class _Span:
    start: int
    end: int
    text: str
    tokens: int


class TokenPacker:
    """Cuts texts into chunks of at most ``size`` tokens (see the module docstring)."""

    def __init__(self, count: TokenCounter, *, size: int, overlap: int, min_tokens: int) -> None:
        self.count = count
        self.size = size
        self.overlap = overlap
        self.min_tokens = min_tokens
        self.piece_tokens = max(4, min(size // 8, overlap // 2 if overlap else size // 8))

    def measure(self, text: str) -> tuple[int, bool]:
        """Tokens in ``text`` and whether that is exact (long texts are estimated from samples)."""
        if len(text) <= EXACT_COUNT_CHARS:
            return self.count(text), True
        step = (len(text) - _SAMPLE_CHARS) // (_SAMPLES - 1)
        windows = [text[i * step : i * step + _SAMPLE_CHARS] for i in range(_SAMPLES)]
        ratio = sum(self.count(window) for window in windows) / (_SAMPLES * _SAMPLE_CHARS)
        return math.ceil(ratio * len(text)), False

    def split(self, text: str, tokens: int | None = None) -> list[tuple[str, int]]:
        """``(chunk_text, tokens)`` pairs covering ``text`` in order; ``tokens`` is the text's count if known.

        The result depends only on the text (and the sizes), never on texts split before it, so
        chunk ids are reproducible.
        """
        text = text.strip()
        if not text:
            return []
        exact = tokens is not None
        if tokens is None:
            tokens, exact = self.measure(text)
        if tokens <= self.size:
            if not exact:
                tokens = self.count(text)
            if tokens <= self.size:
                return [(text, tokens)]
        packing = _Packing(self, self._pieces(text, tokens / len(text)), tokens / len(text))
        return [(span.text, span.tokens) for span in packing.run()]

    def _pieces(self, text: str, ratio: float) -> list[str]:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        piece_chars = max(8, int(self.piece_tokens / max(ratio, 1e-6)))
        splitter = RecursiveCharacterTextSplitter(
            separators=SEPARATORS,
            keep_separator="end",
            chunk_size=piece_chars,
            chunk_overlap=0,
            length_function=len,
            strip_whitespace=False,
        )
        return splitter.split_text(text)


class _Packing:
    """One text's pieces being packed; estimates adapt to the counts seen so far."""

    def __init__(self, packer: TokenPacker, pieces: list[str], ratio: float) -> None:
        self.packer = packer
        self.pieces = pieces
        self.ratio = ratio
        self.strong = [bool(_STRONG_END.search(piece)) for piece in pieces]
        self._offsets = [0, *accumulate(len(piece) for piece in pieces)]

    def run(self) -> list[_Span]:
        return self._fold_tail(self._greedy(0, len(self.pieces)))

    def _target(self, start: int, stop: int, min_parts: int = 1) -> int:
        """Tokens to aim at so that pieces ``start:stop`` fill the fewest chunks (``min_parts`` at least) evenly."""
        size, overlap = self.packer.size, self.packer.overlap
        tokens = self._estimate(start, stop)
        parts = max(min_parts, math.ceil((tokens - overlap) / (size - overlap)))
        even = math.ceil((tokens + (parts - 1) * overlap) / parts)
        return min(size, even + self.packer.piece_tokens // 2)

    def _estimate(self, start: int, end: int) -> float:
        return (self._offsets[end] - self._offsets[start]) * self.ratio

    def _greedy(self, start: int, stop: int, min_parts: int = 1) -> list[_Span]:
        spans: list[_Span] = []
        while start < stop:
            end = self._fill(start, stop, self._target(start, stop, 1 if spans else min_parts))
            span = self._verified(start, end)
            if span is None:  # one piece alone was over size and has been halved; try again
                stop += 1
                continue
            spans.append(span)
            if span.end >= stop:
                break
            start = self._overlap_start(span)
        return spans

    def _fill(self, start: int, stop: int, target: int) -> int:
        end, estimate = start, 0.0
        while end < stop and (end == start or estimate + len(self.pieces[end]) * self.ratio <= target):
            estimate += len(self.pieces[end]) * self.ratio
            end += 1
        if end < stop and not self.strong[end - 1]:
            kept = estimate
            for candidate in range(end - 1, start, -1):
                kept -= len(self.pieces[candidate]) * self.ratio
                if kept < _MIN_FILL * target:
                    break
                if self.strong[candidate - 1]:
                    return candidate
        return end

    def _verified(self, start: int, end: int) -> _Span | None:
        size = self.packer.size
        while True:
            text = "".join(self.pieces[start:end]).strip()
            tokens = self.packer.count(text) if text else 0
            if tokens <= size:
                break
            if end - start == 1 and len(self.pieces[start]) > 1:
                piece = self.pieces[start]
                middle = len(piece) // 2
                self.pieces[start : start + 1] = [piece[:middle], piece[middle:]]
                self.strong[start : start + 1] = [False, self.strong[start]]
                self._offsets.insert(start + 1, self._offsets[start] + middle)
                return None
            if end - start == 1:  # a single character over size: nothing smaller exists
                break
            excess_chars = (tokens - size) * len(text) / tokens
            dropped = 0
            while end - start > 1 and dropped <= excess_chars:
                end -= 1
                dropped += len(self.pieces[end])
        if text:
            self.ratio = 0.5 * self.ratio + 0.5 * tokens / len(text)
        return _Span(start, end, text, tokens)

    def _overlap_start(self, span: _Span) -> int:
        """Start of the next chunk: the longest run of trailing pieces within ``overlap`` tokens,
        preferring one that starts a sentence; ``span.end`` (no overlap) when none fits."""
        longest = sentence = span.end
        estimate = 0.0
        start = span.end
        while start - 1 > span.start:
            estimate += len(self.pieces[start - 1]) * self.ratio
            if estimate > self.packer.overlap:
                break
            start -= 1
            longest = start
            if self.strong[start - 1]:
                sentence = start
        return sentence if sentence != span.end else longest

    def _fold_tail(self, spans: list[_Span]) -> list[_Span]:
        spans = [span for span in spans if span.text]
        if len(spans) < 2:
            return spans
        before, last = spans[-2], spans[-1]
        if self._estimate(before.end, last.end) >= self.packer.min_tokens and last.tokens >= self.packer.min_tokens:
            return spans
        merged = "".join(self.pieces[before.start : last.end]).strip()
        tokens = self.packer.count(merged)
        if tokens <= self.packer.size:
            return [*spans[:-2], _Span(before.start, last.end, merged, tokens)]
        # the two did not fit in one: split them in two halves (an under-estimate of their tokens
        # would otherwise refill the first to the brim and leave the tail as small as before)
        rebalanced = self._greedy(before.start, last.end, min_parts=2)
        if len(rebalanced) == 2 and rebalanced[-1].tokens >= self.packer.min_tokens:
            return [*spans[:-2], *rebalanced]
        return spans


__all__ = ["EXACT_COUNT_CHARS", "SEPARATORS", "TokenPacker"]
