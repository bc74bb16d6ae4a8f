"""DNS records for the sender checks' lab: SPF, DKIM, DMARC, PTR and a block list.

Zone-file lines for :class:`tests.lab.dnslab.DnsLab` (NSD behind Unbound). The sending IPs
live in 127.0.4.0/24 (the sender/relay helpers' block):

- ``GOOD_IP`` 127.0.4.10: PTR ``out.good.example``, which resolves back (FCrDNS); in
  ``good.example``'s SPF through an include chain;
- ``MISMATCH_IP`` 127.0.4.11: PTR ``out.other.example``, which resolves to another address;
- ``NO_PTR_IP`` 127.0.4.12: no PTR at all;
- ``LISTED_IP`` 127.0.4.13: listed in the lab block list ``bl.lab.example``.

The DKIM key is made by the caller (:func:`make_dkim_key`), so no key is stored anywhere.
"""

from __future__ import annotations

import base64

GOOD_IP = "127.0.4.10"
MISMATCH_IP = "127.0.4.11"
NO_PTR_IP = "127.0.4.12"
LISTED_IP = "127.0.4.13"
BLOCKLIST = "bl.lab.example"
#: the mail host every lab domain (sender or recipient) points at
LAB_MX_IP = "127.0.4.25"


def make_dkim_key() -> tuple[bytes, str]:
    """A fresh 1024-bit RSA key: its PEM private key and the base64 DER public key for p=."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(public).decode("ascii")


def txt(owner: str, text: str) -> str:
    """A TXT line, its text cut into strings of at most 255 octets (RFC 1035 §3.3)."""
    parts = [text[i : i + 250] for i in range(0, len(text), 250)] or [""]
    return f"{owner} TXT " + " ".join(f'"{part}"' for part in parts)


def ptr(ip: str, name: str) -> str:
    """A PTR line for an IPv4 address."""
    return f"{'.'.join(reversed(ip.split('.')))}.in-addr.arpa. PTR {name}."


def sender_records(dkim_public: str) -> list[str]:
    """Every record of the sender lab (the From domains, their policies, PTRs, the block list)."""
    records = [
        # good.example: SPF through two includes, a DKIM key, DMARC p=reject.
        "good.example. MX 10 mx.good.example.",
        f"mx.good.example. A {LAB_MX_IP}",
        txt("good.example.", "v=spf1 include:_spf.relay.example ip4:127.0.4.10 -all"),
        txt("_spf.relay.example.", "v=spf1 include:_inner.relay.example ~all"),
        txt("_inner.relay.example.", "v=spf1 ip4:127.0.4.11 ip4:127.0.4.13 -all"),
        txt("s1._domainkey.good.example.", f"v=DKIM1; k=rsa; p={dkim_public}"),
        txt("old._domainkey.good.example.", "v=DKIM1; k=rsa; p="),
        txt("_dmarc.good.example.", "v=DMARC1; p=reject; adkim=s; aspf=r"),
        f"out.good.example. A {GOOD_IP}",
        ptr(GOOD_IP, "out.good.example"),
        "out.other.example. A 127.0.4.99",
        ptr(MISMATCH_IP, "out.other.example"),
        # news.good.example: no DMARC of its own (the organizational domain's applies)
        "news.good.example. MX 10 mx.good.example.",
        txt("news.good.example.", "v=spf1 redirect=good.example"),
        # weak.example: SPF softfail only, no DMARC, no DKIM
        "weak.example. MX 10 mx.good.example.",
        txt("weak.example.", "v=spf1 ~all"),
        # quarantine.example: p=quarantine, SPF only for the good IP
        "quarantine.example. MX 10 mx.good.example.",
        txt("quarantine.example.", "v=spf1 ip4:127.0.4.10 -all"),
        txt("_dmarc.quarantine.example.", "v=DMARC1; p=quarantine"),
        # none.example: DMARC p=none, SPF through a, mx and exists
        "none.example. MX 10 mx.none.example.",
        f"mx.none.example. A {MISMATCH_IP}",
        f"none.example. A {NO_PTR_IP}",
        txt("none.example.", "v=spf1 a mx exists:%{i}.allow.example -all"),
        f"{GOOD_IP}.allow.example. A 127.0.0.2",
        txt("_dmarc.none.example.", "v=DMARC1; p=none"),
        # reject.example: DMARC p=reject, but SPF only neutral and no DKIM key: DMARC fails
        "reject.example. MX 10 mx.good.example.",
        txt("reject.example.", "v=spf1 ?all"),
        txt("_dmarc.reject.example.", "v=DMARC1; p=reject"),
        # v6.example: an IPv6 network, and a 24-bit a: match for IPv4
        "v6.example. MX 10 mx.good.example.",
        "v6.example. A 127.0.4.200",
        txt("v6.example.", "v=spf1 ip6:2001:db8::/32 a/24 -all"),
        # nullmx.example: takes no mail; nomail.example: neither MX nor address
        "nullmx.example. MX 0 .",
        txt("nomail.example.", "v=spf1 -all"),
        # the block list (RFC 5782): LISTED_IP, and the test point 127.0.0.2
        f"13.4.0.127.{BLOCKLIST}. A 127.0.0.2",
        txt(f"13.4.0.127.{BLOCKLIST}.", "listed for the lab"),
        f"2.0.0.127.{BLOCKLIST}. A 127.0.0.2",
        # two SPF records: permerror
        "twice.example. MX 10 mx.good.example.",
        txt("twice.example.", "v=spf1 -all"),
        txt("twice.example.", "v=spf1 +all"),
    ]
    # toomany.example: a chain of 11 includes, over the limit of 10 DNS-querying terms
    records += [
        "toomany.example. MX 10 mx.good.example.",
        txt("toomany.example.", "v=spf1 include:i1.chain.example -all"),
    ]
    for n in range(1, 11):
        records.append(txt(f"i{n}.chain.example.", f"v=spf1 include:i{n + 1}.chain.example -all"))
    records.append(txt("i11.chain.example.", "v=spf1 ip4:127.0.4.0/24 -all"))
    return records
