"""The demo lab's scripted mail hosts (aiosmtpd), spoken to with the standard smtplib client."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator

import pytest

from pipeline.lab.hosts import DEMO_HOSTS, HostScript
from pipeline.lab.mail_hosts import LabMailHosts

SENDER = "demo@presend.example"


@pytest.fixture(scope="module")
def hosts() -> Iterator[LabMailHosts]:
    with LabMailHosts(DEMO_HOSTS) as running:
        yield running


def _session(hosts: LabMailHosts, address: str) -> smtplib.SMTP:
    client = smtplib.SMTP(address, hosts.port, timeout=5)
    client.ehlo("probe.presend.example")
    return client


def test_every_host_shares_one_port_on_its_own_loopback_address(hosts: LabMailHosts) -> None:
    assert all(s.address.startswith("127.") for s in hosts.scripts)
    assert len({s.address for s in hosts.scripts}) == len(hosts.scripts)
    assert 1024 < hosts.port < 65536


@pytest.mark.parametrize(
    ("recipient", "code", "text"),
    [
        ("alice@acme.example", 250, b"2.1.5"),
        ("ALICE@acme.example", 250, b"2.1.5"),
        ("ghost@acme.example", 550, b"5.1.1"),
        ("moved@acme.example", 551, b"5.1.6"),
        ("quota@acme.example", 552, b"5.2.2"),
        ("full@acme.example", 452, b"4.2.2"),
        ("blocked@acme.example", 554, b"5.7.1"),
    ],
)
def test_scripted_rcpt_replies(hosts: LabMailHosts, recipient: str, code: int, text: bytes) -> None:
    client = _session(hosts, "127.0.0.2")
    try:
        assert client.mail(SENDER)[0] == 250
        reply = client.rcpt(recipient)
        assert reply[0] == code and reply[1].startswith(text)
    finally:
        client.quit()


def test_several_rcpt_in_one_session_then_rset(hosts: LabMailHosts) -> None:
    client = _session(hosts, "127.0.0.2")
    try:
        client.mail(SENDER)
        codes = [client.rcpt(r)[0] for r in ("bob@acme.example", "nobody@acme.example", "carol@acme.example")]
        assert codes == [250, 550, 250]
        assert client.rset()[0] == 250
    finally:
        client.quit()


def test_data_is_never_accepted(hosts: LabMailHosts) -> None:
    client = _session(hosts, "127.0.0.2")
    try:
        client.mail(SENDER)
        client.rcpt("alice@acme.example")
        assert client.data(b"Subject: no\r\n\r\nno\r\n")[0] == 554
    finally:
        client.quit()


def test_catch_all_accepts_any_local_part(hosts: LabMailHosts) -> None:
    client = _session(hosts, "127.0.0.3")
    try:
        client.mail(SENDER)
        assert client.rcpt("zq8w7e6r5t4y@catchall.example")[0] == 250
    finally:
        client.quit()


def test_421_at_connect(hosts: LabMailHosts) -> None:
    with pytest.raises(smtplib.SMTPConnectError) as caught:
        smtplib.SMTP("127.0.0.4", hosts.port, timeout=5)
    assert caught.value.smtp_code == 421


def test_connection_refused(hosts: LabMailHosts) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.9", hosts.port), timeout=2)


def test_554_at_mail_from(hosts: LabMailHosts) -> None:
    client = _session(hosts, "127.0.0.5")
    try:
        code, text = client.mail(SENDER)
        assert code == 554 and b"reputation" in text
    finally:
        client.quit()


def test_smtputf8_offered_or_not(hosts: LabMailHosts) -> None:
    for address, offered in (("127.0.0.2", True), ("127.0.0.6", False)):
        client = _session(hosts, address)
        try:
            assert client.has_extn("smtputf8") is offered
        finally:
            client.quit()


def test_non_ascii_recipient_with_smtputf8(hosts: LabMailHosts) -> None:
    client = _session(hosts, "127.0.0.2")
    try:
        assert client.mail(SENDER, ["SMTPUTF8"])[0] == 250
        assert client.rcpt("anna@bücher.example")[0] == 250
    finally:
        client.quit()


def test_greylisting_then_accept_and_a_permanent_450(hosts: LabMailHosts) -> None:
    script = next(s for s in DEMO_HOSTS if s.address == "127.0.0.7")
    client = _session(hosts, "127.0.0.7")
    try:
        client.mail(SENDER)
        assert client.rcpt("pat@grey.example")[0] == 450
        assert client.rcpt("sam@grey.example")[0] == 450
        time.sleep(script.greylist_seconds + 0.1)
        assert client.rcpt("pat@grey.example")[0] == 250
        assert client.rcpt("sam@grey.example")[0] == 450
    finally:
        client.quit()


def test_custom_scripts_and_explicit_port() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.21", 0))
    port = probe.getsockname()[1]
    probe.close()
    script = HostScript("127.0.0.21", "mx.one.example", mailboxes={"x": "250 2.1.5 ok"}, unknown_reply="550 5.1.1 no")
    with LabMailHosts([script], port=port) as running:
        client = smtplib.SMTP("127.0.0.21", running.port, timeout=5)
        try:
            client.ehlo()
            client.mail(SENDER)
            assert [client.rcpt(r)[0] for r in ("x@one.example", "y@one.example")] == [250, 550]
        finally:
            client.quit()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.21", port), timeout=1)
