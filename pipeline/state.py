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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, UsageError
from .outputs import partial_path

#: 2: duplicate keys hashed by dedupe.hash_keys' NumPy mix (1 was BLAKE2b-64).
STATE_VERSION = 2


def state_path(out_dir: Path, stem: str) -> Path:
    """The resume state file of the outputs named after ``stem``."""
    return out_dir / f"{stem}.resume.json"


def dedupe_path(out_dir: Path, stem: str) -> Path:
    """The partial file holding the duplicate index entries of the committed rows."""
    return partial_path(out_dir / f"{stem}.dedupe")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class InputFingerprint:
    """What identifies one version of the input file."""

    path: str
    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> InputFingerprint:
        """Fingerprint ``path`` (reads the whole file once)."""
        stat = path.stat()
        return cls(str(path.resolve()), stat.st_size, stat.st_mtime_ns, file_sha256(path))


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
        """The JSON form of the state."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        """The inverse of :meth:`to_dict`."""
        return cls(
            input=InputFingerprint(**data["input"]),
            options=dict(data["options"]),
            rows_done=int(data["rows_done"]),
            sizes={k: int(v) for k, v in data["sizes"].items()},
            started_at=str(data["started_at"]),
            version=int(data["version"]),
            extra=dict(data.get("extra", {})),
        )


class StateStore:
    """Reads and writes the resume state of one set of outputs."""

    def __init__(self, out_dir: Path, stem: str) -> None:
        self.path = state_path(out_dir, stem)

    def load(self) -> RunState | None:
        """The saved state, or None when there is none. Raises InputError if it is unreadable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(f"{self.path}: cannot read the resume state ({exc.strerror})") from exc
        try:
            state = RunState.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"{self.path}: the resume state is damaged ({exc}); run without --resume to start over"
            ) from exc
        if state.version != STATE_VERSION:
            raise InputError(f"{self.path}: written by another presend version; run without --resume")
        return state

    def save(self, state: RunState) -> None:
        """Replace the saved state atomically (a rename; not synced, see the module notes)."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(state.to_dict(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def clear(self) -> None:
        """Remove the saved state (the run completed)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


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
