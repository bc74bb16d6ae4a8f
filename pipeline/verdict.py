"""The forecast: combine the layers' answers into one verdict per row. Pure functions."""

from __future__ import annotations

from dataclasses import replace

from pipeline.models import AddressCheck, DomainVerdict, HygieneFlags, MailboxVerdict, Status, Verdict


def syntax_verdict(check: AddressCheck) -> Verdict:
    """The 501 / 5.1.3 verdict for an address that failed the syntax layer."""
    return Verdict(Status.UNDELIVERABLE, "501", "5.1.3", check.reason, check.detail)


def duplicate_verdict(first_row: int, email: str, note: str = "") -> Verdict:
    """The verdict of a row whose address already appeared in row ``first_row``.

    ``note`` says why two different spellings are one mailbox (provider-aware duplicates).
    """
    return Verdict(Status.DUPLICATE, "", "", "duplicate", duplicate_detail(first_row, email, note))


def duplicate_detail(first_row: int, email: str, note: str = "") -> str:
    """The ``detail`` of :func:`duplicate_verdict`."""
    if note:
        return f"Same mailbox as row {first_row} (this row: {email}; {note}); only the first is kept."
    return f"Same address as row {first_row} (this row: {email}); only the first is kept."


def malformed_verdict(problem: str) -> Verdict:
    """The verdict of a row whose fields do not line up with the header."""
    return Verdict(
        Status.UNKNOWN,
        "",
        "",
        "malformed_row",
        f"Not judged: {problem}. Fix the row in the source file and run again.",
    )


def not_checked_verdict(check: AddressCheck) -> Verdict:
    """The verdict when only syntax ran (``--no-dns``)."""
    return Verdict(
        Status.DELIVERABLE,
        "250",
        "2.0.0",
        "syntax_ok",
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
    """Pick the forecast for a valid address from the deepest layer that answered.

    ``domain`` is ``None`` when DNS did not run; ``mailbox`` is ``None`` when the probe did
    not run (or did not reach this address). Hygiene can only lower a deliverable verdict
    to risky, never raise one.
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
