"""The plan's scratch space (fbsync.state.staging) against a plain Python model of the same sets."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest

from fbsync.state.staging import PREFIX, Staging, clean_stale


def fp(n: int, high: int | None = None) -> bytes:
    """A 16-byte fingerprint; ``high`` fixes its first 8 bytes (to make keys share their high half)."""
    rnd = random.Random(n)
    first = (high if high is not None else rnd.getrandbits(64)).to_bytes(8, "big")
    return first + rnd.getrandbits(64).to_bytes(8, "big")


class Model:
    """What the staging must answer, kept in dicts and sets."""

    def __init__(self) -> None:
        self.desired: dict[bytes, bytes] = {}
        self.acked: set[bytes] = set()
        self.forced: set[bytes] = set()

    def add_desired(self, pairs: list[tuple[bytes, bytes]]) -> None:
        for f, row in pairs:
            self.desired.setdefault(f, row)  # the first row of a fingerprint stays

    def adds(self) -> list[tuple[bytes, bytes]]:
        return sorted((f, r) for f, r in self.desired.items() if f not in self.acked)

    def removes(self) -> list[bytes]:
        return sorted(f for f in self.acked if f not in self.desired)


def batches_flat(batches) -> list:  # type: ignore[no-untyped-def]
    return [item for batch in batches for item in batch]


def check(stg: Staging, model: Model) -> None:
    assert stg.desired == len(model.desired)
    assert stg.adds == len(model.adds())
    assert stg.removes == len(model.removes())
    assert stg.forced == len(model.forced)
    assert batches_flat(stg.iter_adds(7)) == model.adds()
    assert batches_flat(stg.iter_desired(5)) == sorted(model.desired.items())
    assert batches_flat(stg.iter_removes(3)) == [(f,) for f in model.removes()]
    assert batches_flat(stg.iter_forced(4)) == [(f,) for f in sorted(model.forced)]


def test_random_operations_answer_as_the_model(tmp_path: Path) -> None:
    rnd = random.Random(7)
    # many keys share their high half (the rare case the arrays must sort on both halves), some end in zeros
    pool = [fp(i) for i in range(300)] + [fp(i, high=42) for i in range(300, 360)]
    pool += [f[:-2] + b"\x00\x00" for f in pool[:20]]
    model = Model()
    with Staging(tmp_path) as stg:
        for step in range(60):
            op = rnd.choice(["desired", "desired", "acked", "forced", "unack", "check"])
            picks = rnd.sample(pool, rnd.randint(0, 40))
            if op == "desired":
                pairs = [(f, os.urandom(rnd.randint(1, 90))) for f in picks]
                pairs += pairs[: len(pairs) // 3]  # the same fingerprint twice in one chunk
                stg.add_desired(pairs)
                model.add_desired(pairs)
            elif op == "acked":
                stg.add_acked(picks + picks[:3])
                model.acked |= set(picks)
            elif op == "forced":
                stg.add_forced(picks)
                model.forced |= set(picks)
            elif op == "unack":
                stg.unack(picks)
                model.acked -= set(picks)
            else:
                check(stg, model)
            assert stg.count_desired(picks) == sum(f in model.desired for f in picks)
            if step == 30:
                stg.clear_acked()
                stg.clear_forced()
                model.acked.clear()
                model.forced.clear()
        check(stg, model)


def test_iteration_is_a_snapshot(tmp_path: Path) -> None:
    """Writes between batches (the applier forgets or records rows as it goes) do not move the iteration."""
    with Staging(tmp_path) as stg:
        stg.add_desired([(fp(i), b"row%d" % i) for i in range(10)])
        batches = stg.iter_adds(3)
        first = next(batches)
        stg.add_acked([f for f, _ in first])
        stg.add_desired([(fp(100 + i), b"late") for i in range(5)])
        rest = batches_flat(batches)
        assert len(first) + len(rest) == 10
        assert stg.adds == 12


def test_value_based_rows_keep_the_highest_value_per_person(tmp_path: Path) -> None:
    with Staging(tmp_path) as stg:
        person_a, person_b = fp(1), fp(2)
        stg.add_valued([(person_a, fp(10), b"a-10", 10.0), (person_b, fp(20), b"b-5", 5.0)])
        stg.add_valued([(person_a, fp(11), b"a-30", 30.0), (person_a, fp(12), b"a-20", 20.0)])
        stg.add_valued([(person_b, fp(21), b"b-5-again", 5.0)])  # a tie: the first added stays
        stg.settle()
        assert dict(batches_flat(stg.iter_desired(10))) == {fp(11): b"a-30", fp(20): b"b-5"}
        with pytest.raises(ValueError):
            stg.add_valued([(person_a, fp(13), b"nan", float("nan"))])


def test_scratch_file_is_private_holds_only_what_it_is_given_and_goes_away(tmp_path: Path) -> None:
    stg = Staging(tmp_path)
    stg.add_desired([(fp(1), b"ciphertext-1"), (fp(2), b"ciphertext-2")])
    assert stat.S_IMODE(stg.path.stat().st_mode) == 0o600
    assert stg.path.name.startswith(PREFIX)
    assert stg.path.read_bytes() == b"ciphertext-1ciphertext-2"
    stg.close()
    assert not stg.path.exists()


def test_fingerprints_must_be_16_bytes(tmp_path: Path) -> None:
    with Staging(tmp_path) as stg, pytest.raises(ValueError, match="16 bytes"):
        stg.add_desired([(b"short", b"row")])


def test_stale_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    (tmp_path / f"{PREFIX}old.rows").write_bytes(b"x")
    (tmp_path / f"{PREFIX}older.db").write_bytes(b"x")  # the SQLite scratch files of earlier versions
    (tmp_path / "state.db").write_bytes(b"keep")
    clean_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]


def test_empty_staging(tmp_path: Path) -> None:
    with Staging(tmp_path) as stg:
        stg.settle()
        check(stg, Model())
        assert stg.count_desired([]) == 0
        stg.unack([])


def test_a_ledgers_fingerprints_in_order_are_taken_as_they_come(tmp_path: Path) -> None:
    """The store gives fingerprints sorted, chunk after chunk: no sort is needed, the answers are the same,
    including keys that share their high half and a chunk that comes out of order."""
    pool = sorted({fp(i) for i in range(200)} | {fp(i, high=7) for i in range(200, 230)})
    with Staging(tmp_path) as stg:
        stg.add_desired([(f, b"r") for f in pool[::2]])
        for start in range(0, len(pool), 40):
            stg.add_acked(pool[start : start + 40])
        assert (stg.desired, stg.adds, stg.removes) == (len(pool[::2]), 0, len(pool) - len(pool[::2]))
        assert batches_flat(stg.iter_removes(9)) == [(f,) for f in pool[1::2]]
        stg.add_acked([pool[0], pool[-1]])  # again, and out of order
        assert stg.removes == len(pool) - len(pool[::2])


def test_membership_is_the_same_whatever_the_block_of_queries() -> None:
    import numpy as np

    from fbsync.state.staging import _keys, _member

    keys = sorted({fp(i) for i in range(50)} | {fp(i, high=3) for i in range(50, 60)})
    s_hi, s_lo = _keys(b"".join(keys))
    queries = [fp(i) for i in range(0, 120, 3)] + [fp(i, high=3) for i in range(55, 65)]
    q_hi, q_lo = _keys(b"".join(queries))
    expected = np.array([q in set(keys) for q in queries])
    for block in (1, 4, 7, 1 << 20):
        assert (_member(s_hi, s_lo, q_hi, q_lo, block) == expected).all()
