"""hash_batch / HashedBatch invariants, the parallel Engine, masking, the bench and import rules."""

from __future__ import annotations

import ast
import hashlib
import io
import json
import subprocess
import sys
from collections import Counter
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from fbsync.identity import KEYS, Engine, HashedBatch, hash_batch, hash_batch_parallel, hash_one, mask

IDENTITY = Path(__file__).parents[2] / "fbsync" / "identity"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


COLUMNS = {
    "COUNTRY": ["FR", "France", "Frnace", None, "fr", ""],
    "EMAIL": ["Jean.Dupont@Orange.fr", "bad-email", None, "", "marie@free.fr", "n/a"],
    "PHONE": ["06 12 34 56 78", "12345", "0033 6 98 76 54 32", None, "", "06 00"],
    "FN": ["Jean", "Élodie", "", None, "Marie", "---"],
}


def test_schema_order_missing_values_and_kept_index() -> None:
    batch = hash_batch(COLUMNS, "FR")
    assert batch.schema == ("EMAIL", "PHONE", "FN", "COUNTRY")  # Meta's KEYS order, not the mapping's
    assert batch.input_rows == 6
    # row 3: every key empty → dropped; row 5: every key empty or invalid → dropped
    assert batch.kept_index == [0, 1, 2, 4]
    assert batch.dropped_rows == 2
    assert batch.rows[0] == (sha("jean.dupont@orange.fr"), sha("33612345678"), sha("jean"), sha("fr"))
    assert batch.rows[1] == ("", "", sha("élodie"), sha("fr"))
    assert batch.rows[2] == ("", sha("33698765432"), "", "")
    assert batch.rows[3] == (sha("marie@free.fr"), "", sha("marie"), sha("fr"))
    assert all(len(row) == len(batch.schema) for row in batch.rows)


def test_counters_separate_empty_from_invalid() -> None:
    batch = hash_batch(COLUMNS, "FR")
    assert batch.empty == Counter({"EMAIL": 2, "PHONE": 2, "FN": 2, "COUNTRY": 2})
    assert batch.invalid == Counter(
        {
            ("EMAIL", "invalid email"): 2,
            ("PHONE", "invalid phone"): 2,
            ("FN", "invalid name"): 1,
            ("COUNTRY", "unknown country"): 1,
        }
    )
    assert batch.problems()["PHONE"] == {"empty": 2, "invalid phone": 2}


def test_examples_are_masked_and_never_raw() -> None:
    batch = hash_batch(COLUMNS, "FR")
    assert set(batch.examples) == set(batch.invalid)
    assert batch.examples[("PHONE", "invalid phone")] == ["1****", "0* **"]
    assert batch.examples[("COUNTRY", "unknown country")] == ["Fr****"]
    raw = {str(v) for values in COLUMNS.values() for v in values if v}
    for masked in (m for ms in batch.examples.values() for m in ms):
        assert masked not in raw
        assert not any(r in masked for r in raw if len(r) > 2)


def test_examples_capped_at_three_per_reason() -> None:
    batch = hash_batch({"EMAIL": [f"bad{i}" for i in range(10)]})
    assert batch.invalid[("EMAIL", "invalid email")] == 10
    assert len(batch.examples[("EMAIL", "invalid email")]) <= 3
    assert batch.rows == [] and batch.dropped_rows == 10


@pytest.mark.parametrize(
    ("key", "value", "masked"),
    [
        ("EMAIL", "jean.dupont@example.com", "j***@e***.com"),
        ("EMAIL", "jean@example", "j***@e***"),
        ("PHONE", "06 12 34 56 78", "06 ** ** ** 78"),
        ("PHONE", "12345", "1****"),
        ("COUNTRY", "France", "Fr****"),
        ("GEN", "X", "*"),
        ("FN", "Al", "A*"),
        ("ZIP", "2A004", "2A***"),
        ("EMAIL", ["a@b.fr"], "<list>"),
        ("EMAIL", True, "<bool>"),
        ("PHONE", 1234567, "1******"),
        ("CT", "x" * 500, "xx********"),
    ],
)
def test_mask(key: str, value: object, masked: str) -> None:
    assert mask(key, value) == masked


def test_same_result_as_cell_by_cell() -> None:
    batch = hash_batch(COLUMNS, "FR")
    for row, index in zip(batch.rows, batch.kept_index):
        expected = tuple(hash_one(key, COLUMNS[key][index], "FR")[0] or "" for key in batch.schema)
        assert row == expected


def test_accepts_pandas_and_numpy_columns() -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"zip": [75008, None, 69003], "mail": ["a@b.fr", None, "C@D.FR"]})
    batch = hash_batch({"ZIP": frame["zip"], "EMAIL": frame["mail"].to_numpy()})
    assert batch.rows == [(sha("a@b.fr"), sha("75008")), (sha("c@d.fr"), sha("69003"))]
    assert batch.empty == Counter({"ZIP": 1, "EMAIL": 1})


def test_dob_columns_from_dates() -> None:
    import datetime as dt

    dates = [dt.date(1985, 3, 7), dt.datetime(1990, 12, 1, 8), None, dt.date(1850, 1, 1)]
    batch = hash_batch({"DOBY": dates, "DOBM": dates, "DOBD": dates})
    assert batch.rows == [(sha("1985"), sha("03"), sha("07")), (sha("1990"), sha("12"), sha("01"))]
    assert batch.invalid[("DOBY", "invalid date")] == 1
    assert batch.empty["DOBM"] == 1


def test_fast_paths_keep_the_per_value_limits() -> None:
    long_email = "a" * 2000 + "@b.fr"
    batch = hash_batch({"EMAIL": [long_email, "a@b.fr", "Élodie@b.fr"]})
    assert batch.invalid == Counter({("EMAIL", "too long"): 1})
    assert batch.rows == [(sha("a@b.fr"),), (sha("élodie@b.fr"),)]
    # A phone made long by separators is too long, even though its digits would read well.
    padded = "+33" + "." * 1000 + "612345678"
    batch = hash_batch({"PHONE": [padded, "+33 6 12 34 56 78", padded, "0" * 64]}, "FR")
    assert batch.invalid == Counter({("PHONE", "too long"): 2})
    assert batch.rows == [(sha("33612345678"),), ("0" * 64,)]  # a 64-hex value passes through as a hash


def test_unhashed_keys_in_rows() -> None:
    batch = hash_batch({"EXTERN_ID": [" ID-1 ", "id-2"], "MADID": ["AEBE52E7-03EE-455A-B3C4-E57283966239", "x"]})
    assert batch.rows == [("ID-1", "aebe52e7-03ee-455a-b3c4-e57283966239"), ("id-2", "")]


def test_errors() -> None:
    with pytest.raises(ValueError):
        hash_batch({})
    with pytest.raises(ValueError):
        hash_batch({"EMAIL": ["a@b.fr"], "PHONE": []})
    with pytest.raises(ValueError):
        hash_batch({"E-MAIL": ["a@b.fr"]})
    with pytest.raises(ValueError):
        hash_batch({"PHONE": ["0612345678"]}, "France")


def test_empty_input() -> None:
    batch = hash_batch({"EMAIL": [], "PHONE": []}, "FR")
    assert (batch.rows, batch.kept_index, batch.dropped_rows, batch.input_rows) == ([], [], 0, 0)


def test_merge_adds_counters_and_offsets_kept_index() -> None:
    first = hash_batch({key: values[:3] for key, values in COLUMNS.items()}, "FR")
    second = hash_batch({key: values[3:] for key, values in COLUMNS.items()}, "FR")
    whole = hash_batch(COLUMNS, "FR")
    merged = first.merge(second)
    assert merged.rows == whole.rows
    assert merged.kept_index == whole.kept_index
    assert (merged.empty, merged.invalid, merged.dropped_rows) == (whole.empty, whole.invalid, whole.dropped_rows)
    with pytest.raises(ValueError):
        first.merge(hash_batch({"EMAIL": ["a@b.fr"]}))


def _mixed(rows: int) -> dict[str, list[object]]:
    base = {key: values * (rows // 6 + 1) for key, values in COLUMNS.items()}
    base["EXTERN_ID"] = [f"id\n{i}" if i % 7 == 0 else f"id-{i}" for i in range(len(base["EMAIL"]))]
    return {key: values[:rows] for key, values in base.items()}


@pytest.mark.parametrize("workers", [1, 2])
def test_engine_gives_hash_batch_result(workers: int) -> None:
    columns = _mixed(100)
    expected = hash_batch(columns, "FR")
    with Engine(workers=workers, slice_rows=13) as engine:
        got = engine.hash_batch(columns, "FR")
        chunks = [{k: v[i : i + 40] for k, v in columns.items()} for i in range(0, 100, 40)]
        parts = list(engine.imap(chunks, "FR"))
    assert (got.rows, got.kept_index, got.empty, got.invalid) == (
        expected.rows,
        expected.kept_index,
        expected.empty,
        expected.invalid,
    )
    assert [p.input_rows for p in parts] == [40, 40, 20]
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert (merged.rows, merged.kept_index) == (expected.rows, expected.kept_index)


def test_hash_batch_parallel_one_shot() -> None:
    columns = _mixed(30)
    assert hash_batch_parallel(columns, "FR", workers=2, slice_rows=7).rows == hash_batch(columns, "FR").rows


def test_hashed_batch_defaults() -> None:
    batch = HashedBatch(schema=("EMAIL",))
    assert batch.rows == [] and batch.empty == Counter() and batch.examples == {}


def test_identity_imports_only_stdlib_and_phonenumbers() -> None:
    allowed = set(sys.stdlib_module_names) | {"phonenumbers", "fbsync"}
    for path in IDENTITY.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            )
            for name in names:
                top = name.split(".")[0]
                assert top in allowed, f"{path.name} imports {name}"
                if top == "fbsync":
                    assert name.startswith("fbsync.identity"), f"{path.name} imports {name}"


def test_modules_stay_small() -> None:
    for path in list(IDENTITY.glob("*.py")) + [IDENTITY.parent / "bench.py"]:
        assert len(path.read_text(encoding="utf-8").splitlines()) < 400, path.name


def test_bench_smoke() -> None:
    from fbsync.dev import bench

    out = io.StringIO()
    with redirect_stdout(out):
        assert bench.main(["identity", "--rows", "2000", "--sdk-rows", "300", "--chunk", "500"]) == 0
    figures = [json.loads(line) for line in out.getvalue().splitlines()]
    cases = {(f["case"], f["engine"]) for f in figures}
    assert ("7key", "fbsync") in cases and ("email", "fbsync-parallel") in cases
    assert ("7key", "facebook_business.format_params") in cases
    for figure in figures:
        assert figure["bench"] == "identity" and "peak_rss_mb" in figure
    assert all("ratio_vs_sdk" in f for f in figures if f["engine"].startswith("fbsync"))
    assert set(bench.GROUPS) >= {"identity"}
    assert KEYS  # the bench only uses public names


def _blocks() -> set[str]:
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob("psm_*")} if shm.is_dir() else set()


def test_engine_leaves_no_shared_memory_even_when_stopped_early() -> None:
    before = _blocks()
    columns = _mixed(400)
    with Engine(workers=2, slice_rows=10) as engine:
        for batch in engine.imap([columns, columns, columns], "FR"):
            assert batch.input_rows == 400
            break  # the caller stops after the first chunk: queued slices must be freed
        assert engine.hash_batch(columns, "FR").rows == hash_batch(columns, "FR").rows
    assert _blocks() <= before


def test_engine_in_a_fresh_process_leaves_no_resource_tracker_warnings(tmp_path: Path) -> None:
    # Python's resource tracker complains at exit about blocks it thinks leaked when the
    # pool's workers run their own tracker; the engine starts it before forking them.
    script = tmp_path / "engine.py"
    script.write_text(
        "from fbsync.identity import Engine\n"
        "cols = {'EMAIL': ['a@b.fr', 'x'] * 50, 'PHONE': ['0612345678', ''] * 50}\n"
        "with Engine(workers=2, slice_rows=7) as engine:\n"
        "    print(len(engine.hash_batch(cols, 'FR').rows))\n",
        encoding="utf-8",
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "50"  # the rows where both keys are dropped go
    assert "resource_tracker" not in done.stderr and "leaked" not in done.stderr


def test_engine_cells_with_newlines_are_hashed_by_the_main_process() -> None:
    # A newline inside a cell makes the shared-memory block split into too many
    # lines; the worker leaves that column out and this process hashes it.
    columns = {
        "EMAIL": ["a@b.fr", "x@y.fr\nz@w.fr", "c@d.fr"] * 20,
        "PHONE": ["0612345678", None, "06 12"] * 20,
        "FN": ["Jean", "Élodie", ""] * 20,
    }
    expected = hash_batch(columns, "FR")
    with Engine(workers=2, slice_rows=9) as engine:
        got = engine.hash_batch(columns, "FR")
    assert (got.rows, got.kept_index, got.empty, got.invalid) == (
        expected.rows,
        expected.kept_index,
        expected.empty,
        expected.invalid,
    )
