"""``prepare``: every validation rule lands in rejects.jsonl with file and line; nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragtune.embeddings.base import Embedder
from ragtune.errors import InputError
from ragtune.finetune.collect import read_records
from ragtune.finetune.dataset import load_training_data
from ragtune.finetune.generate import parse_qa_pairs
from ragtune.finetune.prepare import PrepareConfig, PrepareReport, prepare
from ragtune.llm.pricing import PriceTable


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def chat(*turns: tuple[str, Any], **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in turns], **extra}


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def rejects_by_line(out: Path) -> dict[int, dict[str, Any]]:
    return {r["line"]: r for r in read(out / "rejects.jsonl")}


def assert_nothing_lost(report: PrepareReport, out: Path) -> None:
    assert report.read == report.train + report.val + report.rejected
    assert len(read(out / "train.jsonl")) == report.train
    assert len(read(out / "val.jsonl")) == report.val
    assert len(read(out / "rejects.jsonl")) == report.rejected


BAD_RECORDS: list[tuple[Any, str]] = [
    ("{not json", "invalid_json"),
    ([1, 2], "data_type"),
    ({"foo": "bar"}, "unknown_shape"),
    ({"question": 3, "answer": "x"}, "wrong_type"),
    ({"messages": "hello"}, "missing_messages_list"),
    ({"messages": []}, "missing_messages_list"),
    (chat(("user", "hi")), "example_missing_assistant_message"),
    (chat(("robot", "hi"), ("assistant", "yo")), "unrecognized_role"),
    ({"messages": [{"content": "hi"}, {"role": "assistant", "content": "yo"}]}, "message_missing_key"),
    (
        {"messages": [{"role": "user", "content": "hi", "mood": 1}, {"role": "assistant", "content": "yo"}]},
        "message_unrecognized_key",
    ),
    ({"messages": [{"role": "user"}, {"role": "assistant", "content": "yo"}]}, "missing_content"),
    (chat(("user", "   "), ("assistant", "yo")), "empty_content"),
    (chat(("user", 42), ("assistant", "yo")), "wrong_type"),
    (chat(("user", "hi"), ("assistant", "yo"), unexpected=True), "unrecognized_key"),
    (
        {"messages": [{"role": "user", "content": "hi", "weight": 1}, {"role": "assistant", "content": "yo"}]},
        "invalid_weight",
    ),
    (
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "weight": 0.5}]},
        "invalid_weight",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}],
                },
            ]
        },
        "invalid_tool_call",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "tool", "content": "42", "tool_call_id": "nope"},
                {"role": "assistant", "content": "yo"},
            ]
        },
        "invalid_tool_call",
    ),
    ({"text": "meh", "label": "neutral"}, "label_not_allowed"),
    (chat(("user", "meh"), ("assistant", "neutral")), "label_not_allowed"),
    ({"question": "long " * 400, "answer": "x"}, "too_many_tokens"),
]


@pytest.mark.parametrize(("record", "code"), BAD_RECORDS, ids=[f"{i}-{c}" for i, (_, c) in enumerate(BAD_RECORDS)])
def test_each_rule_rejects_with_file_line_reason_and_the_record_as_read(tmp_path, record, code):  # type: ignore[no-untyped-def]
    good = {"question": "What is ragtune?", "answer": "A toolkit."}
    source = write_jsonl(tmp_path / "data.jsonl", [good, record])
    out = tmp_path / "out"
    report = prepare([source], out, PrepareConfig(labels=("pos", "neg"), max_tokens=300, val_fraction=0.0))
    assert_nothing_lost(report, out)
    rejected = rejects_by_line(out)
    assert list(rejected) == [2]
    assert rejected[2]["code"] == code
    assert rejected[2]["file"] == str(source)
    assert rejected[2]["reason"]
    assert rejected[2]["record"] == record
    assert report.rejected_by_code == {code: 1}


def test_valid_tool_calls_and_weights_are_kept(tmp_path):  # type: ignore[no-untyped-def]
    record = {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "Let me check.", "weight": 0},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "assistant", "content": "Sunny.", "weight": 1},
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
    }
    out = tmp_path / "out"
    report = prepare([write_jsonl(tmp_path / "d.jsonl", [record])], out, PrepareConfig(val_fraction=0.0))
    assert report.rejected == 0 and report.train == 1
    assert read(out / "train.jsonl")[0] == record


def test_shapes_are_detected_per_record_and_normalised_to_chat(tmp_path):  # type: ignore[no-untyped-def]
    rows = [
        {"question": "Q1?", "answer": "A1."},
        {"prompt": "P2", "completion": "C2"},
        {"text": "I love it", "label": "pos"},
        {"instruction": "Translate", "input": "bonjour", "output": "hello"},
        {"instruction": "Say hi", "output": "hi"},
        chat(("system", "Be brief."), ("user", "U6"), ("assistant", "A6")),
        {"conversations": [{"from": "human", "value": "U7"}, {"from": "gpt", "value": "A7"}]},
    ]
    out = tmp_path / "out"
    report = prepare([write_jsonl(tmp_path / "d.jsonl", rows)], out, PrepareConfig(val_fraction=0.0))
    assert report.shapes == {"chat": 2, "classification": 1, "instruction": 2, "qa": 2}
    train = read(out / "train.jsonl")
    assert train[0] == chat(("user", "Q1?"), ("assistant", "A1."))
    assert train[2] == chat(("user", "I love it"), ("assistant", "pos"))
    assert train[3] == chat(("user", "Translate\n\nbonjour"), ("assistant", "hello"))
    assert train[6] == chat(("user", "U7"), ("assistant", "A7"))
    sources = read(out / "train.sources.jsonl")
    assert [s["line"] for s in sources] == list(range(1, 8))
    assert sources[2]["label"] == "pos"


def test_one_label_rule_for_classification_and_chat_records(tmp_path):  # type: ignore[no-untyped-def]
    system = ("system", "Classify the ticket as billing, infra or accounts.")
    rows = [
        {"text": "I was charged twice", "label": "billing"},
        chat(system, ("user", "The API is down"), ("assistant", "infra")),
        {"text": "The site is slow", "label": "performance"},
        chat(system, ("user", "The site is slow"), ("assistant", "performance")),
        {"question": "How do I reset my password?", "answer": "Use the reset link."},
    ]
    out = tmp_path / "out"
    config = PrepareConfig(labels=("billing", "infra", "accounts"), val_fraction=0.0)
    report = prepare([write_jsonl(tmp_path / "tickets.jsonl", rows)], out, config)
    assert_nothing_lost(report, out)
    rejected = rejects_by_line(out)
    assert sorted(rejected) == [3, 4]
    assert {r["code"] for r in rejected.values()} == {"label_not_allowed"}
    assert all("'performance'" in r["reason"] and "--labels" in r["reason"] for r in rejected.values())
    sources = read(out / "train.sources.jsonl")
    assert [(s["line"], s.get("label")) for s in sources] == [(1, "billing"), (2, "infra"), (5, None)]


def test_csv_with_line_numbers_of_multiline_rows(tmp_path):  # type: ignore[no-untyped-def]
    source = tmp_path / "d.csv"
    source.write_text('text,label\n"first\nline",pos\nbad row,neg,extra\nfine,neg\n', encoding="utf-8")
    out = tmp_path / "out"
    report = prepare([source], out, PrepareConfig(val_fraction=0.0))
    assert report.read == 3 and report.train == 2
    assert rejects_by_line(out)[4]["code"] == "invalid_csv"
    assert [s["line"] for s in read(out / "train.sources.jsonl")] == [2, 5]


def test_formatting_fixes_are_applied_and_counted(tmp_path):  # type: ignore[no-untyped-def]
    rows = [
        {
            "messages": [
                {"role": "Human", "content": "  <p>Hello&amp;welcome</p>  "},
                {"role": "bot", "content": "Hi   there.\r\n\r\n\r\nBye "},
            ]
        },
        {"messages": [{"from": "user", "value": "x"}, {"role": "AI", "content": "y"}]},
        {"question": "def f():\n    return  1", "answer": "code"},
    ]
    out = tmp_path / "out"
    report = prepare([write_jsonl(tmp_path / "d.jsonl", rows)], out, PrepareConfig(val_fraction=0.0))
    train = read(out / "train.jsonl")
    assert train[0] == chat(("user", "Hello&welcome"), ("assistant", "Hi there.\n\nBye"))
    assert train[1] == chat(("user", "x"), ("assistant", "y"))
    assert train[2]["messages"][0]["content"] == "def f():\n    return 1"  # indentation kept
    assert report.fixes.roles == 3
    assert report.fixes.keys == 2
    assert report.fixes.markup == 1
    assert report.fixes.whitespace >= 2
    assert report.fixes.total == report.fixes.roles + report.fixes.keys + report.fixes.markup + report.fixes.whitespace


def test_exact_and_near_duplicates_keep_the_first_occurrence(tmp_path):  # type: ignore[no-untyped-def]
    rows = [
        {"question": "What is RAG?", "answer": "Retrieval-augmented generation."},
        {"question": "What is RAG?", "answer": "Retrieval-augmented generation."},
        {"question": "what is rag", "answer": "retrieval augmented generation"},
        {"question": "Other?", "answer": "Yes."},
    ]
    out = tmp_path / "out"
    report = prepare([write_jsonl(tmp_path / "d.jsonl", rows)], out, PrepareConfig(val_fraction=0.0))
    assert_nothing_lost(report, out)
    rejected = rejects_by_line(out)
    assert rejected[2]["code"] == "duplicate" and ":1" in rejected[2]["reason"]
    assert rejected[3]["code"] == "near_duplicate"
    assert report.duplicates == 1 and report.near_duplicates == 1
    assert [s["line"] for s in read(out / "train.sources.jsonl")] == [1, 4]


def test_conflicting_duplicates_reject_every_record_of_the_group(tmp_path):  # type: ignore[no-untyped-def]
    rows = [
        {"text": "The parcel arrived late", "label": "complaint"},
        {"text": "Thanks!", "label": "praise"},
        {"text": "the parcel arrived late.", "label": "question"},
        {"text": "The parcel arrived late", "label": "complaint"},
    ]
    out = tmp_path / "out"
    report = prepare([write_jsonl(tmp_path / "d.jsonl", rows)], out, PrepareConfig(val_fraction=0.0))
    assert_nothing_lost(report, out)
    rejected = rejects_by_line(out)
    assert sorted(rejected) == [1, 3, 4]
    assert {r["code"] for r in rejected.values()} == {"conflicting_duplicate"}
    assert report.conflicting == 3 and report.train == 1


class KeywordEmbedder(Embedder):
    """Two directions: texts mentioning "refund" and all others (so the test controls cosine exactly)."""

    model_id = "keyword-test"
    dim = 2

    def _embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        return np.array([[1.0, 0.0] if "refund" in t.lower() else [0.0, 1.0] for t in texts], dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def test_embedding_near_duplicates_use_the_threshold(tmp_path):  # type: ignore[no-untyped-def]
    rows = [
        {"question": "How do I get a refund?", "answer": "Use the form."},
        {"question": "Can I have my money back (refund)?", "answer": "Fill in the form."},
        {"question": "Where is my parcel?", "answer": "Track it online."},
    ]
    source = write_jsonl(tmp_path / "d.jsonl", rows)
    report = prepare([source], tmp_path / "a", PrepareConfig(val_fraction=0.0), embedder=KeywordEmbedder())
    rejected = rejects_by_line(tmp_path / "a")
    assert list(rejected) == [2] and rejected[2]["code"] == "near_duplicate" and "cosine 1.000" in rejected[2]["reason"]
    assert report.train == 2
    assert prepare([source], tmp_path / "b", PrepareConfig(val_fraction=0.0)).train == 3  # no embedder: kept


def test_split_is_by_source_document_and_deterministic(tmp_path):  # type: ignore[no-untyped-def]
    rows = [
        {"question": f"Q{i} about doc {i % 10}?", "answer": f"A{i}.", "doc_id": f"doc-{i % 10}", "chunk_id": f"c{i}"}
        for i in range(100)
    ] + [{"question": f"Loose {i}?", "answer": "x"} for i in range(20)]
    source = write_jsonl(tmp_path / "d.jsonl", rows)
    first = prepare([source], tmp_path / "a", PrepareConfig(val_fraction=0.3))
    second = prepare([source], tmp_path / "b", PrepareConfig(val_fraction=0.3))
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()
    assert first.dataset_sha256 == second.dataset_sha256
    train_docs = {s.get("doc_id") for s in read(tmp_path / "a" / "train.sources.jsonl")} - {None}
    val_docs = {s.get("doc_id") for s in read(tmp_path / "a" / "val.sources.jsonl")} - {None}
    assert train_docs and val_docs and not train_docs & val_docs
    assert first.train + first.val == 120 and 0 < first.val < 120
    assert first.val_groups + first.train_groups == 10 + 20


def test_a_tiny_set_still_gets_a_validation_split(tmp_path):  # type: ignore[no-untyped-def]
    rows = [{"question": "A?", "answer": "a"}, {"question": "B?", "answer": "b"}]
    report = prepare([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "o", PrepareConfig(val_fraction=0.1))
    assert (report.train, report.val) == (1, 1)


def test_report_counts_tokens_limits_and_cost(tmp_path):  # type: ignore[no-untyped-def]
    rows = [{"question": f"Question number {i}?", "answer": "An answer."} for i in range(10)]
    out = tmp_path / "out"
    config = PrepareConfig(val_fraction=0.0, epochs=4)
    report = prepare([write_jsonl(tmp_path / "d.jsonl", rows)], out, config, prices=PriceTable.default())
    tokens = report.tokens
    per_example = [s["tokens"] for s in read(out / "train.sources.jsonl")]
    assert tokens.train == tokens.total == sum(per_example) and tokens.max_example == max(per_example)
    assert tokens.limit == 65_536  # gpt-4o-mini's fine-tuning example limit
    assert tokens.billed == tokens.train * 4
    assert report.estimated_cost_usd == pytest.approx(tokens.billed * 3.00 / 1e6, rel=1e-3)
    saved = json.loads((out / "report.json").read_text())
    assert saved["kept"] == 10 and saved["tokens"]["billed"] == tokens.billed


def test_several_files_and_folders_keep_their_own_file_names(tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "data"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"question": "A?", "answer": "a"}, "oops"])
    write_jsonl(folder / "b.jsonl", ["oops", {"question": "B?", "answer": "b"}])
    out = tmp_path / "out"
    report = prepare([folder], out, PrepareConfig(val_fraction=0.0))
    assert report.files == [str(folder / "a.jsonl"), str(folder / "b.jsonl")]
    assert {(r["file"], r["line"]) for r in read(out / "rejects.jsonl")} == {
        (str(folder / "a.jsonl"), 2),
        (str(folder / "b.jsonl"), 1),
    }


def test_missing_input_is_a_clear_error(tmp_path):  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="no such file"):
        prepare([tmp_path / "nope.jsonl"], tmp_path / "out")
    with pytest.raises(InputError, match="unsupported file type"):
        (tmp_path / "x.parquet").write_bytes(b"")
        list(read_records([tmp_path / "x.parquet"]))


def test_prepared_data_reads_back_with_provenance(tmp_path):  # type: ignore[no-untyped-def]
    rows = [{"question": f"Q{i}?", "answer": f"A{i}", "doc_id": f"d{i}", "doc_hash": f"h{i}"} for i in range(10)]
    prepare([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "out", PrepareConfig(val_fraction=0.3))
    data = load_training_data(tmp_path / "out")
    assert len(data.examples) == 10
    assert {e.source.doc_hash for e in data.examples} == {f"h{i}" for i in range(10)}
    assert data.train[0].completion.startswith("A")


@pytest.mark.parametrize(
    ("reply", "pairs"),
    [
        ('[{"question": "Q?", "answer": "A"}]', [("Q?", "A")]),
        ('Sure!\n```json\n[{"Q": "Q?", "A": 3}]\n```', [("Q?", "3")]),
        ('{"pairs": [{"question": "Q?", "answer": "A"}]}', [("Q?", "A")]),
        ('{"question": "Q1?", "answer": "A1"}\n{"question": "Q2?", "answer": "A2"}', [("Q1?", "A1"), ("Q2?", "A2")]),
        ("1. Q: What is X?\nA: Y.\n\n2. Q: Why?\nA: Because.", [("What is X?", "Y."), ("Why?", "Because.")]),
        ("**Question 1:** Who?\n**Answer:** Me.", [("Who?", "Me.")]),
        ("I cannot help with that.", []),
    ],
)
def test_generated_pairs_are_parsed_from_messy_model_output(reply, pairs):  # type: ignore[no-untyped-def]
    assert parse_qa_pairs(reply) == pairs
