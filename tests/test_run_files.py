"""The files a run owns: never the input or a stranger's file; resume states checked against disk;
write failures (a real full tmpfs) end in one line; an input that changes mid-run is noticed.

Reproductions of issue 19, items 1, 3, 5 and 9.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from pipeline.errors import InputError
from pipeline.io.state import InputFingerprint, RunState, StateStore, _seal
from pipeline.options import CacheOptions, DnsOptions, RunOptions
from pipeline.run import run
from tests.run_helpers import assert_same_outputs, one_error_line

runner = CliRunner()
ROWS = 3_000


def _write_list(path: Path, rows: int = ROWS) -> Path:
    lines = ["Name,Email"]
    for i in range(rows):
        email = f"person{i}@domain{i % 37}.example" if i % 11 else f"PERSON{i - 1}@domain{(i - 1) % 37}.example"
        lines.append(f"Person {i},{email}")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def _clean(listing: Path, out: Path, *extra: str) -> Any:
    return runner.invoke(
        app, ["clean", str(listing), "--no-dns", "--no-cache", "-q", "--chunk-size", "500", "--out", str(out), *extra]
    )


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_list(tmp_path_factory.mktemp("lists") / "contacts.csv")


@pytest.fixture(scope="module")
def reference(listing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    result = _clean(listing, out)
    assert result.exit_code == 0, result.output
    return out


# -- item 1: no run file is the input or a file presend did not make ---------------------------


def test_an_input_named_like_the_lock_is_refused_and_kept(tmp_path: Path) -> None:
    source = _write_list(tmp_path / "data.lock", rows=50)
    before = source.read_bytes()
    result = _clean(source, tmp_path)
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "data.lock" in line and "input file itself" in line
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.lock"]


@pytest.mark.parametrize("name", ["contacts.results.csv", "contacts.clean.csv", "contacts.lock",
                                  "contacts.resume.json", ".contacts.results.csv.partial"])
def test_an_output_name_linked_to_the_input_is_refused(tmp_path: Path, name: str) -> None:
    source = _write_list(tmp_path / "contacts.csv", rows=50)
    before = source.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    os.link(source, out / name)
    result = _clean(source, out)
    assert result.exit_code == 2
    assert "input file itself" in one_error_line(result.stderr)
    assert source.read_bytes() == before
    assert (out / name).read_bytes() == before


def test_a_symlinked_output_pointing_at_the_input_is_refused(tmp_path: Path) -> None:
    source = _write_list(tmp_path / "contacts.csv", rows=50)
    before = source.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    (out / "contacts.summary.json").symlink_to(source)
    result = _clean(source, out)
    assert result.exit_code == 2
    assert "input file itself" in one_error_line(result.stderr)
    assert source.read_bytes() == before


@pytest.mark.parametrize(("name", "content"), [("contacts.lock", b"my notes about the lock\n"),
                                               ("contacts.resume.json", b'{"job": "resume", "years": 7}\n')])
def test_a_file_presend_did_not_make_is_not_overwritten(tmp_path: Path, name: str, content: bytes) -> None:
    source = _write_list(tmp_path / "contacts.csv", rows=50)
    (tmp_path / name).write_bytes(content)
    result = _clean(source, tmp_path)
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert name in line and "not written by presend" in line
    assert (tmp_path / name).read_bytes() == content


def test_a_stale_lock_of_a_dead_run_does_not_block(tmp_path: Path) -> None:
    source = _write_list(tmp_path / "contacts.csv", rows=50)
    (tmp_path / "contacts.lock").write_text("999999\n")
    result = _clean(source, tmp_path)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "contacts.lock").exists()


@pytest.mark.parametrize("name", ["contacts.summary.json", "contacts.lock", "contacts.resume.json",
                                  ".contacts.dedupe.partial"])
def test_a_folder_where_a_run_file_goes_is_one_line(tmp_path: Path, name: str) -> None:
    source = _write_list(tmp_path / "contacts.csv", rows=50)
    (tmp_path / name).mkdir()
    result = _clean(source, tmp_path)
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert name in line and "folder" in line


# -- item 3: a resume state is checked against what is on disk ---------------------------------


class _Stop(KeyboardInterrupt):
    """Raised from the events callback: the run stops as after Ctrl-C, its state kept."""


def _interrupted_run(listing: Path, out: Path, after_rows: int = 1000) -> None:
    options = RunOptions(
        input=listing, out_dir=out, chunk_size=500, workers=1,
        dns=DnsOptions(enabled=False), cache=CacheOptions(enabled=False),
    )

    def events(name: str, fields: dict[str, Any]) -> None:
        if name == "chunk_committed" and fields["rows_done"] >= after_rows:
            raise _Stop

    with pytest.raises(_Stop):
        run(options, events=events)
    assert (out / "contacts.resume.json").exists()


def _state(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "contacts.resume.json").read_text())
    return data


def _unsealed(body: dict[str, Any]) -> RunState:
    """A RunState built from ``body`` without checking its seal (to forge a consistent one)."""
    fingerprint = body["input"]
    return RunState(InputFingerprint(**fingerprint), body["options"], body["rows_done"], body["sizes"],
                    body["started_at"], body["version"], body["extra"])


def test_an_interrupted_run_resumes_to_theassert_same_outputs(listing: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _interrupted_run(listing, out)
    result = _clean(listing, out, "--resume")
    assert result.exit_code == 0, result.output
    assert_same_outputs(out, reference, "contacts")


@pytest.mark.parametrize("rows_done", [100, 10**9])
@pytest.mark.parametrize("resealed", [False, True])
def test_an_edited_rows_done_is_refused(
    listing: Path, reference: Path, tmp_path: Path, rows_done: int, resealed: bool
) -> None:
    out = tmp_path / "out"
    _interrupted_run(listing, out)
    data = _state(out)
    data["rows_done"] = rows_done
    text = json.dumps(data) if not resealed else json.dumps(_unsealed(data).to_dict())
    (out / "contacts.resume.json").write_text(text)
    result = _clean(listing, out, "--resume")
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "run without --resume" in line
    assert ("checksum" in line) if not resealed else ("partial results hold 1000" in line)
    # Starting over as told gives the uninterrupted run's outputs.
    result = _clean(listing, out)
    assert result.exit_code == 0, result.output
    assert_same_outputs(out, reference, "contacts")


@pytest.mark.parametrize("damage", [
    b"\xff\xfe not json at all \x80",
    b'{"rows_done": null, "version": 3}',
    b'{"rows_done": 1000}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"rows_done": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b"",
])
def test_a_damaged_state_is_one_line(listing: Path, tmp_path: Path, damage: bytes) -> None:
    out = tmp_path / "out"
    _interrupted_run(listing, out)
    (out / "contacts.resume.json").write_bytes(damage)
    result = _clean(listing, out, "--resume")
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "run without --resume" in line or "not written by presend" in line


def test_a_state_with_wrong_types_is_one_line(listing: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _interrupted_run(listing, out)
    data = _state(out)
    data["sizes"] = {"results": "many"}
    (out / "contacts.resume.json").write_text(json.dumps(_unsealed_any(data)))
    result = _clean(listing, out, "--resume")
    assert result.exit_code == 2
    assert "damaged" in one_error_line(result.stderr)


def _unsealed_any(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` sealed with a matching checksum whatever its types (the seal is not the check)."""
    body = {k: v for k, v in data.items() if k != "checksum"}
    return {**body, "checksum": _seal(body)}


def test_the_state_store_rejects_a_truncated_dedupe_record(listing: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _interrupted_run(listing, out)
    data = _state(out)
    data["sizes"]["dedupe"] += 5
    (out / "contacts.resume.json").write_text(json.dumps(_unsealed_any(data)))
    assert StateStore(out, "contacts").load() is not None  # well formed, yet not what is on disk
    result = _clean(listing, out, "--resume")
    assert result.exit_code == 2
    assert "run without --resume" in one_error_line(result.stderr)


# -- item 5: a full disk (a real tmpfs) ends in one line and keeps the last state ---------------


class SmallDisk:
    """A real tmpfs mounted on a folder, its limits changed with :meth:`mount` (a remount)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounted = False

    def mount(self, options: str) -> None:
        """Mount (or remount) the tmpfs with ``options`` (size=..., nr_inodes=...)."""
        flags = f"remount,{options}" if self.mounted else options
        subprocess.run(["mount", "-t", "tmpfs", "-o", flags, "tmpfs", str(self.path)], check=True)
        self.mounted = True


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("LOUD SKIP: a full-disk test mounts a small tmpfs and needs root and mount(8)")
    disk = SmallDisk(tmp_path / "disk")
    disk.path.mkdir()
    yield disk
    if disk.mounted:
        subprocess.run(["umount", str(disk.path)], check=False)


@pytest.mark.parametrize("limit", ["full", "size=4k", "size=16k", "size=64k", "size=160k", "size=320k",
                                   "nr_inodes=2", "nr_inodes=3", "nr_inodes=4", "nr_inodes=5", "nr_inodes=6"])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_disk_is_one_line_and_resumable(
    listing: Path, reference: Path, small_disk: SmallDisk, limit: str, workers: str
) -> None:
    """Each limit fails a different write: the lock's pid (full), a partial output, the dedupe
    file, the resume state's temporary file (inodes), the rename of an output."""
    small_disk.mount(f"{limit},size=8m" if limit.startswith("nr_") else f"{limit.replace('full', 'size=64k')}")
    out = small_disk.path
    filler = out / "someone-elses.bin"
    if limit == "full":
        with filler.open("wb") as handle, pytest.raises(OSError):
            handle.write(b"x" * (1 << 17))
    result = _clean(listing, out, "--workers", workers)
    filler.unlink(missing_ok=True)
    if result.exit_code == 0:
        pytest.fail(f"{limit}: the run fitted on the small disk; the test needs a smaller one")
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert "free some space" in line or "choose another" in line, line
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    # The last committed state (if any) is intact: with room, --resume completes the run.
    small_disk.mount("size=64m,nr_inodes=1000")
    result = _clean(listing, out, "--resume", "--workers", workers)
    assert result.exit_code == 0, result.output
    assert_same_outputs(out, reference, "contacts")


# -- item 9: an input that changes while it is read ---------------------------------------------


@pytest.mark.parametrize(("change", "workers"), [
    ("truncate", 1), ("truncate", 2), ("append", 1), ("append", 2), ("rewrite", 1), ("rewrite", 2),
    ("same size, same time", 1),
])
def test_an_input_changed_mid_run_fails(tmp_path: Path, change: str, workers: int) -> None:
    """Any change is seen by size or time; on one process even a forged time, by what was read."""
    source = _write_list(tmp_path / "contacts.csv", rows=60_000)
    out = tmp_path / "out"
    options = RunOptions(
        input=source, out_dir=out, chunk_size=5_000, workers=workers,
        dns=DnsOptions(enabled=False), cache=CacheOptions(enabled=False),
    )
    original = source.read_bytes()

    def events(name: str, fields: dict[str, Any]) -> None:
        if name != "chunk_committed" or fields["rows_done"] != 5_000:
            return
        if change == "truncate":
            source.write_bytes(original[: len(original) // 3])
        elif change == "append":
            with source.open("ab") as handle:
                handle.write(b"Late,late@domain1.example\r\n")
        else:
            before = os.stat(source)
            source.write_bytes(original.replace(b"person", b"persom"))
            if change != "rewrite":
                os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))

    with pytest.raises(InputError, match=r"changed (while presend read it|during the run)"):
        run(options, events=events)
    assert not (out / "contacts.results.csv").exists()
    assert not (out / "contacts.summary.json").exists()
