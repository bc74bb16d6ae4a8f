"""List hygiene: disposable, role and free-provider flags, typo suggestions, duplicate keys.

Flags never change an address and never decide a verdict by themselves: the forecast
lowers a deliverable disposable address (or, by option, a role account) to ``risky``.
Everything that depends only on the domain is worked out once per domain and remembered,
because many rows share a domain.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.models import AddressCheck, DomainVerdict, HygieneFlags, Status
from pipeline.options import HygieneOptions
from pipeline.rules import wordlists
from pipeline.rules.disposable import DisposableDomains
from pipeline.rules.tlds import tld_list
from pipeline.rules.typos import TypoSuggester

#: Domains whose mailboxes are the same mailbox under another name.
DOMAIN_ALIASES: dict[str, str] = {"googlemail.com": "gmail.com"}

#: Domains that ignore dots in the local part (after :data:`DOMAIN_ALIASES`).
DOTLESS_DOMAINS: frozenset[str] = frozenset({"gmail.com"})

#: Per-domain facts (and role flags per local part) kept for at most this many domains (local
#: parts), then forgotten and rebuilt (:attr:`Hygiene.memo_limit` starts at this).
MEMO_LIMIT = 200_000

# (disposable, free, suggested domain, known typo, offline standing) for one (domain,
# dns_failed) pair; the standing is a reason of pipeline.rules.tlds, or "" (see TldList.standing).
_DomainFacts = tuple[bool, bool, str, bool, str]


def is_role(local: str) -> bool:
    """True when ``local`` names a function or team (info, sales, no-reply ...)."""
    return wordlists.role_key(local) in wordlists.role_accounts()


def canonical_key(local: str, ascii_domain: str) -> str:
    """The provider-aware duplicate key of an address.

    Case never matters. Every domain loses a ``+tag`` (RFC 5233 subaddressing, which the
    big providers and most mail servers honour; a leading ``+`` is kept, there being
    nothing before it). Gmail also ignores dots, and ``googlemail.com`` is ``gmail.com``.
    Other separators (Yahoo's ``-`` disposable names, for instance) are left alone: they
    are not the same mailbox for every provider and guessing would merge real people.
    """
    domain = ascii_domain.lower().rstrip(".")
    domain = DOMAIN_ALIASES.get(domain, domain)
    key = local.casefold()
    plus = key.find("+")
    if plus > 0:
        key = key[:plus]
    if domain in DOTLESS_DOMAINS:
        key = key.replace(".", "")
    return f"{key}@{domain}"


def dns_failed(domain: DomainVerdict | None) -> bool:
    """True when DNS ran and found the domain cannot receive mail (NXDOMAIN, null MX ...)."""
    return domain is not None and domain.verdict is not None and domain.verdict.status is Status.UNDELIVERABLE


class Hygiene:
    """Flags addresses according to a :class:`HygieneOptions` policy."""

    def __init__(self, options: HygieneOptions) -> None:
        self.options = options
        #: Entries each memo holds before it is emptied (domains; local parts alike).
        self.memo_limit = MEMO_LIMIT
        self.disposable = DisposableDomains(options.disposable_allow, options.disposable_block)
        self.free = wordlists.free_providers()
        self.roles = wordlists.role_accounts()
        self.typos = TypoSuggester(never=self.free)
        self.tlds = tld_list(options.tld_list)
        self._facts: dict[tuple[str, bool], _DomainFacts] = {}
        # flags_for's memos: facts by the domain as given (before lower-casing), per DNS
        # failure; role or not by local part.
        self._raw_facts: dict[bool, dict[str, _DomainFacts]] = {False: {}, True: {}}
        self._role_of: dict[str, bool] = {}
        #: What :meth:`flags_for` remembered: facts by domain as given (DNS not failed), and
        #: role or not by local part. Read-only for others (the run loop's offline fast way).
        self.offline_domain_facts: Mapping[str, _DomainFacts] = self._raw_facts[False]
        self.role_memo: Mapping[str, bool] = self._role_of
        # The flag records without a suggestion are shared: one per combination.
        self._plain = {
            (d, r, f): HygieneFlags(disposable=d, role=r, free=f)
            for d in (False, True)
            for r in (False, True)
            for f in (False, True)
        }

    def domain_facts(self, ascii_domain: str, failed: bool) -> _DomainFacts:
        """(disposable, free, suggested domain, known typo, offline standing) for one domain, remembered."""
        key = (ascii_domain, failed)
        facts = self._facts.get(key)
        if facts is None:
            if len(self._facts) >= self.memo_limit:
                self._facts.clear()
            suggested, typo = self.typos.suggest_typo(ascii_domain, failed)
            facts = (
                ascii_domain in self.disposable,
                ascii_domain in self.free,
                suggested,
                typo,
                self.tlds.standing(ascii_domain),
            )
            self._facts[key] = facts
        return facts

    def offline(self, ascii_domain: str) -> str:
        """What is known against a domain without DNS (a reason of :mod:`pipeline.rules.tlds`, or "")."""
        return self.facts_for(ascii_domain, False)[4]

    def flags(self, check: AddressCheck, domain: DomainVerdict | None) -> HygieneFlags:
        """Hygiene flags for a valid address (``domain`` is None when DNS did not run).

        ``suggestion`` is the whole corrected address (same local part, suggested domain),
        or empty.
        """
        return self.flags_for(check.local, check.ascii_domain, domain)

    def flags_for(self, local: str, ascii_domain: str, domain: DomainVerdict | None) -> HygieneFlags:
        """:meth:`flags` from the parts of a valid address it depends on (the run loop's fast way)."""
        disposable, free, suggested, typo, _offline = self.facts_for(ascii_domain, dns_failed(domain))
        role = self.role_for(local)
        if not suggested:
            return self._plain[(disposable, role, free)]
        return HygieneFlags(disposable, role, free, f"{local}@{suggested}", typo)

    def facts_for(self, ascii_domain: str, failed: bool) -> _DomainFacts:
        """:meth:`domain_facts` of a domain as the address spells it, remembered."""
        memo = self._raw_facts[failed]
        facts = memo.get(ascii_domain)
        if facts is None:
            if len(memo) >= self.memo_limit:
                memo.clear()
            facts = memo[ascii_domain] = self.domain_facts(ascii_domain.lower().rstrip("."), failed)
        return facts

    def role_for(self, local: str) -> bool:
        """True when a local part is a role account (info, sales, noreply ...), remembered."""
        roles = self._role_of
        role = roles.get(local)
        if role is None:
            if len(roles) >= self.memo_limit:
                roles.clear()
            role = roles[local] = wordlists.role_key(local) in self.roles
        return role

    def duplicate_key(self, check: AddressCheck) -> str:
        """The key under which two addresses count as the same recipient.

        Case-insensitive always; provider-aware (:func:`canonical_key`) when
        ``options.canonical_duplicates`` is set.
        """
        if self.options.canonical_duplicates:
            return canonical_key(check.local, check.ascii_domain)
        return check.key

    def duplicate_note(self, check: AddressCheck) -> str:
        """Why a duplicate of ``check`` counts as the same mailbox, or ``""`` when plain."""
        if not self.options.canonical_duplicates:
            return ""
        domain = check.ascii_domain.lower().rstrip(".")
        if DOMAIN_ALIASES.get(domain, domain) in DOTLESS_DOMAINS:
            return "Gmail ignores dots and +tags"
        return "+tags are ignored"
