"""A compact duplicate index: 64-bit key hashes mapped to the row that first held the key.

A 10M-row list would need gigabytes as a Python ``set`` of strings. Here each distinct key
costs 12 bytes (a 64-bit hash, see :func:`hash_keys`, and a 32-bit row number) in sorted NumPy arrays kept as a
few runs of doubling sizes (merged like a binary counter), so a chunk's lookups are a handful
of ``searchsorted`` calls and inserts cost O(log n) amortized copies.

Collisions: two different (not crafted) keys share a 64-bit xxh3 hash with probability
about 2**-64; over a list
of ``n`` distinct keys the chance that any pair collides is about ``n**2 / 2**65`` — 3e-8 for
a million addresses, 3e-6 for ten million. A collision would mark the later of the two
addresses a duplicate of the earlier one.

New entries can be exported after each chunk (:meth:`DuplicateIndex.export_new`) and read back
(:meth:`DuplicateIndex.load`), which is how an interrupted run resumes with the same index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from xxhash import xxh3_64_intdigest

#: On-disk record of one entry: key hash, then row number.
RECORD = np.dtype([("hash", "<u8"), ("row", "<u4")])
MAX_ROW = int(np.iinfo(np.uint32).max)

Hashes = npt.NDArray[np.uint64]
Rows = npt.NDArray[np.int64]


def hash_keys(keys: Sequence[str]) -> Hashes:
    """The xxh3-64 hash of each key's UTF-8 bytes: a specified hash, the same on every run,
    machine and version of xxhash (so a resumed run's index holds the same hashes).

    Not a cryptographic hash: addresses crafted to collide could make one a false duplicate
    of another; for ordinary lists see the module's collision figures. A key that cannot be
    encoded as it is (a lone surrogate) is hashed as Python's ``surrogatepass`` writes it.
    """
    try:
        return np.fromiter(map(xxh3_64_intdigest, map(str.encode, keys)), dtype=np.uint64, count=len(keys))
    except UnicodeEncodeError:
        encoded = (key.encode("utf-8", "surrogatepass") for key in keys)
        return np.fromiter(map(xxh3_64_intdigest, encoded), dtype=np.uint64, count=len(keys))


def _merge_runs(
    k1: Hashes, v1: npt.NDArray[np.uint32], k2: Hashes, v2: npt.NDArray[np.uint32]
) -> tuple[Hashes, npt.NDArray[np.uint32]]:
    """Two sorted runs with no hash in common as one sorted run, without sorting again.

    Each entry of the second run goes where ``searchsorted`` puts it, shifted by the
    entries of its own run before it; the first run fills the other places, in order.
    The only memory beyond the result is one position per entry of the second run.
    """
    total = len(k1) + len(k2)
    places = np.searchsorted(k1, k2)
    places += np.arange(len(k2), dtype=places.dtype)
    keys = np.empty(total, dtype=k1.dtype)
    values = np.empty(total, dtype=v1.dtype)
    rest = np.ones(total, dtype=bool)
    rest[places] = False
    keys[places] = k2
    values[places] = v2
    keys[rest] = k1
    values[rest] = v1
    return keys, values


class DuplicateIndex:
    """Which row first held each key hash."""

    def __init__(self) -> None:
        self._runs: list[tuple[Hashes, npt.NDArray[np.uint32]]] = []
        self._new: list[npt.NDArray[np.void]] = []
        self.size = 0

    def first_rows(self, hashes: Hashes, rows: Rows) -> Rows:
        """For each (hash, row), in row order: the earlier row holding that hash, or -1.

        Hashes seen for the first time are added (with the earliest of their rows). ``rows``
        must be increasing and later than every row given before.
        """
        count = len(hashes)
        result = np.full(count, -1, dtype=np.int64)
        if count == 0:
            return result
        if int(rows[-1]) > MAX_ROW:
            raise ValueError(f"the duplicate index holds row numbers up to {MAX_ROW}")
        order = np.argsort(hashes, kind="stable")
        sorted_hashes = hashes[order]
        starts = np.flatnonzero(np.r_[True, sorted_hashes[1:] != sorted_hashes[:-1]])
        unique = sorted_hashes[starts]
        first_in_chunk = rows[order[starts]]
        earlier = np.full(len(unique), -1, dtype=np.int64)
        for keys, values in self._runs:
            at = np.searchsorted(keys, unique)
            inside = at < len(keys)
            hit = np.zeros(len(unique), dtype=bool)
            hit[inside] = keys[at[inside]] == unique[inside]
            earlier[hit] = values[at[hit]]
        # Each element's group (same hash) within the chunk.
        group = np.repeat(np.arange(len(unique)), np.diff(np.r_[starts, count]))
        known = earlier[group]
        is_first = np.zeros(count, dtype=bool)
        is_first[starts] = True
        answer = np.where(known >= 0, known, np.where(is_first, -1, first_in_chunk[group]))
        result[order] = answer
        fresh = earlier < 0
        self._insert(unique[fresh], first_in_chunk[fresh].astype(np.uint32))
        return result

    def _insert(self, keys: Hashes, values: npt.NDArray[np.uint32]) -> None:
        if len(keys) == 0:
            return
        records = np.empty(len(keys), dtype=RECORD)
        records["hash"] = keys
        records["row"] = values
        self._new.append(records)
        self.size += len(keys)
        self._runs.append((keys, values))
        # Merge while the newer run is at least half the older one: O(log n) runs.
        while len(self._runs) >= 2 and len(self._runs[-1][0]) * 2 >= len(self._runs[-2][0]):
            (k1, v1), (k2, v2) = self._runs[-2], self._runs.pop()
            self._runs[-1] = _merge_runs(k1, v1, k2, v2)

    def export_new(self) -> bytes:
        """The entries added since the last export, as :data:`RECORD` bytes."""
        if not self._new:
            return b""
        data = b"".join(records.tobytes() for records in self._new)
        self._new.clear()
        return data

    def load(self, data: bytes) -> None:
        """Add entries previously exported (whole records only)."""
        records = np.frombuffer(data[: len(data) - len(data) % RECORD.itemsize], dtype=RECORD)
        if len(records) == 0:
            return
        order = np.argsort(records["hash"], kind="stable")
        self._insert(records["hash"][order].astype(np.uint64), records["row"][order].astype(np.uint32))
        self._new.clear()

    @property
    def nbytes(self) -> int:
        """Memory held by the index arrays."""
        return sum(k.nbytes + v.nbytes for k, v in self._runs)
