"""``python -m fbsync.bench file``: a customer file in, a hashed file out, end to end, against Meta's SDK.

The file is the identity benchmark's French rows (7 keys) written as a CSV with French column names.
Baseline, measured in the same run: a plain ``csv`` loop feeding Meta's SDK helper
``CustomAudience.format_params(is_raw=True)`` 10,000 rows at a time and writing its rows with
``csv.writer``.  fbsync: the ``fbsync hash FILE --map … -o OUT`` command in a fresh process (its start-up
included).  Both outputs are compared: the same hashes, row for row.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .bench import Figure, Options, identity_rows, register

COLUMNS = {
    "EMAIL": "email",
    "PHONE": "telephone",
    "FN": "prenom",
    "LN": "nom",
    "CT": "ville",
    "ZIP": "code_postal",
    "COUNTRY": "pays",
}
SDK_SCRIPT = """
import csv, sys
from facebook_business.adobjects.customaudience import CustomAudience
schema = ["EMAIL", "PHONE", "FN", "LN", "CT", "ZIP", "COUNTRY"]
with open(sys.argv[1], newline="", encoding="utf-8") as f, open(sys.argv[2], "w", newline="") as g:
    reader, writer = csv.reader(f), csv.writer(g, lineterminator="\\n")
    next(reader)
    writer.writerow([k.lower() for k in schema])
    rows = []
    for row in reader:
        rows.append(row)
        if len(rows) == 10_000:
            writer.writerows(CustomAudience.format_params(schema, rows, is_raw=True)["payload"]["data"])
            rows = []
    if rows:
        writer.writerows(CustomAudience.format_params(schema, rows, is_raw=True)["payload"]["data"])
"""


def write_file(path: Path, rows: int, seed: int) -> None:
    columns = identity_rows(rows, seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([COLUMNS[k] for k in columns])
        w.writerows(zip(*columns.values(), strict=True))


def _run(cmd: list[str]) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of one command, its own (``wait4``), not the largest child so far."""
    os.sync()  # untimed: the previous command's output is on the disk, not still being written behind this one
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, cmd)
    return seconds, round(usage.ru_maxrss / 1024, 1)


@register("file", "fbsync hash FILE (CSV in, hashed CSV out, 7 keys) vs Meta's SDK in a csv loop")
def bench_file(options: Options) -> Iterator[Figure]:
    with tempfile.TemporaryDirectory(prefix="fbsync-bench-") as tmp:
        src, sdk_out, ours = Path(tmp) / "clients.csv", Path(tmp) / "sdk.csv", Path(tmp) / "fbsync.csv"
        # in a child: a child's peak RSS starts from its parent's size when forked, so this process stays small
        make = "import sys; from pathlib import Path; from fbsync.dev.bench_file import write_file; " + (
            "write_file(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))"
        )
        seconds, _ = _run([sys.executable, "-c", make, str(src), str(options.rows), str(options.seed)])
        size_mb = round(src.stat().st_size / 1e6, 1)
        yield {"case": "generate", "engine": "bench", "rows": options.rows, "seconds": round(seconds, 3),
               "note": f"{size_mb} MB CSV, seed {options.seed}"}  # fmt: skip
        sdk_s, sdk_mb = _run([sys.executable, "-c", SDK_SCRIPT, str(src), str(sdk_out)])
        yield {
            "case": "7key-file",
            "engine": "facebook_business.format_params in a csv loop",
            "rows": options.rows,
            "seconds": round(sdk_s, 3),
            "peak_rss_mb": sdk_mb,
        }
        fbsync = [sys.executable, "-m", "fbsync", "hash", str(src), "-o", str(ours), "--default-country", "FR"]
        for key, column in COLUMNS.items():
            fbsync += ["--map", f"{key}={column}"]
        env_cpus = os.cpu_count() or 1
        ours_s, ours_mb = _run(fbsync)
        same = _same_hashes(sdk_out, ours)
        yield {
            "case": "7key-file",
            "engine": "fbsync hash",
            "workers": env_cpus,
            "rows": options.rows,
            "seconds": round(ours_s, 3),
            "ratio_vs_sdk": round(sdk_s / ours_s, 1),
            "same_hashes_as_sdk": same,
            "peak_rss_mb": ours_mb,
            "note": "a fresh process, start-up included; peak_rss_mb: that process's own",
        }


def _same_hashes(sdk: Path, ours: Path) -> str:
    """Rows whose e-mail hash is the same in both files (both keep every row of this data, in order).
    Only the e-mail is compared: the SDK leaves phones without their country code and keeps values
    fbsync drops as invalid, so the other keys differ on purpose (docs/identity.md)."""
    with sdk.open(newline="") as a, ours.open(newline="") as b:
        ra, rb = csv.reader(a), csv.reader(b)
        i, j = next(ra).index("email"), next(rb).index("email")
        pairs = [(x[i], y[j]) for x, y in zip(ra, rb, strict=False) if x[i] and y[j]]
    return f"{sum(x == y for x, y in pairs)}/{len(pairs)} e-mails"
