"""``OnlineStoreSuite``: the behaviour every online store must show (:mod:`shipyard.online.base`)."""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from shipyard.exceptions import InvalidParameter
from shipyard.online.base import OnlineRow, OnlineStore

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Timestamps that differ in sign, in the high or only in the low 32 bits, and the int64 bounds.
EDGE_TIMESTAMPS = [INT64_MIN, -(2**62), -(2**32), -(2**31) - 1, -1, 0, 1, 2**31, 2**32 - 1, 2**32, 2**62, INT64_MAX]
ODD_KEYS = ["a:b", "a b", "{x}", "}", "{", "%7D", "%", "*", "?[", "ключ", "键", "🙂", "", "tab\tnew\nline", "quote'\""]


def row(key: str, event_ts: int, created_ts: int = 0, values: bytes | None = None) -> OnlineRow:
    """A row whose default value names its timestamps, so a test sees which row won."""
    return OnlineRow(key, event_ts, created_ts, f"{key}@{event_ts}/{created_ts}".encode() if values is None else values)


def newer_wins(state: dict[str, OnlineRow], batch: Iterable[OnlineRow]) -> int:
    """The reference model: apply ``batch`` to ``state``; return how many keys took the batch's row."""
    newest: dict[str, OnlineRow] = {}
    for r in batch:
        prev = newest.get(r.key)
        if prev is None or (r.event_ts, r.created_ts) >= (prev.event_ts, prev.created_ts):
            newest[r.key] = r
    stored = 0
    for key, r in newest.items():
        prev = state.get(key)
        if prev is None or (r.event_ts, r.created_ts) >= (prev.event_ts, prev.created_ts):
            state[key] = r
            stored += 1
    return stored


class OnlineStoreSuite:
    """Subclass and override the ``store`` fixture (an empty store, closed by the fixture)."""

    @pytest.fixture
    def store(self) -> OnlineStore:
        raise NotImplementedError("Override the `store` fixture to return the backend under test.")

    def _state(self, store: OnlineStore, view: str, keys: Sequence[str]) -> dict[str, OnlineRow]:
        return {k: r for k, r in zip(keys, store.read(view, keys), strict=True) if r is not None}

    def test_round_trip(self, store: OnlineStore) -> None:
        rows = [row("driver:1", 100, 7), row("driver:2", 200)]
        assert store.write("proj/view", rows) == 2
        got = store.read("proj/view", ["driver:1", "driver:2"])
        assert got == rows
        assert all(type(r) is OnlineRow and type(r.values) is bytes for r in got if r is not None)
        assert isinstance(store.uri, str) and store.uri

    def test_missing_keys_are_none_in_place(self, store: OnlineStore) -> None:
        store.write("v", [row("b", 1)])
        assert store.read("v", ["a", "b", "c"]) == [None, row("b", 1), None]
        assert store.read("v", ["nope"]) == [None]
        assert store.read("never-written", ["a", "b"]) == [None, None]

    def test_duplicate_keys_in_read(self, store: OnlineStore) -> None:
        store.write("v", [row("a", 1), row("b", 2)])
        assert store.read("v", ["a", "b", "a", "x", "a"]) == [row("a", 1), row("b", 2), row("a", 1), None, row("a", 1)]
        assert store.read("v", ["b", "b"]) == [row("b", 2), row("b", 2)]

    def test_newer_wins(self, store: OnlineStore) -> None:
        store.write("v", [row("k", 100, 5)])
        assert store.write("v", [row("k", 99, 9)]) == 0  # older event time: ignored
        assert store.read("v", ["k"]) == [row("k", 100, 5)]
        assert store.write("v", [row("k", 100, 4)]) == 0  # same event time, older creation: ignored
        assert store.read("v", ["k"]) == [row("k", 100, 5)]
        assert store.write("v", [row("k", 100, 6)]) == 1  # same event time, newer creation: wins
        assert store.read("v", ["k"]) == [row("k", 100, 6)]
        assert store.write("v", [row("k", 100, 6, b"replaced")]) == 1  # exactly equal: replaces
        assert store.read("v", ["k"]) == [row("k", 100, 6, b"replaced")]
        assert store.write("v", [row("k", 101, -5)]) == 1  # newer event time wins whatever its creation
        assert store.read("v", ["k"]) == [row("k", 101, -5)]

    def test_rewriting_the_same_rows_changes_nothing(self, store: OnlineStore) -> None:
        rows = [row(f"k{i}", i, i) for i in range(50)]
        store.write("v", rows)
        store.write("v", rows)
        store.write("v", [row(f"k{i}", i - 1, 99) for i in range(50)])
        assert store.read("v", [r.key for r in rows]) == rows
        assert store.count("v") == 50

    @pytest.mark.parametrize("order", list(itertools.permutations(range(4))), ids=lambda o: "".join(map(str, o)))
    def test_several_rows_of_one_key_in_a_batch_keep_the_newest(self, store: OnlineStore, order: tuple[int, ...]) -> None:
        candidates = [row("k", 5, 1), row("k", 5, 3), row("k", 7, 0), row("k", 6, 9)]
        batch = [candidates[i] for i in order]
        assert store.write("v", batch) == 1
        assert store.read("v", ["k"]) == [row("k", 7, 0)]
        assert store.count("v") == 1

    def test_ties_in_one_batch_go_to_the_later_row(self, store: OnlineStore) -> None:
        store.write("v", [row("k", 5, 5, b"first"), row("k", 5, 5, b"second"), row("k", 4, 9, b"older")])
        assert store.read("v", ["k"]) == [row("k", 5, 5, b"second")]

    def test_write_returns_how_many_rows_were_stored(self, store: OnlineStore) -> None:
        assert store.write("v", [row("a", 10), row("b", 10), row("c", 10)]) == 3
        assert store.write("v", [row("a", 9), row("b", 11), row("c", 10), row("d", 1)]) == 3  # a is older
        assert store.write("v", [row("a", 1), row("a", 2)]) == 0
        assert store.write("v", [row("e", 1), row("e", 2), row("e", 3)]) == 1  # one key, one row stored

    def test_views_are_isolated(self, store: OnlineStore) -> None:
        # Names that a naive "<view>:<key>" layout would confuse: ("a", "b:c") vs ("a:b", "c"), braces.
        pairs = [("a", "b:c"), ("a:b", "c"), ("a}:b", "c"), ("a", "b}:c"), ("{a}", "b"), ("a", "b"), ("%7D", "x"), ("}", "x")]
        for i, (view, key) in enumerate(pairs):
            store.write(view, [row(key, i)])
        for i, (view, key) in enumerate(pairs):
            assert store.read(view, [key]) == [row(key, i)], (view, key)
        assert {v: store.count(v) for v, _ in pairs} == {"a": 3, "a:b": 1, "a}:b": 1, "{a}": 1, "%7D": 1, "}": 1}
        assert store.read("other", ["b:c", "c", "b"]) == [None, None, None]
        assert store.delete_view("a") == 3
        assert store.read("a:b", ["c"]) == [row("c", 1)] and store.read("a}:b", ["c"]) == [row("c", 2)]

    def test_delete_view_and_count(self, store: OnlineStore) -> None:
        assert store.count("v") == 0
        assert store.delete_view("v") == 0
        store.write("v", [row(f"k{i}", i) for i in range(2500)])
        store.write("w", [row("k1", 1)])
        assert store.count("v") == 2500
        assert store.delete_view("v") == 2500
        assert store.count("v") == 0 and store.read("v", ["k1", "k2499"]) == [None, None]
        assert store.read("w", ["k1"]) == [row("k1", 1)]
        store.write("v", [row("k1", 0)])  # a deleted view starts afresh: an old timestamp is stored again
        assert store.read("v", ["k1"]) == [row("k1", 0)] and store.count("v") == 1

    def test_empty_write_and_read(self, store: OnlineStore) -> None:
        assert store.write("v", []) == 0
        assert store.read("v", []) == []
        assert store.count("v") == 0

    def test_binary_values(self, store: OnlineStore) -> None:
        every_byte = bytes(range(256))
        rows = [row("all", 1, values=every_byte), row("empty", 1, values=b""), row("nul", 1, values=b"\x00" * 17),
                row("big", 1, values=every_byte * 4096)]
        store.write("v", rows)
        assert store.read("v", ["all", "empty", "nul", "big"]) == rows

    def test_unicode_and_odd_keys(self, store: OnlineStore) -> None:
        rows = [row(k, i) for i, k in enumerate(ODD_KEYS)]
        assert store.write("vue/ключ 🙂", rows) == len(rows)
        assert store.read("vue/ключ 🙂", ODD_KEYS) == rows
        assert store.read("vue/ключ 🙂", ["A:B", "{X}", " "]) == [None, None, None]
        assert store.count("vue/ключ 🙂") == len(ODD_KEYS)

    def test_extreme_timestamps(self, store: OnlineStore) -> None:
        for ts in EDGE_TIMESTAMPS:  # ascending: each one is newer than the one before
            assert store.write("v", [row("k", ts, -ts if ts != INT64_MIN else 0)]) == 1
            assert store.read("v", ["k"])[0] == row("k", ts, -ts if ts != INT64_MIN else 0)
        for ts in EDGE_TIMESTAMPS[:-1]:
            assert store.write("v", [row("k", ts, INT64_MAX)]) == 0
        store.write("c", [row("k", 0, ts) for ts in reversed(EDGE_TIMESTAMPS)])
        assert store.read("c", ["k"]) == [row("k", 0, INT64_MAX)]
        assert store.write("c", [row("k", -1, INT64_MAX), row("k", 0, INT64_MAX - 1)]) == 0

    def test_large_batch(self, store: OnlineStore) -> None:
        rows = [row(f"entity:{i}", 1_700_000_000_000_000 + i, i, values=i.to_bytes(8, "big") * 4) for i in range(20_000)]
        assert store.write("big", rows) == 20_000
        keys = [r.key for r in rows]
        assert store.read("big", keys) == rows
        assert store.count("big") == 20_000
        assert store.write("big", rows[::-1]) == 20_000  # equal rows replace
        assert store.read("big", keys[::-7]) == rows[::-7]

    def test_a_bad_row_anywhere_in_a_batch_writes_nothing(self, store: OnlineStore) -> None:
        store.write("v", [row("a", 1), row("b", 1)])
        good = [row("a", 2), row("b", 2), row("c", 2)]
        bad_rows: list[Any] = [
            OnlineRow("x", 3, 0, "not bytes"),  # type: ignore[arg-type]
            OnlineRow("x", "3", 0, b""),  # type: ignore[arg-type]
            OnlineRow("x", 2**63, 0, b""),
            OnlineRow(7, 3, 0, b""),  # type: ignore[arg-type]
            ("x", 3, 0, b""),
        ]
        for bad in bad_rows:
            with pytest.raises(InvalidParameter):
                store.write("v", [*good[:2], bad, good[2]])
            assert self._state(store, "v", ["a", "b", "c", "x"]) == {"a": row("a", 1), "b": row("b", 1)}
        assert store.count("v") == 2

    def test_concurrent_writers_converge_to_the_newest(self, store: OnlineStore) -> None:
        keys = [f"k{i}" for i in range(100)]
        batches: list[list[OnlineRow]] = []
        for seed in range(8):
            rng = random.Random(seed)
            for _ in range(12):
                # equal timestamps carry equal values, so whichever thread lands last the result is one answer
                batches.append([row(k, rng.randrange(40), rng.randrange(3)) for k in rng.sample(keys, 40)])
        expected: dict[str, OnlineRow] = {}
        for batch in batches:
            newer_wins(expected, batch)
        errors: list[BaseException] = []

        def work(mine: list[list[OnlineRow]]) -> None:
            try:
                for batch in mine:
                    store.write("v", batch)
                    store.read("v", keys[:10])
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(batches[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert self._state(store, "v", keys) == expected
        assert store.count("v") == len(expected)

    def test_matches_the_newer_wins_model(self, store: OnlineStore) -> None:
        """For random sequences of batches, the state and each write's count equal a pure-Python model."""
        hypothesis = pytest.importorskip("hypothesis")
        st = hypothesis.strategies
        keys = ["a", "b", "c", "a:b", "{c}", "ü"]
        timestamps = st.sampled_from(EDGE_TIMESTAMPS) | st.integers(-3, 3) | st.integers(INT64_MIN, INT64_MAX)
        rows = st.builds(OnlineRow, st.sampled_from(keys), timestamps, timestamps, st.binary(max_size=12))

        def check(batches: list[list[OnlineRow]]) -> None:
            view = f"model-{uuid.uuid4().hex}"
            state: dict[str, OnlineRow] = {}
            try:
                for batch in batches:
                    assert store.write(view, batch) == newer_wins(state, batch)
                assert self._state(store, view, keys) == state
                assert store.count(view) == len(state)
            finally:
                store.delete_view(view)

        settings = hypothesis.settings(max_examples=60, deadline=None, database=None,
                                       suppress_health_check=list(hypothesis.HealthCheck))
        settings(hypothesis.given(st.lists(st.lists(rows, max_size=8), max_size=6))(check))()

    def test_info(self, store: OnlineStore) -> None:
        store.write("v", [row("a", 1)])
        info = store.info()
        assert isinstance(info, dict) and isinstance(info.get("backend"), str)
