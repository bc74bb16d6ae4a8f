"""The demo lab's cast: scripted mail hosts and the DNS names that misbehave on purpose.

Each :class:`HostScript` becomes one mail host on its own loopback address (all on the same
port); ``demo.zone`` points the demo domains' MX records at these addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HostScript:
    """How one scripted mail host answers.

    ``connect_reply`` set: the host sends that line instead of a greeting and hangs up.
    ``refuse``: nothing listens on the address (connection refused).
    ``mail_reply`` set: MAIL FROM is answered with it (e.g. a 554 block).
    ``mailboxes`` maps a local part (case-insensitive) to its RCPT reply; local parts not
    listed get ``unknown_reply``, or ``250`` when ``catch_all``.
    ``greylist_seconds`` > 0: the first RCPT of each (sender, recipient) pair is answered
    450 and retries after that many seconds are judged normally.
    """

    address: str
    name: str
    smtputf8: bool = True
    connect_reply: str = ""
    refuse: bool = False
    mail_reply: str = ""
    catch_all: bool = False
    greylist_seconds: float = 0.0
    mailboxes: dict[str, str] = field(default_factory=dict)
    unknown_reply: str = "550 5.1.1 Recipient address rejected: no such user here"


OK = "250 2.1.5 Recipient ok"

#: The demo's mail hosts, one per loopback address (see demo.zone).
DEMO_HOSTS: tuple[HostScript, ...] = (
    HostScript(
        "127.0.0.2",
        "mx.acme.example",
        mailboxes={
            "alice": OK,
            "bob": OK,
            "carol": OK,
            "dave": OK,
            "erin": OK,
            "info": OK,
            "sales": OK,
            "nina": OK,
            "anna": OK,
            "olga": OK,
            "olivia": OK,
            "moved": "551 5.1.6 User not local; the mailbox moved to moved@elsewhere.example",
            "quota": "552 5.2.2 Mailbox over quota",
            "full": "452 4.2.2 Mailbox full, try again later",
            "blocked": "554 5.7.1 Client host rejected: your address is on a block list",
        },
    ),
    HostScript("127.0.0.3", "mx.catchall.example", catch_all=True),
    HostScript(
        "127.0.0.4", "mx.busy.example", connect_reply="421 4.3.2 mx.busy.example busy, come back later"
    ),
    HostScript(
        "127.0.0.5",
        "mx.strict.example",
        mail_reply="554 5.7.1 Service refused: your sending IP has a poor reputation",
    ),
    HostScript("127.0.0.6", "mx.legacy.example", smtputf8=False, mailboxes={"jose": OK}),
    HostScript(
        "127.0.0.7",
        "mx.grey.example",
        greylist_seconds=0.5,
        mailboxes={"pat": OK, "sam": "450 4.2.0 Greylisted, please try again later"},
    ),
    HostScript("127.0.0.9", "mx.dead.example", refuse=True),
)

#: Names the lab's DNS answers with SERVFAIL, and names it never answers (a timeout).
DNS_SERVFAIL: frozenset[str] = frozenset({"broken-dns.example."})
DNS_TIMEOUT: frozenset[str] = frozenset({"slow-dns.example."})
