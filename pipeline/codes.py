"""The SMTP reply-code catalogue: one entry per code presend forecasts or may meet.

The forecast stage and the HTML report both read this table, so a code means the same
thing everywhere. The wording is presend's own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """What one SMTP reply code means and what a sender should do about it."""

    code: str
    title: str
    meaning: str
    temporary: bool
    cause: str
    remedy: str
    sender_side: bool = False

    @property
    def kind(self) -> str:
        """``success``, ``temporary`` or ``permanent``, from the first digit."""
        if self.code.startswith("2"):
            return "success"
        return "temporary" if self.temporary else "permanent"


_ENTRIES: tuple[CodeInfo, ...] = (
    CodeInfo(
        "250",
        "Accepted",
        "The receiving side would take the message for this address.",
        False,
        "The domain publishes working mail hosts and, when probed, the host said yes.",
        "Send. Keep watching bounces: acceptance at RCPT time is not a delivery promise.",
    ),
    CodeInfo(
        "421",
        "Service not available",
        "The mail host is closing the connection or refusing work for now.",
        True,
        "An overloaded or restarting server, rate limiting of your sending IP, or a "
        "network path that drops SMTP.",
        "Retry later and spread the send over time. If it persists for one provider, "
        "lower your sending rate to it.",
    ),
    CodeInfo(
        "450",
        "Mailbox temporarily unavailable",
        "The host will not accept this recipient right now but may later.",
        True,
        "Greylisting of a first-time sender, a locked or busy mailbox, or a policy "
        "check that could not finish.",
        "Let your MTA retry after a few minutes; greylisting clears on the second attempt.",
    ),
    CodeInfo(
        "451",
        "Local error, try again",
        "The receiving side hit a temporary problem while handling the request.",
        True,
        "A DNS lookup that failed or timed out, a busy server, or greylisting.",
        "Retry later. If DNS is the cause, check the domain's name servers answer.",
    ),
    CodeInfo(
        "452",
        "Insufficient storage",
        "The mailbox or the server is out of room, or too many recipients were given.",
        True,
        "A full mailbox, a full spool, or a per-message recipient limit.",
        "Keep the address but expect delays; if it lasts for weeks, the mailbox is likely "
        "abandoned.",
    ),
    CodeInfo(
        "501",
        "Syntax error in the address",
        "The address is malformed, so no server would accept it as written.",
        False,
        "A typo, stray spaces or characters, a missing @ or domain, a local part too long.",
        "Correct the address at its source or drop it; do not send as written.",
    ),
    CodeInfo(
        "550",
        "Mailbox or domain unavailable",
        "The recipient does not exist, or the domain cannot receive mail.",
        False,
        "A mistyped or closed account, a domain that does not exist or has no mail host, "
        "or a policy rejection.",
        "Remove the address from the list; sending again harms your sender reputation.",
    ),
    CodeInfo(
        "551",
        "User not local",
        "The host does not keep this mailbox and will not relay for it.",
        False,
        "The person moved to another address or provider.",
        "Ask the contact for their current address; remove this one.",
    ),
    CodeInfo(
        "552",
        "Storage allocation exceeded",
        "The mailbox is over its quota (or the message is too large).",
        False,
        "An abandoned mailbox that filled up, or a very small quota.",
        "Treat as a dead address if it repeats across campaigns; otherwise retry later.",
    ),
    CodeInfo(
        "553",
        "Mailbox name not allowed",
        "The address is refused by name: invalid, not permitted, or needs a feature the "
        "host lacks.",
        False,
        "A non-ASCII local part sent to a host without SMTPUTF8, a sender the host "
        "distrusts, or a syntactically odd mailbox.",
        "Use an ASCII form of the address if the recipient has one; otherwise remove it.",
    ),
    CodeInfo(
        "554",
        "Transaction failed",
        "The host refuses the whole transaction, usually because of who is sending.",
        False,
        "Your sending IP or domain is on a block list, or lacks reverse DNS, SPF or DKIM.",
        "This is a sender problem, not the recipient's: check your IP and domain against "
        "block lists and fix authentication before sending.",
        sender_side=True,
    ),
    CodeInfo(
        "556",
        "Domain does not accept mail",
        "The domain states (null MX, RFC 7505) that it never receives email.",
        False,
        "The domain exists for a website or brand only.",
        "Remove the address; no mail to this domain can ever be delivered.",
    ),
)

CATALOGUE: dict[str, CodeInfo] = {entry.code: entry for entry in _ENTRIES}


def lookup(code: str) -> CodeInfo | None:
    """Return the catalogue entry for ``code``, or a generic entry for its class.

    Codes outside the table (say ``554`` variants or ``571``) get a description derived
    from their first digit, so the report can always explain a code it met.
    """
    if not code:
        return None
    if code in CATALOGUE:
        return CATALOGUE[code]
    first = code[0]
    if first == "2":
        return CodeInfo(code, "Accepted", "The server accepted the request.", False, "", "")
    if first == "4":
        return CodeInfo(
            code,
            "Temporary failure",
            "The server refused for now; a later retry may succeed.",
            True,
            "A transient condition on the receiving side.",
            "Retry later.",
        )
    if first == "5":
        return CodeInfo(
            code,
            "Permanent failure",
            "The server refused and will keep refusing.",
            False,
            "A condition on the receiving side that a retry will not change.",
            "Remove the address, or read the server's text for a sender-side cause.",
        )
    return None


def is_temporary(code: str) -> bool:
    """True for 4xx reply codes."""
    return code.startswith("4")
