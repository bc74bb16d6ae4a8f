"""List hygiene: disposable, role and free-provider flags, typo suggestions, duplicate keys."""

from __future__ import annotations

from .models import AddressCheck, DomainVerdict, HygieneFlags
from .options import HygieneOptions


class Hygiene:
    """Flags addresses according to a :class:`HygieneOptions` policy."""

    def __init__(self, options: HygieneOptions) -> None:
        self.options = options

    def flags(self, check: AddressCheck, domain: DomainVerdict | None) -> HygieneFlags:
        """Hygiene flags for a valid address (``domain`` is None when DNS did not run)."""
        return HygieneFlags()

    def duplicate_key(self, check: AddressCheck) -> str:
        """The key under which two addresses count as the same recipient."""
        return check.key
