"""The sender readiness check: every sender, IP, provider (and relay, message) finding, once.

:func:`check_sender` asks the DNS questions (through the run's configured resolver only),
judges what came back and returns a :class:`SenderReport`. Its findings are ordered as they
bear on a row (the first that touches a row decides it, :class:`SenderImpact`): what stops the
whole campaign (a From domain that takes no mail, a listed IP, an SPF fail), then the relay
and the message, then each provider's rules, then the From domain's own DMARC policy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.dns.resolver import ascii_domain
from pipeline.errors import UsageError
from pipeline.options import DnsOptions, RunOptions, SenderOptions
from pipeline.sender.dkimkey import DkimKey, look_up_key
from pipeline.sender.dmarc import DmarcPolicy, aligned, look_up_policy
from pipeline.sender.findings import Scope, SenderFinding, SenderImpact
from pipeline.sender.ips import ReverseDns, default_zones, listing, reverse_dns
from pipeline.sender.lookup import SenderDns
from pipeline.sender.message import message_findings, read_message
from pipeline.sender.provider_rules import REMEDIES, RULES, ProviderRule
from pipeline.sender.relay import relay_findings
from pipeline.sender.spf import SpfOutcome, SpfResult, check_spf

#: A requirement's state: met (True), missed (False), or not known (None).
Met = bool | None


@dataclass(frozen=True, slots=True)
class SenderFacts:
    """What the DNS said about our side of the send, before any judgement."""

    from_domain: str
    envelope_domain: str
    ips: tuple[str, ...]
    selectors: tuple[str, ...]
    spf: dict[str, SpfOutcome]
    dkim: tuple[DkimKey, ...]
    dmarc: DmarcPolicy
    reverse: dict[str, ReverseDns]


@dataclass(frozen=True)
class SenderReport:
    """The readiness report: the findings in the order they bear on rows, and what was asked."""

    from_addr: str
    envelope: str
    findings: tuple[SenderFinding, ...]
    resolvers: tuple[str, ...] = ()
    questions: dict[str, int] = field(default_factory=dict)
    bulk: bool = False
    #: the message's size as sent and the EHLO extensions it needs (``--message``), which each
    #: probed row's mail host is held to
    message_size: int | None = None
    message_needs: tuple[str, ...] = ()

    @property
    def impact(self) -> SenderImpact:
        """The findings as one input of the verdict path."""
        return SenderImpact(self.findings, self.message_size, self.message_needs)

    @property
    def ready(self) -> bool:
        """No finding changes a row."""
        return not self.impact.problems


def domain_of(address: str, flag: str) -> str:
    """The ASCII domain of ``address``; UsageError naming ``flag`` when there is none."""
    local, at, domain = address.strip().rpartition("@")
    ascii_name = ascii_domain(domain) if at and local else None
    if not ascii_name or "." not in ascii_name:
        raise UsageError(f"{flag} {address!r}: expected an address like news@example.com")
    return ascii_name


def check_sender(
    options: SenderOptions, dns_options: DnsOptions, *, mail_from: str = "", password: str | None = None
) -> SenderReport:
    """Run every sender check; ``mail_from`` is the envelope sender when it is not the From.

    Raises UsageError for an unusable address or --ip, and ResolverUnreachable (through
    :class:`SenderDns`) when no resolver is configured; everything else is a finding.
    """
    from_domain = domain_of(options.from_addr, "--from")
    envelope = mail_from.strip() or options.from_addr.strip()
    envelope_domain = domain_of(envelope, "--mail-from") if mail_from.strip() else from_domain
    ips = tuple(_checked_ip(ip) for ip in options.ips)
    dns = SenderDns.of(dns_options)
    facts = gather_facts(dns, options, from_domain, envelope, envelope_domain, ips)
    findings = [
        *_domain_findings(dns, from_domain, "From"),
        *(_domain_findings(dns, envelope_domain, "envelope") if envelope_domain != from_domain else []),
        *_blocklist_findings(dns, ips, options.dnsbl_zones or default_zones()),
        *_spf_findings(facts),
        *_relay_and_message(options, password, dns),
        *_dkim_findings(facts),
        *_reverse_findings(facts),
        *_dmarc_findings(facts),
        *provider_findings(facts, options.bulk),
        _dmarc_pass_finding(facts),
    ]
    message = read_message(options.message) if options.message else None
    return SenderReport(
        options.from_addr.strip(), envelope, tuple(findings), dns.servers, dict(dns.asked), options.bulk,
        message.size if message is not None else None, message.needs if message is not None else (),
    )


def gather_facts(
    dns: SenderDns, options: SenderOptions, from_domain: str, envelope: str, envelope_domain: str, ips: tuple[str, ...]
) -> SenderFacts:
    """Ask SPF (per IP, for the envelope domain), DKIM keys (per selector), DMARC and PTRs."""
    return SenderFacts(
        from_domain,
        envelope_domain,
        ips,
        options.dkim_selectors,
        {ip: check_spf(dns, ip, envelope_domain, envelope) for ip in ips},
        tuple(look_up_key(dns, selector, from_domain) for selector in options.dkim_selectors),
        look_up_policy(dns, from_domain),
        {ip: reverse_dns(dns, ip) for ip in ips},
    )


def _checked_ip(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise UsageError(f"--ip {text!r}: expected an IPv4 or IPv6 address") from None


# -- the requirements, met or not ------------------------------------------------------------


def _any(values: Iterable[Met]) -> Met:
    seen = list(values)
    return True if True in seen else (None if None in seen else False)


def _all(values: Iterable[Met]) -> Met:
    seen = list(values)
    return False if False in seen else (None if None in seen or not seen else True)


def spf_passes(facts: SenderFacts) -> Met:
    """SPF passes for every sending IP (unknown without --ip or after a temperror)."""
    if not facts.ips:
        return None
    return _all(
        None if outcome.result is SpfResult.TEMPERROR else outcome.result is SpfResult.PASS
        for outcome in facts.spf.values()
    )


def dkim_published(facts: SenderFacts) -> Met:
    """A usable DKIM key is published for some selector (unknown without --dkim-selector)."""
    if not facts.dkim:
        return None
    return _any(None if key.state == "unchecked" else key.ok for key in facts.dkim)


def requirement_met(requirement: str, facts: SenderFacts) -> Met:
    """Whether the sender meets one provider requirement (see :mod:`provider_rules`)."""
    spf, dkim = spf_passes(facts), dkim_published(facts)
    dmarc: Met = None if facts.dmarc.state == "unchecked" else facts.dmarc.ok
    spf_aligned = _all([spf, aligned(facts.envelope_domain, facts.from_domain, facts.dmarc.aspf)])
    is_aligned = _any([spf_aligned, dkim])  # the keys are looked up under the From domain itself
    if requirement == "authenticated":
        return _any([spf, dkim])
    if requirement == "spf":
        return spf
    if requirement == "dkim":
        return dkim
    if requirement == "dmarc":
        return dmarc
    if requirement == "aligned":
        return is_aligned
    if requirement == "fcrdns":
        if not facts.ips:
            return None
        states = [facts.reverse[ip].state for ip in facts.ips]
        return _all(None if state == "unchecked" else state == "confirmed" for state in states)
    if requirement == "dmarc_pass":
        if dmarc is None:
            return None
        return is_aligned if facts.dmarc.enforcing else True  # no policy, or p=none: nothing to fail
    raise ValueError(f"unknown requirement {requirement!r}")


# -- the findings --------------------------------------------------------------------------


def _domain_findings(dns: SenderDns, domain: str, role: str) -> list[SenderFinding]:
    """Whether the From (or envelope) domain exists and takes mail (RFC 5321 §5.1, RFC 7505)."""
    mx = dns.ask(domain, "MX")
    if mx.failed:
        return [_unchecked("domain", f"Whether the {role} domain {domain} takes mail: {mx.error}.")]
    hosts = [value.partition(" ")[2].strip() for value in mx.values]
    if hosts and not any(hosts):
        problem = f"the {role} domain {domain} publishes a null MX: it says it takes no mail"
    elif hosts:
        return [_ok("domain", f"The {role} domain {domain} takes mail (MX {', '.join(hosts)}).")]
    elif mx.missing == "nxdomain":
        problem = f"the {role} domain {domain} does not exist"
    else:
        addresses = dns.addresses(domain)
        if addresses.failed:
            return [_unchecked("domain", f"Whether the {role} domain {domain} takes mail: {addresses.error}.")]
        if addresses.values:
            return [_ok("domain", f"The {role} domain {domain} takes mail at its address (no MX).")]
        problem = f"the {role} domain {domain} has neither MX nor address records"
    return [
        SenderFinding(
            "domain",
            False,
            "553",
            "5.1.8",
            "sending_domain_invalid",
            problem[0].upper() + problem[1:] + ".",
            "Send from an address of a domain that exists and receives mail (bounces and replies go there).",
        )
    ]


def _blocklist_findings(dns: SenderDns, ips: tuple[str, ...], zones: tuple[str, ...]) -> list[SenderFinding]:
    found: list[SenderFinding] = []
    for ip in ips:
        results = [listing(dns, ip, zone) for zone in zones]
        listed = [r for r in results if r.state == "listed"]
        unchecked = [r for r in results if r.state == "unchecked"]
        if listed:
            found.append(
                SenderFinding(
                    "dnsbl",
                    False,
                    "554",
                    "5.7.1",
                    "sending_ip_blocklisted",
                    " ".join(r.why for r in listed),
                    "Stop sending from this IP, find out why it was listed (the list's site says how) and "
                    "ask for removal; or send through a relay whose IPs are clean.",
                )
            )
        elif not unchecked:
            found.append(_ok("dnsbl", f"{ip} is not listed in {', '.join(zones)}."))
        found.extend(_unchecked("dnsbl", f"Block list {r.zone} for {ip}: {r.why}.") for r in unchecked)
    return found


def _spf_findings(facts: SenderFacts) -> list[SenderFinding]:
    domain = facts.envelope_domain
    if not facts.ips:
        return [_unchecked("spf", f"SPF of {domain} was not evaluated: give the sending IPs with --ip.")]
    found = []
    for ip, outcome in facts.spf.items():
        text = f"SPF of {domain} for {ip}: {outcome.result} ({outcome.why})."
        if outcome.result is SpfResult.PASS:
            found.append(_ok("spf", text))
        elif outcome.result is SpfResult.FAIL:
            found.append(SenderFinding("spf", False, "550", "5.7.1", "sending_spf_fail", text, REMEDIES["spf"]))
        elif outcome.result is SpfResult.PERMERROR:
            fix = "Repair the SPF record (one record, valid terms, at most 10 DNS-querying terms in all includes)."
            found.append(SenderFinding("spf", False, "550", "5.5.2", "sending_spf_permerror", text, fix))
        elif outcome.result is SpfResult.TEMPERROR:
            found.append(_unchecked("spf", text))
        else:
            found.append(_ok("spf", text, REMEDIES["spf"]))
    return found


def _dkim_findings(facts: SenderFacts) -> list[SenderFinding]:
    if not facts.dkim:
        return [_unchecked("dkim", f"DKIM keys of {facts.from_domain} were not looked up: give --dkim-selector.")]
    return [
        _unchecked("dkim", key.why + ".")
        if key.state == "unchecked"
        else _ok("dkim", f"DKIM: {key.why}.", "" if key.ok else REMEDIES["dkim"])
        for key in facts.dkim
    ]


def _reverse_findings(facts: SenderFacts) -> list[SenderFinding]:
    return [
        _unchecked("ptr", rev.why + ".")
        if rev.state == "unchecked"
        else _ok("ptr", rev.why + ".", "" if rev.state == "confirmed" else REMEDIES["fcrdns"])
        for rev in facts.reverse.values()
    ]


def _dmarc_findings(facts: SenderFacts) -> list[SenderFinding]:
    policy = facts.dmarc
    if policy.state == "unchecked":
        return [_unchecked("dmarc", f"DMARC of {facts.from_domain}: {policy.why}.")]
    if policy.ok:
        return [_ok("dmarc", f"DMARC of {facts.from_domain}: {policy.why} (adkim={policy.adkim}, aspf={policy.aspf}).")]
    return [_ok("dmarc", f"DMARC of {facts.from_domain}: {policy.why}.", REMEDIES["dmarc"])]


def provider_findings(facts: SenderFacts, bulk: bool) -> list[SenderFinding]:
    """One finding per provider rule that applies (bulk rules only with ``--bulk``)."""
    return [
        _rule_finding(rule, requirement_met(rule.requirement, facts)) for rule in RULES if bulk or not rule.bulk_only
    ]


def _rule_finding(rule: ProviderRule, met: Met) -> SenderFinding:
    if met is None:
        finding = _unchecked("provider", f"Not checked: {rule.rule}")
    elif met:
        finding = _ok("provider", f"Met: {rule.rule}")
    else:
        finding = SenderFinding(
            "provider", False, rule.code, rule.enhanced, rule.reason, f"Missed: {rule.rule}", REMEDIES[rule.requirement]
        )
    return replace(finding, scope=Scope.PROVIDER, providers=(rule.provider,), source=rule.source)


def _dmarc_pass_finding(facts: SenderFacts) -> SenderFinding:
    """Any receiver that applies DMARC refuses mail failing an enforcing policy (RFC 7489 §6.6.4)."""
    met = requirement_met("dmarc_pass", facts)
    what = f"the From domain's DMARC policy (p={facts.dmarc.policy or 'none'})"
    if met is None:
        return _unchecked("dmarc", f"Whether mail passes {what} is not known (give --ip and --dkim-selector).")
    if met and facts.dmarc.enforcing:
        return _ok("dmarc", f"Mail passes {what}: SPF or DKIM passes with an aligned domain.")
    if met and facts.dmarc.ok:
        return _ok("dmarc", f"The From domain's DMARC policy is p={facts.dmarc.policy}: it asks for no refusal.")
    if met:
        return _ok("dmarc", "The From domain publishes no DMARC policy, so none can be failed.")
    return SenderFinding(
        "dmarc",
        False,
        "550",
        "5.7.1",
        "sending_dmarc_fail",
        f"Mail would fail {what}: neither SPF nor DKIM passes with an aligned domain.",
        REMEDIES["dmarc_pass"],
    )


def _ok(check: str, detail: str, remedy: str = "") -> SenderFinding:
    return SenderFinding(check, True, "", "", "", detail, remedy)


def _unchecked(check: str, detail: str) -> SenderFinding:
    return SenderFinding(check, True, "", "", "", detail, checked=False)


def sender_stage(options: RunOptions, password: str | None = None) -> SenderReport | None:
    """A run's sender checks (None when ``--from`` is not given), run once before the rows.

    The checks ask DNS, so with ``--no-dns`` they are reported as not run. The relay's
    password is ``password``, else the environment variable ``--password-env`` names.
    """
    sender = options.sender
    if not sender.enabled:
        return None
    if not options.dns.enabled:
        domain_of(sender.from_addr, "--from")
        note = _unchecked("domain", "The sender checks ask DNS; --no-dns turned them off.")
        return SenderReport(sender.from_addr.strip(), sender.from_addr.strip(), (note,), bulk=sender.bulk)
    if password is None and sender.password_env:
        password = os.environ.get(sender.password_env)
    mail_from = options.probe.mail_from if options.probe.enabled else ""
    return check_sender(sender, options.dns, mail_from=mail_from, password=password)


def sender_note(report: SenderReport) -> str:
    """One line for the run's notes when the sender checks found problems."""
    count = len(report.impact.problems)
    return (
        f"The sender checks found {count} problem{'s' if count != 1 else ''} on your side of the send "
        f"(From {report.from_addr}); affected rows are unknown with the reply they would draw. "
        "See the report's Sender readiness section."
    )


# -- the relay and the message (branch i14r) -----------------------------------------------


def _relay_and_message(options: SenderOptions, password: str | None, dns: SenderDns) -> list[SenderFinding]:
    """The relay's findings (one session up to MAIL FROM, never DATA) and the message file's
    (its DKIM signature verified through the configured resolver)."""
    found: list[SenderFinding] = []
    if options.relay:
        found.extend(relay_findings(options, password))
    if options.message:
        found.extend(message_findings(options, _txt_values(dns)))
    return found


def _txt_values(dns: SenderDns) -> Callable[[str], list[str]]:
    """TXT lookups through the configured resolver, for DKIM-Signature verification."""

    def txt(name: str) -> list[str]:
        return list(dns.txt(name).values)

    return txt


def report_data(report: SenderReport, rows_by_reason: dict[str, int] | None = None) -> dict[str, Any]:
    """The report as plain data (summary.json's ``sender`` section, ``--format json``).

    ``rows_by_reason`` (from a run's tally) gives each problem finding the rows it decided:
    rows touched by two findings count under the first (as the verdict path decides them).
    """
    counted: set[str] = set()
    findings = []
    for finding in report.findings:
        entry: dict[str, Any] = {
            "check": finding.check,
            "state": finding.state,
            "code": finding.code,
            "enhanced": finding.enhanced,
            "reason": finding.reason,
            "detail": finding.detail,
            "remedy": finding.remedy,
            "scope": str(finding.scope),
        }
        if finding.providers:
            entry["providers"] = list(finding.providers)
        if finding.hosts:
            entry["hosts"] = list(finding.hosts)
        if finding.source:
            entry["source"] = finding.source
        if rows_by_reason is not None and finding.state == "problem":
            entry["rows_affected"] = 0 if finding.reason in counted else rows_by_reason.get(finding.reason, 0)
            counted.add(finding.reason)
        findings.append(entry)
    return {
        "from": report.from_addr,
        "envelope": report.envelope,
        "bulk": report.bulk,
        "ready": report.ready,
        "problems": len(report.impact.problems),
        "resolvers": list(report.resolvers),
        "dns_questions": report.questions,
        "findings": findings,
    }
