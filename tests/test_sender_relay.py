"""The relay check against real submission relays on 127.0.4.0/24:587 (see tests/lab/relaylab.py).

A real Postfix plays the relays without a password database (STARTTLS required, 530 before
AUTH, no AUTH offered, SIZE, a refused sender); aiosmtpd's AUTH plays the password cases
(right, wrong, encryption required, mechanism too weak). Every TLS handshake is real and the
lab's self-signed certificate is trusted only through ``PRESEND_RELAY_CAFILE``.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cache import mailbox_from_dict, mailbox_to_dict
from pipeline.models import DomainVerdict, MailboxVerdict, MxHost, Status, Verdict
from pipeline.options import ProbeOptions, SenderOptions
from pipeline.ports import ProbeTarget
from pipeline.probe.prober import SmtpProber
from pipeline.rules.syntax import check_address
from pipeline.sender.findings import Scope, SenderFinding, SenderImpact
from pipeline.sender.relay import CAFILE_ENV, INSECURE_ENV, relay_findings, split_relay
from pipeline.verdict import RowFacts, VerdictOptions, decide
from tests.conftest import postfix_binaries
from tests.lab.postfixlab import Listener, PostfixLab, start_postfix
from tests.lab.relaylab import (
    AUTH_CLEAR,
    AUTH_MAIN,
    AUTH_OAUTH,
    AUTH_WEAK,
    DEAD,
    FOREIGN_SENDER,
    MAIN,
    MX_7BIT,
    MX_BIG,
    MX_SMALL,
    OPEN,
    OWNED_SENDER,
    PASSWORD,
    RELAY_PORT,
    SIZE_LIMIT,
    USER,
    AuthRelays,
    relay_lab_spec,
)

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def cert_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="presend-relay-cert-"))
    folder.chmod(0o755)  # the postfix user reads the key
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def postfix_relay(cert_dir: Path) -> Iterator[PostfixLab]:
    postfix, postgrey = postfix_binaries()
    lab = start_postfix(PostfixLab(relay_lab_spec(cert_dir), postfix=postfix, postgrey=postgrey))
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def auth_relays(cert_dir: Path) -> Iterator[AuthRelays]:
    with AuthRelays(cert_dir) as relays:
        yield relays


@pytest.fixture()
def trust_postfix(postfix_relay: PostfixLab, cert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CAFILE_ENV, str(cert_dir / "relay-cert.pem"))


@pytest.fixture()
def trust_auth(auth_relays: AuthRelays, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CAFILE_ENV, str(auth_relays.cafile))


def sender(address: str, **overrides: object) -> SenderOptions:
    values: dict[str, object] = {"from_addr": OWNED_SENDER, "relay": f"{address}:{RELAY_PORT}", "starttls": True}
    values.update(overrides)
    return dataclasses.replace(SenderOptions(), **values)  # type: ignore[arg-type]


def problems(findings: list[SenderFinding]) -> list[SenderFinding]:
    return [f for f in findings if not f.ok]


def only_problem(findings: list[SenderFinding]) -> SenderFinding:
    found = problems(findings)
    assert len(found) == 1, findings
    assert found[0].scope is Scope.CAMPAIGN
    return found[0]


def test_split_relay() -> None:
    assert split_relay("smtp.example.com", False) == ("smtp.example.com", 587)
    assert split_relay("smtp.example.com", True) == ("smtp.example.com", 465)
    assert split_relay("127.0.4.1:2587", False) == ("127.0.4.1", 2587)
    assert split_relay("[::1]:25", False) == ("::1", 25)


def test_no_relay_no_findings() -> None:
    assert relay_findings(SenderOptions(from_addr=OWNED_SENDER), None) == []


@pytest.mark.usefixtures("trust_postfix")
def test_postfix_wants_authentication_before_mail() -> None:
    findings = relay_findings(sender(MAIN.address), None)
    problem = only_problem(findings)
    assert (problem.code, problem.enhanced, problem.reason) == ("530", "5.7.0", "relay_auth_required")
    assert "Authentication required" in problem.detail
    oks = " ".join(f.detail for f in findings if f.ok)
    assert "speaks TLS (certificate verified" in oks
    assert f"SIZE limit: {SIZE_LIMIT} octets" in oks


@pytest.mark.usefixtures("trust_postfix")
def test_postfix_without_auth_answers_503_to_credentials() -> None:
    problem = only_problem(relay_findings(sender(OPEN.address, user=USER), PASSWORD))
    assert (problem.code, problem.enhanced, problem.reason) == ("503", "5.5.1", "relay_bad_sequence")
    assert "authentication not enabled" in problem.detail
    assert PASSWORD not in problem.detail + problem.remedy


@pytest.mark.usefixtures("trust_postfix")
def test_postfix_open_relay_accepts_mail_and_refuses_a_foreign_sender() -> None:
    findings = relay_findings(sender(OPEN.address), None)
    assert problems(findings) == []
    assert any(f.reason == "relay_mail_from_ok" for f in findings)
    refused = only_problem(relay_findings(sender(OPEN.address, from_addr=FOREIGN_SENDER), None))
    assert (refused.code, refused.enhanced, refused.reason) == ("553", "5.7.1", "relay_sender_refused")


def test_postfix_self_signed_certificate_is_refused_by_default(
    postfix_relay: PostfixLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CAFILE_ENV, raising=False)
    monkeypatch.delenv(INSECURE_ENV, raising=False)
    problem = only_problem(relay_findings(sender(MAIN.address), None))
    assert (problem.code, problem.enhanced, problem.reason) == ("421", "4.4.1", "relay_unreachable")
    assert "certificate" in problem.detail
    monkeypatch.setenv(INSECURE_ENV, "1")
    findings = relay_findings(sender(MAIN.address), None)
    assert any("certificate not verified" in f.detail for f in findings if f.ok)


@pytest.mark.usefixtures("trust_auth")
def test_auth_right_password_then_mail_accepted(auth_relays: AuthRelays) -> None:
    findings = relay_findings(sender(AUTH_MAIN.address, user=USER), PASSWORD)
    assert problems(findings) == [], findings
    reasons = [f.reason for f in findings]
    assert "relay_auth_ok" in reasons and "relay_mail_from_ok" in reasons
    assert "DATA" not in auth_relays.handlers[AUTH_MAIN.address].commands
    assert "RCPT" not in auth_relays.handlers[AUTH_MAIN.address].commands


@pytest.mark.usefixtures("trust_auth")
def test_auth_wrong_password_is_535_and_never_echoed() -> None:
    wrong = "not-the-" + PASSWORD
    findings = relay_findings(sender(AUTH_MAIN.address, user=USER), wrong)
    problem = only_problem(findings)
    assert (problem.code, problem.enhanced, problem.reason) == ("535", "5.7.8", "relay_auth_failed")
    assert all(wrong not in f.detail + f.remedy for f in findings)


@pytest.mark.usefixtures("trust_auth")
def test_auth_then_foreign_sender_is_553() -> None:
    problem = only_problem(relay_findings(sender(AUTH_MAIN.address, user=USER, from_addr=FOREIGN_SENDER), PASSWORD))
    assert (problem.code, problem.enhanced, problem.reason) == ("553", "5.7.1", "relay_sender_refused")


@pytest.mark.usefixtures("trust_auth")
def test_auth_over_cleartext_is_538_without_sending_the_password() -> None:
    findings = relay_findings(sender(AUTH_CLEAR.address, user=USER, starttls=False), PASSWORD)
    problem = only_problem(findings)
    assert (problem.code, problem.enhanced, problem.reason) == ("538", "5.7.11", "relay_encryption_required")


@pytest.mark.usefixtures("trust_auth")
def test_starttls_required_but_not_offered() -> None:
    problem = only_problem(relay_findings(sender(AUTH_CLEAR.address), None))
    assert problem.reason == "relay_starttls_missing"


@pytest.mark.usefixtures("trust_auth")
def test_weak_mechanism_is_534() -> None:
    problem = only_problem(relay_findings(sender(AUTH_WEAK.address, user=USER), PASSWORD))
    assert (problem.code, problem.enhanced, problem.reason) == ("534", "5.7.9", "relay_mechanism_too_weak")


@pytest.mark.usefixtures("trust_auth")
def test_no_mechanism_in_common_is_504() -> None:
    problem = only_problem(relay_findings(sender(AUTH_OAUTH.address, user=USER), PASSWORD))
    assert (problem.code, problem.enhanced, problem.reason) == ("504", "5.5.4", "relay_mechanism_not_implemented")
    assert "It offers AUTH XOAUTH2" in problem.detail


@pytest.mark.usefixtures("trust_postfix")
def test_non_ascii_sender_needs_smtputf8() -> None:
    findings = relay_findings(sender(OPEN.address, from_addr="jörg@sender-lab.example"), None)
    assert problems(findings) == [], findings  # Postfix offers SMTPUTF8: MAIL FROM ... SMTPUTF8 accepted
    assert any("SMTPUTF8" in f.detail for f in findings if f.reason == "relay_mail_from_ok")


def test_nothing_listening_is_unknown_not_an_answer(tmp_path: Path) -> None:
    problem = only_problem(relay_findings(sender(DEAD), None))
    assert (problem.code, problem.enhanced, problem.reason) == ("421", "4.4.1", "relay_unreachable")
    assert "refused" in problem.detail


def mx_target(domain: str, listener: Listener) -> ProbeTarget:
    return ProbeTarget(
        f"reader@{domain}", "reader", domain, domain, False, (MxHost(10, listener.host, (listener.address,)),)
    )


def decided(result: dict[str, MailboxVerdict], impact: SenderImpact) -> dict[str, Verdict]:
    """Each probed row's verdict through the one verdict path (its domain took mail: DNS ran)."""
    def domain(email: str, mailbox: MailboxVerdict) -> DomainVerdict:
        return DomainVerdict(email.rsplit("@", 1)[1], None, (MxHost(10, mailbox.verdict.mx),))

    return {
        email: decide(
            RowFacts(check=check_address(email), domain=domain(email, m), mailbox=m), VerdictOptions(sender=impact)
        ).verdict
        for email, m in result.items()
    }


def test_message_size_against_each_probed_host(postfix_relay: PostfixLab) -> None:
    """The probe carries each host's SIZE to the row; a message too large for one host gets
    that host's 552 5.3.4 through the one verdict path, the other host's row keeps its 250."""
    prober = SmtpProber(
        ProbeOptions(enabled=True, mail_from=OWNED_SENDER, helo="sender-lab.example", port=25, timeout=5.0)
    )
    result = prober.probe([mx_target("small-mx.example", MX_SMALL), mx_target("big-mx.example", MX_BIG)])
    small, big = result["reader@small-mx.example"], result["reader@big-mx.example"]
    assert (small.verdict.code, small.size_limit) == ("250", SIZE_LIMIT), postfix_relay.log_text()[-2000:]
    assert big.size_limit == SIZE_LIMIT * 50
    impact = SenderImpact(findings=(), message_size=SIZE_LIMIT + 1)
    outcomes = decided(result, impact)
    too_big = outcomes["reader@small-mx.example"]
    assert (too_big.status, too_big.code, too_big.enhanced, too_big.reason) == (
        Status.UNKNOWN, "552", "5.3.4", "message_too_large"
    )
    assert str(SIZE_LIMIT) in too_big.detail
    assert outcomes["reader@big-mx.example"].code == "250"
    assert mailbox_from_dict(mailbox_to_dict(small)).size_limit == SIZE_LIMIT



def test_eight_bit_message_against_a_host_without_8bitmime(postfix_relay: PostfixLab) -> None:
    prober = SmtpProber(
        ProbeOptions(enabled=True, mail_from=OWNED_SENDER, helo="sender-lab.example", port=25, timeout=5.0)
    )
    result = prober.probe([mx_target("7bit-mx.example", MX_7BIT), mx_target("big-mx.example", MX_BIG)])
    seven = result["reader@7bit-mx.example"]
    assert seven.verdict.code == "250" and "8BITMIME" not in seven.extensions and seven.extensions
    assert "8BITMIME" in result["reader@big-mx.example"].extensions
    outcomes = decided(result, SenderImpact(message_needs=("8BITMIME", "SMTPUTF8")))
    refused = outcomes["reader@7bit-mx.example"]
    assert (refused.code, refused.enhanced, refused.reason) == ("554", "5.6.3", "host_lacks_8bitmime")
    assert outcomes["reader@big-mx.example"].code == "250"
    utf8_only = decided(result, SenderImpact(message_needs=("SMTPUTF8",)))["reader@7bit-mx.example"]
    assert (utf8_only.code, utf8_only.enhanced, utf8_only.reason) == ("553", "5.6.7", "host_lacks_smtputf8")


@pytest.mark.usefixtures("trust_auth")
def test_non_ascii_sender_where_the_relay_lacks_smtputf8() -> None:
    findings = relay_findings(sender(AUTH_MAIN.address, user=USER, from_addr="jörg@sender-lab.example"), PASSWORD)
    problem = only_problem(findings)
    assert (problem.code, problem.enhanced, problem.reason) == ("553", "5.6.7", "relay_lacks_smtputf8")
