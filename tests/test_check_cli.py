"""``presend check ADDRESS...``: one address's forecast from the command line, the same as the
row verdict ``presend clean`` gives it (both are pipeline.check / pipeline.run)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import pipeline
from pipeline.columns import RESULT_COLUMNS
from tests.conftest import require_binary
from tests.lab.dnslab import DnsLab
from tests.run_helpers import run_cli

#: Every presend column but the time of the check, which differs between two runs.
COMPARED = [column for column in RESULT_COLUMNS if column != "presend_checked_at"]


def presend_check(*args: str) -> tuple[int, str, str]:
    done = run_cli([sys.executable, "-m", "cli", "check", *args], timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_json_lines_hold_what_the_library_gives() -> None:
    addresses = ["ann@gmial.com", "bob@@x.example", "info@acme-co.com", "Zoë@Bücher.example"]
    code, stdout, stderr = presend_check(*addresses, "--no-dns", "--format", "json")
    assert code == 0, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [line["address"] for line in lines] == addresses
    for line, address in zip(lines, addresses, strict=True):
        expected = pipeline.check(address, no_dns=True)
        assert [line[column] for column in COMPARED] == [expected[column] for column in COMPARED]
    assert lines[1]["presend_code"] == "501" and lines[0]["presend_suggestion"] == "ann@gmail.com"


def test_text_is_a_line_per_address() -> None:
    code, stdout, stderr = presend_check("ann@gmial.com", "no-at-sign", "--no-dns")
    assert code == 0, stderr
    first, second = stdout.splitlines()
    # A known typo is a typo (not disposable); without DNS no code is forecast.
    assert first.startswith("ann@gmial.com: undeliverable typo_domain: gmial.com is a common misspelling")
    assert second.startswith("no-at-sign: undeliverable 501 5.1.3 missing_at_sign: ")


@pytest.mark.parametrize(("args", "words"), [
    (["a@acme-co.com", "--no-dns", "--format", "xml"], "--format: expected text or json"),
    (["", "--no-dns"], "no address to check"),
    (["a@acme-co.com", "--dns-timeout", "0"], "--dns-timeout"),
])
def test_bad_input_is_one_line(args: list[str], words: str) -> None:
    code, _, stderr = presend_check(*args)
    assert code == 2 and words in stderr and len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.lab
def test_the_dns_level_against_the_lab(tmp_path: Path) -> None:
    records = ["mx.fine.example. A 127.0.2.1", "fine.example. MX 10 mx.fine.example."]
    with DnsLab(records, tmp_path / "dns", nsd_binary=require_binary("nsd"),
                unbound_binary=require_binary("unbound")) as lab:
        code, stdout, stderr = presend_check("ann@fine.example", "ann@lost.example", "--nameserver", lab.nameserver,
                                             "--allow-private-mx", "--no-cache", "--format", "json")
    assert code == 0, stderr
    fine, lost = (json.loads(line) for line in stdout.splitlines())
    assert (fine["presend_status"], fine["presend_mx"]) == ("deliverable", "mx.fine.example")
    assert (lost["presend_code"], lost["presend_reason"]) == ("550", "nxdomain")


def test_errors_respect_the_json_log() -> None:
    code, _, stderr = presend_check("", "--no-dns", "--log-format", "json")
    event = json.loads(stderr.strip())
    assert code == 2 and event["event"] == "error" and event["exit"] == 2
    assert "no address to check" in event["message"]
