"""Plain choices shared by the library and the CLI: index backends, search modes, hybrid fusion and its defaults.

Nothing here imports pydantic or numpy, so the CLI declares its options without loading either
(``ragtune --help`` and the quick commands stay fast). :mod:`ragtune.config`, :mod:`ragtune.schema`
and :mod:`ragtune.index.request` re-export these names, which remain the usual places to import them from.
"""

from __future__ import annotations

from enum import Enum


class Backend(str, Enum):
    EMBEDDED = "embedded"
    WEAVIATE = "weaviate"


class SearchMode(str, Enum):
    """How the index is searched."""

    VECTOR = "vector"
    BM25 = "bm25"
    HYBRID = "hybrid"


class Fusion(str, Enum):
    """Weaviate's hybrid fusion algorithms, reproduced by the embedded store."""

    RELATIVE_SCORE = "relativeScore"
    RANKED = "ranked"


DEFAULT_ALPHA = 0.5
"""Weight of the vector side in hybrid search (1 = vector only, 0 = BM25 only).

Chosen by cross-validation over two data sets (``benchmarks/retrieval_generalise.py``: SciFact train
claims and SQuAD dev questions, 10 folds; relativeScore and ranked fusion, alpha 0.3-0.7): every fold
chose relativeScore 0.5, +0.010 nDCG@10 over 0.4 on SciFact and +0.0075 on SQuAD. On all 809
SciFact train claims and the full corpus (``benchmarks/retrieval_quality.py``) 0.4 and 0.5 tie
(0.739 and 0.738), which is where 0.4 had been chosen alone.
"""
DEFAULT_FUSION = Fusion.RELATIVE_SCORE

__all__ = ["DEFAULT_ALPHA", "DEFAULT_FUSION", "Backend", "Fusion", "SearchMode"]
