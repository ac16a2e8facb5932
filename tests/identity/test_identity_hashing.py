"""Column hashing: the optional OpenSSL C module and the hashlib path give the same digests."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fbsync.identity import hash_batch, hashing
from fbsync.identity.parallel import Engine

REQUIRE_FAST = os.environ.get("FBSYNC_REQUIRE_FASTHASH") == "1"
fast_only = pytest.mark.skipif(
    hashing.FAST is None and not REQUIRE_FAST,
    reason="the optional C module is not built here (no compiler or OpenSSL headers)",
)


def test_fast_module_is_built_where_required() -> None:
    # CI sets FBSYNC_REQUIRE_FASTHASH=1: there the speed-up must be built, not silently skipped.
    if REQUIRE_FAST:
        assert hashing.FAST is not None and hashing.backend() == "openssl"
    else:
        assert hashing.backend() in ("openssl", "hashlib")


@pytest.mark.parametrize(
    ("data", "prefix", "keep_last", "lines"),
    [
        (b"", b"", 0, [b""]),
        (b"a", b"", 0, [b"a"]),
        (b"a\n", b"", 0, [b"a", b""]),
        (b"\n\n", b"", 0, [b"", b"", b""]),
        (b"jean@orange.fr\nmarie@free.fr", b"", 0, [b"jean@orange.fr", b"marie@free.fr"]),
        (b"0612345678\n+33612345678\n612345678\n12", b"33", 9, [b"33612345678"] * 3 + [b"3312"]),
        (b"x" * 200, b"", 0, [b"x" * 200]),  # several SHA-256 blocks
    ],
)
def test_hex_lines_examples(data: bytes, prefix: bytes, keep_last: int, lines: list[bytes]) -> None:
    expected = [hashlib.sha256(line).hexdigest() for line in lines]
    assert hashing.python_hex_lines(data, prefix, keep_last) == expected
    assert hashing.hex_lines(data, prefix, keep_last) == expected


@fast_only
@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=150).map(lambda b: b.replace(b"\n", b"")), max_size=40),
    st.binary(max_size=8),
    st.integers(min_value=0, max_value=20),
)
def test_c_module_matches_hashlib(lines: list[bytes], prefix: bytes, keep_last: int) -> None:
    data = b"\n".join(lines)
    assert hashing.FAST is not None
    assert hashing.FAST(data, prefix, keep_last) == hashing.python_hex_lines(data, prefix, keep_last)


@fast_only
def test_c_module_accepts_keywords_and_rejects_text() -> None:
    assert hashing.FAST is not None
    from fbsync.identity._fasthash import sha256_hex_lines

    assert sha256_hex_lines(b"12", prefix=b"33", keep_last=1) == [hashlib.sha256(b"332").hexdigest()]
    with pytest.raises(TypeError):
        sha256_hex_lines("not bytes")  # type: ignore[arg-type]


def _columns(rows: int) -> dict[str, list[object]]:
    emails = ["Jean.Dupont@Orange.fr", "bad-email", None, "", "élodie@free.fr", " marie@free.fr "]
    phones = ["06 12 34 56 78", "12345", "0033 6 98 76 54 32", None, "", "+33 (0)6 12 34 56 78"]
    return {
        "EMAIL": [emails[i % 6] for i in range(rows)],
        "PHONE": [phones[(i * 5) % 6] for i in range(rows)],
        "FN": [["Jean", "Élodie", None][i % 3] for i in range(rows)],
    }


def test_same_batch_with_and_without_the_c_module(monkeypatch: pytest.MonkeyPatch) -> None:
    columns = _columns(200)
    with_default = hash_batch(columns, "FR")
    monkeypatch.setattr(hashing, "FAST", None)
    assert hashing.backend() == "hashlib"
    pure = hash_batch(columns, "FR")
    assert (pure.rows, pure.kept_index, pure.invalid, pure.empty) == (
        with_default.rows,
        with_default.kept_index,
        with_default.invalid,
        with_default.empty,
    )
    with Engine(workers=2, slice_rows=37) as engine:  # workers fork with FAST=None too
        assert engine.hash_batch(columns, "FR").rows == with_default.rows


def test_pure_python_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FBSYNC_PURE_PYTHON", "1")
    assert hashing.c_function("sha256_hex_lines") is None and hashing.c_function("seal_rows") is None
    monkeypatch.setenv("FBSYNC_PURE_PYTHON", "0")
    assert (hashing.c_function("sha256_hex_lines") is None) == (hashing.FAST is None)


@fast_only
def test_c_module_on_a_large_column_from_several_threads() -> None:
    # 20,000 lines of 0-300 bytes (up to 5 SHA-256 blocks), hashed by 4 threads at once (the GIL is released).
    from concurrent.futures import ThreadPoolExecutor

    assert hashing.FAST is not None
    fast = hashing.FAST
    lines = [(b"x%d@" % i) * (i % 40) for i in range(20_000)]
    data = b"\n".join(lines)
    expected = [hashlib.sha256(line).hexdigest() for line in lines]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: fast(data, b"", 0), range(4)))
    assert all(result == expected for result in results)
