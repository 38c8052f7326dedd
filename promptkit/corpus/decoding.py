"""Bytes to text: UTF-8 first, byte-order marks honoured, a Western fallback, binaries refused."""

from __future__ import annotations

import codecs

from promptkit.corpus.documents import SkipFile

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def looks_binary(data: bytes) -> bool:
    """NUL bytes in the first 8 KiB mean a binary file (text in UTF-16/32 carries a BOM)."""
    return b"\x00" in data[:8192]


def decode_text(data: bytes) -> tuple[str, str]:
    """Return (text, encoding used); raise SkipFile for binary data."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _normalise(data.decode(encoding)), encoding
            except UnicodeDecodeError as exc:
                raise SkipFile(f"starts with a {encoding} byte-order mark but does not decode: "
                               f"{exc.reason} at byte {exc.start}") from exc
    if looks_binary(data):
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        return _normalise(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    # Not UTF-8: most such files here are Windows-1252 / Latin-1 (Spanish and English text).
    try:
        return _normalise(data.decode("cp1252")), "cp1252"
    except UnicodeDecodeError:
        return _normalise(data.decode("latin-1")), "latin-1"


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
