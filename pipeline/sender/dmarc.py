"""DMARC: the From domain's policy (RFC 7489 §6.6.3) and SPF/DKIM identifier alignment (§3.1).

The policy record is looked up at ``_dmarc.<From domain>``, then at ``_dmarc.<organizational
domain>`` (the public suffix list's registrable domain, from the ``publicsuffixlist`` package,
which ships the list: no download at run time).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pipeline.sender.lookup import SenderDns
from pipeline.sender.tags import parse_tags

_POLICIES = ("none", "quarantine", "reject")


@dataclass(frozen=True, slots=True)
class DmarcPolicy:
    """What ``_dmarc`` publishes for the From domain: ``state`` ok, missing, broken or unchecked."""

    domain: str
    state: str
    why: str
    record: str = ""
    #: where the record was found (the From domain, or its organizational domain)
    found_at: str = ""
    policy: str = ""
    adkim: str = "r"
    aspf: str = "r"
    pct: int = 100

    @property
    def ok(self) -> bool:
        """A valid record was found."""
        return self.state == "ok"

    @property
    def enforcing(self) -> bool:
        """The policy asks receivers to quarantine or reject failing mail."""
        return self.ok and self.policy in ("quarantine", "reject")


@lru_cache(maxsize=1)
def _suffixes() -> object:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The registrable domain of ``domain`` (``mail.example.co.uk`` → ``example.co.uk``)."""
    name = domain.lower().rstrip(".")
    found = _suffixes().privatesuffix(name)  # type: ignore[attr-defined]
    return str(found) if found else name


def aligned(identifier: str, from_domain: str, mode: str) -> bool:
    """Whether an SPF or DKIM domain aligns with the From domain: ``s`` the same name, ``r``
    the same organizational domain (RFC 7489 §3.1.1, §3.1.2)."""
    left, right = identifier.lower().rstrip("."), from_domain.lower().rstrip(".")
    if mode == "s":
        return left == right
    return organizational_domain(left) == organizational_domain(right)


def look_up_policy(dns: SenderDns, domain: str) -> DmarcPolicy:
    """The DMARC policy that applies to mail From ``domain``."""
    org = organizational_domain(domain)
    places = [domain] if org == domain else [domain, org]
    for place in places:
        answer = dns.txt(f"_dmarc.{place}")
        if answer.failed:
            return DmarcPolicy(domain, "unchecked", answer.error)
        records = [v for v in answer.values if v.replace(" ", "").lower().startswith("v=dmarc1")]
        if len(records) > 1:
            return DmarcPolicy(
                domain, "broken", f"_dmarc.{place} publishes {len(records)} DMARC records", found_at=place
            )
        if records:
            return judge_policy(domain, place, records[0])
    where = " or ".join(f"_dmarc.{p}" for p in places)
    return DmarcPolicy(domain, "missing", f"no DMARC record at {where}")


def judge_policy(domain: str, place: str, record: str) -> DmarcPolicy:
    """A DMARC record's tags judged; for the organizational domain's record ``sp=`` applies."""
    tags = parse_tags(record)
    policy = tags.get("p", "").lower()
    if policy not in _POLICIES:
        return DmarcPolicy(
            domain, "broken", f"_dmarc.{place} has no valid p= (none, quarantine or reject)", record, place
        )
    if place != domain and tags.get("sp", "").lower() in _POLICIES:
        policy = tags["sp"].lower()
    pct = tags.get("pct", "100")
    return DmarcPolicy(
        domain,
        "ok",
        f"_dmarc.{place} publishes p={policy}",
        record,
        place,
        policy,
        adkim="s" if tags.get("adkim", "r").lower() == "s" else "r",
        aspf="s" if tags.get("aspf", "r").lower() == "s" else "r",
        pct=int(pct) if pct.isdigit() else 100,
    )
