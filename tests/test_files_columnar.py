"""``fbsync hash FILE`` through the column-wise path writes what the row path writes, byte for byte."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fbsync.errors import ConfigError
from fbsync.outfile import BlockWriter, open_out
from fbsync.sources import columnar, file_format
from fbsync.sources.files import hash_file

pytestmark = pytest.mark.skipif(not columnar.usable(["EMAIL"]), reason="the optional C module is not built here")
MAP = {"EMAIL": "email", "PHONE": "tel", "FN": "prenom", "LN": "nom", "CT": "ville", "ZIP": "cp", "COUNTRY": "pays"}
HOSTILE = [
    " Jean.Dupont@Orange.FR ", "pas un email", "", "\u00a0a@b.fr", "é@x.fr", "06 12 34 56 78", "+33 6 12 34 56 78",
    "06-12-34-56-78", "--", "n/a", "a" * 64, "Élodie", "SAINT-ÉTIENNE", "75001", "2A004", "fr", "France", "x" * 1200,
    "=cmd|' /C calc'!A0", "\u200bjean@x.fr", "0033612345678",
]  # fmt: skip


def _file(path: Path, rows: int, seed: int, ragged_at: int | None = None, quoted_newline: bool = False) -> Path:
    rng = random.Random(seed)
    lines = [",".join(MAP.values())]
    for i in range(rows):
        cells = [rng.choice(HOSTILE) for _ in MAP]
        if quoted_newline and i == rows // 3:
            cells[2] = '"Jean\nPierre"'
        line = ",".join(c if c.startswith('"') else '"' + c.replace('"', '""') + '"' for c in cells)
        lines.append(line + (",extra" if i == ragged_at else ""))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _both_ways(path: Path, monkeypatch: pytest.MonkeyPatch, mapping: dict[str, str] = MAP) -> tuple[bytes, Any]:
    outs = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(columnar, "usable", lambda keys: False)
            out = path.parent / f"out-{fast}.csv"
            with open_out(out) as stream:
                totals = hash_file(path, mapping, stream, "FR")
            outs.append((out.read_bytes(), totals))
    assert outs[0] == outs[1]
    return outs[0]


@pytest.mark.parametrize(
    ("rows", "ragged_at", "quoted_newline"),
    [(0, None, False), (7, None, False), (3_000, None, True), (3_000, 2_100, False), (60_000, 45_000, False)],
)
def test_a_file_hashes_the_same_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int, ragged_at: int | None, quoted_newline: bool
) -> None:
    # a ragged row far down hands the rest of the file to the csv module (lists, not arrays)
    data, totals = _both_ways(_file(tmp_path / "in.csv", rows, rows, ragged_at, quoted_newline), monkeypatch)
    assert data.startswith(b"email,phone,ln,fn,ct,zip,country\n")
    assert totals["rows_read"] == rows and totals["rows_malformed"] == (ragged_at is not None)


def test_a_parquet_file_and_a_subset_of_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    table = pa.table({c: [rng.choice(HOSTILE + [None]) for _ in range(5_000)] for c in MAP.values()})
    pq.write_table(table, tmp_path / "in.parquet")
    _both_ways(tmp_path / "in.parquet", monkeypatch)
    _both_ways(tmp_path / "in.parquet", monkeypatch, {"PHONE": "tel", "ZIP": "cp"})


def test_numbers_in_a_parquet_file_take_the_per_value_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pq.write_table(pa.table({"cp": [75001, None, 13001], "annee": [1985, 1990, None]}), tmp_path / "n.parquet")
    data, _ = _both_ways(tmp_path / "n.parquet", monkeypatch, {"ZIP": "cp", "DOBY": "annee"})
    assert data.count(b"\n") == 4


def test_keys_sent_unhashed_keep_the_row_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m.csv").write_text('email,id\na@b.fr,"x,1"\n', encoding="utf-8")
    data, _ = _both_ways(tmp_path / "m.csv", monkeypatch, {"EMAIL": "email", "EXTERN_ID": "id"})
    assert data.split(b"\n")[1].startswith(b'"x,1",')  # quoted by the csv module


def test_a_full_disk_is_one_sentence_and_no_file(tmp_path: Path) -> None:
    src = _file(tmp_path / "in.csv", 2_000, 1)
    with pytest.raises(ConfigError, match="cannot write the output"):
        with open_out(Path("/dev/full")) as stream:
            hash_file(src, MAP, stream, "FR")


def test_the_block_writer_hands_errors_to_the_caller() -> None:
    class Failing(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            raise OSError(28, "No space left on device")

    out = io.TextIOWrapper(io.BufferedWriter(Failing(), buffer_size=4), encoding="utf-8")
    with pytest.raises(OSError, match="No space"):
        with BlockWriter(out, depth=1) as write:
            for _ in range(50):  # never blocks on the full queue once the thread has failed
                write(b"x" * 10)


def test_the_block_writer_keeps_the_order(tmp_path: Path) -> None:
    with open_out(tmp_path / "o.txt") as stream:
        with BlockWriter(stream, sync_every=10) as write:
            for i in range(200):
                write(f"{i}\n".encode())
    assert (tmp_path / "o.txt").read_text().split() == [str(i) for i in range(200)]


@pytest.mark.parametrize(
    "tail",
    [b"ok\xc3\xa9", b"\xef\xbf\xbf", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe9", b"\xf0\x9f\x98"],
)
@pytest.mark.parametrize("newline", [b"", b"\n"])
def test_the_fast_utf8_check_agrees_with_the_decoder(tmp_path: Path, tail: bytes, newline: bytes) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n" + b"x,y\n" * 10 + b"x," + tail + newline)
    try:
        (b"x," + tail).decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert file_format._utf8(path) is valid
    assert (file_format._first_undecodable(path, "utf-8") is None) is valid


def test_the_file_bench_prints_its_ratio_and_both_processes_memory() -> None:
    import contextlib
    import json

    from fbsync.dev import bench

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bench.main(["file", "--rows", "3000"]) == 0
    sdk, ours = (json.loads(line) for line in out.getvalue().splitlines()[-2:])
    assert sdk["engine"].startswith("facebook_business") and ours["engine"] == "fbsync hash"
    same, total = ours["same_hashes_as_sdk"].removesuffix(" e-mails").split("/")
    assert ours["ratio_vs_sdk"] > 0 and same == total and int(total) > 2_500
    assert 20 < ours["peak_rss_mb"] < 2000 and 20 < sdk["peak_rss_mb"] < 2000
