"""Generate a realistic contact list for the benchmarks (not used by the test suite).

    python bench/generate_list.py OUT.csv --rows 1000000 [--seed 7]

Each row: id, first and last name, email, company, city, signup date, a free-text note.
The email column mixes what real exports hold: mostly plain lower-case ASCII addresses,
some with capitals, role accounts, invalid cells (no @, double dots, spaces, no TLD, empty),
internationalized addresses (IDN domains, non-ASCII local parts), wrapped cells
(blanks, ``Name <addr>``, ``mailto:``) and duplicates of earlier rows.

The domains are for offline (``--no-dns``) benchmarks only: run no DNS level on this list.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path


def _words(text: str) -> list[str]:
    return text.split()


FIRST = _words(
    "james mary john patricia robert jennifer michael linda william elizabeth david barbara "
    "richard susan joseph jessica thomas sarah charles karen chris nancy daniel lisa matthew "
    "betty anthony margaret mark sandra donald ashley steven kimberly paul emily andrew donna "
    "joshua michelle kenneth carol kevin amanda brian melissa george deborah timothy stephanie "
    "ana luis sofia mateo lucia hugo emma louis lea jules chloe noah mia lukas hannah finn lena"
)
LAST = _words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez "
    "gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris "
    "sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill "
    "flores green adams nelson baker hall rivera campbell mitchell carter roberts muller schmidt "
    "schneider fischer weber meyer wagner becker dubois durand lefebvre moreau laurent rossi russo"
)
FREE = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com",
        "gmx.de", "web.de", "orange.fr", "free.fr", "yahoo.co.uk", "proton.me")
TLDS = ("com", "net", "org", "io", "de", "fr", "co.uk", "example", "biz", "info")
WORDS = _words("acme northwind contoso globex initech umbrella stark wayne wonka hooli vandelay "
         "soylent tyrell cyberdyne oscorp aperture blackmesa gringotts pied piper dunder "
         "mifflin prestige massive dynamic zorg sirius cogswell spacely")
CITIES = ("Paris", "Berlin", "London", "New York", "Lyon", "Madrid", "Rome", "Austin", "Oslo",
          "Québec", "São Paulo", "München", "Zürich", "Kraków")
ROLES = ("info", "sales", "support", "admin", "contact", "Marketing", "noreply", "hello")
INVALID = (
    "{f}.{l}", "{f}..{l}@{d}", "{f} {l}@{d}", "{f}.{l}@", "@{d}", "{f}.{l}@{w}", ".{f}@{d}",
    "{f}.@{d}", "{f}@{w}..com", "{f}@-{w}.com", "{f}.{l}@{w}.123", "", " ", "n/a", "{f}@@{d}",
    "{f}.{l}@{d}.", '"{f} {l}"@{d}', "{f}@[192.0.2.1]", "{f}(at){d}", "{f}@{w}.local",
)
UNICODE = (
    "{f}@bücher.de", "{f}.{l}@exämple.com", "josé.{l}@{d}", "{f}@straße.de", "用户@例子.广告",
    "{f}@xn--bcher-kva.de", "Δοκιμή@παράδειγμα.δοκιμή", "{f}@ÉCOLE.fr", "zoë@{d}",
)
WRAPPED = ("  {a}  ", "{F} {L} <{a}>", "mailto:{a}", "<{a}>", "\t{a}", '"{L}, {F}" <{a}>')


def _domain(rng: random.Random) -> str:
    if rng.random() < 0.45:
        return rng.choice(FREE)
    word = rng.choice(WORDS)
    if rng.random() < 0.3:
        word += "-" + rng.choice(WORDS)
    return f"{word}{rng.randrange(100) if rng.random() < 0.5 else ''}.{rng.choice(TLDS)}"


def _local(rng: random.Random, first: str, last: str) -> str:
    shape = rng.random()
    if shape < 0.45:
        return f"{first}.{last}"
    if shape < 0.65:
        return f"{first[0]}{last}"
    if shape < 0.8:
        return f"{first}{rng.randrange(1000)}"
    if shape < 0.9:
        return f"{first}_{last}{rng.randrange(100)}"
    return f"{first}.{last}+{rng.choice(('news', 'shop', 'x'))}"


def email_cell(rng: random.Random, first: str, last: str, earlier: list[str]) -> str:
    """One email cell, drawn from the mix described in the module docstring."""
    roll = rng.random()
    domain = _domain(rng)
    if roll < 0.05 and earlier:
        seen = rng.choice(earlier)
        return seen.upper() if rng.random() < 0.2 else seen
    if roll < 0.08:
        return rng.choice(INVALID).format(f=first, l=last, d=domain, w=rng.choice(WORDS))
    if roll < 0.09:
        return rng.choice(UNICODE).format(f=first, l=last, d=domain)
    if roll < 0.11:
        address = f"{_local(rng, first, last)}@{domain}"
        return rng.choice(WRAPPED).format(a=address, F=first.title(), L=last.title())
    if roll < 0.13:
        return f"{rng.choice(ROLES)}@{domain}"
    address = f"{_local(rng, first, last)}@{domain}"
    if roll < 0.20:
        return address.title() if rng.random() < 0.5 else f"{first.title()}.{last.title()}@{domain.upper()}"
    return address


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write ``rows`` data rows (plus a header) to ``path``."""
    rng = random.Random(seed)
    earlier: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "first_name", "last_name", "email", "company", "city", "signup_date", "note"])
        batch: list[list[str]] = []
        for number in range(1, rows + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            cell = email_cell(rng, first, last, earlier)
            if len(earlier) < 5000:
                earlier.append(cell)
            elif rng.random() < 0.01:
                earlier[rng.randrange(5000)] = cell
            note = "" if rng.random() < 0.7 else rng.choice(("VIP", "met at fair, call back", 'said "maybe"', "a;b"))
            batch.append([
                str(number), first.title(), last.title(), cell,
                f"{rng.choice(WORDS).title()} {rng.choice(('Inc', 'GmbH', 'SARL', 'Ltd'))}",
                rng.choice(CITIES),
                f"20{rng.randrange(10, 26)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                note,
            ])
            if len(batch) >= 50_000:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    generate(args.out, args.rows, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
