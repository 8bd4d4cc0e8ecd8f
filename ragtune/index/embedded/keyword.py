"""Keyword analysis for the embedded store's BM25 side.

Text is analysed in Python, the same way for documents and queries:
lower-cased, split into runs of letters and digits, English stop words
dropped, and each word reduced to its Snowball English stem (PyStemmer).
Documents are stored as ``(term id, term frequency)`` pairs; queries become
their distinct terms, so no query text can be misread as search syntax:
quotes, parentheses, ``AND``, ``*`` and ``-`` are dropped with the rest of the
punctuation or kept as ordinary words.
"""

from __future__ import annotations

import re
import threading

import Stemmer

ANALYZER_VERSION = "snowball-english-nltk-stop-1"
"""Stored in the index: a store written with another analyser must be rebuilt."""

_NLTK_ENGLISH = """
    a about above after again against ain all am an and any are aren as at be because been before being below
    between both but by can couldn d did didn do does doesn doing don down during each few for from further had
    hadn has hasn have haven having he her here hers herself him himself his how i if in into is isn it its
    itself just ll m ma me mightn more most mustn my myself needn no nor not now o of off on once only or other
    our ours ourselves out over own re s same shan she should shouldn so some such t than that the their theirs
    them themselves then there these they this those through to too under until up ve very was wasn we were
    weren what when where which while who whom why will with won wouldn y you your yours yourself yourselves
"""
STOP_WORDS: frozenset[str] = frozenset(_NLTK_ENGLISH.split())
"""NLTK's English stop-word list, split the way the analyser splits words (``don't`` -> ``don``, ``t``)."""

_WORD = re.compile(r"[^\W_]+")


class Analyzer:
    """Turns text into BM25 terms: lower-case words, stop words removed, Snowball-stemmed.

    Example:
        >>> Analyzer().terms("The mice were running quickly")
        ['mice', 'run', 'quick']
    """

    def __init__(self, *, stop_words: frozenset[str] = STOP_WORDS, language: str = "english") -> None:
        self.stop_words = stop_words
        self.language = language
        self._local = threading.local()  # PyStemmer objects are not thread-safe

    def _stemmer(self) -> Stemmer.Stemmer:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = Stemmer.Stemmer(self.language)
            self._local.stemmer = stemmer
        return stemmer

    def terms(self, text: str) -> list[str]:
        """The text's terms in order, repeats kept (term frequency matters to BM25)."""
        words = [w for w in _WORD.findall(text.lower()) if w not in self.stop_words]
        return list(self._stemmer().stemWords(words)) if words else []

    def counts(self, text: str) -> dict[str, int]:
        """Term frequencies of a document, in order of first appearance."""
        counts: dict[str, int] = {}
        for term in self.terms(text):
            counts[term] = counts.get(term, 0) + 1
        return counts

    def query_terms(self, text: str) -> list[str]:
        """The distinct terms of a query, in order (empty for punctuation or stop words only)."""
        return list(dict.fromkeys(self.terms(text)))


__all__ = ["ANALYZER_VERSION", "STOP_WORDS", "Analyzer"]
