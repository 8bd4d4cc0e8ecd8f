"""Chunking with the real MiniLM tokenizer: sizes, overlap, headings, titles, stable ids, linear cost."""

from __future__ import annotations

import itertools
import json
import random
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from ragtune.chunking import Chunker, ChunkingOptions
from ragtune.errors import ConfigError
from ragtune.loaders import LoadOptions, load_documents
from ragtune.schema import Document

SCIFACT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
VOCABULARY = (
    "retrieval augmented generation grounds answers in documents while fine tuning changes the weights of a model "
    "embeddings map text to vectors and keyword search ranks exact terms hybrid search fuses both"
)


def prose(sentences: int, seed: int = 0, paragraph_every: int = 6) -> str:
    rng = random.Random(seed)
    words = VOCABULARY.split()
    parts = []
    for index in range(sentences):
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(6, 24))).capitalize() + "."
        parts.append(sentence + ("\n\n" if index % paragraph_every == paragraph_every - 1 else " "))
    return "".join(parts).strip()


@pytest.fixture(scope="module")
def chunker(minilm) -> Chunker:  # type: ignore[no-untyped-def]
    return Chunker(minilm.count_tokens)


def doc(
    text: str, *, doc_id: str = "doc-1", source: str = "/kb/notes.txt", title: str | None = None, **metadata
) -> Document:  # type: ignore[no-untyped-def]
    return Document(id=doc_id, text=text, source=source, title=title or Path(source).stem, metadata=metadata)


def test_short_document_is_exactly_one_chunk(chunker: Chunker, minilm) -> None:  # type: ignore[no-untyped-def]
    text = prose(8)
    assert 24 < minilm.count_tokens(text) <= 200
    document = doc(text, page=3, file_type="txt")
    chunks = chunker.split(document)
    assert len(chunks) == 1
    chunk = chunks[0]
    assert chunk.text == text
    assert (chunk.doc_id, chunk.position, chunk.source, chunk.title, chunk.page) == (
        "doc-1",
        0,
        "/kb/notes.txt",
        "notes",
        3,
    )
    assert chunk.doc_hash == document.content_hash
    assert chunk.metadata == {"page": 3, "file_type": "txt"}
    assert chunk.embed_text is None  # the title is only the file name
    tiny = chunker.split(doc("Hi."))
    assert [c.text for c in tiny] == ["Hi."]  # a tiny document is still one chunk, never dropped
    assert chunker.split(doc("   \n\n ")) == []


def test_long_document_chunks_are_bounded_overlapping_and_cover_the_text(minilm) -> None:  # type: ignore[no-untyped-def]
    text = prose(120, seed=1)
    chunks = Chunker(minilm.count_tokens, ChunkingOptions(chunk_overlap=32)).split(doc(text))
    tokens = [minilm.count_tokens(chunk.text) for chunk in chunks]
    assert len(chunks) >= 8
    assert max(tokens) <= 200
    assert min(tokens) >= 24
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    assert all(chunk.text in text for chunk in chunks)  # chunks are exact pieces of the text
    for before, after in itertools.pairwise(chunks):
        assert after.text[:30] in before.text, "consecutive chunks share an overlap"
    starts = [text.index(chunk.text) for chunk in chunks]
    assert starts == sorted(starts)
    covered = set()
    for start, chunk in zip(starts, chunks, strict=True):
        covered.update(range(start, start + len(chunk.text)))
    assert all(index in covered for index, char in enumerate(text) if not char.isspace())
    total = minilm.count_tokens(text)
    assert len(chunks) <= -(-(total - 32) // (200 - 32)) + 1, "chunks are filled, not left half empty"


def test_no_overlap_and_sizes_follow_options(minilm) -> None:  # type: ignore[no-untyped-def]
    chunker = Chunker(minilm.count_tokens, ChunkingOptions(chunk_size=64, chunk_overlap=0, min_chunk_tokens=8))
    text = prose(60, seed=2)
    chunks = chunker.split(doc(text))
    assert all(minilm.count_tokens(chunk.text) <= 64 for chunk in chunks)
    joined = " ".join(chunk.text for chunk in chunks)
    assert joined.split() == text.split()  # without overlap every word appears exactly once, in order


def test_chunk_ids_are_stable_and_depend_on_doc_position_and_content(chunker: Chunker) -> None:
    text = prose(60, seed=3)
    first = chunker.split(doc(text))
    again = chunker.split(doc(text))
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    assert all(len(c.id) == 32 for c in first)
    fresh = Chunker(chunker.count_tokens).split(doc(text))  # no state carried over from earlier documents
    assert [c.id for c in fresh] == [c.id for c in first]
    other_doc = chunker.split(doc(text, doc_id="doc-2"))
    assert not {c.id for c in first} & {c.id for c in other_doc}
    edited = chunker.split(doc(text + " One more closing sentence about hybrid search."))
    assert first[0].id == edited[0].id  # untouched beginning keeps its id
    assert first[-1].id != edited[-1].id


def test_markdown_is_split_at_headings_with_section_paths(chunker: Chunker, minilm) -> None:  # type: ignore[no-untyped-def]
    text = "\n".join(
        [
            "# User Guide",
            "",
            "## Install",
            "",
            "### Linux",
            "",
            prose(10, seed=4),
            "",
            "```bash",
            "# a comment in code, not a heading",
            "make install",
            "```",
            "",
            "### Windows",
            "",
            prose(10, seed=5),
            "",
            "Configure",
            "---------",
            "",
            prose(30, seed=6),
            "",
            "## Tiny",
            "Short.",
        ]
    )
    document = doc(text, source="/kb/guide.md", title="User Guide", file_type="md")
    chunks = chunker.split(document)
    sections = [chunk.section for chunk in chunks]
    assert sections[0] == "User Guide > Install > Linux"  # the lone title and heading merged forward
    assert chunks[0].text.startswith("# User Guide\n\n## Install\n\n### Linux")
    assert "make install" in chunks[0].text and "# a comment in code" in chunks[0].text
    assert "User Guide > Install > Windows" in sections
    assert sections.count("User Guide > Configure") >= 2  # a setext "---" heading is level 2; long section split
    assert sections[-1] == "User Guide > Configure"  # "## Tiny" is folded into its larger neighbour
    assert chunks[-1].text.endswith("## Tiny\nShort.")
    assert all(minilm.count_tokens(chunk.text) >= 24 for chunk in chunks)
    assert all(minilm.count_tokens(chunk.text) <= 200 for chunk in chunks)
    plain = Chunker(minilm.count_tokens, ChunkingOptions(heading_aware=False)).split(document)
    assert all(chunk.section is None for chunk in plain)


def test_html_and_docx_documents_get_sections(tmp_path: Path, chunker: Chunker) -> None:
    import docx

    page = tmp_path / "faq.html"
    body = "".join(f"<h2>Question {i}</h2><p>{prose(6, seed=i)}</p>" for i in range(3))
    page.write_text(f"<html><head><title>FAQ</title></head><body><h1>Help</h1>{body}</body></html>", encoding="utf-8")
    word = docx.Document()
    word.core_properties.title = "Manual"
    for i in range(2):
        word.add_heading(f"Chapter {i}", level=1)
        word.add_paragraph(prose(6, seed=10 + i))
    word.save(str(tmp_path / "manual.docx"))
    docs, failures = load_documents([page, tmp_path / "manual.docx"])
    assert failures == []
    html_chunks, docx_chunks = (chunker.split(document) for document in docs)
    assert [chunk.section for chunk in html_chunks] == ["Help > Question 0", "Help > Question 1", "Help > Question 2"]
    assert all(chunk.embed_text is not None and chunk.embed_text.startswith("FAQ\n") for chunk in html_chunks)
    assert [chunk.section for chunk in docx_chunks] == ["Chapter 0", "Chapter 1"]
    assert docx_chunks[1].text.startswith("# Chapter 1\n\n")


def test_title_is_prefixed_to_embed_text_only_where_missing(minilm) -> None:  # type: ignore[no-untyped-def]
    chunker = Chunker(minilm.count_tokens, ChunkingOptions(title_every_chunk=True))  # opt-in since the default is off
    title = "Hybrid search for scientific claims"
    text = f"{title}\n\n{prose(40, seed=7)}"
    chunks = chunker.split(doc(text, source="/kb/corpus.jsonl", title=title))
    assert len(chunks) >= 3
    assert chunks[0].embed_text is None  # already starts with the title
    for chunk in chunks[1:]:
        assert chunk.embed_text == f"{title}\n{chunk.text}"
        assert not chunk.text.startswith(title)
    assert chunks[1].content_hash != chunker.split(doc(text, source="/kb/corpus.jsonl", title="Other"))[1].content_hash


def test_title_on_the_first_chunk_only_when_asked(minilm) -> None:  # type: ignore[no-untyped-def]
    """``title_every_chunk=False`` spends the title's tokens once per document, where the text lacks it."""
    chunker = Chunker(minilm.count_tokens, ChunkingOptions(title_every_chunk=False))
    title = "Hybrid search for scientific claims"
    body = prose(40, seed=7)
    with_heading = chunker.split(doc(f"{title}\n\n{body}", source="/kb/corpus.jsonl", title=title))
    assert len(with_heading) >= 3
    assert all(chunk.embed_text is None for chunk in with_heading)
    without = chunker.split(doc(body, source="/kb/corpus.jsonl", title=title))
    assert without[0].embed_text == f"{title}\n{without[0].text}"
    assert all(chunk.embed_text is None for chunk in without[1:])
    assert [c.text for c in without] == [c.text for c in Chunker(minilm.count_tokens).split(doc(body, title=title))]


def test_pdf_page_is_copied_onto_chunks(tmp_path: Path, chunker: Chunker) -> None:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(tmp_path / "r.pdf"))
    for number in (1, 2):
        pdf.drawString(72, 720, f"This is page {number} of the report about solar power.")
        pdf.showPage()
    pdf.save()
    docs, _ = load_documents([tmp_path / "r.pdf"])
    assert [chunk.page for document in docs for chunk in chunker.split(document)] == [1, 2]


def test_tokenizer_object_works_like_a_counter(minilm, chunker: Chunker) -> None:  # type: ignore[no-untyped-def]
    text = prose(50, seed=8)
    by_tokenizer = Chunker(minilm._tokenizer).split(doc(text))
    assert [c.id for c in by_tokenizer] == [c.id for c in chunker.split(doc(text))]
    with pytest.raises(ConfigError, match="needs a token counter"):
        Chunker(42)
    with pytest.raises(ValidationError):
        ChunkingOptions(chunk_size=100, chunk_overlap=60)
    with pytest.raises(ValidationError):
        ChunkingOptions(chunk_size=100, min_chunk_tokens=80)


def test_scifact_documents_have_no_title_only_or_tiny_chunks(chunker: Chunker, minilm) -> None:  # type: ignore[no-untyped-def]
    if not SCIFACT.is_file():
        pytest.skip(f"SciFact corpus not found at {SCIFACT}")
    options = LoadOptions(text_fields=["title", "text"], id_field="_id")
    docs = load_documents([SCIFACT], options)[0][:300]
    for document in docs:
        chunks = chunker.split(document)
        tokens = [minilm.count_tokens(chunk.text) for chunk in chunks]
        assert max(tokens) <= 200, document.id
        if minilm.count_tokens(document.text) <= 200:
            assert len(chunks) == 1, document.id
        else:
            assert min(tokens) >= 24, document.id
        assert all(chunk.text.strip() != (document.title or "").strip() for chunk in chunks), document.id
        assert chunks[0].embed_text is None  # the text starts with the title
        assert all(c.embed_text is None for c in chunks[1:]), document.id  # the title is spent once


def test_twenty_megabytes_are_chunked_in_linear_time(minilm) -> None:  # type: ignore[no-untyped-def]
    counted = {"calls": 0, "chars": 0}

    def count(text: str) -> int:
        counted["calls"] += 1
        counted["chars"] += len(text)
        return int(minilm.count_tokens(text))

    paragraph = prose(30, seed=9, paragraph_every=10) + "\n\n"
    text = (paragraph * (20_000_000 // len(paragraph) + 1))[:20_000_000]
    started = time.perf_counter()
    chunks = Chunker(count).split(doc(text, source="/kb/big.txt"))
    elapsed = time.perf_counter() - started
    assert counted["chars"] < 1.6 * len(text), "each character is tokenized about once"
    assert len(chunks) > 15_000
    sample = chunks[:: len(chunks) // 50]
    assert all(minilm.count_tokens(chunk.text) <= 200 for chunk in sample)
    assert elapsed < 180, f"chunking 20 MB took {elapsed:.0f}s"


def test_json_round_trip_of_chunks(chunker: Chunker) -> None:
    chunk = chunker.split(doc(prose(5), title="A Real Title"))[0]
    assert json.loads(chunk.model_dump_json())["embed_text"] == f"A Real Title\n{chunk.text}"
