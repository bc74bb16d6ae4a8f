"""Reading a delimited text export as lines of text: encoding, line breaks, delimiter.

Real exports are UTF-8 with or without a byte-order mark, UTF-16 (Excel's "Unicode text"),
or a legacy encoding (Windows-1252, -1250, -1251, KOI8-R, Shift-JIS ...: see
:mod:`pipeline.io.charsets`, which guesses which one); some are UTF-8 with a few Windows-1252
bytes pasted in, anywhere in the file. Detection looks at a sample, and the decoder never
loses a byte: a byte that is not part of valid UTF-8 is read as the Windows-1252 character
it stands for, and counted, so the run can say so instead of silently replacing it; an
8-bit encoding reads a byte it leaves undefined as the Latin-1 character of that value.

Every CSV presend reads is parsed with the csv module, whose field-size limit guards the
input against a quote that is never closed. presend's own outputs can hold longer fields
(the extra fields of a long row, listed in ``presend_detail``): they are read back inside
:func:`reading_own_outputs`, which lifts the limit.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from pipeline.io.charsets import EncodingGuess, canonical_encoding, charmap_table, guess_legacy

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


class CharmapDecoder:
    """Decoding of an 8-bit encoding through its table (see :func:`charsets.charmap_table`):
    every byte is one character, and decoding never fails."""

    fallback_bytes = 0
    last_fallback_offset = -1

    def __init__(self, table: str) -> None:
        self._table = table

    def decode(self, data: bytes, final: bool = False) -> str:
        """Decode ``data``; one byte is always one character."""
        return codecs.charmap_decode(data, "strict", self._table)[0]


@dataclass(frozen=True, slots=True)
class TextFormat:
    """What was learnt about a text export from its first bytes.

    ``encoding`` is Python's name of it: utf-8, utf-8-sig, utf-16(-le/-be), utf-32, or a
    legacy one such as cp1252, cp1251 or cp932. ``guessed`` says the encoding was chosen by
    likelihood (:mod:`pipeline.io.charsets`); ``runner_up`` is then the next most likely one.
    """

    encoding: str
    delimiter: str
    sep_line: bool = False  # the file starts with Excel's "sep=X" line
    guessed: bool = False
    runner_up: str = ""


def detect_encoding(sample: bytes, truncated: bool = False) -> str:
    """Name the encoding of a file from its first bytes (see :func:`guess_encoding`)."""
    return guess_encoding(sample, truncated).encoding


def guess_encoding(sample: bytes, truncated: bool = False) -> EncodingGuess:
    """The encoding of a file from its first bytes, and whether it is a guess.

    A byte-order mark decides. Without one, NUL bytes in every other position mean UTF-16;
    otherwise UTF-8 unless the sample has more bytes that are not UTF-8 than characters
    that are multi-byte UTF-8: then it is a legacy encoding, guessed by
    :func:`charsets.guess_legacy`.
    """
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return EncodingGuess("utf-32")
    if sample.startswith(codecs.BOM_UTF8):
        return EncodingGuess("utf-8-sig")
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return EncodingGuess("utf-16")
    head = sample[:4096]
    half = len(head) // 2
    if half:
        even_nul = head[0 : 2 * half : 2].count(0)
        odd_nul = head[1 : 2 * half : 2].count(0)
        if odd_nul > 0.4 * half and even_nul < 0.05 * half:
            return EncodingGuess("utf-16-le")
        if even_nul > 0.4 * half and odd_nul < 0.05 * half:
            return EncodingGuess("utf-16-be")
    decoder = Utf8Cp1252Decoder()
    text = decoder.decode(sample, final=False)
    bad = decoder.fallback_bytes
    if bad == 0:
        return EncodingGuess("utf-8")
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F) - bad
    if multibyte >= bad:
        return EncodingGuess("utf-8")
    return guess_legacy(sample, truncated)


def chosen_encoding(name: str, sample: bytes) -> str:
    """The encoding to read a file with when the user named it (``--encoding``).

    The name is checked (:class:`~pipeline.errors.UsageError` for an unknown one); a
    byte-order mark the named encoding would keep as a character is left out instead.
    """
    encoding = canonical_encoding(name)
    if encoding == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if encoding in ("utf-16-le", "utf-16-be") and sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if encoding in ("utf-32-le", "utf-32-be") and sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    return encoding


def looks_binary(sample: bytes, encoding: str) -> bool:
    """True when a sample that is not UTF-16/32 holds NUL bytes: not a text export."""
    if encoding.startswith(("utf-16", "utf-32")):
        return False
    head = sample[:4096]
    return bool(head) and head.count(0) * 100 > len(head)


def make_decoder(encoding: str) -> _Decoder:
    """The incremental decoder presend uses for ``encoding``.

    UTF-8 (with or without BOM) falls back to Windows-1252 byte by byte; an 8-bit encoding
    reads every byte (:class:`CharmapDecoder`); any other (UTF-16/32, Shift-JIS, GB18030 ...)
    is strict (a broken file raises :class:`UnicodeDecodeError`).
    """
    if encoding in ("utf-8", "utf-8-sig"):
        return Utf8Cp1252Decoder()
    table = charmap_table(encoding)
    if table is not None:
        return CharmapDecoder(table)
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


def sniff_text_format(
    sample: bytes, truncated: bool, *, prefer_tab: bool = False, encoding: str | None = None
) -> TextFormat:
    """Pick the encoding and the delimiter of a text export from its first bytes.

    ``encoding`` names the encoding instead (``--encoding``; raises
    :class:`~pipeline.errors.UsageError` for an unknown name). The delimiter is the
    candidate that splits the first records (quotes respected) into the most consistent
    number of fields, at least two. A file with one column gets ``,`` (``\\t`` for ``.tsv``,
    ``.txt`` and UTF-16 files). Excel's ``sep=X`` first line wins.
    """
    named = EncodingGuess(chosen_encoding(encoding, sample)) if encoding is not None else None
    guess = named or guess_encoding(sample, truncated)
    encoding = guess.encoding
    decoder = make_decoder(encoding)
    if isinstance(decoder, codecs.IncrementalDecoder):
        # A strict decoder: only the delimiter is read from the sample, and a broken character
        # there must not stop detection (reading the rows reports it with its line).
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
        delimiter = sep.group(1)
    else:
        prefer_tab = prefer_tab or encoding.startswith(("utf-16", "utf-32"))
        delimiter = _best_delimiter(text, ("\t", ",", ";", "|") if prefer_tab else DELIMITERS)
    return TextFormat(encoding, delimiter, bool(sep), guess.guessed, guess.runner_up)


@contextlib.contextmanager
def reading_own_outputs() -> Iterator[None]:
    """Lift the csv module's field-size limit while presend reads a file it wrote itself.

    The limit (131,072 characters by default) stays in force for the input, where a field
    that long is most likely a quote never closed; whatever presend writes, it must read.
    """
    previous = csv.field_size_limit()
    try:
        # As large as the platform's C long allows: a results field may join many input fields.
        csv.field_size_limit(sys.maxsize)
    except OverflowError:
        csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _best_delimiter(text: str, order: tuple[str, ...]) -> str:
    best, best_score = order[0], 0.0
    for delim in order:
        try:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
            records = [r for r in itertools.islice(reader, 200) if "".join(r).strip()]
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
    "CharmapDecoder",
    "DecodeStats",
    "TextFormat",
    "UndecodableText",
    "Utf8Cp1252Decoder",
    "chosen_encoding",
    "count_breaks",
    "detect_encoding",
    "guess_encoding",
    "looks_binary",
    "make_decoder",
    "read_line_blocks",
    "read_lines",
    "read_text_blocks",
    "reading_own_outputs",
    "sniff_text_format",
    "split_lines",
]
