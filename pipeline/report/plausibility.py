"""Warnings about a run whose results look like a broken tool rather than a bad list.

A resolver that cannot see the internet (a laptop on a captive portal, a container without
DNS, a wrong ``--nameserver``) makes almost every domain "not found" or "could not be looked
up". Each such row is forecast correctly for what the resolver said, but the run as a whole
says more about the resolver than about the list: when most of the addresses that reached
the DNS level failed there, the run says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.report.tally import Tally

#: The share of the addresses that reached the DNS level whose domain failed there, from
#: which a run warns (real lists, even old ones, stay far below: a few per cent).
IMPLAUSIBLE_SHARE = 0.8
#: Fewer addresses than this prove nothing about the resolver.
MIN_ADDRESSES = 20
#: The reasons a domain gets when it does not exist, or when DNS could not answer.
DNS_FAILURES = ("nxdomain", "dns_error")


def resolver_warning(tally: Tally, nameservers: Sequence[str]) -> str | None:
    """A warning when most addresses' domains do not exist or could not be looked up; else None.

    The addresses that reached the DNS level are the rows that are not duplicates, not
    refused by the syntax check (501) and not ill-formed.
    """
    reasons, statuses = tally.by_reason, tally.by_status
    reached = (tally.rows - statuses.get("duplicate", 0) - tally.by_code.get("501", 0)
               - reasons.get("malformed_row", 0))
    failed = sum(reasons.get(reason, 0) for reason in DNS_FAILURES)
    if reached < MIN_ADDRESSES or failed < IMPLAUSIBLE_SHARE * reached:
        return None
    asked = ", ".join(nameservers) if nameservers else "the system's resolver"
    return (
        f"{failed} of the {reached} addresses that reached the DNS level ({100 * failed / reached:.0f}%) have a domain "
        f"that does not exist or could not be looked up; a list is rarely that bad, a resolver that cannot see "
        f"the internet often is: check {asked} (--nameserver) before trusting these results"
    )


__all__ = ["DNS_FAILURES", "IMPLAUSIBLE_SHARE", "MIN_ADDRESSES", "resolver_warning"]
