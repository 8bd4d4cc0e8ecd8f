"""Evaluation: retrieval metrics, answer metrics, and the RAG vs fine-tuning comparison.

- :mod:`~ragtune.evaluation.retrieval`: nDCG@10, recall, MRR on BEIR-format data (``ragtune eval retrieval``);
- :mod:`~ragtune.evaluation.answer_metrics`: exact match, token F1 (SQuAD), citation correctness, faithfulness;
- :mod:`~ragtune.evaluation.answer_eval`: a question file answered through the chain and scored
  (``ragtune eval answers``), every mean with a bootstrap interval (:mod:`~ragtune.evaluation.bootstrap`);
- :mod:`~ragtune.evaluation.compare`: RAG, fine-tuned-only and hybrid side by side (``ragtune compare``),
  with :mod:`~ragtune.evaluation.report` writing ``results.json``, Markdown/HTML and charts.

Names load lazily, so ``import ragtune.evaluation`` imports neither matplotlib nor a model.
"""

from __future__ import annotations

from ragtune._lazy import lazy_getattr

_LAZY = {
    "RetrievalMetrics": "retrieval",
    "evaluate_retrieval": "retrieval",
    "citation_correctness": "answer_metrics",
    "exact_match": "answer_metrics",
    "faithfulness": "answer_metrics",
    "is_correct": "answer_metrics",
    "normalize_answer": "answer_metrics",
    "token_f1": "answer_metrics",
    "AnswerEvalReport": "answer_eval",
    "evaluate_answers": "answer_eval",
    "QAItem": "qa_file",
    "load_qa": "qa_file",
    "Interval": "bootstrap",
    "interval": "bootstrap",
    "paired_difference": "bootstrap",
    "CompareSetup": "results",
    "EvalItem": "eval_file",
    "load_eval": "eval_file",
    "CompareConfig": "compare",
    "TrainResult": "compare",
    "compare": "compare",
    "ApproachResult": "results",
    "ComparisonResults": "results",
    "recommend": "recommend",
    "write_report": "report",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
__all__ = sorted(_LAZY)
