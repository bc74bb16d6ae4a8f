"""The compact duplicate index against a plain dict, chunk by chunk, and across a resume."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

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


# hash_keys("a@example.com") as first computed: a change here breaks every saved resume state
# (and must come with a new STATE_VERSION).
GOLDEN_A = 4132065086738839662
#: XXH3-64 of no bytes with seed 0, as xxHash's own specification and sanity tests give it.
XXH3_OF_NOTHING = 0x2D06800538D394C2


def test_hashes_are_stable() -> None:
    # The same on every run and machine (a resume state holds them): fixed values, and a key's
    # hash does not depend on the other keys of its chunk (their lengths pad the words).
    assert hash_keys(["a@example.com"]).tolist() == [GOLDEN_A]
    assert hash_keys([""]).tolist() == [XXH3_OF_NOTHING]  # the specified hash, not one of our own
    assert hash_keys(["a\udce9@x.example"]).tolist() == hash_keys(["a\udce9@x.example"]).tolist()  # a lone surrogate
    assert hash_keys([]).tolist() == []
    long = "x" * 240 + "@example.com"
    together = hash_keys(["a@example.com", long, "é@bücher.example"]).tolist()
    assert together == [GOLDEN_A, *hash_keys([long]).tolist(), *hash_keys(["é@bücher.example"]).tolist()]
    keys = [f"user{i}@example{i % 97}.com" for i in range(50_000)] + ["", "a", "ab", "a\x00", "a\x00\x00"]
    assert len(set(hash_keys(keys).tolist())) == len(keys)  # zero padding does not make twins
    assert hash_keys(["a\nb", "c"]).tolist() == hash_keys(["a\nb"]).tolist() + hash_keys(["c"]).tolist()
