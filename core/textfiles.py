"""Read the text data files users bring: UTF-8 as the formats specify, and the GBK/GB18030 files that
Chinese datasets and Excel on Chinese Windows still produce, with a one-line note; anything else (binary
data, NUL bytes, undecodable text) is refused in one line that says how to convert it.

Loaders call `read_text(path)` (or `decode_text(raw, path)` when they already hold the bytes) in place of
`path.read_text(encoding="utf-8")`; the result never carries a byte-order mark.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

from core.errors import UserError

_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_SAMPLE = 1 << 16  # characters examined for plausibility


class NotTextError(UserError):
    """The file is binary or in an encoding we cannot read."""


def read_text(path: str | Path) -> str:
    """The decoded text of a data file; `OSError` when it cannot be read, `NotTextError` when not text."""
    path = Path(path)
    return decode_text(path.read_bytes(), path)


def decode_text(raw: bytes, path: str | Path) -> str:
    """Decode `raw` (the contents of `path`): UTF-8 (or UTF-16 with a BOM), else GB18030 (a superset of
    GBK and GB2312) when it decodes cleanly into plausible Chinese text, noting so on stderr."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                return _checked(raw[len(bom) :].decode(codec), path)
            except UnicodeDecodeError as exc:
                raise NotTextError(f"{path}: not valid {codec.upper()} text (bad byte at offset {exc.start})") from None
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise NotTextError(f"{path}: binary data (a NUL byte at offset {nul}), not a text file")
    try:
        return _checked(raw.decode("utf-8"), path)
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        text = ""
    if text and _looks_chinese(text):
        print(
            f"note: {path} is not UTF-8; read it as GB18030/GBK "
            f"(convert once to skip this: iconv -f GB18030 -t UTF-8 {path} > utf8-copy)",
            file=sys.stderr,
        )
        return _checked(text, path)
    raise NotTextError(
        f"{path}: not UTF-8 text (invalid byte at offset {bad_at}); convert it first, "
        f"e.g. iconv -f GB18030 -t UTF-8 {path} > utf8-copy (or -f BIG5 for traditional-Chinese files)"
    )


def utf8_bytes(raw: bytes, path: str | Path) -> bytes:
    """`raw` as UTF-8 bytes without a BOM, for byte-level parsers (orjson); decoded via `decode_text`
    only when it is not UTF-8 already, so the common case costs one validation pass."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" not in raw:
        if raw.isascii():  # a word-at-a-time scan, several times cheaper than decoding to a str
            return raw
        try:
            raw.decode("utf-8")
            return raw
        except UnicodeDecodeError:
            pass
    return decode_text(raw, path).encode("utf-8")


def _checked(text: str, path: str | Path) -> str:
    """Refuse text that is mostly control characters (a binary file that happens to decode)."""
    sample = text[:_SAMPLE]
    controls = sum(1 for ch in sample if unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in "\t\n\r\f")
    if "\x00" in sample or (sample and controls / len(sample) > 0.05):
        raise NotTextError(f"{path}: binary data (control characters), not a text file")
    return text


def _looks_chinese(text: str) -> bool:
    """Most non-ASCII characters are CJK ideographs or CJK/full-width punctuation."""
    wide = [ch for ch in text[:_SAMPLE] if ord(ch) > 0x7F]
    if not wide:
        return False
    cjk = sum(
        1
        for ch in wide
        if 0x4E00 <= ord(ch) <= 0x9FFF or 0x3400 <= ord(ch) <= 0x4DBF or 0x3000 <= ord(ch) <= 0x303F
        or 0xFF00 <= ord(ch) <= 0xFFEF or 0x2010 <= ord(ch) <= 0x201F
    )  # fmt: skip
    return cjk / len(wide) >= 0.8
