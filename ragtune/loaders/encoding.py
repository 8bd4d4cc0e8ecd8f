"""Bytes to text: byte-order marks, UTF-8, then Latin-1; binary content is refused.

Detection is linear in the file size: NUL bytes are searched with ``bytes.find``
(``memchr``) and the control-character ratio is measured on a fixed-size sample.
"""

from __future__ import annotations

import codecs
import re

from ragtune.errors import LoaderError

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SAMPLE_BYTES = 64 * 1024
_ALLOWED_CONTROLS = b"\t\n\r\x0b\x0c\x1b"  # whitespace, form feed, ANSI escape
_CONTROL_BYTES = bytes(b for b in (*range(32), 127) if b not in _ALLOWED_CONTROLS)
_CONTROL_CHARS = re.compile("[" + re.escape(_CONTROL_BYTES.decode("latin-1")) + "]")
MAX_CONTROL_RATIO = 0.05
"""Text with more control characters than this (in its first 64 KiB) is taken for binary."""

_BINARY_FIX = "this looks like a binary file, not text; convert it to text or leave it out"


def decode_text(data: bytes, *, declared: str | None = None) -> str:
    """Decode ``data`` as text with ``\\n`` line endings.

    Order: a byte-order mark (UTF-8, UTF-16, UTF-32), the ``declared`` charset (an HTTP
    header), strict UTF-8, Windows-1252, then Latin-1, which decodes anything.

    Raises:
        LoaderError: the bytes are binary (NUL bytes or many control characters).
    """
    text = _decode_with_bom(data)
    if text is None:
        if data.find(b"\x00") != -1:
            msg = (
                f"binary content (NUL bytes); {_BINARY_FIX}. "
                "If it is UTF-16 text without a byte-order mark, re-save it as UTF-8"
            )
            raise LoaderError(msg)
        sample = data[:_SAMPLE_BYTES]
        controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
        if sample and controls / len(sample) > MAX_CONTROL_RATIO:
            raise LoaderError(f"binary content ({controls} control bytes in the first {len(sample)}); {_BINARY_FIX}")
        text = _decode_plain(data, declared)
    elif "\x00" in text or _control_ratio(text[: _SAMPLE_BYTES // 2]) > MAX_CONTROL_RATIO:
        raise LoaderError(f"binary content behind a text byte-order mark; {_BINARY_FIX}")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _decode_with_bom(data: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    return None


def _decode_plain(data: bytes, declared: str | None) -> str:
    candidates = [declared] if declared else []
    for encoding in (*candidates, "utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    return len(_CONTROL_CHARS.findall(text)) / len(text)


__all__ = ["MAX_CONTROL_RATIO", "decode_text"]
