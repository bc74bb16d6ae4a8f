"""presend from Python: ``pipeline.clean`` (a path, a file object or a DataFrame in, DataFrames
out), ``pipeline.check`` and ``pipeline.acheck`` for one address. Both run the very pipeline the
command line runs, so their verdicts are compared with the command line's own results files."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pandas as pd
import pytest

import pipeline
from pipeline.columns import RESULT_COLUMNS
from pipeline.errors import UsageError
from tests.conftest import require_binary
from tests.lab.dnslab import DnsLab
from tests.run_helpers import REPO, clean_command, run_cli

SAMPLES = [REPO / "sample_lists" / name for name in ("demo.csv", "hubspot_export.csv", "mailchimp_export.csv")]
#: Every presend column but the time of the check, which differs between two runs.
COMPARED = [column for column in RESULT_COLUMNS if column != "presend_checked_at"]


def cli_results(listing: Path, out: Path, *options: str) -> pd.DataFrame:
    done = run_cli(clean_command(listing, out, *options))
    assert done.returncode == 0, done.stderr
    return pd.read_csv(out / f"{listing.stem}.results.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.name)
def test_a_dataframe_in_gives_the_command_lines_results_out(sample: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(sample, dtype=str, keep_default_na=False)
    frame.index = [f"contact-{n}" for n in range(len(frame))]  # an index of the caller's own
    done = pipeline.clean(frame, no_dns=True)
    expected = cli_results(sample, tmp_path / "cli", "--no-dns")
    assert list(done.results.index) == list(frame.index)
    assert list(done.results.columns) == list(expected.columns)
    mine, theirs = done.results.drop(columns="presend_checked_at"), expected.drop(columns="presend_checked_at")
    assert mine.to_numpy().tolist() == theirs.to_numpy().tolist()  # every cell
    clean_file = pd.read_csv(tmp_path / "cli" / f"{sample.stem}.clean.csv", dtype=str, keep_default_na=False)
    assert done.clean.to_numpy().tolist() == clean_file.to_numpy().tolist()
    assert list(done.clean.columns) == list(frame.columns)
    assert set(done.clean.index) <= set(frame.index)
    assert done.summary["rows"] == len(frame) and done.paths == {}


def test_a_path_and_a_file_object_give_the_same(tmp_path: Path) -> None:
    sample = SAMPLES[1]
    by_path = pipeline.clean(sample, no_dns=True, engine="local")
    by_bytes = pipeline.clean(io.BytesIO(sample.read_bytes()), no_dns=True)
    by_text = pipeline.clean(io.StringIO(sample.read_text(encoding="utf-8")), no_dns=True)
    for other in (by_bytes, by_text):
        assert other.results[COMPARED].to_numpy().tolist() == by_path.results[COMPARED].to_numpy().tolist()
    assert list(by_path.results.index) == list(range(len(by_path.results)))


def test_files_only_when_asked(tmp_path: Path) -> None:
    done = pipeline.clean(pd.DataFrame({"Email": ["a@acme-co.com", "b@@acme-co.com"]}), no_dns=True,
                          out_dir=tmp_path / "out")
    assert set(done.paths) == {
        "results", "clean", "summary", "report", "undeliverable", "risky", "unknown", "fixable", "duplicates",
    }
    assert all(path.exists() and path.parent == tmp_path / "out" for path in done.paths.values())


def test_check_gives_what_clean_gives_that_row() -> None:
    listing = pd.read_csv(SAMPLES[0], dtype=str, keep_default_na=False)
    done = pipeline.clean(listing, no_dns=True)
    firsts = done.results[(done.results["presend_status"] != "duplicate") & (done.results["Email"] != "")]
    for _, row in firsts.iterrows():
        found = pipeline.check(row["Email"], no_dns=True)
        assert [found[column] for column in COMPARED] == [row[column] for column in COMPARED], row["Email"]
        assert found["presend_checked_at"]


def test_the_async_twin() -> None:
    async def both() -> list[dict[str, str]]:
        return list(await asyncio.gather(pipeline.acheck("ann@gmial.com", no_dns=True),
                                         pipeline.acheck("no-at-sign", no_dns=True)))

    typo, broken = asyncio.run(both())
    assert typo["presend_suggestion"] == "ann@gmail.com" and broken["presend_code"] == "501"
    assert typo["presend_reason"] == pipeline.check("ann@gmial.com", no_dns=True)["presend_reason"]


def test_blank_rows_are_skipped_and_the_index_follows() -> None:
    frame = pd.DataFrame({"Name": ["Ann", None, "Cy"], "Email": ["ann@acme-co.com", "", "cy@acme-co.com"]},
                         index=["a", "b", "c"])
    done = pipeline.clean(frame, no_dns=True)
    assert list(done.results.index) == ["a", "c"]  # row b is blank: skipped and counted, as from a file
    assert done.summary["input"]["blank_rows_skipped"] == 1
    with pytest.raises(UsageError, match="no address to check"):
        pipeline.check("  ")


def test_options_are_named_like_the_command_lines() -> None:
    with pytest.raises(UsageError, match="unknown option no_dsn"):
        pipeline.clean(pd.DataFrame({"Email": ["a@acme-co.com"]}), no_dsn=True)
    with pytest.raises(UsageError, match="--dns-timeout"):
        pipeline.check("a@acme-co.com", dns_timeout=-1)


@pytest.mark.lab
def test_check_with_the_dns_level_against_the_lab(tmp_path: Path) -> None:
    records = ["mx.fine.example. A 127.0.2.1", "fine.example. MX 10 mx.fine.example."]
    with DnsLab(records, tmp_path / "dns", nsd_binary=require_binary("nsd"),
                unbound_binary=require_binary("unbound")) as lab:
        options = {"nameserver": [lab.nameserver], "no_cache": True, "allow_private_mx": True}
        fine = pipeline.check("ann@fine.example", **options)
        lost = pipeline.check("ann@lost.example", **options)
    assert (fine["presend_status"], fine["presend_mx"]) == ("deliverable", "mx.fine.example")
    assert (lost["presend_status"], lost["presend_code"]) == ("undeliverable", "550")
    assert lost["presend_reason"] == "nxdomain"
