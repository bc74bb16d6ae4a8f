"""``--proxy socks5://...``: the probe through a real SOCKS5 proxy (Debian's microsocks).

The proxy listens on 127.0.6.0/24 (the block reserved for proxy tests) in front of the
Postfix lab of tests/lab/postfixlab.py and connects out from its own address, so Postfix's
log shows the sessions came through it. Without the lab: the URL's form and its redaction.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.errors import UsageError
from pipeline.io.commit import fingerprint_options, options_as_data
from pipeline.options import CacheOptions, DnsOptions, ProbeOptions, RunOptions
from pipeline.probe.connect import ProxyRefused, ProxyUnreachable, parse_proxy, redact_proxy
from pipeline.probe.prober import SmtpProber
from pipeline.run import run
from tests.conftest import postfix_binaries, require_binary
from tests.lab.postfixlab import LAB_MX, LAB_SENDER, PostfixLab, lab_mx, probe_lab_spec, start_postfix
from tests.lab.socksproxy import PROXY_NET, SocksProxy
from tests.lab.staticdns import StaticResolver
from tests.run_helpers import REPO, assert_same_outputs, clean_command, one_error_line

E2E_CSV = Path(__file__).parent / "data" / "probe_e2e.csv"
OPEN_PROXY = f"{PROXY_NET}.1"  # no credentials; connects out from this address
AUTH_PROXY = f"{PROXY_NET}.2"  # user name and password; connects out from this address
DOWN_PROXY = f"{PROXY_NET}.9"  # nothing listens here
SECRET = "s3cret-Pa55"
MADE_UP = re.compile(r"presend-check-[0-9a-f]+@")


# --- the URL (no lab) ------------------------------------------------------------------------


def test_proxy_url_is_parsed_and_never_shown_with_credentials() -> None:
    spec = parse_proxy(f"socks5://probe%40team:{SECRET}@127.0.6.2:1080")
    assert spec is not None
    assert (spec.host, spec.port, spec.username, spec.password) == ("127.0.6.2", 1080, "probe@team", SECRET)
    assert spec.shown == "socks5://***@127.0.6.2:1080"
    assert SECRET not in repr(spec) and "probe" not in repr(spec)
    assert parse_proxy("") is None
    assert parse_proxy("socks5://[::1]:1080") == parse_proxy("socks5://[::1]:1080")
    assert parse_proxy("socks5://[::1]:1080").shown == "socks5://[::1]:1080"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",  # not SOCKS5
        "socks4://127.0.0.1:1080",
        "socks5://127.0.0.1",  # no port
        "socks5://127.0.0.1:99999",
        f"socks5://user:{SECRET}@127.0.0.1:1080/path",
        f"socks5://:{SECRET}@127.0.0.1:1080",  # a password without a user
        f"socks5://user:{SECRET}/x@127.0.0.1:1080",  # an unescaped "/" in the password
        "127.0.0.1:1080",
    ],
)
def test_a_bad_proxy_url_is_one_line_without_the_password(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_proxy(url)
    message = str(caught.value)
    assert message.startswith("--proxy: ") and "\n" not in message
    assert SECRET not in message


def test_a_bad_proxy_url_stops_a_run_without_the_probe_too(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text("email\nann@acme-co.com\n", encoding="utf-8")
    options = RunOptions(input=listing, dns=DnsOptions(enabled=False), probe=ProbeOptions(proxy=f"socks5://u:{SECRET}@h"))
    with pytest.raises(UsageError, match=r"^--proxy: ") as caught:
        run(options)
    assert SECRET not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv"]  # nothing written


def test_redaction_in_the_options_dump_and_the_resume_fingerprint(tmp_path: Path) -> None:
    url = f"socks5://probe:{SECRET}@127.0.6.2:1080"
    assert redact_proxy(url) == "socks5://***@127.0.6.2:1080"
    assert redact_proxy(f"socks5://probe:{SECRET}/x#y@127.0.6.2:1080") == "socks5://***@127.0.6.2:1080"
    assert redact_proxy(f"probe:{SECRET}@127.0.6.2:1080") == "***@127.0.6.2:1080"
    assert redact_proxy("socks5://127.0.6.2:1080") == "socks5://127.0.6.2:1080"
    options = RunOptions(input=tmp_path / "a.csv", probe=ProbeOptions(enabled=True, proxy=url))
    assert options_as_data(options)["probe"]["proxy"] == "socks5://***@127.0.6.2:1080"
    # the route is not an answer: a run stopped with a proxy may resume without, and the
    # resume state never holds the credentials
    assert "proxy" not in fingerprint_options(options)["probe"]
    assert SECRET not in repr(fingerprint_options(options))


# --- the lab -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy_lab() -> Iterator[PostfixLab]:
    """The probe lab; its 421/554 client maps also name the proxies' outgoing addresses."""
    postfix, postgrey = postfix_binaries()
    spec = probe_lab_spec(2)
    via = {OPEN_PROXY, AUTH_PROXY}
    access = {
        name: {**rows, **{address: rows["127.0.0.1"] for address in via}} for name, rows in spec.client_access.items()
    }
    lab = start_postfix(PostfixLab(dataclasses.replace(spec, client_access=access), postfix, postgrey))
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def microsocks() -> str:
    return require_binary("microsocks")


def probe_options(**overrides: object) -> ProbeOptions:
    values: dict[str, object] = {
        "enabled": True,
        "mail_from": LAB_SENDER,
        "helo": "probe.presend-lab.example",
        "retry_after": 3.0,
        "max_retries": 1,
        "timeout": 5.0,
        "concurrency": 8,
        "per_host": 2,
        "backoff": 0.3,  # the lab's busy host says 421: back off briefly, as the other lab tests do
    }
    values.update(overrides)
    return ProbeOptions(**values)  # type: ignore[arg-type]


def lab_run(out: Path, probe: ProbeOptions) -> Path:
    out.mkdir()
    options = RunOptions(
        input=E2E_CSV,
        out_dir=out,
        email_column="email",
        dns=DnsOptions(allow_private_mx=True),
        probe=probe,
        cache=CacheOptions(enabled=False),
    )
    resolver = StaticResolver({domain: lab_mx(domain) for domain in LAB_MX})
    run(options, resolver=resolver, prober=SmtpProber(probe))
    return out


def test_the_probe_through_the_proxy_equals_the_probe_without(
    proxy_lab: PostfixLab, microsocks: str, tmp_path: Path
) -> None:
    direct = lab_run(tmp_path / "direct", probe_options())
    with SocksProxy(microsocks, AUTH_PROXY, user="probe", password=SECRET, bind=AUTH_PROXY) as proxy:
        tunnelled = lab_run(tmp_path / "proxy", probe_options(proxy=proxy.url))

    # the same rows, the same counts; what differs by design: the made-up catch-all local part
    # (new in every run) and the client address Postfix quotes in its 421/554 (the proxy's)
    def unmade(cell: str) -> str:
        return MADE_UP.sub("presend-check-X@", cell).replace(f"unknown[{AUTH_PROXY}]", "unknown[127.0.0.1]")

    assert_same_outputs(tunnelled, direct, "probe_e2e", cell=unmade)
    log = proxy_lab.log_text()
    # Postfix saw the second run's sessions come from the proxy, STARTTLS included
    assert f"connect from unknown[{AUTH_PROXY}]" in log
    tls = rf"postfix/127\.0\.2\.8/smtpd\[\d+\]: disconnect from unknown\[{re.escape(AUTH_PROXY)}\] ehlo=2 starttls=1"
    assert re.search(tls, log), log[-3000:]
    assert "data=" not in log
    # the credentials are nowhere in what the run wrote (the summary shows the proxy redacted)
    for path in tunnelled.iterdir():
        assert SECRET not in path.read_text(encoding="utf-8"), path.name
    assert '"proxy": "socks5://***@127.0.6.2:1080"' in (tunnelled / "probe_e2e.summary.json").read_text()


def test_an_open_proxy_and_refused_credentials(proxy_lab: PostfixLab, microsocks: str, tmp_path: Path) -> None:
    emails = ["bob@probe-a.example", "nosuch@probe-a.example", "tina@tls.example", "someone@dead.example"]
    from tests.test_probe_postfix import target  # the lab's targets, MX hosts included

    direct = SmtpProber(probe_options()).probe([target(e) for e in emails])
    with SocksProxy(microsocks, OPEN_PROXY, bind=OPEN_PROXY) as proxy:
        tunnelled = SmtpProber(probe_options(proxy=proxy.url)).probe([target(e) for e in emails])
    with SocksProxy(microsocks, AUTH_PROXY, user="probe", password=SECRET) as proxy:
        wrong = SmtpProber(probe_options(proxy=proxy.url.replace(SECRET, "wrong")))
        with pytest.raises(ProxyRefused) as refused:
            wrong.probe([target("bob@probe-a.example")])
    for email in emails:
        mine, theirs = tunnelled[email].verdict, direct[email].verdict
        assert (mine.status, mine.code, mine.enhanced, mine.reason, mine.detail) == (
            theirs.status,
            theirs.code,
            theirs.enhanced,
            theirs.reason,
            theirs.detail,
        ), email
    assert tunnelled["tina@tls.example"].verdict.reason == "mailbox_exists"  # STARTTLS in the tunnel
    assert "connection refused" in tunnelled["someone@dead.example"].verdict.detail
    assert f"connect from unknown[{OPEN_PROXY}]" in proxy_lab.log_text()
    message = str(refused.value)
    assert message.startswith("--proxy: the SOCKS5 proxy at 127.0.6.2:1080 refused us") and "\n" not in message
    assert SECRET not in message and "wrong" not in message


@pytest.mark.parametrize("given", ["flag", "environment"])
def test_a_proxy_that_is_down_stops_the_run_in_one_line(tmp_path: Path, given: str) -> None:
    out = tmp_path / "out"
    url = f"socks5://probe:{SECRET}@{DOWN_PROXY}:1080"
    options = ["--email-column", "email", "--probe", "--mail-from", LAB_SENDER, "--nameserver", "127.0.0.1:9"]
    if given == "flag":
        options += ["--proxy", url]
    command = clean_command(E2E_CSV, out, *options)
    env = {**os.environ, "PRESEND_PROXY": url} if given == "environment" else None
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1, done.stderr
    # (a setting from the environment is announced first, by name)
    errors = "".join(line for line in done.stderr.splitlines(keepends=True) if not line.startswith("presend: note:"))
    line = one_error_line(errors)
    assert "the SOCKS5 proxy at 127.0.6.9:1080 cannot be reached (connection refused)" in line
    assert SECRET not in done.stderr + done.stdout
    assert not out.exists() or not list(out.iterdir())  # nothing was written


def test_a_proxy_that_goes_away_stops_the_run_not_the_rows(tmp_path: Path) -> None:
    prober = SmtpProber(probe_options(proxy=f"socks5://{DOWN_PROXY}:1080"))
    from tests.test_probe_postfix import target

    with pytest.raises(ProxyUnreachable, match="cannot be reached"):
        prober.probe([target("bob@probe-a.example")])
