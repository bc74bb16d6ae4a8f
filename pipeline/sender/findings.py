"""Sender findings and how they bear on each row: the records every sender check returns.

A finding is one fact about our side of the send with the reply a send would draw because of
it. Its scope says which rows it touches: the whole campaign (a relay that refuses our
password, a sending IP on a block list), the rows of one mailbox provider (Gmail's rule on
unauthenticated mail), or the rows whose mail host cannot take the message (its SIZE).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipeline.models import DomainVerdict, MailboxVerdict


class Scope(StrEnum):
    """Which rows a finding touches."""

    CAMPAIGN = "campaign"  # every row that would be sent
    PROVIDER = "provider"  # rows whose MX belongs to one of ``providers``
    HOST = "host"  # rows whose deciding mail host is one of ``hosts``


@dataclass(frozen=True, slots=True)
class SenderFinding:
    """One sender, relay or message fact, and the reply a send would draw because of it.

    ``check`` names the check (``spf``, ``dkim``, ``dmarc``, ``ptr``, ``dnsbl``, ``relay``,
    ``message`` ...). ``ok`` findings are reported but change no row. For a problem, ``code``
    and ``enhanced`` are the forecast reply, ``reason`` the row's machine slug, ``detail`` one
    sentence of what was found and ``remedy`` what to do about it. A problem's ``reason``
    starts with one of :data:`pipeline.io.outputs.SENDER_REASON_PREFIX` (``sending_``,
    ``relay_``, ``message_``, ``dkim_``, ``host_lacks_``): that is how the clean list tells a
    row held back only by our side of the send.

    An ``ok`` finding with a ``remedy`` is advice: it changes no row, but something could be
    better (a missing DMARC record). ``checked`` is False for a check that could not run (a
    DNS timeout, a needed option not given): it changes no row either, since nothing was
    learned. ``source`` names the published rule a provider finding comes from.
    """

    check: str
    ok: bool
    code: str
    enhanced: str
    reason: str
    detail: str
    remedy: str = ""
    scope: Scope = Scope.CAMPAIGN
    providers: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    checked: bool = True
    source: str = ""

    @property
    def state(self) -> str:
        """``problem`` (changes rows), ``unchecked``, ``advice`` (ok, with a remedy) or ``ok``."""
        if not self.checked:
            return "unchecked"
        if not self.ok:
            return "problem"
        return "advice" if self.remedy else "ok"

    def touches(self, domain: DomainVerdict | None, mailbox: MailboxVerdict | None) -> bool:
        """Whether this (problem) finding bears on a row with this domain and mailbox answer."""
        if self.ok or not self.checked:
            return False
        if self.scope is Scope.CAMPAIGN:
            return True
        if self.scope is Scope.PROVIDER:
            return domain is not None and domain.provider in self.providers
        host = mailbox.verdict.mx if mailbox is not None else (domain.preferred_mx if domain else "")
        return bool(host) and host.lower().rstrip(".") in self.hosts


@dataclass(frozen=True, slots=True)
class SenderImpact:
    """Every finding of a run's sender checks, in the order they bear on a row (first wins)."""

    findings: tuple[SenderFinding, ...] = ()
    #: the message's size in octets as sent (``--message``); None without a message
    message_size: int | None = None
    #: EHLO extensions the message needs (``8BITMIME`` for an 8-bit body, ``SMTPUTF8`` for UTF-8 headers)
    message_needs: tuple[str, ...] = ()

    def for_row(self, domain: DomainVerdict | None, mailbox: MailboxVerdict | None) -> SenderFinding | None:
        """The finding that decides a sendable row's forecast, or None when none touches it.

        After the findings, a probed row whose mail host advertised a SIZE smaller than the
        message gets that host's 552 5.3.4 (RFC 1870).
        """
        for finding in self.findings:
            if finding.touches(domain, mailbox):
                return finding
        return self._host_finding(mailbox) if mailbox is not None else None

    def _host_finding(self, mailbox: MailboxVerdict) -> SenderFinding | None:
        """What the probed host's EHLO says about this message: SIZE, 8BITMIME, SMTPUTF8."""
        limit = mailbox.size_limit
        if limit is not None and self.message_size is not None and self.message_size > limit:
            return host_size_finding(mailbox.verdict.mx, limit, self.message_size)
        if mailbox.extensions:  # known only when the host was greeted in this run or cached so
            for need in self.message_needs:
                if need not in mailbox.extensions:
                    return host_extension_finding(mailbox.verdict.mx, need)
        return None

    @property
    def problems(self) -> tuple[SenderFinding, ...]:
        """The findings that change rows (not ``ok``)."""
        return tuple(f for f in self.findings if f.state == "problem")


def host_size_finding(host: str, limit: int, size: int) -> SenderFinding:
    """The 552 5.3.4 a mail host advertising ``SIZE limit`` gives a message of ``size`` octets."""
    name = host.lower().rstrip(".")
    return SenderFinding(
        "message",
        False,
        "552",
        "5.3.4",
        "message_too_large",
        f"The message is {size} octets; the mail host {name or 'of this row'} takes at most {limit} (its SIZE).",
        "Make the message smaller: link to large files instead of attaching them, compress images.",
        scope=Scope.HOST,
        hosts=(name,),
    )


#: extension → (code, enhanced, what in the message needs it)
_NEEDS = {
    "8BITMIME": ("554", "5.6.3", "its body has 8-bit octets"),
    "SMTPUTF8": ("553", "5.6.7", "its headers carry raw UTF-8"),
}


def host_extension_finding(host: str, extension: str) -> SenderFinding:
    """The refusal a mail host without ``extension`` (8BITMIME, SMTPUTF8) gives this message."""
    name = host.lower().rstrip(".")
    code, enhanced, why = _NEEDS.get(extension, ("554", "5.6.0", "it needs it"))
    return SenderFinding(
        "message",
        False,
        code,
        enhanced,
        f"host_lacks_{extension.lower()}",
        f"The mail host {name} does not offer {extension}, and the message needs it: {why}.",
        "Encode the message 7-bit (quoted-printable or base64 bodies, RFC 2047 encoded headers).",
        scope=Scope.HOST,
        hosts=(name,),
    )
