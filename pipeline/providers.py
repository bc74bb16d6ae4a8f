"""Mail provider identification from MX host names.

A minimal version so the report can name providers; the DNS level's fuller table replaces
it (same signature).
"""

from __future__ import annotations

_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("google.com", "Google"),
    ("googlemail.com", "Google"),
    ("outlook.com", "Microsoft 365"),
    ("hotmail.com", "Microsoft"),
    ("yahoodns.net", "Yahoo"),
    ("zoho.com", "Zoho"),
    ("zoho.eu", "Zoho"),
    ("protonmail.ch", "Proton"),
    ("mimecast.com", "Mimecast"),
    ("pphosted.com", "Proofpoint"),
    ("icloud.com", "Apple iCloud"),
    ("messagingengine.com", "Fastmail"),
)


def identify_provider(mx_host: str) -> str:
    """The mail provider behind an MX host name, or ``""`` when not recognized."""
    host = mx_host.strip().rstrip(".").lower()
    for suffix, provider in _SUFFIXES:
        if host == suffix or host.endswith("." + suffix):
            return provider
    return ""
