"""The files one run writes, replaces or removes, and the guard that keeps them off other files.

A run of ``<stem>`` owns, in its output folder: the four outputs and the downloads by
category (``<stem>.risky.csv`` ...), the hidden ``.partial``
twins, the duplicate-index partial, ``<stem>.resume.json`` (and its temporary twin) and
``<stem>.lock``. Before the run touches any of them, :func:`guard_run_files` checks each one
that already exists:

- it must not be the input itself, under any name (same device and inode: a hard link, a
  symbolic link, or a name that happens to match, such as an input called ``data.lock``);
- it must be a file, not a folder;
- the lock and the resume state, which a run truncates or removes, must look like what
  presend writes there (a pid; text naming the state's keys): a file of that name that
  presend did not make is refused rather than overwritten.

The outputs themselves are replaced by a rename, as documented: a previous run's outputs
are overwritten, but never by writing into them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import OutputError
from pipeline.io.downloads import download_paths
from pipeline.io.lock import lock_path
from pipeline.io.outputs import output_paths, partial_path, write_fix
from pipeline.io.state import dedupe_path, state_path, state_temp_path

#: How much of an existing lock or state file is read to see whether presend made it.
_SNIFF_BYTES = 1 << 16


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Every path a run of ``stem`` in ``out_dir`` may create, replace or remove."""

    outputs: dict[str, Path]
    partials: dict[str, Path]
    lock: Path
    state: Path

    @classmethod
    def of(cls, out_dir: Path, stem: str) -> RunFiles:
        """The run files of ``stem`` in ``out_dir``."""
        outputs = {**output_paths(out_dir, stem), **download_paths(out_dir, stem)}
        partials = {kind: partial_path(outputs[kind]) for kind in ("results", "clean")}
        partials["dedupe"] = dedupe_path(out_dir, stem)
        state = state_path(out_dir, stem)
        partials["state"] = state_temp_path(state)
        return cls(outputs, partials, lock_path(out_dir, stem), state)

    def all(self) -> list[Path]:
        """Every path, outputs first."""
        return [*self.outputs.values(), *self.partials.values(), self.lock, self.state]


def guard_run_files(files: RunFiles, input_path: Path) -> None:
    """Refuse (:class:`OutputError`, one line) when a run file would clobber what is not the run's."""
    try:
        source = os.stat(input_path)
    except OSError:
        source = None
    for path in files.all():
        try:
            found = os.stat(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise OutputError(
                f"{path}: cannot be checked ({exc.strerror or exc}); {write_fix(exc)}"
            ) from exc
        if source is not None and os.path.samestat(source, found):
            raise OutputError(
                f"{path}: this is the input file itself, and presend would overwrite it; "
                "rename the input or choose another folder with --out"
            )
        if stat.S_ISDIR(found.st_mode):
            raise OutputError(f"{path}: a folder stands where presend writes a file; move it or choose another --out")
        if not stat.S_ISREG(found.st_mode):
            raise OutputError(f"{path}: not a regular file; move it or choose another folder with --out")
    _check_made_by_us(files.lock, _looks_like_lock, "lock")
    _check_made_by_us(files.state, _looks_like_state, "resume state")


def _check_made_by_us(path: Path, looks_right: Callable[[bytes], bool], what: str) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{path}: cannot be read ({exc.strerror or exc}); choose another folder with --out") from exc
    if not looks_right(head):
        raise OutputError(
            f"{path}: this file was not written by presend, yet a run uses its name for its {what}; "
            "move the file or choose another folder with --out"
        )


def _looks_like_lock(head: bytes) -> bool:
    """An empty file or a pid line: what :class:`~pipeline.io.lock.RunLock` leaves behind."""
    text = head.strip()
    return not text or (text.isdigit() and len(text) <= 12)


def _looks_like_state(head: bytes) -> bool:
    """Text naming the state's ``rows_done`` key: presend's, even when edited or damaged.

    A damaged state is refused by ``--resume`` with its own message, and a fresh run replaces
    it; a file without that key is somebody else's.
    """
    return b'"rows_done"' in head
