"""BM25 over an in-memory inverted index, kept in step with every write.

The scores are those of SQLite FTS5's ``bm25()`` (k1 = 1.2, b = 0.75)::

    idf(t)   = log((N - df(t) + 0.5) / (df(t) + 0.5)), or 1e-6 where that is <= 0
    score(d) = sum over query terms t in d of
               idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * len(d) / avgdl))

with ``N``, ``df`` and ``avgdl`` taken over the tenant's live chunks at query
time, so they are exact after any sequence of inserts, updates and deletes
(the tests check every score against FTS5 itself on the same terms).

Why not FTS5's own ``bm25()``: an OR query of a SciFact claim matches about
40% of the chunks, and FTS5 scores matching rows one by one through its
auxiliary-function API, about 65-100 ms per query at 100k chunks. Here the
same arithmetic is a few numpy gathers and one ``bincount``.

Layout: postings of bulk-loaded chunks sit in one term-sorted segment
(``indptr`` / ``docs`` / ``tfs``, like CSC); chunks written afterwards go to a
small per-term delta; deletes only clear an ``alive`` flag, and ``df`` is
counted over a query term's live postings when it is scored, so no per-chunk
copy of the postings is kept. When the delta or the dead chunks grow large,
the segment is rebuilt from its own live postings plus the delta.
:meth:`KeywordIndex.segment` and :meth:`KeywordIndex.from_segment` move a
freshly built segment to and from storage as it is, so that opening a large
tenant costs a few array reads instead of a rebuild from every chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6


@dataclass(frozen=True)
class Segment:
    """A term-sorted postings segment of live chunks ``0..n-1``, all alive, no delta.

    ``docs[indptr[t]:indptr[t+1]]`` are the chunks holding term ``t`` (ascending)
    and ``tfs`` the matching term frequencies; chunk ``i`` is rowid ``rowids[i]``.
    """

    rowids: np.ndarray
    indptr: np.ndarray
    docs: np.ndarray
    tfs: np.ndarray


def _term_order(term_ids: np.ndarray, vocab: int) -> np.ndarray:
    """Stable argsort of term ids; a radix sort (uint16) when the vocabulary allows, 3-5x faster."""
    if vocab <= np.iinfo(np.uint16).max + 1:
        return np.argsort(term_ids.astype(np.uint16), kind="stable")
    return np.argsort(term_ids.astype(np.int32 if vocab <= np.iinfo(np.int32).max else np.int64), kind="stable")


class KeywordIndex:
    """One tenant's BM25 index: chunk rowid -> ``(term ids, term frequencies)``.

    A chunk's term ids must be distinct (the store counts them).

    Example:
        >>> kw = KeywordIndex()
        >>> kw.add(1, np.array([0, 1]), np.array([2, 1]))
        >>> kw.add(2, np.array([1]), np.array([1]))
        >>> kw.top([0], 10)[0].tolist()
        [1]
    """

    def __init__(self) -> None:
        self._doc_of: dict[int, int] = {}  # rowid -> doc
        self._rid = np.zeros(16, dtype=np.int64)  # doc -> rowid
        self._len = np.zeros(16, dtype=np.float64)  # doc -> number of terms
        self._alive = np.zeros(16, dtype=bool)
        self._docs = 0  # doc numbers handed out since the last rebuild
        self._live = 0
        self._total_len = 0.0
        self._indptr = np.zeros(1, dtype=np.int64)
        self._seg_docs = np.zeros(0, dtype=np.int32)
        self._seg_tfs = np.zeros(0, dtype=np.float64)
        self._delta: dict[int, tuple[list[int], list[float]]] = {}
        self._delta_size = 0
        self._fresh = True  # the segment holds everything: no delta, no dead chunks
        self._norm: np.ndarray | None = None

    @classmethod
    def bulk(cls, rowids: np.ndarray, offsets: np.ndarray, term_ids: np.ndarray, tfs: np.ndarray) -> KeywordIndex:
        """Build from flat arrays: chunk ``i`` (rowid ``rowids[i]``) owns ``term_ids[offsets[i]:offsets[i+1]]``."""
        n = len(rowids)
        term_ids = np.asarray(term_ids, dtype=np.int64)
        sizes = np.diff(np.asarray(offsets, dtype=np.int64)).astype(np.int64)
        owner = np.repeat(np.arange(n, dtype=np.int32), sizes)
        index = cls()
        index._set_segment(np.asarray(rowids, dtype=np.int64), term_ids, owner, np.asarray(tfs, dtype=np.float64))
        return index

    @classmethod
    def from_segment(cls, segment: Segment) -> KeywordIndex:
        """The index :meth:`segment` was taken from (the same scores, bit for bit)."""
        index = cls()
        n = len(segment.rowids)
        lengths = np.bincount(segment.docs, weights=segment.tfs, minlength=n)
        index._install(
            np.asarray(segment.rowids, dtype=np.int64),
            lengths,
            np.asarray(segment.indptr, dtype=np.int64),
            np.asarray(segment.docs, dtype=np.int32),
            np.asarray(segment.tfs, dtype=np.float64),
        )
        return index

    def segment(self) -> Segment | None:
        """The postings as one segment, or ``None`` once writes have added a delta or dead chunks."""
        if not self._fresh:
            return None
        return Segment(self._rid[: self._docs].copy(), self._indptr, self._seg_docs, self._seg_tfs)

    def __len__(self) -> int:
        return self._live

    def __contains__(self, rowid: int) -> bool:
        return rowid in self._doc_of

    # -- writes -------------------------------------------------------------------
    def add(self, rowid: int, term_ids: np.ndarray, tfs: np.ndarray) -> None:
        """Index a chunk (replacing what ``rowid`` held before)."""
        self.remove(rowid)
        term_ids = np.asarray(term_ids, dtype=np.int64)
        tfs = np.asarray(tfs, dtype=np.float64)
        doc = self._new_doc(rowid, float(tfs.sum()))
        for term, tf in zip(term_ids.tolist(), tfs.tolist(), strict=True):
            docs, freqs = self._delta.setdefault(term, ([], []))
            docs.append(doc)
            freqs.append(tf)
        self._delta_size += len(term_ids)
        self._fresh = False
        if self._delta_size > max(50_000, len(self._seg_docs) // 4):
            self._rebuild()

    def remove(self, rowid: int) -> bool:
        """Drop a chunk; False when it was not indexed."""
        doc = self._doc_of.pop(rowid, None)
        if doc is None:
            return False
        self._alive[doc] = False
        self._live -= 1
        self._total_len -= self._len[doc]
        self._norm = None
        self._fresh = False
        if self._docs - self._live > max(1_000, self._live):
            self._rebuild()
        return True

    def _new_doc(self, rowid: int, length: float) -> int:
        doc = self._docs
        if doc == len(self._rid):
            size = 2 * len(self._rid)
            self._rid = np.resize(self._rid, size)
            self._len = np.resize(self._len, size)
            alive = np.zeros(size, dtype=bool)
            alive[:doc] = self._alive[:doc]
            self._alive = alive
        self._rid[doc] = rowid
        self._len[doc] = length
        self._alive[doc] = True
        self._doc_of[rowid] = doc
        self._docs += 1
        self._live += 1
        self._total_len += length
        self._norm = None
        return doc

    def _rebuild(self) -> None:
        """Renumber live chunks 0..n-1 and put all their postings into one term-sorted segment."""
        vocab = len(self._indptr) - 1
        terms = [np.repeat(np.arange(vocab, dtype=np.int64), np.diff(self._indptr))]
        docs = [self._seg_docs.astype(np.int64)]
        tfs = [self._seg_tfs]
        for term, (delta_docs, delta_tfs) in self._delta.items():
            terms.append(np.full(len(delta_docs), term, dtype=np.int64))
            docs.append(np.asarray(delta_docs, dtype=np.int64))
            tfs.append(np.asarray(delta_tfs, dtype=np.float64))
        all_docs = np.concatenate(docs)
        keep = self._alive[all_docs]
        live = np.flatnonzero(self._alive[: self._docs])  # old doc numbers, ascending
        renumber = np.cumsum(self._alive[: self._docs]) - 1
        owner = renumber[all_docs[keep]].astype(np.int32)
        # The stable sort by term keeps each term's docs ascending: delta docs come after the segment's.
        self._set_segment(self._rid[live], np.concatenate(terms)[keep], owner, np.concatenate(tfs)[keep])

    def _set_segment(self, rowids: np.ndarray, term_ids: np.ndarray, owner: np.ndarray, tfs: np.ndarray) -> None:
        """Install postings ``(owner[j], term_ids[j], tfs[j])``, each term's docs ascending in input order."""
        n = len(rowids)
        vocab = int(term_ids.max()) + 1 if len(term_ids) else 0
        order = _term_order(term_ids, vocab)
        counts = np.bincount(term_ids, minlength=vocab) if len(term_ids) else np.zeros(0, dtype=np.int64)
        indptr = np.zeros(vocab + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        lengths = np.bincount(owner, weights=tfs, minlength=n) if n else np.zeros(0, dtype=np.float64)
        self._install(rowids, lengths, indptr, owner[order], tfs[order])

    def _install(
        self, rowids: np.ndarray, lengths: np.ndarray, indptr: np.ndarray, docs: np.ndarray, tfs: np.ndarray
    ) -> None:
        n = len(rowids)
        size = max(16, n)
        self._rid = np.zeros(size, dtype=np.int64)
        self._rid[:n] = rowids
        self._len = np.zeros(size, dtype=np.float64)
        self._len[:n] = lengths
        self._alive = np.zeros(size, dtype=bool)
        self._alive[:n] = True
        self._doc_of = dict(zip(rowids.tolist(), range(n), strict=True))
        self._docs = self._live = n
        self._total_len = float(self._len[:n].sum())
        self._indptr = indptr
        self._seg_docs = docs
        self._seg_tfs = tfs
        self._delta = {}
        self._delta_size = 0
        self._fresh = True
        self._norm = None

    # -- reads --------------------------------------------------------------------
    def _term_postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """Docs (dead ones included) and tfs of a term."""
        docs: np.ndarray = np.zeros(0, dtype=np.int64)
        tfs: np.ndarray = np.zeros(0, dtype=np.float64)
        if 0 <= term < len(self._indptr) - 1:
            lo, hi = self._indptr[term], self._indptr[term + 1]
            docs, tfs = self._seg_docs[lo:hi], self._seg_tfs[lo:hi]
        delta = self._delta.get(term)
        if delta is not None:
            docs = np.concatenate([docs, np.asarray(delta[0], dtype=np.int64)])
            tfs = np.concatenate([tfs, np.asarray(delta[1], dtype=np.float64)])
        return docs, tfs

    def df(self, term: int) -> int:
        """Number of live chunks holding the term."""
        docs, _ = self._term_postings(term)
        return int(np.count_nonzero(self._alive[docs]))

    def idf(self, term: int) -> float:
        return self._idf(self.df(term))

    def _idf(self, df: int) -> float:
        value = math.log((self._live - df + 0.5) / (df + 0.5))
        return value if value > 0 else MIN_IDF

    def top(self, term_ids: list[int], n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rowids and BM25 scores of the best ``n`` chunks holding any of the terms, best first.

        ``allowed`` (sorted rowids) restricts the result; ties rank by rowid.
        """
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
        if self._live == 0 or n <= 0:
            return empty
        postings = []
        for term in dict.fromkeys(term_ids):
            docs, tfs = self._term_postings(term)
            df = int(np.count_nonzero(self._alive[docs]))
            if df:
                postings.append((docs, tfs, self._idf(df)))
        if not postings:
            return empty
        if self._norm is None:
            avgdl = self._total_len / self._live
            self._norm = K1 * (1 - B + B * self._len[: self._docs] / avgdl) if avgdl > 0 else np.full(self._docs, K1)
        all_docs, all_scores = [], []
        for docs, tfs, idf in postings:
            all_docs.append(docs)
            all_scores.append(idf * tfs * (K1 + 1) / (tfs + self._norm[docs]))
        scores = np.bincount(np.concatenate(all_docs), weights=np.concatenate(all_scores), minlength=self._docs)
        found = np.flatnonzero(scores)
        found = found[self._alive[found]]
        if allowed is not None:
            if len(allowed) == 0:
                return empty
            rids = self._rid[found]
            at = np.minimum(np.searchsorted(allowed, rids), len(allowed) - 1)
            found = found[allowed[at] == rids]
        if n < len(found):
            found = found[np.argpartition(-scores[found], n - 1)[:n]]
        rids = self._rid[found]
        order = np.lexsort((rids, -scores[found]))
        return rids[order], scores[found][order]


__all__ = ["B", "K1", "KeywordIndex", "Segment"]
