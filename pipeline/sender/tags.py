"""Tag lists (``v=DMARC1; p=none``, ``v=DKIM1; k=rsa; p=...``) as DMARC and DKIM records write them."""

from __future__ import annotations


def parse_tags(text: str) -> dict[str, str]:
    """``tag=value`` pairs split on ``;`` (RFC 6376 §3.2): names in lower case, values stripped.

    A pair without ``=`` is skipped; the first of two equal names wins.
    """
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if sep and name and name not in tags:
            tags[name] = "".join(value.split())
    return tags
