"""The message check: what in the campaign's .eml would draw a refusal, read with the stdlib parser.

:func:`read_message` turns the file into :class:`MessageFacts` (size as sent, long lines,
8-bit body, non-ASCII headers, the headers present); :func:`message_findings` turns the facts
into findings, and verifies the message's DKIM-Signature with dkimpy, its key looked up
through the ``dns_txt`` the caller passes (the run's configured resolver; never the system's).
The relay check (:mod:`pipeline.sender.relay`) uses the same facts against the relay's EHLO:
``SIZE=`` on MAIL FROM, 8BITMIME, SMTPUTF8.

Codes (documented in README "Sender readiness: relay and message"): a line over 998 octets
(RFC 5322 §2.1.1) → 500 5.5.2, what servers that enforce the limit answer; a missing From,
Date or Message-ID (RFC 5322 §3.6; Gmail refuses non-conforming messages) → 550 5.7.1; no
one-click unsubscribe under ``--bulk`` (RFC 8058; Gmail's and Yahoo's bulk-sender rules) →
550 5.7.1 on the rows of those providers; a DKIM signature that fails → 550 5.7.1.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import dkim

from pipeline.errors import InputError
from pipeline.options import SenderOptions
from pipeline.sender.findings import Scope, SenderFinding

#: The ``check`` name of every message finding (``dkim`` for the signature).
CHECK = "message"
#: RFC 5322 §2.1.1: a line is at most 998 octets, CRLF excluded.
MAX_LINE = 998
#: Providers whose published bulk-sender rules ask for one-click unsubscribe (RFC 8058).
ONE_CLICK_PROVIDERS = ("Google", "Yahoo")
_REQUIRED_HEADERS = ("From", "Date", "Message-ID")
_HTTPS_URI = re.compile(r"<https://[^>]+>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the message file is, as it would go over the wire."""

    path: Path
    raw: bytes  # line endings made CRLF, as sent
    longest_line: int
    long_lines: int
    eight_bit_body: bool
    non_ascii_headers: tuple[str, ...]
    message: EmailMessage

    @property
    def size(self) -> int:
        """The message's size in octets as it would be sent (CRLF line endings)."""
        return len(self.raw)

    @property
    def needs(self) -> tuple[str, ...]:
        """EHLO extensions a host must offer to take the message as it is (for ``SenderImpact.message_needs``)."""
        return (("8BITMIME",) if self.eight_bit_body else ()) + (("SMTPUTF8",) if self.needs_smtputf8 else ())

    @property
    def needs_smtputf8(self) -> bool:
        """Whether the header section carries raw UTF-8 (RFC 6532): only SMTPUTF8 hosts take it."""
        return bool(self.non_ascii_headers)


def read_message(path: Path) -> MessageFacts:
    """Read and measure ``path``; :class:`InputError` when it cannot be read or is empty."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise InputError(f"--message {path}: cannot read it ({why}); give a readable .eml file") from exc
    if not data.strip():
        raise InputError(f"--message {path}: the file is empty; give the campaign's message as an .eml file")
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    raw = b"".join(line + b"\r\n" for line in lines)
    head, _, body = raw.partition(b"\r\n\r\n")
    lengths = [len(line) for line in lines]
    parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return MessageFacts(
        path=path,
        raw=raw,
        longest_line=max(lengths, default=0),
        long_lines=sum(1 for n in lengths if n > MAX_LINE),
        eight_bit_body=any(byte > 127 for byte in body),
        non_ascii_headers=_non_ascii_headers(head),
        message=parsed,
    )


def _non_ascii_headers(head: bytes) -> tuple[str, ...]:
    names: list[str] = []
    for line in head.split(b"\r\n"):
        if any(byte > 127 for byte in line):
            name = line.split(b":", 1)[0].decode("ascii", "replace") if not line[:1].isspace() else "(folded line)"
            if name not in names:
                names.append(name)
    return tuple(names)


def message_findings(
    options: SenderOptions, dns_txt: Callable[[str], list[str]] | None
) -> list[SenderFinding]:
    """Findings about ``options.message`` ([] without one); ``dns_txt`` None skips the DKIM check."""
    if options.message is None:
        return []
    facts = read_message(options.message)
    findings = [_ok("size", f"The message is {facts.size} octets as sent.")]
    findings.append(_line_finding(facts))
    findings.extend(_header_findings(facts))
    findings.append(_encoding_finding(facts))
    if options.bulk:
        findings.append(_unsubscribe_finding(facts))
    findings.extend(dkim_findings(facts, dns_txt))
    return findings


def _line_finding(facts: MessageFacts) -> SenderFinding:
    if not facts.long_lines:
        return _ok("lines", f"Every line is within {MAX_LINE} octets (the longest: {facts.longest_line}).")
    return _problem(
        "500",
        "5.5.2",
        "message_line_too_long",
        f"{facts.long_lines} line(s) of the message are longer than {MAX_LINE} octets (the longest: "
        f"{facts.longest_line}); servers that enforce RFC 5322 refuse the message, others break the line.",
        "Encode the body quoted-printable or base64 (your mail library does it when asked), or wrap the HTML.",
    )


def _header_findings(facts: MessageFacts) -> list[SenderFinding]:
    missing = [name for name in _REQUIRED_HEADERS if facts.message.get(name) is None]
    if not missing:
        return [_ok("headers", "From, Date and Message-ID are present.")]
    return [
        _problem(
            "550",
            "5.7.1",
            "message_header_missing",
            f"The message has no {', '.join(missing)} header; RFC 5322 asks for them and Gmail refuses "
            "messages without them (some relays add Date and Message-ID, not all do).",
            f"Add {', '.join(missing)} to the message before sending.",
        )
    ]


def _encoding_finding(facts: MessageFacts) -> SenderFinding:
    parts = []
    if facts.eight_bit_body:
        parts.append("its body has 8-bit octets (only hosts offering 8BITMIME take it as is)")
    if facts.non_ascii_headers:
        parts.append(
            f"its headers {', '.join(facts.non_ascii_headers)} carry raw UTF-8 (only hosts offering SMTPUTF8 take it)"
        )
    text = "; ".join(parts) if parts else "it is 7-bit ASCII, which every host takes"
    return _ok("encoding", f"The message's encoding: {text}. The relay check compares this with the relay's EHLO.")


def _unsubscribe_finding(facts: MessageFacts) -> SenderFinding:
    header = str(facts.message.get("List-Unsubscribe", "") or "")
    post = str(facts.message.get("List-Unsubscribe-Post", "") or "").strip()
    if _HTTPS_URI.search(header) and post.replace(" ", "").lower() == "list-unsubscribe=one-click":
        return _ok("unsubscribe", "One-click unsubscribe (RFC 8058): List-Unsubscribe with an HTTPS URI and "
                   "List-Unsubscribe-Post: List-Unsubscribe=One-Click.")
    lacking = []
    if not _HTTPS_URI.search(header):
        lacking.append("a List-Unsubscribe header with an <https://...> URI")
    if post.replace(" ", "").lower() != "list-unsubscribe=one-click":
        lacking.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    return SenderFinding(
        CHECK,
        False,
        "550",
        "5.7.1",
        "message_no_one_click_unsubscribe",
        f"Bulk mail without one-click unsubscribe (RFC 8058): the message lacks {' and '.join(lacking)}; Gmail "
        "and Yahoo hold bulk senders to it.",
        "Add both headers (and sign them with DKIM); the HTTPS endpoint must unsubscribe on a POST alone.",
        scope=Scope.PROVIDER,
        providers=ONE_CLICK_PROVIDERS,
    )


def dkim_findings(facts: MessageFacts, dns_txt: Callable[[str], list[str]] | None) -> list[SenderFinding]:
    """Verify every DKIM-Signature of the message (its key fetched through ``dns_txt``)."""
    signatures = facts.message.get_all("DKIM-Signature") or []
    if not signatures:
        return [SenderFinding("dkim", True, "", "", "dkim_unsigned", "The message carries no DKIM-Signature "
                              "(the relay or your sending service may sign it on the way out).")]
    if dns_txt is None:
        return [SenderFinding("dkim", True, "", "", "dkim_not_checked", "The message's DKIM-Signature was not "
                              "verified: DNS is off.")]
    return [_verify_one(facts.raw, idx, str(sig), dns_txt) for idx, sig in enumerate(signatures)]


def _key_name(signature: str) -> str:
    """``SELECTOR._domainkey.DOMAIN`` of one DKIM-Signature header value ("" when unreadable)."""
    tags = dict(
        (k.strip().lower(), "".join(v.split())) for k, _, v in (t.partition("=") for t in signature.split(";")) if v
    )
    return f"{tags['s']}._domainkey.{tags['d']}" if tags.get("s") and tags.get("d") else ""


def _verify_one(raw: bytes, idx: int, signature: str, dns_txt: Callable[[str], list[str]]) -> SenderFinding:
    verifier = dkim.DKIM(raw)
    where = "the message's DKIM-Signature" + (f" #{idx + 1}" if idx else "")
    key_name = _key_name(signature)
    try:
        published = dns_txt(key_name) if key_name else [""]
    except Exception as exc:  # the caller's resolver: a timeout or SERVFAIL is unknown, not invalid
        return SenderFinding("dkim", True, "", "", "dkim_not_checked",
                             f"{where} was not verified: the key lookup at {key_name} failed ({exc}).")
    if not published:
        return _dkim_problem("dkim_key_missing", f"{where}: no key is published at {key_name}.",
                             "Publish the selector's public key (TXT at SELECTOR._domainkey.DOMAIN).")

    def lookup(name: bytes, timeout: float = 5.0) -> bytes:
        del timeout  # the caller's resolver has its own
        records = dns_txt(name.decode("ascii", "replace").rstrip("."))
        return records[0].encode() if records else b""

    try:
        valid = verifier.verify(idx, dnsfunc=lookup)
    except dkim.KeyFormatError as exc:
        return _dkim_problem("dkim_key_missing", f"{where}: its key is missing or unreadable ({exc}).",
                             "Publish the selector's public key (TXT at SELECTOR._domainkey.DOMAIN).")
    except dkim.ValidationError as exc:
        if "body hash" in str(exc):
            return _dkim_problem("dkim_body_altered", f"{where}: the body changed after signing ({exc}).",
                                 "Sign the message last, after every change to its body (footers, tracking).")
        return _dkim_problem("dkim_invalid", f"{where} does not verify ({exc}).", "Sign the message again.")
    except dkim.DKIMException as exc:
        return _dkim_problem("dkim_invalid", f"{where} is malformed ({exc}).", "Sign the message again.")
    if not valid:
        return _dkim_problem("dkim_invalid", f"{where} does not verify (the signed headers changed after signing).",
                             "Sign the message after its last change.")
    domain = (verifier.domain or b"").decode()
    selector = (verifier.selector or b"").decode()
    return SenderFinding("dkim", True, "", "", "dkim_valid", f"{where} verifies (d={domain}, s={selector}).")


def _dkim_problem(reason: str, detail: str, remedy: str) -> SenderFinding:
    return SenderFinding("dkim", False, "550", "5.7.1", reason, detail, remedy)


def _ok(step: str, detail: str) -> SenderFinding:
    return SenderFinding(CHECK, True, "", "", f"message_{step}_ok", detail)


def _problem(code: str, enhanced: str, reason: str, detail: str, remedy: str) -> SenderFinding:
    return SenderFinding(CHECK, False, code, enhanced, reason, detail, remedy)
