"""What to do about rows of a reason, for the reasons a reply code's card alone explains badly.

A code's card (:mod:`pipeline.codes`) gives the advice for the code; a 550 or a 451 can mean
quite different things, so the mailbox level's finer reasons add a sentence of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: Reason slug -> what to do about its rows.
REASON_ADVICE: dict[str, str] = {
    "mx_loops_back": "The domain's MX names localhost or 127.0.0.1, so any sender's mail server would deliver "
    "to itself and bounce the message: remove the address, or ask its owner to fix the MX record.",
    "mailbox_disabled": "The provider disabled the mailbox: remove the address; it will bounce.",
    "mailbox_rejected": "The mail host refuses the address as written: correct it at its source or remove it.",
    "relay_denied": "The domain's mail host does not take mail for it (a broken or stale MX): remove the address, "
    "or ask the contact for a working one.",
    "rcpt_accepts_all": "The provider accepts every address at RCPT time and bounces unknown ones later: send "
    "with care (a small first wave), then drop the addresses that bounce.",
    "temporary_failure": "The host kept deferring without saying why: keep the address and check it again "
    "later; a real send would be retried by your mail server.",
    "host_busy": "The host was busy or limiting how much we asked: keep the address and check it again later "
    "with fewer sessions (--per-host 1) or smaller batches (--batch-size).",
    "system_full": "The receiving server is out of storage: keep the address and check it again later.",
    "protocol_error": "The SMTP conversation went wrong, which says nothing of the address: check it again; "
    "if it repeats, report it with the detail text.",
    "sender_blocked": "The host refused our side (probing IP, HELO name or MAIL FROM), not the address: probe "
    "from a machine with a good reputation and reverse DNS, with a MAIL FROM of a domain you control.",
}


def reason_notes(reasons: Iterable[str], label: Callable[[str], str]) -> list[str]:
    """The advice for each distinct reason in ``reasons`` that has one, in first-seen order,
    each led by the reason's ``label``."""
    seen = dict.fromkeys(reasons)
    return [f"{label(reason)}: {REASON_ADVICE[reason]}" for reason in seen if reason in REASON_ADVICE]
