"""The syntax fast path gives check_address's verdict on every cell: a differential test.

Inputs: hypothesis-generated cells (shaped like addresses, with the characters that matter
to the pre-check), the isemail corpus, the sample lists, and hand-picked edge cases.
"""

from __future__ import annotations

import csv
import string
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.engine import fastsyntax
from pipeline.engine.fastsyntax import FAST_ADDRESS, SyntaxJudge, fast_check
from pipeline.io.ingest import open_table
from pipeline.rules.syntax import check_address

REPO = Path(__file__).resolve().parent.parent
ISEMAIL = REPO / "tests" / "data" / "isemail-tests.xml"

EDGE_CASES = [
    "john.smith@example.com",
    "John.Smith@Example.COM",
    "INFO@Example.com",  # RFC 2142 names are lower-cased by email-validator
    "Postmaster@EXAMPLE.org",
    "Info.Desk@example.com",
    "a@b.co",
    "a@b.c1",  # TLD ending in a digit
    "a@b.1c",
    "a@localhost.localhost",
    "a@foo.TEST",
    "a@sub.onion",
    "a@arpa.example",
    "x@ab--cd.example",
    "x@xn--bcher-kva.example",
    "x@XN--BCHER-KVA.example",
    "x@a-.example",
    "x@-a.example",
    "x@a.-b.example",
    "x@a..example",
    "x." + "@example.com",
    ".x@example.com",
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "x@" + "a" * 63 + ".com",
    "x@" + "a" * 64 + ".com",
    "x@" + ".".join(["a" * 60] * 4) + ".com",  # over 254 in all
    "o'brien@example.ie",
    "{a}|b~c@example.com",
    "a+b@example.com",
    "a@b@example.com",
    "a@example.com\n",
    "a@example.com ",
    " a@example.com",
    "mailto:a@example.com",
    "MAILTO:A@EXAMPLE.COM?subject=x",
    "Ann <ann@example.com>",
    "<ann@example.com>",
    "n/a",
    "none",
    "-",
    "",
    "   ",
    "\u00a0",
    "joe\u000bsmith",
    "joe\x0csmith",
    "joe\rsmith",
    "joe.smith(at)example.com",
    '"joe"@example.com',
    "joe@[192.0.2.1]",
    "josé@example.com",
    "joe@bücher.example",
    "joe@ÉCOLE.fr",
    "a@example.com, b@example.com",
    "joe@example.com\u200b",
]

_LOCAL_CHARS = string.ascii_letters + string.digits + ".!#$%&'*+/=?^_`{|}~-" + ' "(),:;<>[\\]@é'
_DOMAIN_CHARS = string.ascii_letters + string.digits + ".-_ü" + "xn"


def _same_as_reference(cells: list[str], workers: int = 1) -> None:
    judge = SyntaxJudge(workers)
    try:
        chunk = judge.judge(cells)
    finally:
        judge.close()
    for index, cell in enumerate(cells):
        expected = check_address(cell)
        assert chunk.check(index) == expected, cell
        assert chunk.emails[index] == (expected.email if expected.ok else ""), cell
        assert chunk.keys[index] == expected.key, cell
        if expected.ok:
            assert chunk.ascii_domain(index) == expected.ascii_domain, cell
        quick = fast_check(cell)
        assert quick is None or quick == expected, cell


def test_edge_cases() -> None:
    _same_as_reference(EDGE_CASES)
    # The pre-check does take the plain shapes (else it would be no fast path at all).
    assert all(FAST_ADDRESS.match(c) for c in ("john.smith@example.com", "John.Smith@Example.COM", "a@b.co"))
    assert FAST_ADDRESS.match("x@xn--bcher-kva.example") is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.text(alphabet=_LOCAL_CHARS, min_size=0, max_size=70),
            st.sampled_from(["@", "@", "@", "", "@@", " @", "＠"]),
            st.text(alphabet=_DOMAIN_CHARS, min_size=0, max_size=30),
            st.sampled_from(["", ".com", ".COM", ".example", ".co.uk", ".1", ".test", ".c0m", "."]),
            st.sampled_from(["", "", " ", "\t", "mailto:"]),
        ).map(lambda p: p[4] + p[0] + p[1] + p[2] + p[3]),
        min_size=1,
        max_size=40,
    )
)
def test_generated_cells(cells: list[str]) -> None:
    _same_as_reference(cells)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.emails(), min_size=1, max_size=30))
def test_hypothesis_emails(cells: list[str]) -> None:
    _same_as_reference(cells + [c.upper() for c in cells])


def _isemail_addresses() -> list[str]:
    def decode(text: str) -> str:
        return "".join(chr(ord(ch) - 0x2400) if 0x2400 <= ord(ch) < 0x2420 else ch for ch in text)

    return [decode(t.findtext("address") or "") for t in ET.parse(ISEMAIL).getroot().iter("test")]


def test_isemail_corpus() -> None:
    cells = _isemail_addresses()
    assert len(cells) > 150
    _same_as_reference(cells)


def test_sample_lists() -> None:
    cells: list[str] = []
    for path in sorted((REPO / "sample_lists").glob("*.csv")):
        with open_table(path) as table:
            at = table.info.email_index
            for row in table.rows():
                if at < len(row.cells):
                    cells.append(row.cells[at])
    assert len(cells) > 50
    _same_as_reference(cells)


def test_process_pool_gives_the_same_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastsyntax, "POOL_THRESHOLD", 10)
    cells = [f"usér{i}..x@example.com" for i in range(40)] + [f"ü{i}@bücher.example" for i in range(40)] + EDGE_CASES
    judge = SyntaxJudge(workers=2)
    try:
        chunk = judge.judge(cells)
        assert judge.stats()["validator_calls"] >= 80
    finally:
        judge.close()
    assert [chunk.check(i) for i in range(len(cells))] == [check_address(c) for c in cells]


def test_each_distinct_leftover_is_validated_once() -> None:
    judge = SyntaxJudge(workers=1)
    cells = ["bäd..one@example.com"] * 50 + ["josé@example.com"] * 50 + ["fine@example.com"] * 50
    judge.judge(cells)
    judge.judge(cells)
    assert judge.stats() == {"fast_path": 100, "full_path": 200, "validator_calls": 2}


def test_plain_refusals_need_no_validator_call() -> None:
    # One @, ASCII, nothing to unquote or unwrap: a refused local part or domain is judged by
    # email-validator's part checks alone, with check_address's verdict word for word.
    cells = [
        "a..b@example.com", ".a@example.com", "a.@example.com", "a b@example.com", "a(b)@example.com",
        "@example.com", "a@", "a@example..com", "a@example.com.", "a@-example.com", "a@example-.com",
        "a@ex_ample.com", "a@example", "a@example.123", "a@example.local", "a@xn--a.example",
        "a@ab--cd.example", "a\\b@example.com", " a..b@example.com ", "a@" + "x" * 64 + ".com",
    ]
    judge = SyntaxJudge(workers=1)
    chunk = judge.judge(cells)
    assert judge.stats()["validator_calls"] == 0
    assert [chunk.check(i) for i in range(len(cells))] == [check_address(cell) for cell in cells]
    assert len({chunk.check(i).reason for i in range(len(cells))}) >= 10


def test_generated_benchmark_list_agrees(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_list", REPO / "bench" / "generate_list.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path / "gen.csv"
    module.generate(path, 3000, seed=3)
    with path.open(newline="", encoding="utf-8") as handle:
        cells = [row[3] for row in list(csv.reader(handle))[1:]]
    _same_as_reference(cells)
