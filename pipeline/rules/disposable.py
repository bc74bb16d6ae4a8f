"""Disposable (throw-away) mail domains: the maintained list plus the user's overrides.

The list comes from the ``disposable-email-domains`` package. A subdomain of a listed
domain counts as listed (``x.mailinator.com``). The user's ``disposable_allow`` entries win
over everything (a domain the user vouches for, and its subdomains, is never disposable);
``disposable_block`` entries add to the list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import idna
from disposable_email_domains import blocklist


def normalize_domain(entry: str) -> str:
    """An override entry as an ASCII domain: blanks, ``@``, ``*.`` and a final dot removed.

    Unicode names are IDNA-encoded (``bücher.example`` → ``xn--bcher-kva.example``) so they
    compare with an address's ASCII domain; an entry that cannot be encoded is kept as typed
    (lower case), which simply never matches.
    """
    domain = entry.strip().lower()
    domain = domain.rpartition("@")[2]
    if domain.startswith("*."):
        domain = domain[2:]
    domain = domain.strip(".")
    if not domain or domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except UnicodeError:  # idna.IDNAError is a UnicodeError
        return domain


def parent_domains(domain: str) -> list[str]:
    """``domain`` and each of its parents: ``a.b.example`` → ``[a.b.example, b.example, example]``."""
    parents = [domain]
    start = domain.find(".") + 1
    while start:
        parents.append(domain[start:])
        start = domain.find(".", start) + 1
    return parents


def _ending(domain: str) -> str:
    """The last two labels of a domain (all of it when it has fewer)."""
    last = domain.rfind(".")
    return domain[domain.rfind(".", 0, last) + 1 :] if last > 0 else domain


class DisposableDomains:
    """Answers "does this domain hand out throw-away addresses?"."""

    def __init__(
        self,
        allow: Iterable[str] = (),
        block: Iterable[str] = (),
        listed: Collection[str] | None = None,
    ) -> None:
        self.listed: Collection[str] = blocklist if listed is None else listed
        self.allow = frozenset(d for d in map(normalize_domain, allow) if d)
        self.block = frozenset(d for d in map(normalize_domain, block) if d)
        # A domain can only match an entry (itself or a parent) that ends with its last two
        # labels: a domain with another ending is none of the three kinds, seen at a glance.
        # One-label entries would match across endings: with one, every domain is walked.
        entries = [*self.listed, *self.allow, *self.block]
        self._endings = frozenset(map(_ending, entries))
        self._walk_all = any("." not in entry for entry in entries)

    def __contains__(self, domain: object) -> bool:
        """True when ``domain`` (ASCII, lower case) or a parent of it is disposable."""
        if not isinstance(domain, str):
            return False
        if not self._walk_all and _ending(domain) not in self._endings:
            return False
        # One walk over the parents, the set lookups in C: this runs once per distinct domain.
        parents = parent_domains(domain)
        if self.allow and any(map(self.allow.__contains__, parents)):
            return False
        if any(map(self.listed.__contains__, parents)):
            return True
        return bool(self.block) and any(map(self.block.__contains__, parents))
