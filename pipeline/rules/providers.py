"""Which mail provider runs a domain's mail, told from the names of its MX hosts.

Hosted mail services receive on host names under their own domains (Google Workspace on
``aspmx.l.google.com``, Microsoft 365 on ``*.mail.protection.outlook.com`` ...), so the MX
host names say who operates a domain's inbound mail. The summary and the report count
domains and rows by provider; knowing that many addresses sit behind one provider also
explains shared outcomes (one provider's policy decides for all of them).
"""

from __future__ import annotations

from functools import lru_cache

#: Host-name suffixes (label-aligned, lower case, no trailing dot) → provider name.
_SUFFIXES: dict[str, str] = {
    # Consumer and workspace mailbox providers
    "google.com": "Google",
    "googlemail.com": "Google",
    "outlook.com": "Microsoft 365",
    "hotmail.com": "Microsoft 365",
    "office365.com": "Microsoft 365",
    "yahoodns.net": "Yahoo",
    "yahoo.com": "Yahoo",
    "icloud.com": "Apple iCloud",
    "protonmail.ch": "Proton",
    "proton.me": "Proton",
    "yandex.net": "Yandex",
    "yandex.ru": "Yandex",
    "mail.ru": "Mail.ru",
    "gmx.net": "GMX",
    "gmx.de": "GMX",
    "web.de": "WEB.DE",
    "messagingengine.com": "Fastmail",
    "tutanota.de": "Tuta",
    "mailbox.org": "mailbox.org",
    "posteo.de": "Posteo",
    "qq.com": "Tencent QQ",
    "netease.com": "NetEase",
    "163.com": "NetEase",
    "orange.fr": "Orange",
    "comcast.net": "Comcast",
    "migadu.com": "Migadu",
    # Hosting companies' mail services
    "secureserver.net": "GoDaddy",
    "ovh.net": "OVHcloud",
    "ionos.com": "IONOS",
    "ionos.de": "IONOS",
    "ionos.co.uk": "IONOS",
    "kundenserver.de": "IONOS",
    "perfora.net": "IONOS",
    "1and1.com": "IONOS",
    "emailsrvr.com": "Rackspace",
    "titan.email": "Titan",
    "hostinger.com": "Hostinger",
    "privateemail.com": "Namecheap",
    "registrar-servers.com": "Namecheap",
    "gandi.net": "Gandi",
    "amazonaws.com": "Amazon SES / WorkMail",
    "mx.cloudflare.net": "Cloudflare Email Routing",
    "forwardemail.net": "Forward Email",
    "improvmx.com": "ImprovMX",
    "mailgun.org": "Mailgun",
    "sendgrid.net": "SendGrid",
    # Security gateways (filtering in front of the real mailbox host)
    "mimecast.com": "Mimecast",
    "mimecast.co.za": "Mimecast",
    "mimecast-offshore.com": "Mimecast",
    "pphosted.com": "Proofpoint",
    "ppe-hosted.com": "Proofpoint",
    "messagelabs.com": "Broadcom (Symantec)",
    "barracudanetworks.com": "Barracuda",
    "iphmx.com": "Cisco Secure Email",
    "trendmicro.com": "Trend Micro",
    "trendmicro.eu": "Trend Micro",
    "sophos.com": "Sophos",
    "hornetsecurity.com": "Hornetsecurity",
    "mailcontrol.com": "Forcepoint",
}

#: Second-level labels that name a provider under any country domain (``mx.zoho.eu``,
#: ``mx.zoho.com.au``).
_ANY_TLD: dict[str, str] = {
    "zoho": "Zoho",
    "zohomail": "Zoho",
}
_SECOND_LEVEL = frozenset({"com", "co", "net", "org"})


@lru_cache(maxsize=4096)
def identify_provider(mx_host: str) -> str:
    """The provider operating ``mx_host`` (``"Google"``, ``"Microsoft 365"`` ...), or ``""``.

    Matching is on whole labels, so ``mx.notgoogle.com`` is not Google.
    """
    host = mx_host.strip().rstrip(".").lower()
    if not host:
        return ""
    labels = host.split(".")
    # Longest suffix first: "mx.cloudflare.net" before a shorter rule could match.
    for start in range(len(labels)):
        suffix = ".".join(labels[start:])
        name = _SUFFIXES.get(suffix)
        if name:
            return name
    # zoho.<tld>, or zoho.<com|co|net|org>.<tld>
    if len(labels) >= 2 and labels[-2] in _ANY_TLD:
        return _ANY_TLD[labels[-2]]
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and labels[-3] in _ANY_TLD:
        return _ANY_TLD[labels[-3]]
    return ""
