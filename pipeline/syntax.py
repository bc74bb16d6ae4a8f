"""The syntax layer: clean a cell into an address, then judge it with email-validator.

Pure functions, no I/O. A failure is forecast 501 / 5.1.3 with a stable reason slug.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from .models import AddressCheck

#: RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. email-validator only enforces
#: this in strict mode, but a real MTA answers 501 to a longer one.
LOCAL_PART_MAX_OCTETS = 64

_BLANKS = " \t\r\n\u00a0\u200b\u200c\u200d\u2060\ufeff\u3000"
_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
_ANGLE = re.compile(r"^(?P<name>[^<>]*)<(?P<addr>[^<>]*)>$", re.DOTALL)

# (substring of email-validator's message, our slug, our sentence). First match wins.
_REASONS: tuple[tuple[str, str, str], ...] = (
    ("must have an @-sign", "missing_at_sign", "The address has no @ sign."),
    ("something before the @-sign", "missing_local_part", "Nothing comes before the @ sign."),
    ("something after the @-sign", "missing_domain", "Nothing comes after the @ sign."),
    ("small commercial at", "lookalike_at_sign", "A look-alike character stands in for the @ sign."),
    ("two periods in a row", "consecutive_dots", "Two dots follow each other."),
    ("period and a hyphen", "invalid_domain", "The domain has a dot next to a hyphen."),
    ("two letters followed by two dashes", "invalid_domain", "The domain has a bad '--' label."),
    ("cannot start with a period", "leading_dot", "A part of the address starts with a dot."),
    ("period immediately before the @-sign", "trailing_dot", "The part before the @ ends with a dot."),
    ("period immediately after the @-sign", "leading_dot", "The domain starts with a dot."),
    ("hyphen immediately after the @-sign", "invalid_domain", "The domain starts with a hyphen."),
    ("cannot end with a period", "trailing_dot", "A part of the address ends with a dot."),
    ("too long before the @-sign", "local_part_too_long", "The part before the @ is too long."),
    ("too long after the @-sign", "domain_too_long", "The domain is too long."),
    ("periods cannot be separated by so many", "domain_label_too_long",
     "A label of the domain is longer than 63 characters."),
    ("is too long", "address_too_long", "The address is longer than 254 characters."),
    ("should have a period", "domain_without_dot", "The domain has no dot (no top-level domain)."),
    ("top-level domain", "invalid_tld", "The domain does not end in a valid top-level domain."),
    ("special-use or reserved", "reserved_domain",
     "The domain is a special-use or reserved name that cannot receive mail."),
    ("bracket", "domain_literal", "Addresses at a bracketed IP address are not accepted."),
    ("Quoting the part before", "quoted_local_part", "Quoted local parts are not accepted."),
    ("display name", "display_name", "The cell holds a display name that could not be separated."),
    ("anything after the email address", "trailing_text", "Extra text follows the address."),
    ("unsafe characters", "unsafe_characters", "The address holds invisible or unsafe characters."),
    ("before the @-sign", "invalid_local_part", "The part before the @ has characters not allowed there."),
    ("after the @-sign", "invalid_domain", "The domain has characters not allowed there."),
    ("invalid character", "invalid_character", "The address holds a character not allowed in email."),
    ("not valid ASCII", "invalid_character", "The address holds a character not allowed in email."),
)


def normalize(cell: str) -> str:
    """Strip what wraps an address in real exports: blanks, ``mailto:``, ``Name <addr>``.

    Returns the candidate address (possibly empty). Never raises.
    """
    text = cell.strip(_BLANKS)
    match = _ANGLE.match(text)
    if match:
        text = match.group("addr").strip(_BLANKS)
    if _MAILTO.match(text):
        text = text[len("mailto:"):]
        text = text.split("?", 1)[0].strip(_BLANKS)
    return text


def _reason_for(message: str) -> tuple[str, str]:
    for needle, slug, sentence in _REASONS:
        if needle in message:
            return slug, sentence
    return "invalid_syntax", "The address is not a valid email address."


def check_address(cell: str) -> AddressCheck:
    """Judge one cell: normalize it, validate it, and return an :class:`AddressCheck`."""
    candidate = normalize(cell)
    if not candidate:
        return AddressCheck(
            ok=False,
            reason="missing_address",
            detail="The cell is empty: there is no address to send to.",
        )
    try:
        valid = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        slug, sentence = _reason_for(str(exc))
        return AddressCheck(ok=False, reason=slug, detail=f"{sentence} ({candidate!r})")
    local = valid.local_part
    if len(local.encode("utf-8")) > LOCAL_PART_MAX_OCTETS:
        return AddressCheck(
            ok=False,
            reason="local_part_too_long",
            detail=(
                f"The part before the @ is {len(local.encode('utf-8'))} octets; "
                f"mail servers accept at most {LOCAL_PART_MAX_OCTETS}."
            ),
        )
    return AddressCheck(
        ok=True,
        email=valid.normalized,
        local=local,
        domain=valid.domain,
        ascii_domain=valid.ascii_domain,
        smtputf8=bool(valid.smtputf8),
    )
