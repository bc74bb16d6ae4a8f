"""Disposable (throw-away) mail domains: the maintained list plus the user's overrides.

The list comes from the ``disposable-email-domains`` package. A subdomain of a listed
domain counts as listed (``x.mailinator.com``). The user's ``disposable_allow`` entries win
over everything (a domain the user vouches for, and its subdomains, is never disposable);
``disposable_block`` entries add to the list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

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


def iter_parent_domains(domain: str) -> Iterator[str]:
    """``domain`` and each of its parents, one by one (see :func:`parent_domains`)."""
    start = 0
    while True:
        yield domain[start:] if start else domain
        start = domain.find(".", start) + 1
        if not start:
            return


def parent_domains(domain: str) -> list[str]:
    """``domain`` and each of its parents: ``a.b.example`` → ``[a.b.example, b.example, example]``."""
    return list(iter_parent_domains(domain))


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
        allow, listed, block = self.allow, self.listed, self.block
        if allow and any(candidate in allow for candidate in iter_parent_domains(domain)):
            return False
        # The walk of iter_parent_domains, inlined: this runs once per distinct domain of a list.
        start = 0
        while True:
            candidate = domain[start:] if start else domain
            if candidate in listed or (block and candidate in block):
                return True
            start = domain.find(".", start) + 1
            if not start:
                return False
