"""The big mailbox providers' published sender rules, as one table with the source of each.

Since 2024 Gmail, Yahoo (and AOL, whose mail Yahoo runs) and Microsoft's consumer mail
refuse mail from senders that miss their rules; each rule here is one requirement, the
provider (as :func:`pipeline.rules.providers.identify_provider` names it from a row's MX),
whether it holds for every sender or only for bulk senders (``--bulk``: over about 5,000
messages a day to that provider), the reply the provider documents for mail that misses it
and the page that says so. The requirement names are judged in
:mod:`pipeline.sender.readiness` (:func:`~pipeline.sender.readiness.requirement_met`).

Requirements: ``authenticated`` (SPF passes or a DKIM key is published), ``spf`` (SPF
passes for every sending IP), ``dkim`` (a DKIM key is published), ``dmarc`` (a DMARC record,
``p=none`` at least), ``aligned`` (SPF's or DKIM's domain aligns with the From domain),
``fcrdns`` (each sending IP's PTR resolves back to it), ``dmarc_pass`` (an enforcing DMARC
policy is met).
"""

from __future__ import annotations

from dataclasses import dataclass

GOOGLE_GUIDELINES = "https://support.google.com/a/answer/81126"
GOOGLE_CODES = "https://support.google.com/a/answer/3726730"
YAHOO_PRACTICES = "https://senders.yahooinc.com/best-practices/"
YAHOO_CODES = "https://senders.yahooinc.com/smtp-error-codes/"
MICROSOFT_HIGH_VOLUME = (
    "https://techcommunity.microsoft.com/blog/microsoftdefenderforoffice365blog/"
    "strengthening-email-ecosystem-outlook%E2%80%99s-new-requirements-for-high%E2%80%90volume-senders/4399730"
)


@dataclass(frozen=True, slots=True)
class ProviderRule:
    """One provider requirement and the reply its misses draw."""

    provider: str
    requirement: str
    bulk_only: bool
    code: str
    enhanced: str
    reason: str
    rule: str
    source: str


RULES: tuple[ProviderRule, ...] = (
    ProviderRule(
        "Google",
        "authenticated",
        False,
        "550",
        "5.7.26",
        "sending_gmail_unauthenticated",
        "Gmail requires every sender to pass SPF or DKIM.",
        GOOGLE_GUIDELINES,
    ),
    ProviderRule(
        "Google",
        "fcrdns",
        False,
        "550",
        "5.7.25",
        "sending_gmail_no_reverse_dns",
        "Gmail requires each sending IP to have a PTR record that resolves back to it.",
        GOOGLE_GUIDELINES,
    ),
    ProviderRule(
        "Google",
        "dmarc_pass",
        False,
        "550",
        "5.7.26",
        "sending_gmail_dmarc_fail",
        "Gmail refuses mail that fails the From domain's enforcing DMARC policy.",
        GOOGLE_CODES,
    ),
    ProviderRule(
        "Google",
        "spf",
        True,
        "421",
        "4.7.27",
        "sending_gmail_bulk_spf",
        "Gmail requires bulk senders to pass SPF.",
        GOOGLE_GUIDELINES,
    ),
    ProviderRule(
        "Google",
        "dkim",
        True,
        "421",
        "4.7.30",
        "sending_gmail_bulk_dkim",
        "Gmail requires bulk senders to sign with DKIM.",
        GOOGLE_GUIDELINES,
    ),
    ProviderRule(
        "Google",
        "dmarc",
        True,
        "550",
        "5.7.26",
        "sending_gmail_bulk_dmarc",
        "Gmail requires bulk senders to publish DMARC (p=none at least).",
        GOOGLE_GUIDELINES,
    ),
    ProviderRule(
        "Google",
        "aligned",
        True,
        "550",
        "5.7.26",
        "sending_gmail_bulk_alignment",
        "Gmail requires bulk senders' SPF or DKIM domain to align with the From domain.",
        GOOGLE_GUIDELINES,
    ),
    ProviderRule(
        "Yahoo",
        "authenticated",
        False,
        "550",
        "5.7.9",
        "sending_yahoo_unauthenticated",
        "Yahoo and AOL require every sender to pass SPF or DKIM.",
        YAHOO_PRACTICES,
    ),
    ProviderRule(
        "Yahoo",
        "fcrdns",
        False,
        "553",
        "5.7.2",
        "sending_yahoo_no_reverse_dns",
        "Yahoo and AOL require valid forward and reverse DNS for sending IPs "
        "(a miss draws their permanent reputation refusal).",
        YAHOO_CODES,
    ),
    ProviderRule(
        "Yahoo",
        "dmarc_pass",
        False,
        "554",
        "5.7.9",
        "sending_yahoo_dmarc_fail",
        "Yahoo and AOL refuse mail that fails the From domain's enforcing DMARC policy.",
        YAHOO_CODES,
    ),
    ProviderRule(
        "Yahoo",
        "spf",
        True,
        "554",
        "5.7.9",
        "sending_yahoo_bulk_spf",
        "Yahoo and AOL require bulk senders to pass SPF.",
        YAHOO_PRACTICES,
    ),
    ProviderRule(
        "Yahoo",
        "dkim",
        True,
        "554",
        "5.7.9",
        "sending_yahoo_bulk_dkim",
        "Yahoo and AOL require bulk senders to sign with DKIM.",
        YAHOO_PRACTICES,
    ),
    ProviderRule(
        "Yahoo",
        "dmarc",
        True,
        "554",
        "5.7.9",
        "sending_yahoo_bulk_dmarc",
        "Yahoo and AOL require bulk senders to publish DMARC (p=none at least).",
        YAHOO_PRACTICES,
    ),
    ProviderRule(
        "Yahoo",
        "aligned",
        True,
        "554",
        "5.7.9",
        "sending_yahoo_bulk_alignment",
        "Yahoo and AOL require bulk senders' From domain to align with SPF or DKIM.",
        YAHOO_PRACTICES,
    ),
    ProviderRule(
        "Microsoft 365",
        "spf",
        True,
        "550",
        "5.7.515",
        "sending_microsoft_bulk_spf",
        "Outlook.com requires high-volume senders to pass SPF.",
        MICROSOFT_HIGH_VOLUME,
    ),
    ProviderRule(
        "Microsoft 365",
        "dkim",
        True,
        "550",
        "5.7.515",
        "sending_microsoft_bulk_dkim",
        "Outlook.com requires high-volume senders to sign with DKIM.",
        MICROSOFT_HIGH_VOLUME,
    ),
    ProviderRule(
        "Microsoft 365",
        "dmarc",
        True,
        "550",
        "5.7.515",
        "sending_microsoft_bulk_dmarc",
        "Outlook.com requires high-volume senders to publish DMARC (p=none at least).",
        MICROSOFT_HIGH_VOLUME,
    ),
    ProviderRule(
        "Microsoft 365",
        "aligned",
        True,
        "550",
        "5.7.515",
        "sending_microsoft_bulk_alignment",
        "Outlook.com requires high-volume senders' DMARC to align with SPF or DKIM.",
        MICROSOFT_HIGH_VOLUME,
    ),
)

#: What to do about a missed requirement, in the report's words.
REMEDIES: dict[str, str] = {
    "authenticated": "Publish an SPF record that lists your sending IPs, or sign with DKIM (better: both).",
    "fcrdns": "Ask whoever owns the sending IP to set a PTR name that resolves back to the IP.",
    "dmarc_pass": "Make SPF or DKIM pass with a domain aligned to the From domain before sending, "
    "or relax the DMARC policy while you fix it.",
    "spf": "Add your sending IPs (or your sending service's include:) to the envelope domain's SPF record.",
    "dkim": "Sign with DKIM and publish the selector's key at SELECTOR._domainkey.<your domain>.",
    "dmarc": "Publish a DMARC record at _dmarc.<your domain>; v=DMARC1; p=none is the minimum.",
    "aligned": "Send with an envelope (or DKIM d=) domain that shares the From domain's organizational domain.",
}
