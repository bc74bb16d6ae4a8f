#!/usr/bin/env python3
"""Write pipeline/data/tlds.txt: the top-level domains of the public suffix list's ICANN section.

Usage: scripts/make_tld_list.py [PUBLIC_SUFFIX_LIST.dat] [OUT]

The default source is Debian's ``publicsuffix`` package
(/usr/share/publicsuffix/public_suffix_list.dat). The list's date is taken from the file's own
``// VERSION:`` line when it has one, else from the Debian package's version (which is the
list's date), else from the file's modification time. Each rule's last label is a delegated
top-level domain; Unicode ones are written in their ASCII (IDNA) form, as presend compares them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import idna

SOURCE = Path("/usr/share/publicsuffix/public_suffix_list.dat")
OUT = Path(__file__).resolve().parent.parent / "pipeline" / "data" / "tlds.txt"


def icann_tlds(text: str) -> list[str]:
    """The top-level labels of the rules between the ICANN section's markers, ASCII, sorted."""
    inside = False
    labels: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if "===BEGIN ICANN DOMAINS===" in line:
            inside = True
        elif "===END ICANN DOMAINS===" in line:
            break
        elif inside and line and not line.startswith("//"):
            last = line.split()[0].lstrip("!").rpartition(".")[2].lower()
            if last and last != "*":
                labels.add(last if last.isascii() else idna.encode(last, uts46=True).decode("ascii"))
    if not labels:
        raise SystemExit("no ICANN section found: is this a public suffix list?")
    return sorted(labels)


def list_date(source: Path, text: str) -> str:
    """The list's own version line, else the Debian package's version, else the file's mtime."""
    found = re.search(r"^// VERSION: (\S+)", text, re.MULTILINE)
    if found:
        return found.group(1)
    try:
        version = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "publicsuffix"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        version = ""
    if version and source == SOURCE:
        day = re.match(r"(\d{4})(\d{2})(\d{2})", version)
        when = f"{day.group(1)}-{day.group(2)}-{day.group(3)}" if day else version
        return f"{when} (Debian publicsuffix {version})"
    return datetime.fromtimestamp(source.stat().st_mtime, UTC).strftime("%Y-%m-%d (file date)")


def main(argv: list[str]) -> int:
    """Read the list, write the TLD file; 0 on success."""
    source = Path(argv[1]) if len(argv) > 1 else SOURCE
    out = Path(argv[2]) if len(argv) > 2 else OUT
    text = source.read_text(encoding="utf-8")
    tlds = icann_tlds(text)
    header = [
        f"# Top-level domains: the ICANN section of the public suffix list, {list_date(source, text)}.",
        f"# Source: {source} (https://publicsuffix.org/list/), {len(tlds)} labels, IDNA (ASCII) form.",
        "# Regenerate with scripts/make_tld_list.py; replace at run time with --tld-list FILE.",
    ]
    out.write_text("\n".join([*header, *tlds]) + "\n", encoding="utf-8")
    print(f"{out}: {len(tlds)} top-level domains")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
