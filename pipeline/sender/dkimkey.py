"""DKIM: is a public key published for each selector (``S._domainkey.DOMAIN`` TXT, RFC 6376 §3.6)?

This checks the DNS side only: a record that parses, a key type we know, a key that is not
revoked (empty ``p=``) and decodes. Whether a message's signature verifies against it is the
message check's (dkimpy, with ``--message``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from pipeline.sender.lookup import SenderDns
from pipeline.sender.tags import parse_tags

_KEY_TYPES = ("rsa", "ed25519")


@dataclass(frozen=True, slots=True)
class DkimKey:
    """What one selector publishes: ``state`` is ok, missing, revoked, broken or unchecked."""

    selector: str
    domain: str
    state: str
    why: str
    key_type: str = ""
    bits: int = 0

    @property
    def name(self) -> str:
        """The DNS name the key lives at."""
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def ok(self) -> bool:
        """A usable key is published."""
        return self.state == "ok"


def look_up_key(dns: SenderDns, selector: str, domain: str) -> DkimKey:
    """The key published for ``selector`` at ``domain``."""
    name = f"{selector}._domainkey.{domain}"
    answer = dns.txt(name)
    if answer.failed:
        return DkimKey(selector, domain, "unchecked", answer.error)
    records = [v for v in answer.values if "p=" in v.replace(" ", "")]
    if not records:
        return DkimKey(selector, domain, "missing", f"no DKIM key record at {name}")
    return judge_key(selector, domain, parse_tags(records[0]))


def judge_key(selector: str, domain: str, tags: dict[str, str]) -> DkimKey:
    """A key record's tags judged: version, key type, revoked, decodable."""
    name = f"{selector}._domainkey.{domain}"
    if tags.get("v", "DKIM1") != "DKIM1":
        return DkimKey(selector, domain, "broken", f"{name} has v={tags['v']}, not DKIM1")
    key_type = tags.get("k", "rsa").lower()
    if key_type not in _KEY_TYPES:
        return DkimKey(selector, domain, "broken", f"{name} has the unknown key type k={key_type}")
    public = tags.get("p")
    if public is None:
        return DkimKey(selector, domain, "broken", f"{name} has no p= tag")
    if not public:
        return DkimKey(selector, domain, "revoked", f"{name} has an empty p=: the key is revoked", key_type)
    try:
        raw = base64.b64decode(public, validate=True)
    except (binascii.Error, ValueError):
        return DkimKey(selector, domain, "broken", f"{name} has a p= that is not base64", key_type)
    bits = _rsa_bits(raw) if key_type == "rsa" else 256
    if key_type == "rsa" and bits == 0:
        return DkimKey(selector, domain, "broken", f"{name} has a p= that is no RSA public key", key_type)
    return DkimKey(selector, domain, "ok", f"{name} publishes a key (k={key_type}, {bits} bits)", key_type, bits)


def _rsa_bits(raw: bytes) -> int:
    """The RSA key's modulus size in bits, or 0 when ``raw`` is no RSA public key."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(raw)
    except (ValueError, TypeError):
        return 0
    return key.key_size if isinstance(key, rsa.RSAPublicKey) else 0
