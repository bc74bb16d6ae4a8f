"""Resume state: what an interrupted run had committed, so ``--resume`` can carry on.

After each chunk the run syncs its partial outputs and then replaces ``<stem>.resume.json``
(atomically) with the number of rows done and the partial files' sizes. A run killed at any
moment therefore leaves a state that matches a prefix of its partial files; ``--resume``
cuts them back to the recorded sizes and continues with the next row. The state also holds
the input's size, mtime and SHA-256 and the options that shape the outputs: a resumed run
refuses an input or options that changed.

The partial files are flushed to the operating system after each chunk, which survives the
process being killed; they are synced to disk only when the run completes. If the machine
itself goes down, the recorded sizes may exceed what reached the disk: ``--resume`` notices
the shorter files and asks for a fresh run instead of continuing from a hole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pipeline.errors import InputError, OutputError, UsageError
from pipeline.io.outputs import partial_path
from pipeline.io.textfile import DecodeStats

#: 4: duplicate keys hashed with xxh3-64; 3: the state carries a checksum of its own content;
#: 2: duplicate keys hashed by a NumPy mix (1 was BLAKE2b-64).
STATE_VERSION = 4

_T = TypeVar("_T")


def state_path(out_dir: Path, stem: str) -> Path:
    """The resume state file of the outputs named after ``stem``."""
    return out_dir / f"{stem}.resume.json"


def state_temp_path(state: Path) -> Path:
    """The temporary file a new resume state is written to before it replaces ``state``."""
    return state.with_name(f".{state.name}.tmp")


def dedupe_path(out_dir: Path, stem: str) -> Path:
    """The partial file holding the duplicate index entries of the committed rows."""
    return partial_path(out_dir / f"{stem}.dedupe")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    return _file_digests(path)[0]


def _file_digests(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and CRC-32 of a file, read once in blocks."""
    digest = hashlib.sha256()
    crc = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            crc = zlib.crc32(block, crc)
    return digest.hexdigest(), crc


@dataclass(frozen=True, slots=True)
class InputFingerprint:
    """What identifies one version of the input file."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    crc32: int = 0

    @classmethod
    def of(cls, path: Path) -> InputFingerprint:
        """Fingerprint ``path`` (reads the whole file once)."""
        stat = path.stat()
        sha256, crc = _file_digests(path)
        return cls(str(path.resolve()), stat.st_size, stat.st_mtime_ns, sha256, crc)


def check_held_still(path: Path, before: InputFingerprint, read: DecodeStats | None) -> None:
    """Raise :class:`InputError` when the input changed while the run read it.

    ``before`` was taken as the run started; the file must still have its size and time,
    and the bytes the run read (``read``, for text files) must be those that were hashed.
    """
    try:
        now = path.stat()
    except OSError as exc:
        raise InputError(f"{path}: the input went away while presend read it ({exc.strerror or exc})") from exc
    changed = (now.st_size, now.st_mtime_ns) != (before.size, before.mtime_ns)
    if read is not None:
        changed = changed or (read.bytes_read, read.crc32) != (before.size, before.crc32)
    if changed:
        raise InputError(
            f"{path}: the input changed while presend read it (it is {now.st_size} bytes now, "
            f"{before.size} when the run began); run again once nothing writes to it"
        )


@dataclass(frozen=True, slots=True)
class RunState:
    """One committed point of a run."""

    input: InputFingerprint
    options: dict[str, Any]
    rows_done: int
    sizes: dict[str, int]
    started_at: str
    version: int = STATE_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the state, sealed with a checksum of its own content."""
        body = asdict(self)
        return {**body, "checksum": _seal(body)}

    @classmethod
    def from_dict(cls, data: object) -> RunState:
        """The inverse of :meth:`to_dict`; :class:`StateDamaged` for anything else."""
        if not isinstance(data, dict):
            raise StateDamaged("not a JSON object")
        version = _typed(data, "version", int)
        if version != STATE_VERSION:
            raise StateDamaged(f"written by another presend version (state format {version})")
        body = {key: value for key, value in data.items() if key != "checksum"}
        if data.get("checksum") != _seal(body):
            raise StateDamaged("its checksum does not match its content (edited or damaged)")
        fingerprint = _typed(data, "input", dict)
        sizes = _typed(data, "sizes", dict)
        return cls(
            input=InputFingerprint(
                path=_typed(fingerprint, "path", str),
                size=_count(fingerprint, "size"),
                mtime_ns=_typed(fingerprint, "mtime_ns", int),
                sha256=_typed(fingerprint, "sha256", str),
                crc32=_count(fingerprint, "crc32"),
            ),
            options=_typed(data, "options", dict),
            rows_done=_count(data, "rows_done"),
            sizes={kind: _count(sizes, kind) for kind in _SIZED},
            started_at=_typed(data, "started_at", str),
            version=version,
            extra=_typed(data, "extra", dict),
        )


class StateDamaged(ValueError):
    """The resume state on disk is not one presend wrote (or it was changed since)."""


#: The partial files whose committed sizes a state records.
_SIZED = ("results", "clean", "dedupe")


def _seal(body: dict[str, Any]) -> str:
    """SHA-256 of the state's canonical JSON: a state edited by hand no longer matches it."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _typed(data: dict[str, Any], key: str, kind: type[_T]) -> _T:
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StateDamaged(f"{key!r} is missing or not a {kind.__name__}")
    return value


def _count(data: dict[str, Any], key: str) -> int:
    value = _typed(data, key, int)
    if value < 0:
        raise StateDamaged(f"{key!r} is negative")
    return value


class StateStore:
    """Reads and writes the resume state of one set of outputs."""

    def __init__(self, out_dir: Path, stem: str) -> None:
        self.path = state_path(out_dir, stem)

    def load(self) -> RunState | None:
        """The saved state, or None when there is none. Raises InputError if it is unreadable."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(
                f"{self.path}: cannot read the resume state ({exc.strerror or exc}); run without --resume"
            ) from exc
        try:
            return RunState.from_dict(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            reason = exc.args[0] if isinstance(exc, StateDamaged) else "not the JSON presend writes"
            raise InputError(
                f"{self.path}: the resume state is damaged ({reason}); run without --resume to start over"
            ) from None

    def save(self, state: RunState) -> None:
        """Replace the saved state atomically (a rename; not synced, see the module notes).

        A failed write leaves the previous state as it was and no temporary file behind.
        """
        tmp = state_temp_path(self.path)
        try:
            tmp.write_text(json.dumps(state.to_dict(), indent=1) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise OutputError(
                f"{self.path}: cannot record the resume state ({exc.strerror or exc}); "
                "free some space or choose another folder with --out (--resume continues from the last state)"
            ) from exc

    def clear(self) -> None:
        """Remove the saved state (the run completed)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot remove the resume state ({exc.strerror or exc})") from exc


def check_resumable(state: RunState, current: InputFingerprint, options: dict[str, Any], where: Path) -> None:
    """Refuse to resume when the input or the output-shaping options changed."""
    before = state.input
    if (before.size, before.mtime_ns, before.sha256) != (current.size, current.mtime_ns, current.sha256):
        raise InputError(
            f"{current.path}: the input changed since the interrupted run (state {where}); "
            "run without --resume to start over"
        )
    changed = sorted(key for key in set(state.options) | set(options) if state.options.get(key) != options.get(key))
    if changed:
        raise UsageError(
            f"--resume: options differ from the interrupted run ({', '.join(changed)}); "
            "use the same options, or run without --resume to start over"
        )
