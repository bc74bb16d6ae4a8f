"""What a relay's reply means for the campaign: reply → finding. Pure functions, no I/O.

The relay's own code and enhanced code are the forecast (every message of the campaign
would draw them). The reason slug and what to do come from the table below, keyed by the
basic code (RFC 5321 §4.2, RFC 4954 §6 for AUTH, RFC 3463 / RFC 5248 for the enhanced codes).
The relay's own text goes into the detail; it can never hold the password, which is sent
only inside an AUTH exchange whose reply is about it, never echoing it.
"""

from __future__ import annotations

import re
from dataclasses import replace

from pipeline.sender.findings import SenderFinding

#: The ``check`` name of every relay finding.
CHECK = "relay"

_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\s*")

#: basic code → (default enhanced code, reason slug, what to do)
RELAY_REPLIES: dict[int, tuple[str, str, str]] = {
    421: ("4.4.1", "relay_unavailable", "The relay is closing sessions for now: try again later and check its limits."),
    454: ("4.7.0", "relay_auth_temporary", "The relay could not check the credentials just now (its side): retry, "
          "and ask its operator if it lasts."),
    500: ("5.5.2", "relay_command_refused", "A command was mangled on the way (an antivirus or firewall proxy "
          "inspecting SMTP?): send from a network path without such a proxy."),
    501: ("5.5.4", "relay_argument_refused", "The relay refused an argument: check the From address and the "
          "user name."),
    502: ("5.5.1", "relay_command_not_implemented", "The relay does not implement a command the campaign needs: "
          "use the submission port (587 with STARTTLS, or 465 with TLS)."),
    503: ("5.5.1", "relay_bad_sequence", "The relay wants another order of commands (AUTH when it offers none, "
          "or MAIL before AUTH): check the port and whether this relay takes AUTH at all."),
    504: ("5.5.4", "relay_mechanism_not_implemented", "Use an AUTH mechanism the relay offers (see its EHLO), "
          "over TLS."),
    530: ("5.7.0", "relay_auth_required", "The relay wants authentication (or TLS) first: give --user and "
          "--password-env, and --starttls or --tls."),
    534: ("5.7.9", "relay_mechanism_too_weak", "The relay refuses this AUTH mechanism as too weak: use a "
          "stronger one, over TLS."),
    535: ("5.7.8", "relay_auth_failed", "The relay refused the user name or password: check them (an app "
          "password may be needed) and that the account may send."),
    538: ("5.7.11", "relay_encryption_required", "The mechanism is only allowed over an encrypted session: use "
          "--starttls or --tls."),
    550: ("5.7.1", "relay_sender_refused", "The relay refuses this sender: send from an address your account "
          "owns, or have the operator allow it."),
    552: ("5.3.4", "relay_size_refused", "The relay refuses the message size: make the message smaller."),
    553: ("5.1.8", "relay_sender_refused", "The relay refuses this sender address: send from an address your "
          "account owns, or fix the address's domain."),
    554: ("5.7.1", "relay_refused", "The relay refuses the session: your network or IP is not allowed to "
          "use it; ask its operator."),
}


def split_reply(code: int, text: bytes | str) -> tuple[str, str]:
    """The enhanced code and the text of one reply (multi-line replies joined)."""
    raw = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    flat = " ".join(line.strip() for line in raw.splitlines() if line.strip())
    match = _ENHANCED.match(flat)
    if match and match.group(1)[0] == str(code)[0]:
        return match.group(1), flat[match.end():]
    return "", flat


def reply_finding(step: str, code: int, text: bytes | str, where: str, command: str, note: str = "") -> SenderFinding:
    """The finding of a refusing reply to ``command`` (``code`` 0: no reply, ``note`` says why)."""
    if code == 0:
        detail = f"The relay {where}: {note}; the campaign's client would stop before sending."
        remedy = "Use the relay's submission port with TLS (587 with STARTTLS, or 465 with --tls)."
        return _problem(step, "530", "5.7.0", "relay_starttls_missing", detail, remedy)
    enhanced, said = split_reply(code, text)
    default, reason, remedy = RELAY_REPLIES.get(code, _generic(code))
    if code == 550 and enhanced.startswith("5.1."):
        reason = "relay_sender_refused"
    detail = f"The relay {where} answered {command} with {code} {enhanced or default} {said}".rstrip() + "."
    return _problem(step, str(code), enhanced or default, reason, detail, remedy)


def auth_finding(
    code: int, text: bytes | str, where: str, mechanism: str, *, cancelled: bool = False, offered: str = ""
) -> SenderFinding:
    """The finding of the AUTH exchange: ok on 235, else the relay's refusal."""
    if code == 235:
        return ok_finding("auth", f"The relay {where} accepted the credentials (AUTH {mechanism}).", "", "")
    if cancelled:
        enhanced, said = split_reply(code, text)
        default, reason, remedy = RELAY_REPLIES[538]
        return _problem("auth", "538", enhanced or default, reason, f"The relay {where}: {said}.", remedy)
    finding = reply_finding("auth", code, text, where, f"AUTH {mechanism}")
    if offered:
        extra = f" It offers AUTH {offered}; presend speaks {', '.join(('CRAM-MD5', 'PLAIN', 'LOGIN'))}."
        return _replace_detail(finding, finding.detail + extra)
    return finding


def lacks_extension(where: str, extension: str, code: str, enhanced: str, why: str) -> SenderFinding:
    """The message needs an extension the relay does not offer: the send would be refused."""
    detail = f"The relay {where} does not offer {extension}, and the message needs it: {why}."
    remedy = (
        "Encode the message 7-bit (quoted-printable or base64 bodies, RFC 2047 encoded headers) or send "
        f"through a relay that offers {extension}."
    )
    reason = "relay_lacks_" + extension.lower()
    return SenderFinding(CHECK, False, code, enhanced, reason, detail, remedy)


def connection_finding(where: str, why: str, *, tls: bool = False) -> SenderFinding:
    """A relay that could not be spoken to: unknown, not an answer (421 4.4.1 by convention)."""
    remedy = (
        "Trust the relay's certificate (PRESEND_RELAY_CAFILE names a PEM file) or fix its name and chain."
        if tls
        else "Check the relay's name and port, that it runs, and that this network may reach it."
    )
    detail = f"The relay {where} could not be checked: {why.rstrip('.')}. Nothing is known of how it would answer."
    return _problem("connect", "421", "4.4.1", "relay_unreachable", detail, remedy)


def ok_finding(step: str, detail: str, code: str, enhanced: str) -> SenderFinding:
    """A relay step that went well (reported, changes no row)."""
    return SenderFinding(CHECK, True, code, enhanced, f"relay_{step}_ok", detail)


def _generic(code: int) -> tuple[str, str, str]:
    if 400 <= code < 500:
        return "4.0.0", "relay_temporary_refusal", "The relay refused for now: retry later; read its text."
    return "5.0.0", "relay_refused", "The relay refused: read its text and fix the cause before sending."


def _problem(step: str, code: str, enhanced: str, reason: str, detail: str, remedy: str) -> SenderFinding:
    del step  # the reason slug names the step
    return SenderFinding(CHECK, False, code, enhanced, reason, detail, remedy)


def _replace_detail(finding: SenderFinding, detail: str) -> SenderFinding:
    return replace(finding, detail=detail)
