"""``presend sender`` through the command line, against the real DNS lab (NSD behind Unbound)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.lab.dnslab import DnsLab
from tests.lab.senderzones import BLOCKLIST, GOOD_IP, LISTED_IP, NO_PTR_IP, make_dkim_key, sender_records
from tests.run_helpers import REPO, clean_command

SECRET = "lab-password-never-printed-7Qx"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    _, public = make_dkim_key()
    with DnsLab(
        sender_records(public),
        tmp_path_factory.mktemp("sender-cli-dns"),
        nsd_binary=require_binary("nsd"),
        unbound_binary=require_binary("unbound"),
    ) as running:
        yield running


def _sender(lab: DnsLab, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli", "sender", "--nameserver", lab.nameserver, "--dnsbl", BLOCKLIST, *args]
    return subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def test_a_ready_sender_exits_0(lab: DnsLab) -> None:
    done = _sender(lab, "--from", "news@good.example", "--ip", GOOD_IP, "--dkim-selector", "s1", "--bulk")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Sender readiness for news@good.example, bulk sender rules")
    assert "READY: no problem found" in done.stdout
    assert "ok      spf: SPF of good.example for 127.0.4.10: pass" in done.stdout


def test_problems_exit_3_and_say_what_to_do(lab: DnsLab) -> None:
    done = _sender(lab, "--from", "news@weak.example", "--ip", LISTED_IP, "--ip", NO_PTR_IP)
    assert done.returncode == 3, done.stderr
    assert "PROBLEM dnsbl 554 5.7.1: 127.0.4.13 is listed in bl.lab.example" in done.stdout
    assert "PROBLEM provider [Google rows] 550 5.7.25" in done.stdout
    assert "what to do:" in done.stdout and "NOT READY" in done.stdout


def test_json_format(lab: DnsLab) -> None:
    done = _sender(lab, "--from", "news@weak.example", "--ip", NO_PTR_IP, "--format", "json")
    assert done.returncode == 3
    data = json.loads(done.stdout)
    assert data["from"] == "news@weak.example" and data["ready"] is False
    assert data["resolvers"] == [lab.nameserver]
    reasons = {f["reason"] for f in data["findings"] if f["state"] == "problem"}
    assert reasons == {"sending_gmail_no_reverse_dns", "sending_yahoo_no_reverse_dns"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--from ADDR is required"),
        (("--config", "/nonexistent/presend.toml", "--from", "a@good.example"), "no such file"),
        (("--from", "not-an-address"), "--from 'not-an-address': expected an address"),
        (("--from", "a@good.example", "--ip", "300.1.1.1"), "--ip '300.1.1.1': expected an IPv4 or IPv6 address"),
        (
            ("--from", "a@good.example", "--relay", "127.0.4.1:1", "--password-env", "PRESEND_NO_SUCH_VAR"),
            "PRESEND_NO_SUCH_VAR: that environment variable is not set",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(lab: DnsLab, args: tuple[str, ...], message: str) -> None:
    done = _sender(lab, *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_the_relay_password_never_reaches_an_output(lab: DnsLab, tmp_path: Path) -> None:
    relay = ("--relay", "127.0.4.1:1", "--user", "lab", "--password-env", "LAB_RELAY_PASSWORD")
    done = _sender(lab, "--from", "news@good.example", *relay, "--format", "json", env={"LAB_RELAY_PASSWORD": SECRET})
    assert SECRET not in done.stdout + done.stderr
    listing = tmp_path / "list.csv"
    listing.write_text("email\nuser@good.example\n", encoding="utf-8")
    out = tmp_path / "out"
    command = clean_command(
        listing, out, "--nameserver", lab.nameserver, "--allow-private-mx", "--from", "news@good.example", *relay
    )
    ran = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "LAB_RELAY_PASSWORD": SECRET}
    )
    assert ran.returncode == 0, ran.stderr
    assert SECRET not in ran.stdout + ran.stderr
    for path in out.iterdir():
        assert SECRET not in path.read_text(encoding="utf-8"), path.name
    summary = json.loads((out / "list.summary.json").read_text(encoding="utf-8"))
    assert summary["options"]["sender"]["password_env"] == "LAB_RELAY_PASSWORD"  # the name, not the value


def _message_without_date(tmp_path: Path) -> Path:
    message = tmp_path / "campaign.eml"
    message.write_bytes(
        b"From: News <news@good.example>\r\nTo: list@good.example\r\nSubject: Hello\r\n"
        b"Message-ID: <1@good.example>\r\n\r\nA plain body.\r\n"
    )
    return message


def test_the_message_check_through_the_command(lab: DnsLab, tmp_path: Path) -> None:
    """``--message`` reaches the message check through ``presend sender``: the missing Date is a
    problem for the whole campaign, and the unsigned message is said to be unsigned."""
    message = _message_without_date(tmp_path)
    done = _sender(lab, "--from", "news@good.example", "--ip", GOOD_IP, "--message", str(message), "--format", "json")
    assert done.returncode == 3, done.stderr
    findings = json.loads(done.stdout)["findings"]
    problems = {f["reason"]: f for f in findings if f["state"] == "problem"}
    assert set(problems) == {"message_header_missing"}, problems
    assert (problems["message_header_missing"]["code"], problems["message_header_missing"]["enhanced"]) == (
        "550", "5.7.1"
    )
    assert "Date" in problems["message_header_missing"]["detail"]
    assert any(f["reason"] == "dkim_unsigned" for f in findings), [f["reason"] for f in findings]


def test_a_message_problem_is_folded_into_every_row_and_keeps_the_clean_list(lab: DnsLab, tmp_path: Path) -> None:
    """``clean --from --message``: a row the recipient side accepts takes the message's 550
    5.7.1 (status unknown), yet stays in clean.csv, since the fix is in the message, not the list."""
    listing = tmp_path / "list.csv"
    listing.write_text("email\nuser@good.example\nnobody@nxdomain-nowhere.example\n", encoding="utf-8")
    out = tmp_path / "out"
    command = clean_command(
        listing, out, "--nameserver", lab.nameserver, "--allow-private-mx",
        "--from", "news@good.example", "--ip", GOOD_IP, "--dnsbl", BLOCKLIST,
        "--message", str(_message_without_date(tmp_path)),
    )
    ran = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    rows = (out / "list.results.csv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    first = dict(zip(header, rows[1].split(","), strict=False))
    assert (first["presend_status"], first["presend_code"], first["presend_reason"]) == (
        "unknown", "550", "message_header_missing"
    )
    second = dict(zip(header, rows[2].split(","), strict=False))
    assert second["presend_status"] == "undeliverable"  # its own verdict: the sender finding does not touch it
    clean = (out / "list.clean.csv").read_text(encoding="utf-8").splitlines()
    assert clean == ["email", "user@good.example"]
    summary = json.loads((out / "list.summary.json").read_text(encoding="utf-8"))
    assert any(f["reason"] == "message_header_missing" for f in summary["sender"]["findings"])
