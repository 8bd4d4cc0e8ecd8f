"""Loaders on real files written into tmp_path: formats, encodings, folders, URLs, adapters, bad input."""

from __future__ import annotations

import hashlib
import http.server
import inspect
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from ragtune.errors import ConfigError, LoaderError
from ragtune.loaders import (
    LoadOptions,
    from_langchain_loader,
    from_llamaindex_reader,
    iter_documents,
    load_documents,
    source_in_scope,
    source_scope,
    supported_suffixes,
)
from ragtune.loaders.folder import glob_match
from ragtune.schema import Document

SCIFACT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "scifact" / "corpus.jsonl"


def make_pdf(path: Path, pages: list[str], *, title: str | None = None) -> Path:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    if title:
        pdf.setTitle(title)
    for text in pages:
        pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()
    return path


def make_docx(path: Path, *, title: str | None) -> Path:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_heading("Installation", level=1)
    document.add_paragraph("Run the installer and accept the licence.")
    document.add_heading("Linux", level=2)
    document.add_paragraph("Use the tarball on Linux machines.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "os"
    table.cell(0, 1).text = "package"
    table.cell(1, 0).text = "debian"
    table.cell(1, 1).text = "deb"
    document.save(str(path))
    return path


def only(items: list[Document]) -> Document:
    assert len(items) == 1, items
    return items[0]


# --- single files -------------------------------------------------------------------------------


def test_text_file_carries_source_title_modified_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("  Line one.\r\nLine two.\n\n", encoding="utf-8")
    docs, failures = load_documents([path])
    doc = only(docs)
    assert failures == []
    assert doc.id == doc.source == str(path.resolve())
    assert doc.text == "Line one.\nLine two."
    assert doc.title == "notes"
    assert doc.modified == pytest.approx(path.stat().st_mtime)
    assert doc.content_hash == hashlib.sha256(doc.text.encode()).hexdigest()
    assert doc.metadata == {"file_type": "txt"}


def test_relative_and_symlinked_paths_resolve_to_one_absolute_source(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "a.txt").write_text("alpha", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")
    monkeypatch.chdir(tmp_path)
    docs, failures = load_documents(["a.txt", "link.txt", str(tmp_path / "a.txt")])
    assert failures == []
    assert [doc.source for doc in docs] == [str((tmp_path / "a.txt").resolve())]


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("utf-16", "Grüße, naïve café — 東京"),  # BOM written by the codec (little-endian here)
        ("utf-16-be-bom", "Grüße, naïve café"),
        ("utf-8-sig", "Grüße, naïve café — 東京"),
        ("utf-8", "Grüße, naïve café — 東京"),
        ("latin-1", "Grüße, naïve café, ½ ÷ ±"),
        ("cp1252", "“Curly quotes” and a euro € sign"),
    ],
)
def test_encodings_are_detected(tmp_path: Path, encoding: str, text: str) -> None:
    path = tmp_path / "encoded.txt"
    if encoding == "utf-16-be-bom":
        path.write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    else:
        path.write_bytes(text.encode(encoding))
    docs, failures = load_documents([path])
    assert failures == []
    assert only(docs).text == text


def test_markdown_title_is_first_h1_outside_code(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("```bash\n# not a title\n```\n\nIntro.\n\n# Real Title\n\n## Part\n\nBody.\n", encoding="utf-8")
    doc = only(load_documents([path])[0])
    assert doc.title == "Real Title"
    assert "## Part" in doc.text  # Markdown is kept for heading-aware chunking
    assert doc.metadata["file_type"] == "md"
    untitled = tmp_path / "plain-notes.md"
    untitled.write_text("No heading here, only text.", encoding="utf-8")
    assert only(load_documents([untitled])[0]).title == "plain-notes"
    front = tmp_path / "front.md"
    front.write_text("---\ntitle: From Front Matter\n---\n\nText without a heading.", encoding="utf-8")
    assert only(load_documents([front])[0]).title == "From Front Matter"


HTML_PAGE = """<!doctype html>
<html><head><title>Solar  Panels
 Guide</title>
<style>body { color: red; } .secret { display: none }</style>
<script>var trackingSecret = "do-not-index";</script></head>
<body>
<nav>Home</nav>
<h1>Solar panels</h1>
<p>Panels convert &nbsp; <b>sunlight</b>
into electricity.</p>
<noscript>Enable JavaScript</noscript>
<div hidden>hidden words</div><p style="display:none">invisible words</p>
<!-- a comment that is not text -->
<h2>Installation</h2>
<ul><li>Mount the rails</li><li>Wire the inverter</li></ul>
<table><tr><th>Size</th><th>Output</th></tr><tr><td>small</td><td>3 kW</td></tr></table>
<script type="module">console.log("also-not-indexed")</script>
</body></html>"""


@pytest.mark.parametrize("suffix", [".html", ".htm"])
def test_html_keeps_visible_text_only(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"page{suffix}"
    path.write_text(HTML_PAGE, encoding="utf-8")
    doc = only(load_documents([path])[0])
    assert doc.title == "Solar Panels Guide"
    assert doc.text.startswith("Home\n\n# Solar panels")  # no doctype, no <head> content
    for gone in ("trackingSecret", "do-not-index", "also-not-indexed", "color: red", "hidden words", "invisible words"):
        assert gone not in doc.text
    assert "comment" not in doc.text and "Enable JavaScript" not in doc.text
    assert "# Solar panels" in doc.text and "## Installation" in doc.text
    assert "Panels convert sunlight into electricity." in doc.text
    assert "- Mount the rails\n- Wire the inverter" in doc.text
    assert "small | 3 kW" in doc.text


def test_pdf_gives_one_document_per_page(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "report.pdf",
        ["Photosynthesis converts light.", "", "Mitochondria make ATP."],
        title="Biology Report",
    )
    docs, failures = load_documents([path])
    assert failures == []
    source = str(path.resolve())
    assert [doc.id for doc in docs] == [f"{source}#page=1", f"{source}#page=3"]  # the blank page 2 has no text
    assert [doc.metadata["page"] for doc in docs] == [1, 3]
    assert all(doc.source == source and doc.title == "Biology Report" for doc in docs)
    assert docs[0].text == "Photosynthesis converts light."
    assert docs[1].text == "Mitochondria make ATP."
    untitled = make_pdf(tmp_path / "untitled.pdf", ["Some text."])
    assert only(load_documents([untitled])[0]).title == "untitled"


def test_broken_pdfs_fail_with_a_reason(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "good.pdf", ["First page text.", "Second page text."]).read_bytes()
    (tmp_path / "truncated.pdf").write_bytes(good[: len(good) // 2])
    (tmp_path / "garbage.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(2000).replace(b"%%EOF", b"") + b"\n%%EOF\n")
    (tmp_path / "not-a-pdf.pdf").write_bytes(b"<html>this was an error page</html>")
    docs, failures = load_documents([tmp_path / name for name in ("truncated.pdf", "garbage.pdf", "not-a-pdf.pdf")])
    assert docs == []
    reasons = {Path(failure.path).name: failure.reason for failure in failures}
    assert reasons["truncated.pdf"].startswith("truncated PDF")
    assert reasons["garbage.pdf"].startswith("corrupt PDF")
    assert reasons["not-a-pdf.pdf"].startswith("not a PDF")


def test_docx_headings_tables_and_title(tmp_path: Path) -> None:
    doc = only(load_documents([make_docx(tmp_path / "manual.docx", title="Product Manual")])[0])
    assert doc.title == "Product Manual"
    assert doc.text.startswith("# Installation\n\nRun the installer")
    assert "## Linux\n\nUse the tarball" in doc.text
    assert "os | package\ndebian | deb" in doc.text
    assert only(load_documents([make_docx(tmp_path / "no-title.docx", title=None)])[0]).title == "no-title"
    (tmp_path / "old.docx").write_bytes(b"\xd0\xcf\x11\xe0 an OLE .doc, not a zip")
    failure = only(load_documents([tmp_path / "old.docx"])[1])  # type: ignore[arg-type]
    assert "not a valid .docx" in failure.reason and "re-save it as .docx" in failure.reason


# --- records ------------------------------------------------------------------------------------


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_records_ids_text_fields_and_metadata(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "faq.jsonl",
        [
            json.dumps({"_id": 7, "title": "Refunds", "question": "Can I get a refund?", "answer": "Yes, in 30 days.",
                        "lang": "en", "score": 0.5, "tags": ["billing", "policy"], "extra": {"nested": True}}),
            "",
            json.dumps({"_id": "q-8", "question": "Shipping?", "answer": "Two days.", "lang": "de"}),
        ],
    )  # fmt: skip
    options = LoadOptions(text_fields=["question", "answer"], id_field="_id")
    docs, failures = load_documents([path], options)
    assert failures == []
    assert [doc.id for doc in docs] == ["7", "q-8"]
    assert docs[0].text == "Can I get a refund?\n\nYes, in 30 days."
    assert docs[0].title == "Refunds" and docs[1].title == "faq"
    assert docs[0].metadata == {"lang": "en", "score": 0.5, "tags": ["billing", "policy"]}
    assert all(doc.source == str(path.resolve()) for doc in docs)
    none = load_documents([path], options.model_copy(update={"metadata_fields": []}))[0]
    assert [doc.metadata for doc in none] == [{}, {}]
    chosen = load_documents([path], options.model_copy(update={"metadata_fields": ["extra", "lang", "missing"]}))[0]
    assert chosen[0].metadata == {"extra": '{"nested": true}', "lang": "en"}


def test_jsonl_bad_lines_fail_alone_with_line_numbers(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            '{"id": "a", "text": "first good record"}',
            '{"id": "b", "text": "broken, the closing brace is missing"',
            '{"id": "a", "text": "duplicate id"}',
            '{"text": "no id at all"}',
            '["not", "an", "object"]',
            '{"id": "c", "body": "second good record (body field)"}',
            '{"id": "d", "title": "only a title"}',
        ],
    )
    docs, failures = load_documents([path], LoadOptions(id_field="id"))
    assert [doc.id for doc in docs] == ["a", "c"]
    assert docs[1].text == "second good record (body field)"
    by_line = {failure.line: failure.reason for failure in failures}
    assert sorted(by_line) == [2, 3, 4, 5, 7]
    assert "invalid JSON" in by_line[2]
    assert 'duplicate id "a"' in by_line[3] and "line 1" in by_line[3]
    assert 'missing or empty id field "id"' in by_line[4]
    assert "expected an object" in by_line[5]
    assert "no text field" in by_line[7] and "--text-field" in by_line[7]
    assert all(failure.path == str(path.resolve()) for failure in failures)


def test_records_without_id_field_use_path_and_position(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "notes.jsonl", ['{"text": "one"}', "", '{"text": "three"}'])
    docs, _ = load_documents([path])
    assert [doc.id for doc in docs] == [f"{path.resolve()}#1", f"{path.resolve()}#3"]


def test_file_where_no_record_has_text_fails_once(tmp_path: Path) -> None:
    path = tmp_path / "qrels.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{i}\t{i}\t1\n" for i in range(500)), encoding="utf-8")
    docs, failures = load_documents([path])
    assert docs == []
    failure = only(failures)  # type: ignore[arg-type]
    assert failure.reason.startswith("none of its 500 records loaded")
    assert '"query-id"' in failure.reason


def test_json_list_and_single_object(tmp_path: Path) -> None:
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps([{"id": 1, "content": "first"}, {"id": 2, "content": "second"}, 3]), encoding="utf-8")
    docs, failures = load_documents([listing], LoadOptions(id_field="id"))
    assert [doc.id for doc in docs] == ["1", "2"]
    assert [failure.reason for failure in failures] == ["record 3: expected an object with fields, got int"]
    single = tmp_path / "single.json"
    single.write_text(json.dumps({"title": "One", "text": "single object"}), encoding="utf-8")
    doc = only(load_documents([single])[0])
    assert (doc.id, doc.title, doc.text) == (f"{single.resolve()}#1", "One", "single object")
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  {"text": "a"},\n  {"text": \n]', encoding="utf-8")
    failure = only(load_documents([broken])[1])  # type: ignore[arg-type]
    assert failure.line == 4 and failure.reason.startswith("invalid JSON")


def test_csv_and_tsv_records(tmp_path: Path) -> None:
    semicolon = tmp_path / "products.csv"
    semicolon.write_text(
        'sku;name;description\nA1;Lamp;"A lamp; bright\nand warm"\nB2;Desk;Oak desk\n', encoding="utf-8"
    )
    docs, failures = load_documents([semicolon], LoadOptions(text_fields=["name", "description"], id_field="sku"))
    assert failures == []
    assert [doc.id for doc in docs] == ["A1", "B2"]
    assert docs[0].text == "Lamp\n\nA lamp; bright\nand warm"
    tsv = tmp_path / "rows.tsv"
    tsv.write_text("text\tauthor\nfirst row\tann\nsecond row\tbob\n", encoding="utf-8")
    docs, _ = load_documents([tsv])
    assert [(doc.id, doc.text, doc.metadata) for doc in docs] == [
        (f"{tsv.resolve()}#1", "first row", {"author": "ann"}),
        (f"{tsv.resolve()}#2", "second row", {"author": "bob"}),
    ]
    header_only = tmp_path / "empty.csv"
    header_only.write_text("text,author\n", encoding="utf-8")
    assert only(load_documents([header_only])[1]).reason.startswith("no records")  # type: ignore[arg-type]


def test_scifact_corpus_loads_with_its_own_ids() -> None:
    if not SCIFACT.is_file():
        pytest.skip(f"SciFact corpus not found at {SCIFACT}")
    expected = [json.loads(line) for line in SCIFACT.read_text(encoding="utf-8").splitlines() if line.strip()]
    started = time.perf_counter()
    docs, failures = load_documents([SCIFACT], LoadOptions(text_fields=["title", "text"], id_field="_id"))
    elapsed = time.perf_counter() - started
    assert failures == []
    assert len(docs) == 5183
    assert [doc.id for doc in docs] == [record["_id"] for record in expected]
    assert docs[0].id == "4983"
    assert docs[0].title == expected[0]["title"]
    assert docs[0].text == f"{expected[0]['title']}\n\n{expected[0]['text']}"
    assert all(doc.source == str(SCIFACT.resolve()) for doc in docs)
    assert elapsed < 10, f"loading SciFact took {elapsed:.1f}s"


# --- folders and bad input ----------------------------------------------------------------------


def test_folder_is_recursive_sorted_and_skips_hidden(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "b" / "deep").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "a.txt").write_text("a", encoding="utf-8")
    (root / "b" / "c.md").write_text("# C\n\ntext", encoding="utf-8")
    (root / "b" / "deep" / "d.txt").write_text("d", encoding="utf-8")
    (root / ".hidden.txt").write_text("secret", encoding="utf-8")
    (root / ".git" / "config.txt").write_text("secret", encoding="utf-8")
    (root / "b" / "twin.txt").symlink_to(root / "a.txt")  # inside the folder: loaded once, as a.txt
    (root / "b" / "deep-link").symlink_to(root / "b" / "deep")  # inside: not walked twice
    docs, failures = load_documents([root])
    assert failures == []
    resolved = root.resolve()
    assert [doc.source for doc in docs] == [str(resolved / name) for name in ("a.txt", "b/c.md", "b/deep/d.txt")]


def test_folder_include_and_exclude_globs(tmp_path: Path) -> None:
    for name in ("keep.md", "drafts/wip.md", "notes/a.txt", "notes/sub/b.md", "build/out.md", "x.log"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"text of {name}", encoding="utf-8")
    options = LoadOptions(include=["*.md", "notes/**/*.txt"], exclude=["drafts", "build/**"])
    docs, failures = load_documents([tmp_path], options)
    assert failures == []
    assert [Path(doc.source).relative_to(tmp_path.resolve()).as_posix() for doc in docs] == [
        "keep.md",
        "notes/a.txt",
        "notes/sub/b.md",
    ]


@pytest.mark.parametrize(
    ("relative", "pattern", "expected"),
    [
        ("a/b/c.md", "*.md", True),
        ("a/b/c.md", "c.*", True),
        ("a/b/c.md", "a/**/*.md", True),
        ("a/c.md", "a/**/*.md", True),
        ("c.md", "**/*.md", True),
        ("a/b/c.md", "b/*.md", False),
        ("a/b/c.txt", "*.md", False),
        ("drafts", "drafts/", True),
    ],
)
def test_glob_match(relative: str, pattern: str, expected: bool) -> None:
    assert glob_match(relative, pattern) is expected


def test_bad_input_folder_loads_every_good_file_and_names_every_bad_one(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside the folder", encoding="utf-8")
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "good.txt").write_text("A perfectly good note about retrieval.", encoding="utf-8")
    (folder / "guide.md").write_text("# Guide\n\nHow to ingest.", encoding="utf-8")
    make_pdf(folder / "paper.pdf", ["Page one of the paper.", "Page two of the paper."], title="Paper")
    pdf = make_pdf(tmp_path / "whole.pdf", ["A PDF that will be cut short."]).read_bytes()
    (folder / "truncated.pdf").write_bytes(pdf[: len(pdf) * 2 // 3])
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n" + b"\x00\xff" * 300 + b"\n%%EOF\n")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (folder / "control.txt").write_bytes(b"\x01\x02\x03\x04\x05abc\x06\x07\x08\x0e\x0f" * 400)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_text("  \n\n \t\n", encoding="utf-8")
    (folder / "data.xyz").write_text("unknown format", encoding="utf-8")
    (folder / "records.jsonl").write_text(
        '{"id": "r1", "text": "first record"}\n{"id": "r2", "text": oops}\n{"id": "r3", "text": "third record"}\n',
        encoding="utf-8",
    )
    (folder / "escape.txt").symlink_to(outside / "secret.txt")
    (folder / "escape-dir").symlink_to(outside)
    sentence = "Retrieval augmented generation needs good chunking and honest evaluation. "
    big = (sentence * (20 * 1024 * 1024 // len(sentence) + 1))[: 20 * 1024 * 1024]
    (folder / "big.txt").write_text(big, encoding="ascii")

    started = time.perf_counter()
    docs, failures = load_documents([folder], LoadOptions(id_field="id"))
    elapsed = time.perf_counter() - started

    resolved = folder.resolve()
    loaded = sorted(doc.id.removeprefix(str(resolved) + "/") for doc in docs)
    assert loaded == sorted(["big.txt", "good.txt", "guide.md", "paper.pdf#page=1", "paper.pdf#page=2", "r1", "r3"])
    big_doc = next(doc for doc in docs if doc.id.endswith("big.txt"))
    assert len(big_doc.text) == len(big.strip())
    assert elapsed < 20, f"loading the bad-input folder took {elapsed:.1f}s"

    reasons = {Path(failure.path).name: failure for failure in failures}
    assert set(reasons) == {
        "truncated.pdf", "corrupt.pdf", "binary.txt", "control.txt", "empty.txt", "blank.md", "data.xyz",
        "records.jsonl", "escape.txt", "escape-dir",
    }  # fmt: skip
    assert reasons["truncated.pdf"].reason.startswith("truncated PDF")
    assert reasons["corrupt.pdf"].reason.startswith("corrupt PDF")
    assert reasons["binary.txt"].reason.startswith("binary content")
    assert reasons["control.txt"].reason.startswith("binary content")
    assert reasons["empty.txt"].reason == "empty file"
    assert reasons["blank.md"].reason.startswith("no text")
    assert reasons["data.xyz"].reason.startswith("unsupported file type .xyz; supported: ")
    assert all(suffix in reasons["data.xyz"].reason for suffix in (".pdf", ".md", ".jsonl", ".docx"))
    assert reasons["records.jsonl"].line == 2 and "invalid JSON" in reasons["records.jsonl"].reason
    assert reasons["escape.txt"].reason.startswith("symlink points outside the folder")
    assert reasons["escape.txt"].path == str(resolved / "escape.txt")  # names the link, not its target
    assert str((outside / "secret.txt").resolve()) in reasons["escape.txt"].reason
    assert reasons["escape-dir"].reason.startswith("symlink points outside the folder")
    assert not any(doc.text == "outside the folder" for doc in docs)


def test_missing_path_too_large_file_and_unknown_extension(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("x" * 5000, encoding="utf-8")
    (tmp_path / "Makefile").write_text("all:", encoding="utf-8")
    docs, failures = load_documents(
        [tmp_path / "nope.txt", tmp_path / "big.txt", tmp_path / "Makefile"], LoadOptions(max_file_bytes=1000)
    )
    assert docs == []
    assert [failure.reason.split(";")[0] for failure in failures] == [
        "no such file or folder",
        "file is 0 MB, over the 0 MB limit",
        "unsupported file type (no extension)",
    ]


def test_iter_documents_is_lazy(tmp_path: Path) -> None:
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("first", encoding="utf-8")
    stream = iter_documents([first, second])
    assert inspect.isgenerator(stream)
    assert isinstance(next(stream), Document)
    second.write_text("written after the first document was yielded", encoding="utf-8")
    rest = list(stream)
    assert [item.text for item in rest if isinstance(item, Document)] == [
        "written after the first document was yielded"
    ]


def test_source_scope_matches_document_sources(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a", encoding="utf-8")
    (tmp_path / "kb-other.txt").write_text("b", encoding="utf-8")
    link = tmp_path / "kb-link"
    link.symlink_to(folder)
    doc = only(load_documents([link])[0])
    scope = source_scope(link)
    assert scope == str(folder.resolve())
    assert source_in_scope(doc.source, scope)
    other = only(load_documents([tmp_path / "kb-other.txt"])[0])
    assert not source_in_scope(other.source, scope)  # a shared prefix is not containment
    assert source_scope(tmp_path / "kb-other.txt") == other.source
    assert source_scope("https://example.com/a.html") == "https://example.com/a.html"


def test_options_are_frozen_and_strict() -> None:
    options = LoadOptions(text_fields=["title", "text"])
    with pytest.raises(ValueError):
        options.id_field = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        LoadOptions(text_field=["typo"])  # type: ignore[call-arg]
    assert ".pdf" in supported_suffixes() and ".jsonl" in supported_suffixes()
    assert issubclass(LoaderError, ValueError) and not issubclass(ConfigError, LoaderError)


# --- URLs ---------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, str, bytes, dict[str, str]]]] = {}

    def do_GET(self) -> None:
        status, content_type, body, headers = self.routes.get(self.path, (404, "text/plain", b"not found", {}))
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


@pytest.fixture()
def http_server(tmp_path: Path) -> Iterator[str]:
    pdf = make_pdf(tmp_path / "served.pdf", ["Served PDF page."], title="Served").read_bytes()
    _Handler.routes = {
        "/article": (200, "text/html; charset=utf-8", HTML_PAGE.encode(), {"Last-Modified": LAST_MODIFIED}),
        "/paper": (200, "application/pdf", pdf, {}),
        "/notes.md": (200, "text/plain", b"# Served Notes\n\nSome markdown.", {}),
        "/latin": (200, "text/plain; charset=iso-8859-1", "café crème".encode("latin-1"), {}),
        "/records": (200, "application/x-ndjson", b'{"id": "u1", "text": "from the web"}\n', {}),
        "/image": (200, "image/png", b"\x89PNG\r\n\x1a\n", {}),
    }  # fmt: skip
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_urls_are_parsed_by_content_type(http_server: str) -> None:
    urls = [f"{http_server}{path}" for path in ("/article", "/paper", "/notes.md", "/latin", "/records")]
    docs, failures = load_documents(
        [*urls, f"{http_server}/missing", f"{http_server}/image"], LoadOptions(id_field="id")
    )
    by_source = {doc.source: doc for doc in docs}
    article = by_source[urls[0]]
    assert article.id == urls[0] and article.title == "Solar Panels Guide"
    assert "trackingSecret" not in article.text and "## Installation" in article.text
    assert article.modified == 1445412480.0
    paper = by_source[urls[1]]
    assert paper.id == f"{urls[1]}#page=1" and paper.text == "Served PDF page." and paper.metadata["page"] == 1
    assert by_source[urls[2]].title == "Served Notes"  # text/plain, but the .md path decides
    assert by_source[urls[3]].text == "café crème"
    assert by_source[urls[4]].id == "u1"
    assert [(failure.path.rsplit("/", 1)[1], failure.reason.split(";")[0]) for failure in failures] == [
        ("missing", "HTTP 404 Not Found"),
        ("image", "unsupported content type image/png"),
    ]


def test_unreachable_url_is_a_failure() -> None:
    docs, failures = load_documents(["http://127.0.0.1:9/nothing-listens-here"])
    assert docs == []
    assert only(failures).reason.startswith("could not fetch")  # type: ignore[arg-type]


# --- framework adapters -------------------------------------------------------------------------


def test_langchain_loader_adapter(tmp_path: Path) -> None:
    from langchain_core.document_loaders import BaseLoader
    from langchain_core.documents import Document as LCDocument

    (tmp_path / "a.txt").write_text("exists", encoding="utf-8")

    class ListLoader(BaseLoader):
        def lazy_load(self) -> Iterator[LCDocument]:
            yield LCDocument(page_content="Page one", metadata={"source": str(tmp_path / "a.txt"), "page": 0})
            yield LCDocument(page_content="Page two", metadata={"source": str(tmp_path / "a.txt"), "page": 1})
            yield LCDocument(page_content="   ", metadata={"source": "skipped-empty"})
            yield LCDocument(
                page_content="Web page",
                metadata={
                    "source": "https://example.com/post",
                    "title": "Post",
                    "authors": ["x", "y"],
                    "raw": {"k": 1},
                },
                id="post-1",
            )

    docs = list(from_langchain_loader(ListLoader()))
    source = str((tmp_path / "a.txt").resolve())
    assert [(doc.id, doc.text, doc.source) for doc in docs] == [
        (source, "Page one", source),
        (f"{source}#2", "Page two", source),
        ("post-1", "Web page", "https://example.com/post"),
    ]
    assert docs[0].title == "a" and docs[2].title == "Post"
    assert docs[2].metadata == {"source": "https://example.com/post", "authors": ["x", "y"], "raw": '{"k": 1}'}
    assert [doc.id for doc in from_langchain_loader(ListLoader())] == [doc.id for doc in docs]  # stable

    class Broken(BaseLoader):
        def lazy_load(self) -> Iterator[LCDocument]:
            raise OSError("disk on fire")
            yield  # pragma: no cover

    with pytest.raises(LoaderError, match="LangChain loader Broken failed: OSError: disk on fire"):
        list(from_langchain_loader(Broken()))


def test_llamaindex_reader_adapter() -> None:
    from llama_index.core import Document as LIDocument
    from llama_index.core.readers.base import BaseReader

    class LazyReader(BaseReader):
        def lazy_load_data(self, *, topic: str) -> Iterator[LIDocument]:
            yield LIDocument(text=f"About {topic}", metadata={"file_path": "/kb/one.txt", "n": 1})
            yield LIDocument(text="Second", metadata={"file_path": "/kb/one.txt"}, id_="stable-id")

    class EagerReader(BaseReader):
        def load_data(self) -> list[LIDocument]:
            return [LIDocument(text="eager text", metadata={"url": "https://example.com/e"})]

    docs = list(from_llamaindex_reader(LazyReader(), topic="solar"))
    assert [(doc.id, doc.text, doc.source, doc.title) for doc in docs] == [
        ("/kb/one.txt", "About solar", "/kb/one.txt", "one"),  # the random UUID is not used as id
        ("stable-id", "Second", "/kb/one.txt", "one"),
    ]
    assert docs[0].metadata == {"file_path": "/kb/one.txt", "n": 1}
    eager = only(list(from_llamaindex_reader(EagerReader())))
    assert (eager.id, eager.source) == ("https://example.com/e", "https://example.com/e")
    assert str(uuid.UUID(LIDocument(text="x").id_))  # LlamaIndex's default ids are random UUIDs
