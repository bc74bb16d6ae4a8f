"""How the CLI and the run loop reach the mailbox level (no network)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from pipeline.cache import VerdictCache
from pipeline.options import CacheOptions, ProbeOptions
from pipeline.probe.prober import SmtpProber, make_prober


def test_make_prober_opens_the_cache_it_is_given(tmp_path: Path) -> None:
    options = ProbeOptions(enabled=True, mail_from="probe@sender.example", batch_size=7)
    with_cache = make_prober(options, CacheOptions(enabled=True, path=tmp_path / "c.sqlite3"))
    assert isinstance(with_cache, SmtpProber)
    assert isinstance(with_cache.cache, VerdictCache)
    assert with_cache.helo == "sender.example"  # --helo defaults to the --mail-from domain
    without = make_prober(options, CacheOptions(enabled=False))
    assert isinstance(without, SmtpProber) and without.cache is None
    assert without.rcpt_limit("127.0.0.1") == 8  # batch size + the catch-all question


def test_probe_options_are_on_the_command_line() -> None:
    result = CliRunner().invoke(app, ["clean", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--probe", "--mail-from", "--helo", "--smtp-port", "--retry-after", "--max-retries",
                   "--probe-concurrency", "--per-host", "--smtp-timeout", "--batch-size"):
        assert option in result.output


def test_probe_without_mail_from_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "list.csv"
    source.write_text("email\na@b.example\n")
    result = CliRunner().invoke(app, ["clean", str(source), "--probe"])
    assert result.exit_code == 2
    assert "--mail-from" in result.output
