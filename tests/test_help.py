"""``--help``: options in panels, value names instead of type noise, defaults, examples; ``--version``."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field

from typer.testing import CliRunner

from cli.main import app
from cli.params import SPECS, by_panel, metavar
from pipeline import __version__
from pipeline.options import DEFAULT_PANEL, PANELS, option, option_specs
from tests.run_helpers import REPO

runner = CliRunner()


def _help(*command: str) -> str:
    shown = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert shown.exit_code == 0, shown.output
    return shown.output


def _panels(text: str) -> list[str]:
    return re.findall(r"╭─ (.+?) ─", text)


SHOWN = [spec for spec in SPECS if not spec.meta.hidden]


def test_the_options_of_clean_are_shown_in_panels() -> None:
    # An option added without a panel lands in the default one, after the named panels.
    order = [*PANELS, DEFAULT_PANEL]
    assert {spec.panel for spec in SHOWN} <= set(order)
    assert {"Input", "DNS", "Probe", "Hygiene", "Outputs", "Cache & resume", "Automation"} <= {
        spec.panel for spec in SHOWN
    }
    text = _help("clean")
    assert _panels(text) == ["Arguments", "Options", *(p for p in order if any(s.panel == p for s in SHOWN))]
    for spec in SHOWN:  # each option under its own panel's heading
        heading = text.index(f"╭─ {spec.panel} ─", text.index("╭─ Options ─"))
        assert heading < text.index(spec.meta.flag + " ", heading), spec.meta.flag


def test_no_type_noise_defaults_shown_and_examples() -> None:
    text = _help("clean")
    assert not re.search(r"<(?:bool|int|float|str|path|text)>", text), text
    assert "[default: 64]" in text and "[default: 5.0]" in text  # --dns-concurrency, --dns-timeout
    flat = " ".join(text.split())
    assert "Examples:" in flat and "presend clean leads.csv --no-dns" in flat
    assert "PRESEND_DNS_TIMEOUT" in flat and "[env var:" not in flat  # said once, in the epilog
    for command in ("check", "report", "demo", "version", ""):
        assert "<bool>" not in _help(*filter(None, [command]))


def test_value_names_follow_the_option() -> None:
    by_flag = {spec.meta.flag: spec for spec in SPECS}
    assert metavar(by_flag["--no-dns"]) == ""  # a switch takes no value
    assert metavar(by_flag["--dns-timeout"]) == "SECONDS"
    assert metavar(by_flag["--dns-concurrency"]) == "N"
    assert metavar(by_flag["--engine"]) == "auto|local|processes|dask"
    assert metavar(by_flag["--nameserver"]) == "IP[:PORT]"


@dataclass(frozen=True)
class _Later:
    """A record as another change may add it: its options name no panel."""

    shiny: bool = field(default=False, metadata=option("--shiny", "A new option."))


def test_an_option_without_a_panel_falls_into_the_default_one() -> None:
    (spec,) = option_specs(_Later)
    assert spec.panel == DEFAULT_PANEL
    ordered = by_panel((spec, *SHOWN))
    assert ordered.index(spec) == len(ordered) - 1  # listed after the named panels


def test_version_flag_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--version"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"presend {__version__}"
