"""The message check on a corpus the tests write, DKIM keys served by the real DNS lab.

The test makes an RSA key (openssl), publishes its public half as
``lab._domainkey.sender-lab.example`` in the NSD + Unbound lab, signs messages with dkimpy and
verifies them through a TXT lookup against the lab's Unbound (never the system's resolver).
The relay part (SIZE= on MAIL FROM) runs against the aiosmtpd relay of tests/lab/relaylab.py.
"""

from __future__ import annotations

import base64
import dataclasses
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim
import dns.resolver
import pytest

from pipeline.errors import InputError
from pipeline.options import SenderOptions
from pipeline.sender.findings import Scope, SenderFinding
from pipeline.sender.message import MAX_LINE, message_findings, read_message
from pipeline.sender.relay import CAFILE_ENV, relay_findings
from tests.conftest import require_binary
from tests.lab.dnslab import DnsLab
from tests.lab.relaylab import AUTH_MAIN, OWNED_SENDER, PASSWORD, RELAY_PORT, SIZE_LIMIT, USER, AuthRelays

pytestmark = pytest.mark.lab

DOMAIN = "sender-lab.example"
SELECTOR = "lab"


@dataclasses.dataclass
class Keys:
    private: bytes
    dns_txt: Callable[[str], list[str]]


def _public_key_b64(private_pem: Path) -> str:
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(private_pem), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return base64.b64encode(der).decode()


def _txt_record(owner: str, text: str) -> str:
    chunks = " ".join(f'"{text[i:i + 200]}"' for i in range(0, len(text), 200))
    return f"{owner}. TXT {chunks}"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    folder = tmp_path_factory.mktemp("dkim")
    private = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True)
    records = [
        f"{DOMAIN}. MX 10 mx.{DOMAIN}.",
        f"mx.{DOMAIN}. A 127.0.4.1",
        _txt_record(f"{SELECTOR}._domainkey.{DOMAIN}", f"v=DKIM1; k=rsa; p={_public_key_b64(private)}"),
    ]
    with DnsLab(records, folder / "dns", nsd_binary=require_binary("nsd"),
                unbound_binary=require_binary("unbound")) as lab:
        resolver = dns.resolver.Resolver(configure=False)
        host, port = lab.nameserver.rsplit(":", 1)
        resolver.nameservers, resolver.port, resolver.lifetime = [host], int(port), 5.0

        def dns_txt(name: str) -> list[str]:
            try:
                answer = resolver.resolve(name, "TXT")
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                return []
            return [b"".join(r.strings).decode() for r in answer]

        yield Keys(private.read_bytes(), dns_txt)


def message(body: str = "Hello,\r\nthe news of the week.\r\n", *, drop: tuple[str, ...] = (),
            extra: tuple[str, ...] = (), subject: str = "Weekly news") -> bytes:
    headers = {
        "From": f"News <{OWNED_SENDER}>",
        "To": "reader@probe-a.example",
        "Subject": subject,
        "Date": "Fri, 04 Dec 2026 22:00:00 +0000",
        "Message-ID": f"<weekly-1@{DOMAIN}>",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
    }
    lines = [f"{k}: {v}" for k, v in headers.items() if k not in drop] + list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def sign(raw: bytes, keys: Keys, selector: str = SELECTOR) -> bytes:
    include = [b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe", b"list-unsubscribe-post"]
    signature = dkim.sign(raw, selector.encode(), DOMAIN.encode(), keys.private, include_headers=include)
    return signature + raw


def check(tmp_path: Path, raw: bytes, keys: Keys | None = None, **overrides: object) -> list[SenderFinding]:
    path = tmp_path / "campaign.eml"
    path.write_bytes(raw)
    options = dataclasses.replace(SenderOptions(from_addr=OWNED_SENDER, message=path), **overrides)  # type: ignore[arg-type]
    return message_findings(options, keys.dns_txt if keys else None)


def by_reason(findings: list[SenderFinding]) -> dict[str, SenderFinding]:
    return {f.reason: f for f in findings}


def test_signed_message_verifies_through_the_lab(tmp_path: Path, keys: Keys) -> None:
    findings = check(tmp_path, sign(message(), keys), keys)
    assert [f for f in findings if not f.ok] == []
    assert f"d={DOMAIN}, s={SELECTOR}" in by_reason(findings)["dkim_valid"].detail


def test_body_tampered_after_signing(tmp_path: Path, keys: Keys) -> None:
    raw = sign(message(), keys).replace(b"the news of the week", b"the news of the WEEK")
    finding = by_reason(check(tmp_path, raw, keys))["dkim_body_altered"]
    assert (finding.ok, finding.code, finding.enhanced) == (False, "550", "5.7.1")


def test_signed_with_an_unpublished_selector(tmp_path: Path, keys: Keys) -> None:
    finding = by_reason(check(tmp_path, sign(message(), keys, selector="gone"), keys))["dkim_key_missing"]
    assert not finding.ok
    assert "gone._domainkey" in finding.detail


def test_unsigned_and_dns_off_are_reported_not_guessed(tmp_path: Path, keys: Keys) -> None:
    assert by_reason(check(tmp_path, message(), keys))["dkim_unsigned"].ok
    assert by_reason(check(tmp_path, sign(message(), keys), None))["dkim_not_checked"].ok


def test_line_over_998_octets(tmp_path: Path) -> None:
    findings = check(tmp_path, message(body="x" * 1200 + "\r\nshort\r\n"))
    finding = by_reason(findings)["message_line_too_long"]
    assert (finding.code, finding.enhanced, finding.scope) == ("500", "5.5.2", Scope.CAMPAIGN)
    assert "1200" in finding.detail
    assert by_reason(check(tmp_path, message(body="x" * MAX_LINE + "\r\n")))["message_lines_ok"].ok


def test_missing_headers(tmp_path: Path) -> None:
    finding = by_reason(check(tmp_path, message(drop=("Date", "Message-ID"))))["message_header_missing"]
    assert (finding.code, finding.enhanced) == ("550", "5.7.1")
    assert "Date, Message-ID" in finding.detail and "From" not in finding.detail.split("header")[0]


def test_eight_bit_body_and_non_ascii_header(tmp_path: Path) -> None:
    facts_path = tmp_path / "m.eml"
    facts_path.write_bytes(message(body="Grüße aus Köln\r\n", subject="Nachrichten für Sie"))
    facts = read_message(facts_path)
    assert facts.eight_bit_body and facts.non_ascii_headers == ("Subject",) and facts.needs_smtputf8
    detail = by_reason(check(tmp_path, facts_path.read_bytes()))["message_encoding_ok"].detail
    assert "8-bit" in detail and "Subject" in detail
    plain = tmp_path / "plain.eml"
    plain.write_bytes(message())
    assert not read_message(plain).eight_bit_body and not read_message(plain).needs_smtputf8


def test_bulk_needs_one_click_unsubscribe(tmp_path: Path, keys: Keys) -> None:
    finding = by_reason(check(tmp_path, message(), bulk=True))["message_no_one_click_unsubscribe"]
    assert finding.scope is Scope.PROVIDER and set(finding.providers) == {"Google", "Yahoo"}
    assert "List-Unsubscribe-Post" in finding.detail
    compliant = message(extra=(
        f"List-Unsubscribe: <https://{DOMAIN}/u/123>, <mailto:unsub@{DOMAIN}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    ))
    findings = check(tmp_path, sign(compliant, keys), keys, bulk=True)
    assert [f for f in findings if not f.ok] == []
    assert "message_unsubscribe_ok" in by_reason(findings)
    assert "message_no_one_click_unsubscribe" not in by_reason(check(tmp_path, message()))


def test_unreadable_message_is_a_clear_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--message .*missing\.eml"):
        message_findings(SenderOptions(from_addr=OWNED_SENDER, message=tmp_path / "missing.eml"), None)


def test_oversized_message_is_refused_by_the_relays_size(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.eml"
    path.write_bytes(message(body=("y" * 76 + "\r\n") * (SIZE_LIMIT // 78 + 50)))
    small = tmp_path / "small.eml"
    small.write_bytes(message())
    with AuthRelays(tmp_path_factory.mktemp("relay-cert")) as relays:
        monkeypatch.setenv(CAFILE_ENV, str(relays.cafile))
        options = SenderOptions(
            from_addr=OWNED_SENDER, relay=f"{AUTH_MAIN.address}:{RELAY_PORT}", starttls=True, user=USER, message=path
        )
        refused = [f for f in relay_findings(options, PASSWORD) if not f.ok]
        accepted = relay_findings(dataclasses.replace(options, message=small), PASSWORD)
    assert len(refused) == 1 and refused[0].code == "552" and refused[0].reason == "relay_size_refused"
    assert f"SIZE={read_message(path).size}" in refused[0].detail
    assert [f for f in accepted if not f.ok] == []
