"""Typo suggestions for the domain of an address. Pure functions, no I/O.

A suggestion is only made where the typed domain is certainly or very probably wrong:

1. it is a *known typo domain* (``data/typo_domains.txt``): suggested whatever DNS says,
   because many of these are registered by third parties and resolve;
2. its top-level domain does not exist (``.con``, ``.cmo`` ...): the ending is fixed and
   the result checked again by rules 1 and 4;
3. it is a popular provider's name under a real but slipped country code (``gmail.co``,
   ``yahoo.cm``);
4. DNS ran and said the domain cannot receive mail, and a popular domain lies within a
   small Damerau-Levenshtein distance of it.

A domain that resolves and is not a known typo is never "corrected", however close it is
to a popular one: real companies live at ``gmx.com`` and ``mail.com`` as well as at typos.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pipeline.rules import wordlists

#: Shortest label before a slipped real TLD for rule 3: ``me.co`` or ``aol.cm`` are too
#: short to say anything (a known-typo entry covers the few that matter).
MIN_NAME_FOR_REAL_TLD_SLIP = 4


def osa_distance(a: str, b: str, limit: int) -> int:
    """Edit distance between ``a`` and ``b`` counting adjacent swaps as one edit.

    This is the optimal-string-alignment form of Damerau-Levenshtein distance
    (insert, delete, substitute, swap two neighbours; no substring is edited twice),
    which is what a slip of the fingers produces: ``gmial`` is one edit from ``gmail``.
    Work stops early: any result above ``limit`` is returned as ``limit + 1``.
    """
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    over = limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        ca = a[i - 1]
        best = i
        for j in range(1, len(b) + 1):
            cb = b[j - 1]
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
            best = min(best, value)
        if best > limit:
            return over
        previous2, previous = previous, current
    return min(previous[len(b)], over)


def max_distance(domain: str) -> int:
    """How many edits a typed domain of this length may be from its suggestion.

    Short domains get none (``qq.cm`` could be anything), ordinary ones one edit, long
    ones two.
    """
    length = len(domain)
    if length < 6:
        return 0
    if length < 10:
        return 1
    return 2


class TypoSuggester:
    """Suggests the intended domain for a mistyped one (see the module docstring)."""

    def __init__(
        self,
        popular: Iterable[str] | None = None,
        known: Mapping[str, str] | None = None,
        absent_tlds: Mapping[str, str] | None = None,
        real_tlds: Mapping[str, str] | None = None,
        never: Iterable[str] = (),
    ) -> None:
        slips = wordlists.tld_slips()
        self.popular = tuple(wordlists.popular_domains() if popular is None else popular)
        self.known = dict(wordlists.typo_domains() if known is None else known)
        self.absent_tlds = dict(slips.absent if absent_tlds is None else absent_tlds)
        self.real_tlds = dict(slips.real if real_tlds is None else real_tlds)
        # Domains that are never corrected: the popular ones and any extra real providers.
        self.never = frozenset(self.popular) | frozenset(never)
        self._popular_set = frozenset(self.popular)

    def suggest(self, domain: str, dns_failed: bool) -> str:
        """The intended domain for ``domain`` (ASCII, lower case), or ``""`` for none.

        ``dns_failed`` is true only when DNS ran and found that the domain cannot receive
        mail; without it only known typos and impossible endings are corrected.
        """
        return self.suggest_typo(domain, dns_failed)[0]

    def suggest_typo(self, domain: str, dns_failed: bool) -> tuple[str, bool]:
        """:meth:`suggest`, and whether ``domain`` is a known misspelling of a popular domain.

        A known misspelling is a known typo domain (rule 1) or a popular provider's name
        under a slipped real country code (rule 3): mail sent to it does not reach the person,
        whatever DNS says of it. A domain corrected by its impossible ending (rule 2) or by
        DNS's failure (rule 4) is not one: what is wrong with it is the ending, or DNS's answer.
        """
        if domain in self.never:
            return "", False
        known = self.known.get(domain)
        if known:
            return known, True
        name, dot, tld = domain.rpartition(".")
        if not dot:
            return "", False
        fixed_tld = self.absent_tlds.get(tld)
        if fixed_tld is not None:
            fixed = f"{name}.{fixed_tld}"
            if fixed in self.never:
                return fixed, False
            return self.known.get(fixed) or self.closest(fixed) or fixed, False
        fixed_tld = self.real_tlds.get(tld)
        if fixed_tld is not None:
            fixed = f"{name}.{fixed_tld}"
            label = name.rpartition(".")[2]
            if fixed in self._popular_set and len(label) >= MIN_NAME_FOR_REAL_TLD_SLIP:
                return fixed, True
        if dns_failed:
            return self.closest(domain), False
        return "", False

    def closest(self, domain: str) -> str:
        """The most popular domain nearest to ``domain`` within :func:`max_distance`, or ``""``."""
        limit = max_distance(domain)
        if limit == 0:
            return ""
        best = ""
        best_distance = limit + 1
        for candidate in self.popular:
            distance = osa_distance(domain, candidate, best_distance - 1 if best else limit)
            # Strictly smaller only: on a tie the earlier (more popular) domain stays.
            if distance < best_distance:
                best, best_distance = candidate, distance
                if distance == 1:
                    break
        return best if best_distance <= limit else ""
