"""Which encoding a text export is in: what the file says, what is certain, what is a guess.

Certain, by our own rules (:func:`detect_encoding` in :mod:`pipeline.io.textfile`): a byte-order
mark (UTF-8, UTF-16, UTF-32), UTF-16 without one (NUL bytes in every other position), and
UTF-8 (a sample that is valid UTF-8, or mostly so: stray bytes are then read as Windows-1252
one by one). Anything else is one of the legacy encodings spreadsheets and CRMs still write,
and which one is a guess, made here (:func:`guess_legacy`) from the file's sample:

1. each candidate in :data:`CANDIDATES` decodes the sample (a multi-byte one must decode it
   without an error);
2. each decoding is scored by what real names never look like: control characters, a symbol
   inside a word (``Ma³gorzata``), a capital right after a small letter where one of them is
   not ASCII (``иВАН``), a word mixing scripts (``Mьller``), a Latin word made only of
   accented letters (``Èâàí``), a Latin word whose accented letters no single language
   writes together (``Dvoøák``);
3. the decoding with the lowest score wins; between equals, a multi-byte or non-Latin tie
   is settled by charset-normalizer's language statistics, a Latin one by the order of
   :data:`CANDIDATES` (Windows-1252 first, as before).

A guess is always said so (``encoding_guessed`` in summary.json, a note naming the next
most likely encoding), and ``--encoding NAME`` overrides it.
"""

from __future__ import annotations

import codecs
import functools
import importlib
import itertools
import re
import unicodedata
from dataclasses import dataclass

from pipeline.errors import UsageError

#: The legacy encodings a file without a byte-order mark that is not UTF-8 may be in, in the
#: order that settles a tie between equally plausible Latin decodings. The multi-byte ones are
#: the Windows supersets of Shift-JIS, GB2312/GBK and EUC-KR (what Excel writes there).
CANDIDATES = (
    "cp1252", "cp1250", "iso8859-2", "cp1251", "koi8-r", "cp1253", "mac-roman", "cp850",
    "cp932", "gb18030", "cp949",
)
#: Human names of the encodings a note may name.
LABELS = {
    "cp1252": "Windows-1252 (Western European)",
    "cp1250": "Windows-1250 (Central European)",
    "iso8859-2": "ISO-8859-2 (Central European)",
    "cp1251": "Windows-1251 (Cyrillic)",
    "koi8-r": "KOI8-R (Russian)",
    "cp1253": "Windows-1253 (Greek)",
    "mac-roman": "Mac Roman (Western European)",
    "cp850": "DOS code page 850 (Western European)",
    "cp932": "Shift-JIS / Windows-932 (Japanese)",
    "gb18030": "GB18030 (Chinese)",
    "cp949": "EUC-KR / Windows-949 (Korean)",
}
_LATIN_FAMILY = frozenset({"cp1252", "cp1250", "iso8859-2", "mac-roman", "cp850"})
#: The narrow standard inside each multi-byte candidate: its everyday characters. A decoding
#: that needs the rest (vendor extensions, rare syllables) is less likely to be the right one.
_EVERYDAY = {"cp932": "shift_jis", "gb18030": "gb2312", "cp949": "euc_kr"}
#: Words looked at per candidate (the first ones holding a character that is not ASCII).
_WORDS = 4000

# The accented letters each language writes (lower case). A Latin word whose accented letters
# no one of these holds together is most likely a wrong decoding.
_ALPHABETS = tuple(
    frozenset(letters)
    for letters in (
        "àâæçéèêëîïôœùûüÿ",  # French
        "äöüß",  # German
        "áéíñóúü",  # Spanish
        "áàâãçéêíóôõú",  # Portuguese
        "àèéìíîòóù",  # Italian
        "àçéèíïòóúü",  # Catalan
        "áéíóúàèëïöü",  # Dutch
        "åäöé",  # Swedish, Finnish
        "æøåéó",  # Danish, Norwegian
        "áðéíóúýþæö",  # Icelandic
        "áčďéěíňóřšťúůýž",  # Czech
        "áäčďéíĺľňóôŕšťúýž",  # Slovak
        "ąćęłńóśźż",  # Polish
        "áéíóöőúüű",  # Hungarian
        "ăâîșşțţ",  # Romanian
        "čćđšž",  # Croatian, Slovenian, Bosnian
        "äöõüšž",  # Estonian
    )
)
_EAST_ASIAN = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "FULLWIDTH", "IDEOGRAPHIC"})
# A run of letters and other characters that are not ASCII (a word), holding at least one
# character that is not ASCII; it starts only where the run starts, so the search is linear.
_WORD_CHAR = r"[^\x00-\x40\x5b-\x60\x7b-\x7f\s]"
_WORD = re.compile(rf"(?<!{_WORD_CHAR})[A-Za-z]*+[^\x00-\x7f\s]{_WORD_CHAR}*+")


@dataclass(frozen=True, slots=True)
class EncodingGuess:
    """The encoding a file is read with; ``guessed`` when it was chosen by likelihood, then
    ``runner_up`` is the next most likely one ("" when no other was plausible)."""

    encoding: str
    guessed: bool = False
    runner_up: str = ""


def canonical_encoding(name: str) -> str:
    """Python's own name of a text encoding (``UTF8`` → ``utf-8``, ``ISO-8859-2`` → ``iso8859-2``).

    Raises :class:`UsageError` for a name that is not a text encoding Python knows.
    """
    try:
        info = codecs.lookup(name.strip())
        text = isinstance(codecs.decode(b"", info.name), str)
    except (LookupError, ValueError, TypeError):
        text = False
    if not name.strip() or not text:
        raise UsageError(
            f"--encoding: {name!r} is not a text encoding presend knows; give one such as "
            "utf-8, cp1252, cp1250, iso-8859-2, cp1251, koi8-r, shift_jis, gb18030 or euc-kr"
        )
    return info.name


def label(encoding: str) -> str:
    """A human name for an encoding (its own name when there is no better one)."""
    return LABELS.get(encoding, encoding)


@functools.cache
def charmap_table(encoding: str) -> str | None:
    """The 256 characters an 8-bit encoding reads its bytes as, or None for any other encoding.

    A byte the encoding leaves undefined is read as the Latin-1 character of the same value,
    so decoding never fails and never drops a byte.
    """
    if encoding == "iso8859-1":
        return "".join(map(chr, range(256)))
    info = codecs.lookup(encoding)
    module = importlib.import_module(info.incrementaldecoder.__module__) if info.incrementaldecoder else None
    table = getattr(module, "decoding_table", None)
    if not isinstance(table, str) or len(table) != 256:
        return None
    return "".join(ch if ch != "\ufffe" else chr(b) for b, ch in enumerate(table))


def ascii_line_ends(encoding: str) -> bool:
    """True for an 8-bit encoding whose line ends are the bytes CR and LF and nothing else:
    a cut at those bytes is a cut between characters (see :mod:`pipeline.io.pieces`)."""
    table = charmap_table(encoding)
    if table is None:
        return False
    return table[0x0A] == "\n" and table[0x0D] == "\r" and table.count("\n") == table.count("\r") == 1


def guess_legacy(sample: bytes, truncated: bool) -> EncodingGuess:
    """Guess which of :data:`CANDIDATES` a sample that is not UTF-8 is in (see the module text).

    A ``truncated`` sample is looked at up to its last line end (no candidate has the byte CR
    or LF inside a character), so that no decoding meets a character cut in two.
    """
    cut = max(sample.rfind(b"\n"), sample.rfind(b"\r")) if truncated else -1
    if cut > 0:
        sample = sample[: cut + 1]
    decoded: dict[str, str] = {}
    for encoding in CANDIDATES:
        text = _decode(sample, encoding)
        if text is not None:
            decoded[encoding] = text
    scores = {encoding: _implausibility(text, encoding) for encoding, text in decoded.items()}
    ranked = sorted(scores, key=lambda encoding: scores[encoding])  # stable: CANDIDATES order on ties
    best = scores[ranked[0]]
    tied = [encoding for encoding in ranked if scores[encoding] == best]
    choice = _settle(tied, decoded, sample)
    others = [e for e in ranked if e != choice and decoded[e] != decoded[choice]]
    return EncodingGuess(choice, guessed=True, runner_up=others[0] if others else "")


def _decode(sample: bytes, encoding: str) -> str | None:
    table = charmap_table(encoding)
    if table is not None:
        return codecs.charmap_decode(sample, "strict", table)[0]
    try:
        return sample.decode(encoding)
    except UnicodeDecodeError:
        return None


def _settle(tied: list[str], decoded: dict[str, str], sample: bytes) -> str:
    """The pick among equally plausible decodings."""
    distinct = {decoded[encoding] for encoding in tied}
    if len(distinct) == 1 or all(encoding in _LATIN_FAMILY for encoding in tied):
        return tied[0]
    from charset_normalizer import from_bytes

    # The decoding whose characters follow some language's frequencies best (its coherence),
    # then the least messy one; one charset-normalizer leaves out is the least likely.
    names = {codecs.lookup(encoding).name: encoding for encoding in tied}
    fits = {
        names[codecs.lookup(match.encoding).name]: (match.coherence, -match.chaos)
        for match in from_bytes(sample, cp_isolation=list(tied))
        if codecs.lookup(match.encoding).name in names
    }
    return max(tied, key=lambda encoding: fits.get(encoding, (-1.0, -1.0)))


def _implausibility(text: str, encoding: str) -> int:
    """How much a decoding looks like a wrong one (0: every word is plausible)."""
    words = [match.group() for match in itertools.islice(_WORD.finditer(text), _WORDS)]
    score = sum(map(_word_score, words))
    everyday = _EVERYDAY.get(encoding)
    if everyday is not None:
        score += 2 * sum(1 for word in words for ch in word if not _everyday(ch, everyday))
    return score


@functools.lru_cache(maxsize=16384)
def _everyday(ch: str, encoding: str) -> bool:
    try:
        ch.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _char(ch: str) -> tuple[str, str, bool, bool]:
    """(kind, script, lower, upper) of a character: kind L letter, C control, S anything else."""
    category = unicodedata.category(ch)
    kind = "L" if category[0] == "L" else "C" if category[0] == "C" else "S"
    script = unicodedata.name(ch, "").partition(" ")[0]
    if script in _EAST_ASIAN:
        script = "CJK"
    return kind, script, ch.islower(), ch.isupper()


@functools.lru_cache(maxsize=65536)
def _word_score(word: str) -> int:
    score = 0
    scripts: set[str] = set()
    accented: set[str] = set()
    plain = marked = 0
    previous: tuple[str, str, bool, bool] | None = None
    last = len(word) - 1
    for index, ch in enumerate(word):
        kind, script, lower, upper = _char(ch)
        if kind == "C":
            score += 8
        elif kind == "S":
            after = _char(word[index + 1]) if index < last else None
            between = previous is not None and previous[0] == "L" and after is not None and after[0] == "L"
            if between or (after is not None and after[2]):
                score += 4
        else:
            scripts.add(script)
            if ch < "\x80":
                plain += 1
            elif script == "LATIN":
                accented.add(ch.lower())
                marked += 1
            if upper and previous is not None and previous[2] and (ch >= "\x80" or word[index - 1] >= "\x80"):
                score += 3
        previous = (kind, script, lower, upper)
    if len(scripts) > 1:
        score += 4
    if scripts == {"LATIN"} and accented:
        if not plain and marked >= 3:
            score += 4
        if not any(accented <= alphabet for alphabet in _ALPHABETS):
            score += 2
    return score


__all__ = [
    "CANDIDATES",
    "LABELS",
    "EncodingGuess",
    "ascii_line_ends",
    "canonical_encoding",
    "charmap_table",
    "guess_legacy",
    "label",
]
