"""Records that flow through the pipeline: rows → checks → verdicts → outputs.

Every record is a frozen dataclass. Stages return these; they never print or exit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """The five row statuses of the product contract (``presend_status``)."""

    DELIVERABLE = "deliverable"
    RISKY = "risky"
    UNDELIVERABLE = "undeliverable"
    UNKNOWN = "unknown"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One forecast: the SMTP reply a send would get, and why.

    ``code`` is the three-digit reply code as text (``"250"``, ``"550"``), empty for a
    duplicate. ``reason`` is a stable machine slug; ``detail`` one human sentence.
    """

    status: Status
    code: str
    enhanced: str
    reason: str
    detail: str
    mx: str = ""
    checked_at: str = ""


@dataclass(frozen=True, slots=True)
class AddressCheck:
    """The syntax layer's view of one cell.

    ``ok`` is true when the address is syntactically sendable. Then ``email`` is the
    normalized address (as it should be sent), ``local``/``domain`` its parts (domain in
    Unicode form), ``ascii_domain`` the IDNA form used for DNS, and ``smtputf8`` whether
    sending needs the SMTPUTF8 extension (non-ASCII local part). When ``ok`` is false,
    ``reason``/``detail`` say why (the forecast is 501 / 5.1.3).
    """

    ok: bool
    email: str = ""
    local: str = ""
    domain: str = ""
    ascii_domain: str = ""
    smtputf8: bool = False
    reason: str = ""
    detail: str = ""

    @property
    def key(self) -> str:
        """Case-insensitive duplicate key of a valid address (empty when invalid)."""
        return self.email.lower() if self.ok else ""


@dataclass(frozen=True, slots=True)
class MxHost:
    """One mail exchanger of a domain, with the addresses it resolved to."""

    preference: int
    host: str
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DomainVerdict:
    """The DNS layer's answer for one domain (shared by every row of that domain).

    ``verdict`` is set when DNS alone decides the forecast (NXDOMAIN, null MX, SERVFAIL,
    private MX ...). When it is ``None`` the domain accepts mail and ``mx_hosts`` lists the
    hosts to try, in preference order (an implicit MX is a single host, the domain itself).
    """

    domain: str
    verdict: Verdict | None
    mx_hosts: tuple[MxHost, ...] = ()
    implicit_mx: bool = False
    provider: str = ""
    from_cache: bool = False
    checked_at: str = ""

    @property
    def accepts_mail(self) -> bool:
        """True when the next layer (mailbox) decides."""
        return self.verdict is None

    @property
    def preferred_mx(self) -> str:
        """Name of the most preferred mail host, or empty."""
        return self.mx_hosts[0].host if self.mx_hosts else ""


@dataclass(frozen=True, slots=True)
class MailboxVerdict:
    """The mailbox layer's answer for one address (from RCPT TO, or from cache)."""

    email: str
    verdict: Verdict
    catch_all: bool = False
    from_cache: bool = False
    #: the deciding host's advertised SIZE limit in octets (RFC 1870), None when not advertised
    size_limit: int | None = None
    #: the deciding host's EHLO keywords (``8BITMIME``, ``SMTPUTF8`` ...); () when not known
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HygieneFlags:
    """List-hygiene flags and a suggested correction for one address.

    ``typo`` is true when the domain is a known misspelling of a popular domain (then
    ``suggestion`` holds the corrected address): the forecast makes such a row a typo,
    never a disposable one.
    """

    disposable: bool = False
    role: bool = False
    free: bool = False
    suggestion: str = ""
    typo: bool = False


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """Everything presend appends to one input row (:func:`pipeline.verdict.decide` makes it,
    :func:`pipeline.columns.encode` writes it)."""

    verdict: Verdict
    email: str = ""
    flags: HygieneFlags = field(default_factory=HygieneFlags)
    catch_all: bool = False
