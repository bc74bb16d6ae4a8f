"""MX records that point home: ``localhost``, or a name resolving to 127.0.0.1 / ::1.

A sending MTA drops a mail host that is itself (and every host of the same or a worse
preference); when none is left, the mail "loops back to myself" and bounces (5.4.6). presend
forecasts that from DNS and never probes the sender's own machine, even with
``--allow-private-mx``; lab hosts on other 127.x addresses keep working. The lab test runs the
real NSD + Unbound lab and a scripted mail host on 127.0.3.201, with a listener on 127.0.0.1
that must see no connection.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest

import pipeline
from pipeline.dns.decide import AddressLookup, MxLookup, Outcome, decide, points_home
from pipeline.models import Status
from tests.conftest import require_binary
from tests.lab.dnslab import DnsLab
from tests.lab.smtphosts import HostScript, ScriptedHosts

AT = "2026-01-02T03:04:05Z"
BACKUP_HOST = "127.0.3.201"  # 127.0.3.0/24 is the scripted hosts' block; .201 is used nowhere else


def found(*addresses: str) -> AddressLookup:
    return AddressLookup(Outcome.ANSWER, addresses, 300)


NONE = AddressLookup(Outcome.NXDOMAIN, (), 300)


@pytest.mark.parametrize(
    ("host", "addresses", "home"),
    [
        ("localhost", (), True),
        ("LOCALHOST.", ("127.0.0.1",), True),
        ("localhost.example.com", (), True),
        ("mx.a.example", ("127.0.0.1",), True),
        ("mx.a.example", ("::1",), True),
        ("mx.a.example", ("::ffff:127.0.0.1",), True),
        ("mx.a.example", ("192.0.2.1", "127.0.0.1"), True),
        ("mx.a.example", ("127.0.2.1",), False),  # a lab host: not the sender's own address
        ("mx.a.example", ("127.0.0.2",), False),
        ("notlocalhost.example", (), False),
        ("mx.localhost-fans.example", ("192.0.2.1",), False),
    ],
)
def test_points_home(host: str, addresses: tuple[str, ...], home: bool) -> None:
    assert points_home(host, addresses) is home


def test_preferred_host_at_home_loops_back() -> None:
    decision = decide("a.example", MxLookup(Outcome.ANSWER, ((10, "localhost."),), 600), {"localhost": NONE}, AT)
    verdict = decision.domain.verdict
    assert verdict is not None
    assert (verdict.status, verdict.code, verdict.enhanced, verdict.reason, verdict.mx) == (
        Status.UNDELIVERABLE, "554", "5.4.6", "mx_loops_back", "localhost"
    )
    assert "loops back" in verdict.detail and not decision.domain.accepts_mail


def test_hosts_from_the_home_one_on_are_dropped_like_a_sending_mta_does() -> None:
    mx = MxLookup(Outcome.ANSWER, ((10, "mx1.a.example"), (20, "home.a.example"), (30, "mx3.a.example")), 600)
    lookups = {"mx1.a.example": found("192.0.2.1"), "home.a.example": found("127.0.0.1"),
               "mx3.a.example": found("192.0.2.3")}
    domain = decide("a.example", mx, lookups, AT).domain
    assert domain.accepts_mail and [h.host for h in domain.mx_hosts] == ["mx1.a.example"]
    # the same preference as the home host: dropped too, so nothing is left
    same = MxLookup(Outcome.ANSWER, ((10, "mx1.a.example"), (10, "home.a.example")), 600)
    verdict = decide("a.example", same, lookups, AT).domain.verdict
    assert verdict is not None and verdict.reason == "mx_loops_back" and verdict.mx == "home.a.example"


def test_implicit_mx_at_home_loops_back() -> None:
    decision = decide("a.example", MxLookup(Outcome.NODATA, ttl=60), {"a.example": found("127.0.0.1")}, AT)
    verdict = decision.domain.verdict
    assert verdict is not None and verdict.reason == "mx_loops_back"
    assert "no MX record" in verdict.detail and decision.ttl == 60


RECORDS = [
    "home1.example. MX 10 localhost.",
    "home2.example. MX 10 mx.home2.example.",
    "mx.home2.example. A 127.0.0.1",
    "home3.example. MX 10 localhost.home3.example.",
    "home6.example. MX 10 mx.home6.example.",
    "mx.home6.example. AAAA ::1",
    "home4.example. A 127.0.0.1",
    "backup.example. MX 10 mx.backup.example.",
    "backup.example. MX 20 mx.home2.example.",
    f"mx.backup.example. A {BACKUP_HOST}",
]
HOME = ["ann@home1.example", "ann@home2.example", "ann@home3.example", "ann@home6.example", "ann@home4.example"]


@pytest.mark.lab
def test_mx_pointing_home_is_forecast_not_probed_against_the_dns_lab(tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    frame = pd.DataFrame({"Email": [*HOME, "ann@backup.example"]})
    try:
        with (
            DnsLab(RECORDS, tmp_path / "dns", nsd_binary=require_binary("nsd"),
                   unbound_binary=require_binary("unbound")) as lab,
            ScriptedHosts([HostScript(BACKUP_HOST, mailboxes={"ann@backup.example"})], port) as hosts,
        ):
            common = {"nameserver": [lab.nameserver], "no_cache": True, "engine": "local"}
            probed = pipeline.clean(frame, allow_private_mx=True, probe=True, mail_from="probe@presend-lab.example",
                                    smtp_port=port, smtp_timeout=2, **common).results
            strict = pipeline.clean(frame, **common).results
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody ever knocked on the sender's own loopback
    finally:
        listener.close()
    for results in (probed, strict):
        rows = results.set_index("Email")
        for email in HOME:
            row = rows.loc[email]
            assert (row.presend_status, row.presend_code, row.presend_enhanced, row.presend_reason) == (
                "undeliverable", "554", "5.4.6", "mx_loops_back"
            ), email
    backup = probed.set_index("Email").loc["ann@backup.example"]
    assert (backup.presend_status, backup.presend_reason, backup.presend_mx) == (
        "deliverable", "mailbox_exists", "mx.backup.example"
    )
    assert len(hosts.log(BACKUP_HOST).sessions) == 1
    # without --allow-private-mx the backup domain is the usual private-address risk
    assert strict.set_index("Email").loc["ann@backup.example"].presend_reason == "mx_private_address"
