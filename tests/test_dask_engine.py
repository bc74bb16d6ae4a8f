"""The Dask engine on real clusters gives exactly what the local engine gives.

A cluster is started the way a user starts one (``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1: the ``dask_cluster`` fixture), or by presend itself (a LocalCluster
when ``--scheduler`` is not given). Every run is ``presend clean`` in a subprocess; its
outputs are compared with ``--engine local``'s (results but presend_checked_at, the clean
list byte for byte, the summary's counts).
"""

from __future__ import annotations

import json
import random
import signal
import zipfile
from pathlib import Path

import pytest

from pipeline.engine.cluster import _host_groups, _share
from pipeline.models import MxHost
from pipeline.ports import ProbeTarget
from tests.run_helpers import (
    REPO,
    assert_same_outputs,
    clean_command,
    killed_on_failure,
    one_error_line,
    run_cli,
    start_cli,
    summary_of,
    wait_for_rows,
)

SAMPLES = sorted((REPO / "sample_lists").glob("*.csv"))
SAMPLES = [path for path in SAMPLES if not path.name.endswith(".expected.csv")]


def messy_list(path: Path, rows: int, *, seed: int = 7, encoding: str = "utf-8") -> Path:
    """A list with what exports hold: repeats in other cases, broken addresses, quoted line
    breaks and delimiters, short and long rows, blank lines, accented names."""
    rng = random.Random(seed)
    lines = ["Name,Email,Note"]
    seen: list[str] = []
    for number in range(rows):
        kind = rng.random()
        if seen and kind < 0.15:
            email = rng.choice(seen).upper()
        elif kind < 0.2:
            email = rng.choice(["no-at-sign.example", "a..b@x.example", "", "x@y", "ünï@bücher.example"])
        else:
            email = f"user{number}@d{rng.randrange(400)}.example"
            seen.append(email)
        name = rng.choice(["Ann", "José", "Zoë", '"Lee, Jr."', "Bo"])
        note = rng.choice(["", "plain", '"two\nlines"', '"a ""quote"""'])
        line = f"{name},{email},{note}"
        if kind > 0.995:
            line += ",extra"
        elif 0.99 < kind <= 0.995:
            line = f"{name},{email}"
        lines.append(line)
        if kind < 0.002:
            lines.append("")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def run_both(tmp_path: Path, listing: Path, *dask_options: str) -> tuple[Path, Path]:
    """The list through ``--engine local`` and ``--engine dask DASK_OPTIONS``; both output folders."""
    local, clustered = tmp_path / "local", tmp_path / "dask"
    reference = run_cli(clean_command(listing, local, "--no-dns", "--engine", "local"))
    assert reference.returncode == 0, reference.stderr
    done = run_cli(clean_command(listing, clustered, "--no-dns", "--engine", "dask", *dask_options))
    assert done.returncode == 0, done.stderr
    # The same notes, and nothing more: no log line of dask's reaches the user.
    assert done.stderr == reference.stderr.replace(str(local), str(clustered))
    return local, clustered


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.name)
def test_every_sample_list_matches_local(dask_cluster, sample: Path, tmp_path: Path) -> None:
    local, clustered = run_both(tmp_path, sample, "--scheduler", dask_cluster.address)
    assert_same_outputs(clustered, local, sample.stem)
    summary = summary_of(clustered, sample.stem)
    assert summary["engine"] == "dask" and summary["workers"] == 2


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "utf-16"])
def test_a_messy_list_cut_in_small_pieces_matches_local(dask_cluster, encoding: str, tmp_path: Path) -> None:
    """Pieces of 100 lines put quoted line breaks across the cuts; utf-16 is cut as text."""
    listing = messy_list(tmp_path / "messy.csv", 3_000, encoding=encoding)
    local, clustered = run_both(tmp_path, listing, "--scheduler", dask_cluster.address, "--chunk-size", "100")
    assert_same_outputs(clustered, local, "messy")
    summary = summary_of(clustered, "messy")
    assert summary["by_status"]["duplicate"] > 100  # type: ignore[index]
    assert summary["input"]["malformed_rows"] > 0  # type: ignore[index]


def test_a_local_cluster_started_by_presend(tmp_path: Path) -> None:
    """Without --scheduler, presend starts a LocalCluster of --workers processes (200k rows);
    the processes engine gives the same outputs too."""
    listing = messy_list(tmp_path / "big.csv", 200_000, seed=11)
    local, clustered = run_both(tmp_path, listing, "--workers", "2")
    assert_same_outputs(clustered, local, "big")
    assert summary_of(clustered, "big")["workers"] == 2
    done = run_cli(clean_command(listing, tmp_path / "processes", "--no-dns", "--engine", "processes"))
    assert done.returncode == 0, done.stderr
    assert_same_outputs(tmp_path / "processes", local, "big")


def test_workers_read_the_input_through_an_fsspec_url(dask_cluster, tmp_path: Path) -> None:
    """``--input-url zip://...``: the workers read their byte ranges from inside an archive."""
    listing = messy_list(tmp_path / "messy.csv", 2_000)
    archive = tmp_path / "shared.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.write(listing, "messy.csv")
    url = f"zip://messy.csv::file://{archive}"
    local, clustered = run_both(tmp_path, listing, "--scheduler", dask_cluster.address, "--input-url", url,
                                "--chunk-size", "500")
    assert_same_outputs(clustered, local, "messy")


def test_an_input_url_holding_another_file_is_refused(dask_cluster, tmp_path: Path) -> None:
    listing = messy_list(tmp_path / "messy.csv", 200)
    other = messy_list(tmp_path / "other.csv", 300, seed=3)
    done = run_cli(clean_command(listing, tmp_path / "out", "--no-dns", "--engine", "dask", "--scheduler",
                                 dask_cluster.address, "--input-url", f"file://{other}"))
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "--input-url" in line and "same file" in line
    assert not (tmp_path / "out" / "messy.results.csv").exists()


def test_a_workbook_is_refused_in_one_line(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.append(["Email"])
    book.active.append(["ann@example.com"])
    path = tmp_path / "list.xlsx"
    book.save(path)
    done = run_cli(clean_command(path, tmp_path / "out", "--no-dns", "--engine", "dask", "--workers", "1"))
    assert done.returncode == 2
    assert "save list.xlsx as CSV" in one_error_line(done.stderr)


def test_an_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    listing = messy_list(tmp_path / "messy.csv", 50)
    done = run_cli(clean_command(listing, tmp_path / "out", "--no-dns", "--engine", "dask", "--scheduler",
                                 "tcp://127.0.0.1:9"), timeout=120)
    assert done.returncode == 2
    assert "--scheduler tcp://127.0.0.1:9" in one_error_line(done.stderr)


def test_a_worker_killed_mid_run(fresh_dask_cluster, tmp_path: Path) -> None:
    """Kill one of the two workers once rows are committed: Dask runs its tasks again on the
    other, and the outputs are the local engine's; or the run stops in one line and
    --resume completes it."""
    listing = messy_list(tmp_path / "big.csv", 150_000, seed=5)
    reference = tmp_path / "local"
    assert run_cli(clean_command(listing, reference, "--no-dns", "--engine", "local")).returncode == 0
    out = tmp_path / "dask"
    command = clean_command(listing, out, "--no-dns", "--engine", "dask", "--scheduler", fresh_dask_cluster.address,
                            "--chunk-size", "2000")
    with killed_on_failure(start_cli(command)) as process:
        wait_for_rows(out / "big.resume.json", 2000, process)
        fresh_dask_cluster.kill_worker(0)
        _, stderr = process.communicate(timeout=300)
    if process.returncode != 0:
        assert "--resume" in one_error_line(stderr)
        done = run_cli([*command, "--resume"])
        assert done.returncode == 0, done.stderr
    assert_same_outputs(out, reference, "big")


def test_a_stopped_run_resumes_on_the_cluster(dask_cluster, tmp_path: Path) -> None:
    listing = messy_list(tmp_path / "big.csv", 120_000, seed=9)
    reference = tmp_path / "local"
    assert run_cli(clean_command(listing, reference, "--no-dns", "--engine", "local")).returncode == 0
    out = tmp_path / "dask"
    command = clean_command(listing, out, "--no-dns", "--engine", "dask", "--scheduler", dask_cluster.address,
                            "--chunk-size", "3000")
    with killed_on_failure(start_cli(command)) as process:
        done_rows = wait_for_rows(out / "big.resume.json", 3000, process)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=120)
    assert process.returncode == 143
    state = json.loads((out / "big.resume.json").read_text())
    assert state["rows_done"] >= done_rows
    resumed = run_cli([*command, "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert_same_outputs(out, reference, "big")
    summary = summary_of(out, "big")
    assert summary["resumed"] is True and summary["resumed_from_row"] >= done_rows


# --- the parts that keep the network levels polite --------------------------------------------


def test_names_are_shared_out_by_hash() -> None:
    names = [f"d{i}.example" for i in range(1000)]
    shares = _share(names, 3)
    assert sorted(name for share in shares for name in share) == sorted(names)
    again = _share(list(reversed(names)), 3)
    assert sorted(map(sorted, shares)) == sorted(map(sorted, again))  # a name's share is its hash's


def _target(email: str, *hosts: str) -> ProbeTarget:
    domain = email.rpartition("@")[2]
    return ProbeTarget(email, email.partition("@")[0], domain, domain, False,
                       tuple(MxHost(10 * i, host, ("127.0.0.1",)) for i, host in enumerate(hosts)))


def test_probe_groups_share_no_mail_host() -> None:
    targets = [
        _target("a@one.example", "mx1.example", "mx2.example"),
        _target("b@two.example", "MX2.example", "mx3.example"),  # shares mx2 with one.example
        _target("c@three.example", "mx4.example"),
        _target("d@four.example", "mx3.example"),  # joins one/two through mx3
        _target("e@five.example"),  # implicit MX: the domain itself
    ]
    groups = _host_groups(targets)
    assert sorted(len(group) for group in groups) == [1, 1, 3]
    seen: dict[str, int] = {}
    for number, group in enumerate(groups):
        for target in group:
            for mx in target.mx_hosts:
                assert seen.setdefault(mx.host.lower(), number) == number
