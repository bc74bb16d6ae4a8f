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

from pipeline.models import (
    AddressCheck,
    DomainVerdict,
    HygieneFlags,
    MailboxVerdict,
    RowOutcome,
    Status,
    Verdict,
)

#: The reason slug of a repeated address (its status is :attr:`Status.DUPLICATE`).
DUPLICATE_REASON = "duplicate"
#: The reason slug of a row whose fields do not line up with the header.
MALFORMED_REASON = "malformed_row"
#: The reason slug of a well-formed address when only syntax ran (``--no-dns``).
SYNTAX_OK_REASON = "syntax_ok"

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
    the address. ``checked_at`` stamps a verdict that no layer stamped (the time the row's
    checks ran).
    """

    check: AddressCheck | None = None
    problem: str = ""
    first_row: int | None = None
    duplicate_note: str = ""
    domain: DomainVerdict | None = None
    mailbox: MailboxVerdict | None = None
    flags: HygieneFlags = _NO_FLAGS
    checked_at: str = ""


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
    mailbox = facts.mailbox
    verdict = forecast(check, facts.domain, mailbox, facts.flags, role_is_risky=options.role_is_risky)
    if options.sender is not None:
        verdict = fold_sender(verdict, options.sender, facts.domain, mailbox)
    if not verdict.checked_at:
        verdict = replace(verdict, checked_at=facts.checked_at)
    return RowOutcome(verdict, check.email, facts.flags, mailbox is not None and mailbox.catch_all)


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
    if verdict.status not in (Status.DELIVERABLE, Status.RISKY):
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
    local part). Otherwise :func:`decide` gives every valid row with the same domain verdict,
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
    """The verdict when only syntax ran (``--no-dns``)."""
    return Verdict(
        Status.DELIVERABLE,
        "250",
        "2.0.0",
        SYNTAX_OK_REASON,
        "The address is well formed; its domain and mailbox were not checked (--no-dns).",
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
) -> Verdict:
    """The verdict of a valid, new address from the deepest layer that answered.

    ``domain`` is ``None`` when DNS did not run; ``mailbox`` is ``None`` when the probe did
    not run (or did not reach this address). Hygiene can only lower a deliverable verdict
    to risky, never raise one. (An invalid address gets its syntax verdict.)
    """
    if not check.ok:
        return syntax_verdict(check)
    if domain is None:
        verdict = not_checked_verdict(check)
    elif domain.verdict is not None:
        verdict = domain.verdict
    elif mailbox is not None:
        verdict = mailbox.verdict
    else:
        verdict = domain_accepts_verdict(domain)
    if verdict.status is Status.DELIVERABLE:
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
