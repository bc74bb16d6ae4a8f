"""Relay replies → findings: the pure table (no server), one case per kind of answer."""

from __future__ import annotations

import pytest

from pipeline.sender.findings import Scope
from pipeline.sender.relay_replies import connection_finding, reply_finding, split_reply


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (530, b"5.7.0 Authentication required", ("530", "5.7.0", "relay_auth_required")),
        (535, b"5.7.8 Error: authentication failed", ("535", "5.7.8", "relay_auth_failed")),
        (534, b"5.7.9 Please log in with your web browser", ("534", "5.7.9", "relay_mechanism_too_weak")),
        (538, b"5.7.11 Encryption required", ("538", "5.7.11", "relay_encryption_required")),
        (503, b"5.5.1 Error: authentication not enabled", ("503", "5.5.1", "relay_bad_sequence")),
        (504, b"5.5.4 Unrecognized authentication type", ("504", "5.5.4", "relay_mechanism_not_implemented")),
        (502, b"5.5.1 Command not implemented", ("502", "5.5.1", "relay_command_not_implemented")),
        (553, b"5.1.8 Sender domain not found", ("553", "5.1.8", "relay_sender_refused")),
        (550, b"5.7.1 Sender not allowed", ("550", "5.7.1", "relay_sender_refused")),
        (550, b"5.1.0 Sender address rejected", ("550", "5.1.0", "relay_sender_refused")),
        (552, b"5.3.4 Message size exceeds fixed limit", ("552", "5.3.4", "relay_size_refused")),
        (500, b"Line too long", ("500", "5.5.2", "relay_command_refused")),  # no enhanced code: ours
        (571, b"Delivery not authorized", ("571", "5.0.0", "relay_refused")),
        (451, b"4.3.0 Try later", ("451", "4.3.0", "relay_temporary_refusal")),
    ],
)
def test_reply_to_finding(code: int, text: bytes, expected: tuple[str, str, str]) -> None:
    finding = reply_finding("mail_from", code, text, "relay.example:587", "MAIL FROM:<a@b.example>")
    assert (finding.code, finding.enhanced, finding.reason) == expected
    assert not finding.ok and finding.scope is Scope.CAMPAIGN and finding.remedy


def test_split_reply_joins_lines_and_ignores_a_mismatched_class() -> None:
    assert split_reply(535, b"5.7.8 first\nsecond") == ("5.7.8", "first second")
    assert split_reply(250, "5.1.1 odd") == ("", "5.1.1 odd")


def test_a_connection_failure_is_unknown_not_an_answer() -> None:
    finding = connection_finding("relay.example:587", "the connection was refused.")
    assert (finding.code, finding.enhanced, finding.reason) == ("421", "4.4.1", "relay_unreachable")
    assert "Nothing is known" in finding.detail and ".." not in finding.detail
