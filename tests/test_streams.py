"""``presend clean -`` reads the list from stdin; ``--stdout`` writes the results table to stdout
(CSV as the results file holds it, or ``--format jsonl``: one JSON object per row) while the
other outputs go to ``--out`` and the closing lines to stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.run_helpers import REPO, RUN_OUTPUTS

LIST = "Name,Email\nAnn,ann@acme-co.com\nBob,bob@@x.example\nAnn again,ANN@acme-co.com\n"


def presend(stdin: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cli", "clean", *args], input=stdin.encode(), cwd=REPO,
                          capture_output=True, timeout=120)


def test_stdin_in_and_the_results_table_out(tmp_path: Path) -> None:
    done = presend(LIST, "-", "--no-dns", "--no-cache", "--out", str(tmp_path), "--stdout")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"stdin.{kind}" for kind in RUN_OUTPUTS]
    assert done.stdout == (tmp_path / "stdin.results.csv").read_bytes()  # the table, and nothing else
    stderr = done.stderr.decode()
    assert "3 rows in " in stderr and "report:" in stderr  # the closing lines went to stderr


def test_json_lines(tmp_path: Path) -> None:
    done = presend(LIST, "-", "--no-dns", "--no-cache", "--out", str(tmp_path), "--stdout", "--format", "jsonl", "-q")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [row["Email"] for row in rows] == ["ann@acme-co.com", "bob@@x.example", "ANN@acme-co.com"]
    assert [row["presend_status"] for row in rows] == ["unknown", "undeliverable", "duplicate"]
    assert rows[0]["Name"] == "Ann" and "presend_checked_at" in rows[0]


def test_a_file_with_stdout(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text(LIST, encoding="utf-8")
    done = presend("", str(listing), "--no-dns", "--no-cache", "--stdout", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (tmp_path / "list.results.csv").read_bytes()


def test_a_bad_format_is_one_line(tmp_path: Path) -> None:
    done = presend(LIST, "-", "--no-dns", "--out", str(tmp_path), "--stdout", "--format", "xml")
    assert done.returncode == 2 and done.stdout == b""
    assert "--format" in done.stderr.decode() and len(done.stderr.decode().strip().splitlines()) == 1
