"""How far a mailbox probe can be trusted at a given provider, and how gently to ask it.

One data table, :data:`RULES`, keyed by the provider names of
:func:`pipeline.rules.providers.identify_provider` (so a rule matches by the MX host names that
function reads: ``*.yahoodns.net`` is Yahoo, ``*.mail.protection.outlook.com`` Microsoft 365,
``*.l.google.com`` Google). Each rule carries the public page its facts come from.

What the rules change:

- :func:`fold_provider`: where the provider accepts every recipient at RCPT time and bounces
  unknown ones after the message is sent (Yahoo and AOL), a 250 proves nothing, so an
  accepted address is ``risky`` with reason ``rcpt_accepts_all`` (like a catch-all domain,
  which it is, seen from RCPT), never "mailbox confirmed". Refusals keep their verdict: a
  refusal from such a host is still the host's word on the address.
- :func:`accepts_every_rcpt`: the session leaves out the catch-all question at such a provider.
- :func:`gentle_batch_size` and :func:`gentle_per_host`: providers known to rate-limit or
  tarpit probing clients get fewer sessions at once per mail host and fewer addresses per
  session than the command line's defaults (the smaller of the two wins).
- :func:`probe_trust`: the summary's ``probe_trust`` object, per provider met in the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from pipeline.models import Status, Verdict
from pipeline.rules.providers import identify_provider

#: The reason of an accepted address at a provider whose RCPT answer proves nothing.
RCPT_ACCEPTS_ALL = "rcpt_accepts_all"

#: Reasons of an accepted address (what :func:`fold_provider` may rewrite).
_ACCEPTED_REASONS = frozenset({"mailbox_exists", "catch_all"})


class Trust(StrEnum):
    """How much a probe's answer at a provider says about a mailbox."""

    MAILBOX = "mailbox"  # a 250 and a refusal both describe the mailbox
    AFTER_CATCH_ALL_CHECK = "after_catch_all_check"  # refusals do; a 250 once the catch-all check ran
    REFUSALS_ONLY = "refusals_only"  # every RCPT is accepted: only a refusal tells anything


@dataclass(frozen=True, slots=True)
class ProviderRule:
    """What presend knows about probing one provider, and where that knowledge comes from."""

    provider: str  # as identify_provider() names it
    trust: Trust
    what: str  # one sentence for the report: what a probe there tells
    sources: tuple[str, ...]  # public pages the facts come from
    rcpt_accepts_all: bool = False
    per_host: int | None = None  # at most this many sessions at once per mail host address
    batch_size: int | None = None  # at most this many addresses per session

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for summary.json."""
        return {
            "trust": self.trust.value,
            "rcpt_accepts_all": self.rcpt_accepts_all,
            "what_a_probe_tells": self.what,
            "plan": {"per_host": self.per_host, "batch_size": self.batch_size},
            "sources": list(self.sources),
        }


_RULES: tuple[ProviderRule, ...] = (
    ProviderRule(
        "Yahoo",
        Trust.REFUSALS_ONLY,
        "Yahoo and AOL mail hosts (*.yahoodns.net) accept every recipient at RCPT time and bounce unknown "
        "ones after the message is sent, so a 250 there proves nothing; their rows are risky "
        "(rcpt_accepts_all). Yahoo also defers clients that ask about many unknown recipients.",
        (
            "https://github.com/reacherhq/check-if-email-exists/issues/1363",
            "https://senders.yahooinc.com/smtp-error-codes/",
        ),
        rcpt_accepts_all=True,
        per_host=1,
        batch_size=5,
    ),
    ProviderRule(
        "Microsoft 365",
        Trust.AFTER_CATCH_ALL_CHECK,
        "Exchange Online refuses unknown recipients at RCPT time (550 5.4.1 or 5.1.10) when the tenant uses "
        "directory-based edge blocking; a tenant that turned it off accepts every address, which the "
        "catch-all check catches (its rows are then risky catch_all). It throttles busy clients "
        "(451 4.7.500-699) and blocks IPs with a poor reputation (550 5.7.606-649).",
        (
            "https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/use-directory-based-edge-blocking",
            "https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online/non-delivery-reports-in-exchange-online",
        ),
        per_host=1,
        batch_size=10,
    ),
    ProviderRule(
        "Google",
        Trust.MAILBOX,
        "Gmail and Google Workspace answer RCPT for the mailbox itself (550 5.1.1 unknown, 550 5.2.1 "
        "disabled, 452 4.2.2 over quota); they rate-limit clients that send or ask too fast (421 4.7.28).",
        ("https://support.google.com/a/answer/3726730",),
        per_host=2,
        batch_size=20,
    ),
)

#: The rules by provider name.
RULES: dict[str, ProviderRule] = {rule.provider: rule for rule in _RULES}


def rule_for_host(mx_host: str) -> ProviderRule | None:
    """The rule of the provider operating ``mx_host``, or None."""
    return RULES.get(identify_provider(mx_host)) if mx_host else None


def fold_provider(verdict: Verdict) -> Verdict:
    """An accepted address at a provider that accepts every recipient: ``risky`` ``rcpt_accepts_all``.

    ``verdict`` is the mailbox level's verdict; its ``mx`` is the host that answered. Every
    other verdict is returned as it is.
    """
    if verdict.reason not in _ACCEPTED_REASONS or verdict.status not in (Status.DELIVERABLE, Status.RISKY):
        return verdict
    rule = rule_for_host(verdict.mx)
    if rule is None or not rule.rcpt_accepts_all:
        return verdict
    return replace(
        verdict,
        status=Status.RISKY,
        reason=RCPT_ACCEPTS_ALL,
        detail=(
            f"{verdict.mx} ({rule.provider}) accepts every recipient at RCPT TO and bounces unknown ones "
            f"only after the message is sent, so its {verdict.code} {verdict.enhanced} says nothing about "
            "this mailbox; the domain does take mail."
        ),
    )


def accepts_every_rcpt(mx_host: str) -> bool:
    """True when ``mx_host``'s provider accepts every recipient at RCPT: the catch-all question
    (one more unknown recipient, which such providers count against the client) tells nothing there."""
    rule = rule_for_host(mx_host)
    return rule is not None and rule.rcpt_accepts_all


def gentle_batch_size(mx_host: str, batch_size: int) -> int:
    """Addresses per session at ``mx_host``: ``batch_size``, lowered for providers that need it."""
    rule = rule_for_host(mx_host)
    if rule is None or rule.batch_size is None:
        return batch_size
    return max(1, min(batch_size, rule.batch_size))


def gentle_per_host(mx_host: str, per_host: int) -> int:
    """Sessions at once per address of ``mx_host``: ``per_host``, lowered for providers that need it."""
    rule = rule_for_host(mx_host)
    if rule is None or rule.per_host is None:
        return per_host
    return max(1, min(per_host, rule.per_host))


def probe_trust(providers: Mapping[str, Any] | None, *, catch_all_check: bool = True) -> dict[str, Any]:
    """summary.json's ``probe_trust``: for each provider met (``providers``: domains per provider
    name, as the DNS level counts them) that has a rule, how far a probe there can be trusted."""
    trust: dict[str, Any] = {}
    for name, domains in (providers or {}).items():
        rule = RULES.get(name)
        if rule is None:
            continue
        entry = {"domains": domains, **rule.as_dict()}
        if rule.trust is Trust.AFTER_CATCH_ALL_CHECK and not catch_all_check:
            entry["trust"] = Trust.REFUSALS_ONLY.value
            entry["what_a_probe_tells"] = (
                f"{rule.what} The catch-all check was off (--no-catch-all-check), so a 250 there was not "
                "checked against a made-up address."
            )
        trust[name] = entry
    return trust


__all__ = [
    "RCPT_ACCEPTS_ALL",
    "RULES",
    "ProviderRule",
    "Trust",
    "accepts_every_rcpt",
    "fold_provider",
    "gentle_batch_size",
    "gentle_per_host",
    "probe_trust",
    "rule_for_host",
]
