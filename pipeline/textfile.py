"""Reading a delimited text export as lines of text: encoding, line breaks, delimiter.

Real exports are UTF-8 with or without a byte-order mark, UTF-16 (Excel's "Unicode text"),
or Windows-1252; some are UTF-8 with a few Windows-1252 bytes pasted in, anywhere in the
file. Detection looks at a sample, and the decoder never loses a byte: a byte that is not
part of valid UTF-8 is read as the Windows-1252 character it stands for, and counted, so
the run can say so instead of silently replacing it.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

#: How much of the file is looked at to pick the encoding and the delimiter.
SAMPLE_BYTES = 256 * 1024
_BLOCK_BYTES = 1 << 20

#: Candidate delimiters, in order of preference when the evidence ties.
DELIMITERS = (",", ";", "\t", "|")

# Windows-1252 leaves five bytes undefined (0x81 0x8D 0x8F 0x90 0x9D); they are read as the
# Latin-1 control characters of the same value so that no byte is ever dropped.
_CP1252_CHARS: tuple[str, ...] = tuple(
    bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256)
)
_CP1252_TABLE = "".join(_CP1252_CHARS)

# str.splitlines also breaks on these; a CSV line ends only at CR, LF or CRLF.
_ODD_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")
_SEP_LINE = re.compile(r"sep=(.)\r?\n?", re.IGNORECASE)


class _Decoder(Protocol):
    def decode(self, data: bytes, final: bool = False) -> str: ...


class Utf8Cp1252Decoder:
    """Incremental UTF-8 decoder that reads any byte outside valid UTF-8 as Windows-1252.

    ``fallback_bytes`` counts those bytes; ``last_fallback_offset`` is the index, in the
    text returned by the latest :meth:`decode` call, of its first fallback character
    (-1 when there was none).
    """

    def __init__(self) -> None:
        self._pending = b""
        self.fallback_bytes = 0
        self.last_fallback_offset = -1

    def decode(self, data: bytes, final: bool = False) -> str:
        """Decode ``data`` (continuing any sequence cut by the previous block)."""
        buffer = memoryview(self._pending + data) if self._pending else memoryview(data)
        parts: list[str] = []
        produced = 0
        self.last_fallback_offset = -1
        pos = 0
        while True:
            try:
                text, consumed = codecs.utf_8_decode(buffer[pos:], "strict", final)
            except UnicodeDecodeError as exc:
                good = bytes(buffer[pos : pos + exc.start]).decode("utf-8")
                bad = bytes(buffer[pos + exc.start : pos + exc.end])
                parts.append(good)
                produced += len(good)
                if self.last_fallback_offset < 0:
                    self.last_fallback_offset = produced
                parts.append("".join(_CP1252_CHARS[b] for b in bad))
                produced += len(bad)
                self.fallback_bytes += len(bad)
                pos += exc.end
                continue
            parts.append(text)
            self._pending = bytes(buffer[pos + consumed :])
            return "".join(parts)


class Cp1252Decoder:
    """Windows-1252 decoding of every byte (undefined bytes read as Latin-1)."""

    fallback_bytes = 0
    last_fallback_offset = -1

    def decode(self, data: bytes, final: bool = False) -> str:
        """Decode ``data``; one byte is always one character."""
        return codecs.charmap_decode(data, "strict", _CP1252_TABLE)[0]


@dataclass(frozen=True, slots=True)
class TextFormat:
    """What was learnt about a text export from its first bytes."""

    encoding: str  # utf-8, utf-8-sig, utf-16, utf-16-le, utf-16-be, utf-32, cp1252
    delimiter: str
    sep_line: bool = False  # the file starts with Excel's "sep=X" line


def detect_encoding(sample: bytes) -> str:
    """Name the encoding of a file from its first bytes.

    A byte-order mark decides. Without one, NUL bytes in every other position mean UTF-16;
    otherwise UTF-8 unless the sample has more bytes that are not UTF-8 than characters
    that are multi-byte UTF-8, in which case it is Windows-1252.
    """
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = sample[:4096]
    half = len(head) // 2
    if half:
        even_nul = head[0 : 2 * half : 2].count(0)
        odd_nul = head[1 : 2 * half : 2].count(0)
        if odd_nul > 0.4 * half and even_nul < 0.05 * half:
            return "utf-16-le"
        if even_nul > 0.4 * half and odd_nul < 0.05 * half:
            return "utf-16-be"
    decoder = Utf8Cp1252Decoder()
    text = decoder.decode(sample, final=False)
    bad = decoder.fallback_bytes
    if bad == 0:
        return "utf-8"
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F) - bad
    return "utf-8" if multibyte >= bad else "cp1252"


def looks_binary(sample: bytes, encoding: str) -> bool:
    """True when a sample that is not UTF-16/32 holds NUL bytes: not a text export."""
    if encoding.startswith(("utf-16", "utf-32")):
        return False
    head = sample[:4096]
    return bool(head) and head.count(0) * 100 > len(head)


def make_decoder(encoding: str) -> _Decoder:
    """The incremental decoder presend uses for ``encoding``.

    UTF-8 (with or without BOM) falls back to Windows-1252 byte by byte; UTF-16/32 are
    strict (a broken file raises :class:`UnicodeDecodeError`).
    """
    if encoding in ("utf-8", "utf-8-sig"):
        return Utf8Cp1252Decoder()
    if encoding == "cp1252":
        return Cp1252Decoder()
    decoder: _Decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    return decoder


def split_lines(text: str) -> list[str]:
    """Split text into lines that keep their ending; only CR, LF and CRLF end a line."""
    if any(ch in text for ch in _ODD_BREAKS):  # eight fast scans beat one regex scan
        return _LINE.findall(text)
    return text.splitlines(keepends=True)


class UndecodableText(ValueError):
    """A strict encoding (UTF-16/32) met bytes it cannot decode, on line ``line``."""

    def __init__(self, encoding: str, line: int) -> None:
        super().__init__(f"line {line}: bytes that are not valid {encoding}")
        self.encoding = encoding
        self.line = line


def count_breaks(text: str) -> int:
    """How many lines end in ``text`` (CR, LF and CRLF each end one)."""
    if "\r" not in text:
        return text.count("\n")
    return text.count("\n") + text.count("\r") - text.count("\r\n")


@dataclass
class DecodeStats:
    """What decoding a whole file found (filled while its lines are read)."""

    fallback_bytes: int = 0
    fallback_first_line: int = 0
    #: Line ends in the text :func:`read_text_blocks` has yielded so far (CR, LF, CRLF: one each).
    line_ends: int = 0
    #: Bytes of the file the last whole pass read, from its first byte, and their CRC-32: what
    #: the run compares with the input's fingerprint to see that the file held still.
    bytes_read: int = 0
    crc32: int = 0


def read_text_blocks(
    handle: BinaryIO, encoding: str, stats: DecodeStats, *, skip_bom: bool = True
) -> Iterator[str]:
    """Yield the file's text, decoded block by block, each block ending at a line end.

    Only the last block may end without one. A line cut by the end of a read is held back
    for the next block, and so is a CR at the very end of a read (the next read may start
    with the LF of a CRLF).
    """
    decoder = make_decoder(encoding)
    # What lies before the reading position (a BOM skipped by a caller) counts as read.
    total = handle.tell()
    crc = _crc_of_head(handle, total)
    if encoding == "utf-8-sig" and skip_bom:
        bom = handle.read(len(codecs.BOM_UTF8))
        total, crc = total + len(bom), zlib.crc32(bom, crc)
    rest = ""
    before = stats.line_ends  # the stats may already count an earlier pass
    while True:
        block = handle.read(_BLOCK_BYTES)
        final = not block
        total, crc = total + len(block), zlib.crc32(block, crc)
        if final:
            stats.bytes_read, stats.crc32 = total, crc
        try:
            text = decoder.decode(block, final=final)
        except UnicodeDecodeError as exc:
            prefix = rest + bytes(exc.object[: exc.start]).decode(exc.encoding, errors="replace")
            raise UndecodableText(encoding, stats.line_ends - before + count_breaks(prefix) + 1) from exc
        offset = getattr(decoder, "last_fallback_offset", -1)
        if offset >= 0 and not stats.fallback_first_line:
            stats.fallback_first_line = stats.line_ends - before + count_breaks(rest + text[:offset]) + 1
        stats.fallback_bytes = getattr(decoder, "fallback_bytes", 0)
        if rest:
            text = rest + text
            rest = ""
        if not final:
            end = _complete_lines_end(text)
            rest = text[end:]
            text = text[:end]
        if text:
            stats.line_ends += count_breaks(text)
            yield text
        if final:
            return


def _crc_of_head(handle: BinaryIO, size: int) -> int:
    """CRC-32 of the first ``size`` bytes of ``handle``, leaving its position where it was."""
    if not size:
        return 0
    handle.seek(0)
    head = handle.read(size)
    return zlib.crc32(head)


def _complete_lines_end(text: str) -> int:
    """Where the complete lines of ``text`` end (a CR at the very end does not count yet)."""
    end = len(text)
    if text.endswith("\r"):
        end -= 1
    return max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1


def read_line_blocks(
    handle: BinaryIO, encoding: str, stats: DecodeStats, *, skip_bom: bool = True
) -> Iterator[list[str]]:
    """Yield the file's lines as text, one list per block read, streaming.

    Each line keeps its own line ending (see :func:`read_text_blocks`).
    """
    for text in read_text_blocks(handle, encoding, stats, skip_bom=skip_bom):
        yield split_lines(text)


def read_lines(
    handle: BinaryIO, encoding: str, stats: DecodeStats, *, skip_bom: bool = True
) -> Iterator[str]:
    """The file's lines as text, each with its own line ending (see :func:`read_line_blocks`)."""
    return itertools.chain.from_iterable(read_line_blocks(handle, encoding, stats, skip_bom=skip_bom))


def sniff_text_format(sample: bytes, truncated: bool, *, prefer_tab: bool = False) -> TextFormat:
    """Pick the encoding and the delimiter of a text export from its first bytes.

    The delimiter is the candidate that splits the first records (quotes respected) into
    the most consistent number of fields, at least two. A file with one column gets ``,``
    (``\\t`` for ``.tsv``, ``.txt`` and UTF-16 files). Excel's ``sep=X`` first line wins.
    """
    encoding = detect_encoding(sample)
    decoder = make_decoder(encoding)
    if encoding.startswith(("utf-16", "utf-32")):
        # Only the delimiter is read from the sample: a broken character there must not stop
        # detection (reading the rows reports it with its line).
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    body = sample[len(codecs.BOM_UTF8) :] if encoding == "utf-8-sig" else sample
    text = decoder.decode(body, final=not truncated)
    if truncated:
        # Leave out the last line: the sample may have cut it.
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut > 0:
            text = text[: cut + 1]
    sep = _SEP_LINE.fullmatch(split_lines(text)[0]) if text else None
    if sep:
        return TextFormat(encoding, sep.group(1), sep_line=True)
    prefer_tab = prefer_tab or encoding.startswith(("utf-16", "utf-32"))
    order = ("\t", ",", ";", "|") if prefer_tab else DELIMITERS
    return TextFormat(encoding, _best_delimiter(text, order))


def _best_delimiter(text: str, order: tuple[str, ...]) -> str:
    best, best_score = order[0], 0.0
    for delim in order:
        try:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
            records = [r for r in itertools.islice(reader, 200) if r]
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        score = sum(1 for r in records if len(r) == width) / len(records)
        if score > best_score:
            best, best_score = delim, score
    return best


__all__ = [
    "DELIMITERS",
    "SAMPLE_BYTES",
    "Cp1252Decoder",
    "DecodeStats",
    "TextFormat",
    "UndecodableText",
    "Utf8Cp1252Decoder",
    "count_breaks",
    "detect_encoding",
    "looks_binary",
    "make_decoder",
    "read_line_blocks",
    "read_lines",
    "read_text_blocks",
    "sniff_text_format",
    "split_lines",
]
