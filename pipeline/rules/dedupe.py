"""A compact duplicate index: 64-bit key hashes mapped to the row that first held the key.

A 10M-row list would need gigabytes as a Python ``set`` of strings. Here each distinct key
costs 12 bytes (a 64-bit hash, see :func:`hash_keys`, and a 32-bit row number) in sorted NumPy arrays kept as a
few runs of doubling sizes (merged like a binary counter), so a chunk's lookups are a handful
of ``searchsorted`` calls and inserts cost O(log n) amortized copies.

Collisions: two different (not crafted) keys share a 64-bit hash with probability about
2**-64, the mix spreading every input bit over the whole hash; over a list
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

#: On-disk record of one entry: key hash, then row number.
RECORD = np.dtype([("hash", "<u8"), ("row", "<u4")])
MAX_ROW = int(np.iinfo(np.uint32).max)

Hashes = npt.NDArray[np.uint64]
Rows = npt.NDArray[np.int64]


# MurmurHash3's 64-bit constants (block mix and finalizer) and the golden ratio for lengths.
_C1 = np.uint64(0x87C37B91114253D5)
_C2 = np.uint64(0x4CF5AD432745937F)
_F1 = np.uint64(0xFF51AFD7ED558CCD)
_F2 = np.uint64(0xC4CEB9FE1A85EC53)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_STEP = np.uint64(0x52DCE729)
_FIVE = np.uint64(5)
# The low r bytes of a little-endian word, for r = 0..8.
_MASKS = np.array([(1 << (8 * r)) - 1 for r in range(9)], dtype=np.uint64)


def _rotl(x: Hashes, bits: int) -> Hashes:
    return (x << np.uint64(bits)) | (x >> np.uint64(64 - bits))


def _shift_xor(x: Hashes) -> Hashes:
    return x ^ (x >> np.uint64(33))


def hash_keys(keys: Sequence[str]) -> Hashes:
    """A 64-bit hash of each key's UTF-8 bytes, the same on every run and machine.

    All keys of a chunk are hashed together with NumPy: each key's bytes are read as
    little-endian 8-byte words (the last one zero-padded), mixed into a state seeded with the
    key's length as MurmurHash3 mixes its blocks, and finished with its finalizer. Not a
    cryptographic hash: addresses crafted to collide could make one a false duplicate of
    another; for ordinary lists see the module's collision figures.
    """
    count = len(keys)
    if not count:
        return np.zeros(0, dtype=np.uint64)
    joined = "\n".join(keys)
    if joined.count("\n") == count - 1:
        data = joined.encode("utf-8", "surrogatepass")
        breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
        starts = np.concatenate(([0], breaks + 1))
        lengths = np.concatenate((breaks, [len(data)])) - starts
    else:  # a key holds a line break: encode them one by one
        encoded = [key.encode("utf-8", "surrogatepass") for key in keys]
        data = b"".join(encoded)
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=count)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    # Every 8-byte window of the bytes (zero-padded at the end), read little-endian: a key's
    # block c is the window at its start + 8c, its bytes past the key's end masked off.
    padded = data + bytes(8)
    windows = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    last = len(padded) - 8
    blocks = (lengths + 7) // 8
    sizes = lengths.astype(np.uint64)
    state = sizes * _GOLDEN
    for column in range(int(blocks.max())):
        rows = np.flatnonzero(blocks > column)  # the keys that still have a block here
        at = starts[rows] + 8 * column
        word = windows[np.minimum(at, last)] & _MASKS[np.minimum(lengths[rows] - 8 * column, 8)]
        block = _rotl(word.astype(np.uint64) * _C1, 31) * _C2
        state[rows] = _rotl(state[rows] ^ block, 27) * _FIVE + _STEP
    state = _shift_xor(state ^ sizes) * _F1
    state = _shift_xor(state) * _F2
    return _shift_xor(state)


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
