"""State store and its keys: 0600 files, encrypted ledger, fingerprints not joinable with hashes."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path

import pytest

from fbsync.errors import ConfigError
from fbsync.state.crypto import RowCipher, load_master_key
from fbsync.state.store import StateStore, pending

TABLES = ("run_audiences", "runs", "ledger_pending", "ledger", "audiences", "suppressed", "schema_version")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The same state-store tests on SQLite (default) and on PostgreSQL (FBSYNC_STATE_URL)."""
    if request.param == "sqlite":
        s = StateStore.open(tmp_path)
    else:
        import sqlalchemy as sa

        url = request.getfixturevalue("pg_url")
        eng = sa.create_engine(url)
        with eng.begin() as c:
            for t in TABLES:
                c.exec_driver_sql(f"DROP TABLE IF EXISTS {t} CASCADE")
        eng.dispose()
        s = StateStore.open(tmp_path, url)
    yield s
    s.engine.dispose()


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_key_file_generated_once_0600_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        k1 = load_master_key(None, tmp_path / "st")
    assert "generated a new state key" in caplog.text
    assert mode(tmp_path / "st" / "state.key") == 0o600
    assert load_master_key(None, tmp_path / "st") == k1


def test_env_key_wins_and_must_be_long_enough(tmp_path: Path) -> None:
    assert load_master_key("x" * 32, tmp_path) == b"x" * 32
    assert not (tmp_path / "state.key").exists()
    with pytest.raises(ConfigError, match="too short"):
        load_master_key("short", tmp_path)


def test_cipher_round_trip_and_fingerprints() -> None:
    c = RowCipher(b"k" * 32)
    row = ("a" * 64, "", "b" * 64)
    blob = c.encrypt(row)
    assert c.decrypt(blob) == row
    assert c.encrypt(row) != blob  # random nonce
    fp = c.fingerprint(("EMAIL", "PHONE", "FN"), row)
    assert len(fp) == 16 and fp == c.fingerprint(("EMAIL", "PHONE", "FN"), row)
    assert fp != RowCipher(b"other-key" * 4).fingerprint(("EMAIL", "PHONE", "FN"), row)
    assert fp != c.fingerprint(("EMAIL", "FN", "PHONE"), row)  # the schema is part of the identity


REQUIRE_FAST = os.environ.get("FBSYNC_REQUIRE_FASTHASH") == "1"


@pytest.mark.parametrize("engine", ["openssl", "python"])
def test_pairs_are_one_fingerprint_and_one_encryption_per_row(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from fbsync.state import crypto

    if engine == "python":
        monkeypatch.setattr(crypto, "SEAL", None)
    elif crypto.SEAL is None:
        assert not REQUIRE_FAST, "CI requires the C module (FBSYNC_REQUIRE_FASTHASH=1): seal_rows is missing"
        pytest.skip("the optional C module is not built here")
    c = RowCipher(b"k" * 32)
    schema = ("EMAIL", "PHONE", "FN")
    rows = [("a" * 64, "", "b" * 64), ("", "c" * 64, ""), ("é" * 3, "d", ""), ("", "", ""), ("x" * 5000, "\n", "")]
    pairs = c.pairs(schema, rows)
    assert [fp for fp, _ in pairs] == [c.fingerprint(schema, r) for r in rows]  # hmac.digest's bytes
    assert [c.decrypt(enc) for _, enc in pairs] == rows  # cryptography's AESGCM opens them
    assert len({enc[:12] for _, enc in pairs}) == len(rows)  # a fresh nonce per row
    assert c.pairs(schema, []) == []


def test_the_c_sealer_refuses_what_it_cannot_seal() -> None:
    from fbsync.state import crypto

    if crypto.SEAL is None:
        pytest.skip("the optional C module is not built here")
    with pytest.raises(ValueError, match="32-byte"):
        crypto.SEAL(b"k", b"short", b"", [b"row"], b"n" * 12)
    with pytest.raises(ValueError, match="12 bytes"):
        crypto.SEAL(b"k", b"a" * 32, b"", [b"row"], b"n" * 11)
    with pytest.raises(TypeError, match="bytes"):
        crypto.SEAL(b"k", b"a" * 32, b"", ["row"], b"n" * 12)


def test_sealed_columns_are_the_pairs_of_the_rows_they_hold() -> None:
    """seal_columns (a column-wise hashed chunk, no Python object per row) gives the bytes ``pairs`` gives
    for the same rows: fingerprints equal, every row opens to the same fields, a fresh nonce each."""
    import numpy as np

    from fbsync.state import crypto

    if crypto.SEAL_FIELDS is None:
        assert not REQUIRE_FAST, "CI requires the C module (FBSYNC_REQUIRE_FASTHASH=1): seal_fields is missing"
        pytest.skip("the optional C module is not built here")
    c = RowCipher(b"k" * 32)
    schema = ("EMAIL", "PHONE", "FN")
    digest = [bytes([48 + i % 10]) * 64 for i in range(6)]  # six distinct 64-character fields
    empty = bytes(64)
    email = digest[0] + empty + digest[1] + digest[2]  # one field per row
    phone = digest[3] + digest[4] + empty + empty
    first = (digest[5] + empty, np.array([0, 1, 0, 1], dtype=np.int32))  # distinct fields and indices
    d = [f.decode() for f in digest]
    rows = [(d[0], d[3], d[5]), ("", d[4], ""), (d[1], "", d[5]), (d[2], "", "")]
    for keep, kept in ((None, rows), (bytearray(b"\x01\x00\x01\x01"), [rows[0], rows[2], rows[3]])):
        fps, sealed, sizes = c.seal_columns(schema, [email, phone, first], keep, len(kept))
        lengths = np.frombuffer(sizes, dtype=np.int64).tolist()
        assert len(fps) == 16 * len(kept) and sum(lengths) == len(sealed)
        assert [fps[i : i + 16] for i in range(0, len(fps), 16)] == [c.fingerprint(schema, r) for r in kept]
        starts = np.cumsum([0] + lengths[:-1]).tolist()
        blobs = [sealed[a : a + n] for a, n in zip(starts, lengths)]
        assert [c.decrypt(b) for b in blobs] == kept
        assert len({b[:12] for b in blobs}) == len(kept)
    with pytest.raises(ValueError, match="12 bytes"):
        crypto.SEAL_FIELDS(b"k", b"a" * 32, b"", [email], None, b"n" * 12)
    with pytest.raises(ValueError, match="32-byte"):
        crypto.SEAL_FIELDS(b"k", b"short", b"", [email], None, b"n" * 48)


def test_fingerprints_stay_byte_identical_across_versions() -> None:
    # Ledgers written by earlier versions hold these fingerprints: the formula must not drift.
    import hashlib
    import hmac

    from fbsync.state.crypto import SEP, _derive

    c = RowCipher(b"k" * 32)
    row, schema = ("a" * 64, "", "b" * 64), ("EMAIL", "PHONE", "FN")
    key = _derive(b"k" * 32, b"fingerprint")
    msg = (SEP.join(schema) + "\x1e" + SEP.join(row)).encode()
    assert c.fingerprint(schema, row) == hmac.new(key, msg, hashlib.sha256).digest()[:16]
    assert c.keyed_hash("x@y.fr") == hmac.new(key, b"idx@y.fr", hashlib.sha256).digest()[:16]


def test_store_file_is_0600_and_holds_no_hash_or_plaintext(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path)
    c = RowCipher(b"k" * 32)
    email_hash = hashlib.sha256(b"elodie.lefevre@gmail.com").hexdigest()
    row = (email_hash, "")
    store.save_audience("vip", meta_id="238", schema="EMAIL,PHONE")
    store.record_added("vip", [(c.fingerprint(("EMAIL", "PHONE"), row), c.encrypt(row))])
    store.engine.dispose()
    db = tmp_path / "state.db"
    assert mode(db) == 0o600
    raw = db.read_bytes()
    assert email_hash.encode() not in raw and bytes.fromhex(email_hash) not in raw
    assert hashlib.sha256(email_hash.encode()).digest()[:16] not in raw


def test_ledger_operations_are_idempotent_and_ordered(store: StateStore) -> None:
    rows = [(bytes([i]) * 16, b"enc%d" % i) for i in range(10)]
    store.record_added("a", rows[:6])
    store.record_added("a", rows[4:])  # overlap: an in-flight batch sent twice
    assert store.ledger_count("a") == 10
    assert [f for chunk in store.iter_fingerprints("a", chunk=3) for f in chunk] == sorted(f for f, _ in rows)
    store.record_removed("a", [rows[0][0], rows[1][0]])
    assert store.ledger_count("a") == 8
    assert dict(store.encrypted_rows("a", [rows[2][0]])) == {rows[2][0]: b"enc2"}
    assert store.ledger_count("b") == 0


def test_replace_commits_pending_atomically(store: StateStore) -> None:
    store.record_added("a", [(b"o" * 16, b"old")])
    store.record_added("a", [(b"n" * 16, b"new")], pending)
    assert store.ledger_count("a") == 1 and store.ledger_count("a", pending) == 1
    store.commit_replace("a")
    assert dict(store.encrypted_rows("a", [b"n" * 16, b"o" * 16])) == {b"n" * 16: b"new"}
    assert store.ledger_count("a", pending) == 0


def test_runs_and_history(store: StateStore) -> None:
    rid = store.start_run("sync", "d" * 64)
    store.record_audience_run(rid, "vip", status="ok", rows_read=10, rows_added=9, details={"drops": {}})
    store.record_audience_run(rid, "vip", status="ok", rows_read=10, rows_added=9, size_lower=9)
    store.finish_run(rid, "ok", {"audiences": 1})
    (h,) = store.history()
    assert h.status == "ok" and h.user and h.host and h.config_digest == "d" * 64
    assert [(a.audience, a.rows_added, a.size_lower) for a in h.audiences] == [("vip", 9, 9)]
    assert store.last_audience_run("vip").rows_read == 10


def test_extra_values(store: StateStore) -> None:
    store.set_extra("a", replace={"session_id": 1})
    assert store.extra("a") == {"replace": {"session_id": 1}}
    store.set_extra("a", replace=None)
    assert store.extra("a") == {}


def test_binary_fingerprints_sort_the_same_everywhere(store: StateStore) -> None:
    store.record_added("a", [(b"\x00" * 16, b"x"), (b"\xff" * 16, b"y")])
    assert [f for ch in store.iter_fingerprints("a") for f in ch] == [b"\x00" * 16, b"\xff" * 16]
    rid = store.start_run("sync", None)
    store.finish_run(rid, "ok")
    assert store.history()[0].status == "ok"


def test_suppressed_and_purge(store: StateStore) -> None:
    assert store.add_suppressed([b"a" * 16, b"b" * 16, b"a" * 16], "forget") == 2
    assert store.add_suppressed([b"a" * 16], "forget") == 0
    assert store.suppressed_hashes() == {b"a" * 16, b"b" * 16}
    store.save_audience("vip", meta_id="1", schema="EMAIL")
    store.record_added("vip", [(b"f" * 16, b"row")])
    assert store.purge_audience("vip") == 1
    assert store.audience("vip") is None and store.ledger_count("vip") == 0


def test_migrations_run_once_and_refuse_a_newer_store(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from fbsync.state.store import SCHEMA_VERSION, schema_version

    StateStore.open(tmp_path).engine.dispose()
    store = StateStore.open(tmp_path)  # a second open changes nothing
    with store.engine.begin() as c:
        assert c.execute(sa.select(schema_version.c.version)).scalars().all() == [SCHEMA_VERSION]
        c.execute(schema_version.update().values(version=SCHEMA_VERSION + 1))
    store.engine.dispose()
    with pytest.raises(ConfigError, match="newer fbsync"):
        StateStore.open(tmp_path)


def test_concurrent_first_opens_on_postgresql(pg_url: str) -> None:
    """Several processes creating the schema at once: the advisory lock makes it one migration."""
    import concurrent.futures

    import sqlalchemy as sa

    eng = sa.create_engine(pg_url)
    with eng.begin() as c:
        for t in ("run_audiences", "runs", "ledger_pending", "ledger", "audiences", "suppressed", "schema_version"):
            c.exec_driver_sql(f"DROP TABLE IF EXISTS {t} CASCADE")
    eng.dispose()

    def open_once(_: int) -> int:
        s = StateStore.open(Path("/nonexistent"), pg_url)
        n = s.ledger_count("x")
        s.engine.dispose()
        return n

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert list(pool.map(open_once, range(6))) == [0] * 6
    eng = sa.create_engine(pg_url)
    with eng.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM schema_version").scalar() == 1
    eng.dispose()
