"""The syntax layer: clean a cell into an address, then judge it with email-validator.

Pure functions, no I/O. A failure is forecast 501 / 5.1.3 with a stable reason slug (one
per kind of failure, listed in :data:`REASONS`) and a one-line detail.

What normalization removes before judging: blanks around the address (spaces, tabs,
no-break and zero-width spaces, a stray byte-order mark), a ``mailto:`` prefix (with its
``?query`` and percent-encoding, RFC 6068) and a display name around ``<addr>``. What it
does not remove: a line break. A cell whose address holds a CR or LF is refused
(``line_break``): SMTP has no place for one (RFC 5321 §2.3.8), and a cell that spans lines
usually holds two values run together.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import unquote

from email_validator import EmailNotValidError, validate_email

from pipeline.models import AddressCheck

#: RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. email-validator only enforces
#: this in strict mode, but a real MTA answers 501 to a longer one.
LOCAL_PART_MAX_OCTETS = 64

#: Horizontal blanks stripped around a cell (line breaks are deliberately not among them).
BLANKS = (
    " \t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u200b\u200c\u200d\u202f\u205f\u2060\u3000\ufeff"
)
_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x85\u2028\u2029]")
_ANGLE = re.compile(r"(?P<name>[^<>]*)<(?P<addr>[^<>]*)>", re.DOTALL)
_SEPARATORS = re.compile(r"[,;\s]+")
_CHAR_LIST = re.compile(r"characters?[^:]*: (?P<chars>.+?)\.?$")
_SHOW_MAX = 80

#: Every reason slug the syntax layer can give, with its sentence (no final period).
REASONS: dict[str, str] = {
    "missing_address": "The cell is empty: there is no address to send to",
    "line_break": "The address holds a line break; an address is a single line",
    "multiple_addresses": "The cell holds more than one address; put one address per row",
    "missing_at_sign": "The address has no @ sign",
    "lookalike_at_sign": "A look-alike character stands in for the @ sign",
    "missing_local_part": "Nothing comes before the @ sign",
    "missing_domain": "Nothing comes after the @ sign",
    "consecutive_dots": "Two dots follow each other",
    "leading_dot": "A part of the address starts with a dot",
    "trailing_dot": "A part of the address ends with a dot",
    "domain_hyphen": "A label of the domain starts or ends with a hyphen, or has '--' in 3rd-4th position",
    "local_part_too_long": "The part before the @ is longer than 64 octets",
    "domain_too_long": "The domain is longer than 253 characters",
    "domain_label_too_long": "A label of the domain is longer than 63 characters",
    "address_too_long": "The address is longer than 254 characters",
    "domain_without_dot": "The domain has no dot (no top-level domain)",
    "invalid_tld": "The domain does not end in a valid top-level domain",
    "reserved_domain": "The domain is a special-use or reserved name that cannot receive mail",
    "domain_literal": "Addresses at a bracketed IP address are not accepted",
    "quoted_local_part": "Quoted local parts are not accepted",
    "display_name": "The cell holds a display name that could not be separated from the address",
    "trailing_text": "Extra text follows the address",
    "unsafe_characters": "The address holds invisible or unsafe characters",
    "invalid_local_part": "The part before the @ has characters not allowed there",
    "invalid_domain": "The domain has characters not allowed there",
    "invalid_character": "The address holds a character not allowed in email",
    "invalid_syntax": "The address is not a valid email address",
}

# (substring of email-validator's message, our slug). First match wins; the order matters
# ("angle bracket" before "bracket", the specific "before the @-sign" forms before the
# generic one).
_MESSAGE_SLUGS: tuple[tuple[str, str], ...] = (
    ('"full-width" at-sign', "lookalike_at_sign"),
    ("small commercial at", "lookalike_at_sign"),
    ("must have an @-sign", "missing_at_sign"),
    ("something before the @-sign", "missing_local_part"),
    ("something after the @-sign", "missing_domain"),
    ("two periods in a row", "consecutive_dots"),
    ("period and a hyphen", "domain_hyphen"),
    ("two letters followed by two dashes", "domain_hyphen"),
    ("hyphen immediately after the @-sign", "domain_hyphen"),
    ("end with a hyphen", "domain_hyphen"),
    ("cannot start with a period", "leading_dot"),
    ("period immediately after the @-sign", "leading_dot"),
    ("period immediately before the @-sign", "trailing_dot"),
    ("cannot end with a period", "trailing_dot"),
    ("too long before the @-sign", "local_part_too_long"),
    ("too long after the @-sign", "domain_too_long"),
    ("periods cannot be separated by so many", "domain_label_too_long"),
    ("is too long", "address_too_long"),
    ("should have a period", "domain_without_dot"),
    ("top-level domain", "invalid_tld"),
    ("special-use or reserved", "reserved_domain"),
    ("angle bracket", "display_name"),
    ("display name", "display_name"),
    ("bracket", "domain_literal"),
    ("Quoting the part before", "quoted_local_part"),
    ("in quotes before the @-sign", "quoted_local_part"),
    ("after close quote", "invalid_local_part"),
    ("anything after the email address", "trailing_text"),
    ("unsafe characters", "unsafe_characters"),
    ("before the @-sign", "invalid_local_part"),
    ("after the @-sign", "invalid_domain"),
    ("invalid character", "invalid_character"),
    ("not valid ASCII", "invalid_character"),
)


def normalize(cell: str) -> str:
    """Strip what wraps an address in real exports: blanks, ``Name <addr>``, ``mailto:``.

    Returns the candidate address (possibly empty). Never raises.
    """
    text = cell.strip(BLANKS)
    match = _ANGLE.fullmatch(text)
    if match:
        text = match.group("addr").strip(BLANKS)
    if text[:7].casefold() == "mailto:":
        text = text[7:].split("?", 1)[0]
        if "%" in text:
            # Not percent-encoded UTF-8: judge it as written.
            with contextlib.suppress(UnicodeDecodeError):
                text = unquote(text, errors="strict")
        text = text.strip(BLANKS)
    return text


def reason_for(message: str) -> str:
    """The reason slug for one of email-validator's error messages."""
    for needle, slug in _MESSAGE_SLUGS:
        if needle in message:
            return slug
    return "invalid_syntax"


def _show(candidate: str) -> str:
    if len(candidate) > _SHOW_MAX:
        candidate = candidate[: _SHOW_MAX - 1] + "…"
    return repr(candidate)


def _failure(slug: str, candidate: str, extra: str = "") -> AddressCheck:
    sentence = REASONS[slug]
    if extra:
        sentence = f"{sentence}: {extra}"
    detail = f"{sentence}. ({_show(candidate)})" if candidate else f"{sentence}."
    return AddressCheck(ok=False, reason=slug, detail=detail)


def refusal(message: str, candidate: str) -> AddressCheck:
    """The failed check of ``candidate`` for one of email-validator's error messages."""
    chars = _CHAR_LIST.search(message)
    return _failure(reason_for(message), candidate, chars.group("chars") if chars else "")


def check_address(cell: str) -> AddressCheck:
    """Judge one cell: normalize it, validate it, and return an :class:`AddressCheck`."""
    candidate = normalize(cell)
    if not candidate:
        return _failure("missing_address", "")
    if _LINE_BREAKS.search(candidate):
        return _failure("line_break", candidate)
    if candidate.count("@") > 1 and sum("@" in part for part in _SEPARATORS.split(candidate)) > 1:
        return _failure("multiple_addresses", candidate)
    try:
        valid = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        return refusal(str(exc), candidate)
    local = valid.local_part
    octets = len(local.encode("utf-8"))
    if octets > LOCAL_PART_MAX_OCTETS:
        return _failure("local_part_too_long", candidate, f"it has {octets}")
    return AddressCheck(
        ok=True,
        email=valid.normalized,
        local=local,
        domain=valid.domain,
        ascii_domain=valid.ascii_domain,
        smtputf8=bool(valid.smtputf8),
    )


__all__ = ["BLANKS", "LOCAL_PART_MAX_OCTETS", "REASONS", "check_address", "normalize", "reason_for", "refusal"]
