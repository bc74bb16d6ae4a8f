"""The word lists behind list hygiene, read once from ``pipeline/data/``.

Each file starts with a comment saying where its facts come from. Lines are stripped,
``#`` starts a comment, blank lines are skipped, and entries are folded to lower case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType


def _entries(name: str) -> list[list[str]]:
    """The non-comment lines of ``pipeline/data/<name>``, split on whitespace."""
    text = files("pipeline").joinpath("data", name).read_text(encoding="utf-8")
    rows: list[list[str]] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip().lower()
        if line:
            rows.append(line.split())
    return rows


def role_key(local: str) -> str:
    """The form under which a local part is compared with the role list.

    Case, a ``+tag``, the separators ``. - _`` and trailing digits are dropped, so
    ``No-Reply+x``, ``no_reply`` and ``noreply2`` all become ``noreply``.
    """
    key = local.casefold().partition("+")[0]
    key = key.replace(".", "").replace("-", "").replace("_", "")
    return key.rstrip("0123456789")


@cache
def role_accounts() -> frozenset[str]:
    """Role local parts (info, sales, noreply ...) in :func:`role_key` form."""
    return frozenset(role_key(row[0]) for row in _entries("role_accounts.txt"))


@cache
def free_providers() -> frozenset[str]:
    """Domains of free and consumer mail providers (ASCII, exact match)."""
    return frozenset(row[0] for row in _entries("free_providers.txt"))


@cache
def popular_domains() -> tuple[str, ...]:
    """Popular mail domains, most used first: the targets of typo suggestions."""
    seen: dict[str, None] = {}
    for row in _entries("popular_domains.txt"):
        seen.setdefault(row[0], None)
    return tuple(seen)


@cache
def typo_domains() -> Mapping[str, str]:
    """Known typo domains mapped to the domain that was meant."""
    return MappingProxyType({row[0]: row[1] for row in _entries("typo_domains.txt")})


@dataclass(frozen=True, slots=True)
class TldSlips:
    """Slipped top-level domains: ``absent`` ones do not exist, ``real`` ones do."""

    absent: Mapping[str, str]
    real: Mapping[str, str]


@cache
def tld_slips() -> TldSlips:
    """The slipped endings of ``tld_slips.txt``, split by kind."""
    absent: dict[str, str] = {}
    real: dict[str, str] = {}
    for typed, intended, kind in _entries("tld_slips.txt"):
        if kind not in ("absent", "real"):
            raise ValueError(f"tld_slips.txt: unknown kind {kind!r} for {typed!r}")
        (absent if kind == "absent" else real)[typed] = intended
    return TldSlips(MappingProxyType(absent), MappingProxyType(real))
