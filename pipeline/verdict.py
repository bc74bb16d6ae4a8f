"""The forecast: what is known about a row in, its outcome out. Pure functions.

:func:`decide` is the one verdict path: every engine and every fast path gets a row's
outcome from it (or, for rows that differ only in their address, from a template made of
one such outcome: see :mod:`pipeline.columns`). The layers are taken in the order of the
product's forecast table: a malformed row, the syntax check, a repeated address, then the
deepest network layer that answered (domain, then mailbox), and last the hygiene flags,
which can only lower a deliverable verdict to risky.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pipeline.bounced import BounceFact, bounced_verdict, soft_bounced
from pipeline.models import (
    AddressCheck,
    DomainVerdict,
    HygieneFlags,
    MailboxVerdict,
    RowOutcome,
    Status,
    Verdict,
)
from pipeline.rules.probe_trust import fold_provider
from pipeline.rules.tlds import SPECIAL_USE, SPECIAL_USE_TLDS, UNKNOWN_TLD, deciding_name

#: The reason slug of a repeated address (its status is :attr:`Status.DUPLICATE`).
DUPLICATE_REASON = "duplicate"
#: The reason slug of a row whose fields do not line up with the header.
MALFORMED_REASON = "malformed_row"
#: The reason slug of a well-formed address when only syntax ran (``--no-dns``): its status
#: is unknown and it forecasts no code, but nothing was found against it (it is clean).
NOT_CHECKED_REASON = "domain_not_checked"
#: The reason slug of an address at a known misspelling of a popular domain.
TYPO_REASON = "typo_domain"

if TYPE_CHECKING:
    from pipeline.sender.findings import SenderImpact

_NO_FLAGS = HygieneFlags()


@dataclass(frozen=True, slots=True)
class VerdictOptions:
    """The options that change a verdict (``--role-risky``, the sender checks' findings)."""

    role_is_risky: bool = False
    #: what the sender checks found (``--from`` ...); None when they did not run
    sender: SenderImpact | None = None


@dataclass(frozen=True, slots=True)
class RowFacts:
    """What is known about one row when its outcome is decided.

    ``problem`` says why the row's fields do not line up with the header (the row is then
    not judged); otherwise ``check`` is the syntax layer's answer for its email cell.
    ``first_row`` is the earlier row holding the same address (``None`` when the address
    is new) and ``duplicate_note`` why two spellings are one mailbox. ``domain`` is
    ``None`` when DNS did not run, ``mailbox`` when the probe did not run or did not reach
    the address. ``offline`` is what is known against the domain without DNS (a reason of
    :mod:`pipeline.rules.tlds`: an unknown or special-use top-level domain), used only when
    DNS did not run. ``checked_at`` stamps a verdict that no layer stamped (the time the
    row's checks ran). ``bounced`` is a real bounce kept by ``calibrate --suppress``: a hard
    one decides the row (reason ``bounced_before``), soft ones can lower a deliverable row to risky.
    """

    check: AddressCheck | None = None
    problem: str = ""
    first_row: int | None = None
    duplicate_note: str = ""
    domain: DomainVerdict | None = None
    mailbox: MailboxVerdict | None = None
    flags: HygieneFlags = _NO_FLAGS
    checked_at: str = ""
    #: what real sends taught about the address (``calibrate --suppress``); None: nothing kept
    bounced: BounceFact | None = None
    offline: str = ""


def decide(facts: RowFacts, options: VerdictOptions = VerdictOptions()) -> RowOutcome:
    """The outcome of one row: its verdict, its normalized address and its flags."""
    if facts.problem:
        return RowOutcome(malformed_verdict(facts.problem))
    check = facts.check
    if check is None:
        raise ValueError("a row without a syntax check must name its problem")
    if not check.ok:
        # The syntax check decided this row: it is stamped like any other check.
        return RowOutcome(replace(syntax_verdict(check), checked_at=facts.checked_at))
    if facts.first_row is not None:
        verdict = duplicate_verdict(facts.first_row, check.email, facts.duplicate_note)
        return RowOutcome(verdict, check.email, facts.flags)
    bounced = facts.bounced
    if bounced is not None and bounced.hard:
        # A real bounce outranks any forecast: the network levels did not ask about it.
        verdict = bounced_verdict(bounced)
        if not verdict.checked_at:
            verdict = replace(verdict, checked_at=facts.checked_at)
        return RowOutcome(verdict, check.email, facts.flags)
    mailbox = facts.mailbox
    flags = facts.flags
    verdict = forecast(
        check, facts.domain, mailbox, flags, role_is_risky=options.role_is_risky, offline=facts.offline
    )
    if bounced is not None and (verdict.status is Status.DELIVERABLE or verdict.reason == NOT_CHECKED_REASON):
        verdict = soft_bounced(verdict, bounced)
    if options.sender is not None:
        verdict = fold_sender(verdict, options.sender, facts.domain, mailbox)
    if not verdict.checked_at:
        verdict = replace(verdict, checked_at=facts.checked_at)
    if flags.typo and flags.disposable:
        # A typo is a typo, whatever list its domain is also on (typo squatters' domains
        # end up on disposable lists): the row says so, and only so.
        flags = replace(flags, disposable=False)
    return RowOutcome(verdict, check.email, flags, mailbox is not None and mailbox.catch_all)


def fold_sender(
    verdict: Verdict, impact: SenderImpact, domain: DomainVerdict | None, mailbox: MailboxVerdict | None
) -> Verdict:
    """A sendable row's verdict once our own side of the send is counted in.

    A row the recipient side would accept (deliverable or risky) takes the reply of the first
    sender finding that touches it. A deliverable row becomes unknown: the send would be
    refused because of how it is sent, so the mailbox's own answer cannot be seen. A risky
    row stays risky (it was at best risky before; the clean list keeps it only with
    --keep-risky, as any risky row). Rows the recipient side already refuses, duplicates and
    unknowns keep their own verdict.
    """
    if verdict.status not in (Status.DELIVERABLE, Status.RISKY) and verdict.reason != NOT_CHECKED_REASON:
        return verdict
    finding = impact.for_row(domain, mailbox)
    if finding is None:
        return verdict
    return replace(
        verdict,
        status=Status.UNKNOWN if verdict.status is Status.DELIVERABLE else verdict.status,
        code=finding.code,
        enhanced=finding.enhanced,
        reason=finding.reason,
        detail=f"A sender problem: {finding.detail} (The recipient side: {verdict.detail})",
    )


def shares_outcome(mailbox: MailboxVerdict | None, flags: HygieneFlags, options: VerdictOptions) -> bool:
    """Whether a valid address's outcome says nothing of the row's own beyond its address.

    It does when the probe gave the address a verdict, when it has a suggestion (the
    corrected address) or when its flags lower it to risky (the detail names its domain or
    local part). What is known against a domain offline (``RowFacts.offline``) names only the
    deciding name (:func:`pipeline.rules.tlds.deciding_name`): a template of such rows is
    keyed by it as well. Otherwise :func:`decide` gives every valid row with the same domain verdict,
    role and free flags and duplicate note (or none) one outcome, but for its address, a
    duplicate's detail (:func:`duplicate_detail`) and the stamp of the check: a template's
    (:class:`pipeline.columns.Template`).
    """
    return mailbox is None and not flags.suggestion and not flags.disposable and not (
        flags.role and options.role_is_risky
    )


def syntax_verdict(check: AddressCheck) -> Verdict:
    """The 501 / 5.1.3 verdict for an address that failed the syntax layer."""
    return Verdict(Status.UNDELIVERABLE, "501", "5.1.3", check.reason, check.detail)


def duplicate_verdict(first_row: int, email: str, note: str = "") -> Verdict:
    """The verdict of a row whose address already appeared in row ``first_row``.

    ``note`` says why two different spellings are one mailbox (provider-aware duplicates).
    """
    return Verdict(Status.DUPLICATE, "", "", DUPLICATE_REASON, duplicate_detail(first_row, email, note))


def duplicate_detail(first_row: int, email: str, note: str = "") -> str:
    """The ``detail`` of :func:`duplicate_verdict` (the one part of it that changes per row)."""
    if note:
        return f"Same mailbox as row {first_row} (this row: {email}; {note}); only the first is kept."
    return f"Same address as row {first_row} (this row: {email}); only the first is kept."


def malformed_verdict(problem: str) -> Verdict:
    """The verdict of a row whose fields do not line up with the header."""
    return Verdict(
        Status.UNKNOWN,
        "",
        "",
        MALFORMED_REASON,
        f"Not judged: {problem}. Fix the row in the source file and run again.",
    )


def not_checked_verdict(check: AddressCheck) -> Verdict:
    """The verdict when only syntax ran (``--no-dns``) and nothing is known against the domain.

    No reply is forecast (no code): the levels that would forecast one did not run. The
    status is ``unknown``; the row is still clean, nothing having been found against it at
    the levels that ran (see :func:`pipeline.io.outputs.is_sendable`).
    """
    return Verdict(
        Status.UNKNOWN,
        "",
        "",
        NOT_CHECKED_REASON,
        "The address is well formed; its domain and mailbox were not checked (--no-dns): no reply is forecast.",
    )


def offline_verdict(check: AddressCheck, offline: str) -> Verdict:
    """The verdict of a domain known without DNS not to receive mail (``offline``: a reason
    of :mod:`pipeline.rules.tlds`).

    A top-level domain that is not delegated does not resolve: a send gets what a missing
    domain gets, ``550 5.1.2``. So do the special-use top-level names; the documentation
    domains (example.com ...) publish a null MX, ``556 5.1.10`` (RFC 7505).
    """
    # The detail names only the deciding name, so rows of one standing and name share it.
    tld = check.ascii_domain.lower().rstrip(".").rpartition(".")[2]
    if offline == UNKNOWN_TLD:
        return Verdict(
            Status.UNDELIVERABLE,
            "550",
            "5.1.2",
            UNKNOWN_TLD,
            f"The top-level domain .{tld} does not exist, so no mail can be delivered there "
            "(checked against the list of top-level domains, without DNS).",
        )
    if tld in SPECIAL_USE_TLDS:
        code, enhanced, why = "550", "5.1.2", f".{tld} is a special-use name that never resolves on the Internet"
    else:
        name = deciding_name(check.ascii_domain)
        code, enhanced, why = "556", "5.1.10", f"{name} is reserved for documentation and refuses all mail"
    detail = f"{why} (RFC 2606, RFC 6761); checked without DNS."
    return Verdict(Status.UNDELIVERABLE, code, enhanced, SPECIAL_USE, detail)


def typo_verdict(check: AddressCheck, suggestion: str, found: Verdict) -> Verdict:
    """The verdict of an address at a known misspelling of a popular domain.

    Mail sent there does not reach the person who gave the address, whatever the domain's
    host replies (many typo domains are registered by third parties and take mail): the
    status is ``undeliverable``. The code is the reply the levels that ran forecast
    (``found``'s: none when only syntax ran, 250 when the typo domain's host would take it,
    550 when it does not exist), so a code is never claimed that no level gave.
    """
    fixed = suggestion.rpartition("@")[2]
    return Verdict(
        Status.UNDELIVERABLE,
        found.code,
        found.enhanced,
        TYPO_REASON,
        f"{check.domain} is a common misspelling of {fixed}: mail sent there does not reach the person. "
        f"Did you mean {suggestion}? ({found.detail})",
        mx=found.mx,
        checked_at=found.checked_at,
    )


def domain_accepts_verdict(domain: DomainVerdict) -> Verdict:
    """The verdict when DNS says the domain takes mail and the probe did not run."""
    how = "its A/AAAA record (no MX)" if domain.implicit_mx else f"MX {domain.preferred_mx}"
    return Verdict(
        Status.DELIVERABLE,
        "250",
        "2.0.0",
        "domain_accepts_mail",
        f"The domain {domain.domain} receives mail through {how}; the mailbox was not probed.",
        mx=domain.preferred_mx,
        checked_at=domain.checked_at,
    )


def forecast(
    check: AddressCheck,
    domain: DomainVerdict | None,
    mailbox: MailboxVerdict | None,
    flags: HygieneFlags,
    *,
    role_is_risky: bool = False,
    offline: str = "",
) -> Verdict:
    """The verdict of a valid, new address from the deepest layer that answered.

    ``domain`` is ``None`` when DNS did not run (then ``offline``, what is known against the
    domain without DNS, decides if set); ``mailbox`` is ``None`` when the probe did not run
    (or did not reach this address). A known typo domain is undeliverable whatever the
    layers said (:func:`typo_verdict`); any other suggestion is named in the detail.
    Hygiene can only lower a deliverable (or unchecked) verdict to risky, never raise one.
    (An invalid address gets its syntax verdict.)
    """
    if not check.ok:
        return syntax_verdict(check)
    if domain is None:
        verdict = offline_verdict(check, offline) if offline else not_checked_verdict(check)
    elif domain.verdict is not None:
        verdict = domain.verdict
    elif mailbox is not None:
        verdict = fold_provider(mailbox.verdict)
    else:
        verdict = domain_accepts_verdict(domain)
    if flags.typo:
        return typo_verdict(check, flags.suggestion, verdict)
    if flags.suggestion:
        verdict = replace(verdict, detail=f"{verdict.detail} Did you mean {flags.suggestion}?")
    if verdict.status is Status.DELIVERABLE or verdict.reason == NOT_CHECKED_REASON:
        if flags.disposable:
            verdict = replace(
                verdict,
                status=Status.RISKY,
                reason="disposable_domain",
                detail=f"{check.domain} hands out throw-away addresses. {verdict.detail}",
            )
        elif flags.role and role_is_risky:
            verdict = replace(
                verdict,
                status=Status.RISKY,
                reason="role_account",
                detail=f"{check.local}@ is a shared role mailbox. {verdict.detail}",
            )
    return verdict
