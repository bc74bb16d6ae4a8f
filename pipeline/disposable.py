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
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


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

    def __contains__(self, domain: object) -> bool:
        """True when ``domain`` (ASCII, lower case) or a parent of it is disposable."""
        if not isinstance(domain, str):
            return False
        # The same candidates as parent_domains(), walked without building them all.
        allow, listed, block = self.allow, self.listed, self.block
        found = False
        start = 0
        while True:
            candidate = domain[start:] if start else domain
            if allow and candidate in allow:
                return False
            if not found and (candidate in listed or candidate in block):
                if not allow:
                    return True
                found = True
            start = domain.find(".", start) + 1
            if not start:
                return found
