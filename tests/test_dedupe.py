"""The compact duplicate index against a plain dict, chunk by chunk, and across a resume."""

from __future__ import annotations

import random

import numpy as np
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.io.state import InputFingerprint, RunState, StateDamaged
from pipeline.rules.dedupe import RECORD, DuplicateIndex, hash_keys


def _reference(chunks: list[list[str]]) -> list[list[int]]:
    seen: dict[str, int] = {}
    out = []
    row = 0
    for chunk in chunks:
        answers = []
        for key in chunk:
            row += 1
            first = seen.setdefault(key, row)
            answers.append(-1 if first == row else first)
        out.append(answers)
    return out


def _index_answers(chunks: list[list[str]], index: DuplicateIndex | None = None) -> list[list[int]]:
    index = index or DuplicateIndex()
    out = []
    row = 0
    for chunk in chunks:
        rows = np.arange(row + 1, row + 1 + len(chunk), dtype=np.int64)
        row += len(chunk)
        out.append(index.first_rows(hash_keys(chunk), rows).tolist())
    return out


KEYS = [*(f"k{i}@example.com" for i in range(40)), "é@x.example"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(KEYS), max_size=30), max_size=12))
def test_matches_a_dict(chunks: list[list[str]]) -> None:
    assert _index_answers(chunks) == _reference(chunks)


def test_many_chunks_merge_runs_and_stay_exact() -> None:
    rng = random.Random(5)
    keys = [f"user{rng.randrange(30_000)}@example.com" for _ in range(60_000)]
    chunks = [keys[i : i + 997] for i in range(0, len(keys), 997)]
    index = DuplicateIndex()
    assert _index_answers(chunks, index) == _reference(chunks)
    distinct = len(set(keys))
    assert index.size == distinct
    assert index.nbytes == distinct * 12  # 8-byte hash + 4-byte row per distinct key
    assert len(index._runs) <= 2 * distinct.bit_length()


def test_export_and_load_resume_the_same_index() -> None:
    rng = random.Random(9)
    keys = [f"u{rng.randrange(2_000)}@example.com" for _ in range(6_000)]
    chunks = [keys[i : i + 500] for i in range(0, len(keys), 500)]
    whole = _index_answers(chunks)

    first = DuplicateIndex()
    _index_answers(chunks[:5], first)
    saved = first.export_new()
    assert len(saved) == first.size * RECORD.itemsize
    assert first.export_new() == b""  # nothing new since

    resumed = DuplicateIndex()
    resumed.load(saved + b"\x01\x02")  # a torn last record is ignored
    row = 5 * 500
    answers = []
    for chunk in chunks[5:]:
        rows = np.arange(row + 1, row + 1 + len(chunk), dtype=np.int64)
        row += len(chunk)
        answers.append(resumed.first_rows(hash_keys(chunk), rows).tolist())
    assert answers == whole[5:]


# XXH3-64 (seed 0) reference values. The empty and one-NUL-byte inputs are xxHash's own sanity
# vectors (XSUM_XXH3_testdata, lengths 0 and 1 of its test buffer, whose first byte is 0);
# "hello" is the value other XXH3 implementations publish. A change of any of them breaks every
# saved resume state (and must come with a new STATE_VERSION).
XXH3_VECTORS = {"": 0x2D06800538D394C2, "\x00": 0xC44BDFF4074EECDB, "hello": 0x9555E8555C62DCFD}
# hash_keys("a@example.com") as first computed with xxh3_64.
GOLDEN_A = 0x39580B4DC3DCB86E


def test_hashes_are_xxh3_of_the_utf8_bytes() -> None:
    keys = list(XXH3_VECTORS)
    assert hash_keys(keys).tolist() == list(XXH3_VECTORS.values())
    assert hash_keys(["a@example.com"]).tolist() == [GOLDEN_A]
    # Non-ASCII keys are hashed as UTF-8, long ones (past XXH3's 240-byte short path) whole.
    for key in ("é@bücher.example", "用户@例子.广告", "x" * 300 + "@example.com"):
        assert hash_keys([key]).tolist() == [xxhash.xxh3_64_intdigest(key.encode("utf-8"))]
    # A lone surrogate (an undecodable byte Python kept) is hashed too, as its UTF-8-like bytes.
    assert hash_keys(["a\udcff@x.example"]).tolist() == [xxhash.xxh3_64(b"a\xed\xb3\xbf@x.example").intdigest()]
    assert hash_keys([]).dtype == np.uint64 and len(hash_keys([])) == 0


def test_equal_keys_hash_equal_whatever_their_chunk() -> None:
    # The same on every run and machine (a resume state holds them): a key's hash does not
    # depend on the other keys of its chunk or on where it stands in it.
    long = "x" * 240 + "@example.com"
    together = hash_keys(["a@example.com", long, "é@bücher.example", "a@example.com"]).tolist()
    assert together == [GOLDEN_A, *hash_keys([long]).tolist(), *hash_keys(["é@bücher.example"]).tolist(), GOLDEN_A]
    keys = [f"user{i}@example{i % 97}.com" for i in range(50_000)] + ["", "a", "ab", "a\x00", "a\x00\x00"]
    assert len(set(hash_keys(keys).tolist())) == len(keys)  # distinct keys, distinct hashes
    assert hash_keys(["a\nb", "c"]).tolist() == hash_keys(["a\nb"]).tolist() + hash_keys(["c"]).tolist()


def test_a_collision_makes_the_later_key_a_duplicate_of_the_first() -> None:
    # Two different keys sharing a hash (as crafted keys could) are one key to the index: the
    # later row points back to the first one, in a chunk and across chunks, as the module says.
    shared = hash_keys(["a@example.com"])[0]
    other = hash_keys(["b@example.com"])[0]
    index = DuplicateIndex()
    first = index.first_rows(np.array([shared, other, shared], dtype=np.uint64), np.array([1, 2, 3]))
    assert first.tolist() == [-1, -1, 1]
    later = index.first_rows(np.array([other, shared], dtype=np.uint64), np.array([4, 5]))
    assert later.tolist() == [2, 1]
    assert index.size == 2


def test_a_state_of_the_old_hash_is_refused() -> None:
    # Entries hashed the old way would be misread as other keys: such a state is refused.
    state = RunState(InputFingerprint("x.csv", 1, 1, "0" * 64), {}, 0,
                     {"results": 0, "clean": 0, "dedupe": 0}, "2024-01-01T00:00:00Z")
    assert RunState.from_dict(state.to_dict()) == state
    old = {**state.to_dict(), "version": 3}
    with pytest.raises(StateDamaged, match="state format 3"):
        RunState.from_dict(old)
