"""Benchmarks: ``python -m fbsync.bench [GROUP…] [--rows N] [--seed S]``.

Each group is a function registered with :func:`register`; it yields one dict per
measured figure, printed as one JSON line.  ``python -m fbsync.bench`` runs every
group; ``python -m fbsync.bench identity`` runs one.  To add a group, create a
module ``fbsync/dev/bench_<name>.py`` (found and imported by :func:`discover`)::

    from .bench import Options, register

    @register("ledger", "writes and reads of acked fingerprints")
    def bench_ledger(options: Options) -> Iterator[dict[str, object]]:
        ...
        yield {"case": "write", "engine": "fbsync", "rows": n, "seconds": s}

``bench``, ``rows_per_s`` and ``peak_rss_mb`` are filled in when missing.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

Figure = dict[str, object]


@dataclass(frozen=True)
class Options:
    """Command-line knobs shared by all groups."""

    rows: int = 1_000_000
    seed: int = 20240607
    chunk: int = 50_000
    sdk_rows: int = 100_000
    workers: int = 2
    slow_ms: str = "1200-1800"  # the upload group's latency per /users call (Meta's, about 1.5 s)
    in_flight: int = 8  # the upload group's api.max_uploads_in_flight
    limited_rows: int = 250_000  # the upload group's Limited-tier case


@dataclass(frozen=True)
class Group:
    name: str
    description: str
    run: Callable[[Options], Iterator[Figure]]


GROUPS: dict[str, Group] = {}


def register(
    name: str, description: str
) -> Callable[[Callable[[Options], Iterator[Figure]]], Callable[[Options], Iterator[Figure]]]:
    """Decorator adding a benchmark group under ``name``."""

    def add(run: Callable[[Options], Iterator[Figure]]) -> Callable[[Options], Iterator[Figure]]:
        GROUPS[name] = Group(name, description, run)
        return run

    return add


def discover() -> dict[str, str]:
    """Import every ``fbsync.dev.bench_*`` module so it registers its groups; returns import errors."""
    import importlib
    import pkgutil

    from fbsync import dev

    failed: dict[str, str] = {}
    for info in pkgutil.iter_modules(dev.__path__):
        if info.name.startswith("bench_"):
            try:
                importlib.import_module(f"fbsync.dev.{info.name}")
            except Exception as exc:
                failed[info.name] = f"{type(exc).__name__}: {exc}"
    return failed


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (and of finished children), MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, kids) / 1024, 1)


def timed(run: Callable[[], object]) -> tuple[float, object]:
    """Seconds taken by ``run()`` and its result.

    Objects made before (the generated rows) are first moved to the collector's
    oldest generation, so that neither side pays for scanning the other's input.
    """
    gc.collect()
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


# --- identity: data -------------------------------------------------------------

_FIRST = [
    "Jean",
    "Marie",
    "Pierre",
    "Nathalie",
    "Philippe",
    "Isabelle",
    "Michel",
    "Catherine",
    "Alain",
    "Sylvie",
    "Éric",
    "Valérie",
    "Stéphane",
    "Hélène",
    "François",
    "Françoise",
    "Jérôme",
    "Céline",
    "Frédéric",
    "Élodie",
    "Sébastien",
    "Léa",
    "Chloé",
    "Zoé",
    "Maël",
    "Noémie",
    "Loïc",
    "Gaëlle",
    "Benoît",
    "Anaïs",
    "Jean-Pierre",
    "Marie-Claire",
    "Joël",
    "Hervé",
    "Thérèse",
    "Agnès",
    "Cédric",
    "Amélie",
    "Clément",
    "Aurélien",
    "Mathéo",
    "Inès",
    "Raphaël",
    "Océane",
]
_LAST = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Lefèbvre",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Le_Gall",
    "D'Artagnan",
    "N'Diaye",
    "Benoît",
    "Gérard",
    "Müller",
    "Boyer",
    "Chevalier",
    "Lemaître",
    "Faure",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Hénaff",
]
_CITIES = (
    ("Paris", "75001"),
    ("Paris 8e", "75008"),
    ("PARIS", "75015"),
    ("Marseille", "13001"),
    ("Lyon 3ème", "69003"),
    ("Lyon", "69002"),
    ("Toulouse", "31000"),
    ("Nice", "06000"),
    ("Nantes", "44000"),
    ("Strasbourg", "67000"),
    ("Montpellier", "34000"),
    ("Bordeaux", "33000"),
    ("Lille", "59000"),
    ("Rennes", "35000"),
    ("Reims", "51100"),
    ("Saint-Étienne", "42000"),
    ("Le Havre", "76600"),
    ("Toulon", "83000"),
    ("Grenoble", "38000"),
    ("Dijon", "21000"),
    ("Angers", "49000"),
    ("Nîmes", "30000"),
    ("Aix-en-Provence", "13100"),
    ("Clermont-Ferrand", "63000"),
    ("Besançon", "25000"),
    ("Boulogne-Billancourt", "92100"),
    ("Orléans", "45000"),
    ("Créteil", "94000"),
    ("Saint-Denis", "93200"),
    ("Évry-Courcouronnes", "91000"),
    ("Ajaccio", "20000"),
    ("Fort-de-France", "97200"),
    ("Saint-Pierre", "97410"),
    ("Bourg-en-Bresse", "01000"),
)
_DOMAINS = [
    "gmail.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "hotmail.fr",
    "wanadoo.fr",
    "sfr.fr",
    "yahoo.fr",
    "outlook.fr",
]
_COUNTRIES = ["FR"] * 16 + [
    "France",
    "fr",
    "FRA",
    "france",
    "Belgique",
    "BE",
    "Suisse",
    "Allemagne",
    "Royaume-Uni",
    "Frnace",
]
_PHONE_SHAPES = (
    "0{n}",
    "0{a} {b} {c} {d} {e}",
    "0{a}.{b}.{c}.{d}.{e}",
    "+33 {a} {b} {c} {d} {e}",
    "+33 (0){a} {b} {c} {d} {e}",
    "0033 {a} {b} {c} {d} {e}",
    "33{n}",
    "+33{n}",
    "0{a}-{b}-{c}-{d}-{e}",
)


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalnum()).lower()


def _phone(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        return ""
    if roll < 0.06:
        return rng.choice(["12345", "06 12 34", "n/a", "0000000000", "tel"])
    if roll < 0.07:
        return rng.choice(["+32 470 12 34 56", "+41 79 123 45 67", "+44 7911 123456", "+49 151 23456789"])
    lead = rng.choice("1234567967") if roll > 0.075 else rng.choice(["692", "690", "696"])
    rest = "".join(rng.choice("0123456789") for _ in range(9 - len(lead)))
    n = lead + rest
    parts = dict(n=n, a=n[0], b=n[1:3], c=n[3:5], d=n[5:7], e=n[7:9])
    return rng.choice(_PHONE_SHAPES).format(**parts)


def _email(rng: random.Random, first: str, last: str) -> str:
    roll = rng.random()
    if roll < 0.03:
        return (
            rng.choice(["", " ", "None"])
            if roll < 0.02
            else rng.choice(
                [f"{_ascii(first)}@", f"{_ascii(first)} {_ascii(last)}@gmail.com", "n/a", f"{_ascii(last)}.fr"]
            )
        )
    local = f"{_ascii(first)}.{_ascii(last)}{rng.randrange(10_000)}"
    address = f"{local}@{rng.choice(_DOMAINS)}"
    return address.upper() if roll > 0.97 else (f" {address} " if roll > 0.95 else address)


def _name(rng: random.Random, name: str) -> str:
    roll = rng.random()
    if roll < 0.02:
        return ""
    if roll < 0.10:
        return name.upper()
    if roll < 0.13:
        return unicodedata.normalize("NFD", name)
    return name.replace("_", " ")


def identity_rows(rows: int, seed: int) -> dict[str, list[str]]:
    """Reproducible French-flavoured customer rows: EMAIL, PHONE, FN, LN, CT, ZIP, COUNTRY."""
    rng = random.Random(seed)
    columns: dict[str, list[str]] = {k: [] for k in ("EMAIL", "PHONE", "FN", "LN", "CT", "ZIP", "COUNTRY")}
    for _ in range(rows):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        city, zip_code = rng.choice(_CITIES)
        columns["EMAIL"].append(_email(rng, first, last))
        columns["PHONE"].append(_phone(rng))
        columns["FN"].append(_name(rng, first))
        columns["LN"].append(_name(rng, last))
        columns["CT"].append(city if rng.random() > 0.02 else "")
        roll = rng.random()
        columns["ZIP"].append(
            zip_code if roll > 0.03 else rng.choice(["F-" + zip_code, zip_code + " CEDEX", "n/a", ""])
        )
        columns["COUNTRY"].append(rng.choice(_COUNTRIES))
    return columns


# --- identity: runs ---------------------------------------------------------------


def _chunks(columns: dict[str, list[str]], size: int) -> Iterator[dict[str, list[str]]]:
    total = len(next(iter(columns.values())))
    for start in range(0, total, size):
        yield {key: values[start : start + size] for key, values in columns.items()}


def _run_sdk(columns: dict[str, list[str]], limit: int) -> tuple[int, float]:
    from facebook_business.adobjects.customaudience import CustomAudience

    schema = list(columns)
    rows = [list(row) for row in zip(*(values[:limit] for values in columns.values()))]
    seconds, _ = timed(lambda: CustomAudience.format_params(schema, rows, is_raw=True))
    return len(rows), seconds


def _run_fbsync(columns: dict[str, list[str]], options: Options, workers: int) -> Figure:
    """Time fbsync over all rows in chunks; a worker pool is started (and timed) before."""
    from fbsync.identity import Engine, hash_batch

    chunks = list(_chunks(columns, options.chunk))
    if workers == 1:
        seconds, kept = timed(lambda: sum(len(hash_batch(chunk, "FR").rows) for chunk in chunks))
        return {"seconds": seconds, "kept_rows": kept}
    with Engine(workers=workers) as engine:
        startup, _ = timed(lambda: list(engine.imap(chunks[:1], "FR")))  # fork the pool, warm it
        seconds, kept = timed(lambda: sum(len(b.rows) for b in engine.imap(chunks, "FR")))
    return {
        "seconds": seconds,
        "kept_rows": kept,
        "startup_s": round(startup, 3),
        "note": "pool started and warmed on one chunk before timing (startup_s)",
    }


def _case(case: str, columns: dict[str, list[str]], options: Options) -> Iterator[Figure]:
    sdk_rows, sdk_seconds = _run_sdk(columns, options.sdk_rows)
    sdk_rate = sdk_rows / sdk_seconds
    yield {
        "case": case,
        "engine": "facebook_business.format_params",
        "rows": sdk_rows,
        "seconds": round(sdk_seconds, 3),
        "rows_per_s": round(sdk_rate),
        "note": f"SDK timed on the first {sdk_rows} rows (is_raw=True)",
    }
    for workers in (1, options.workers):
        run = _run_fbsync(columns, options, workers)
        rows = len(next(iter(columns.values())))
        rate = rows / float(run.pop("seconds"))  # type: ignore[arg-type]
        yield {
            "case": case,
            "engine": "fbsync" if workers == 1 else "fbsync-parallel",
            "workers": workers,
            "chunk": options.chunk,
            "rows": rows,
            "seconds": round(rows / rate, 3),
            "rows_per_s": round(rate),
            "ratio_vs_sdk": round(rate / sdk_rate, 1),
            **run,
        }


@register("identity", "normalize + SHA-256 of French customer rows vs Meta's SDK helper")
def bench_identity(options: Options) -> Iterator[Figure]:
    seconds, columns = timed(lambda: identity_rows(options.rows, options.seed))
    yield {
        "case": "generate",
        "engine": "bench",
        "rows": options.rows,
        "seconds": round(seconds, 3),
        "note": f"seed {options.seed}; 7 keys",
    }
    yield from _case("7key", columns, options)  # type: ignore[arg-type]
    yield from _case("email", {"EMAIL": columns["EMAIL"]}, options)  # type: ignore[index]


def _complete(group: str, figure: Figure) -> Figure:
    out: Figure = {"bench": group, **figure}
    if "rows_per_s" not in out and out.get("seconds"):
        out["rows_per_s"] = round(float(out["rows"]) / float(out["seconds"]))  # type: ignore[arg-type]
    out.setdefault("peak_rss_mb", peak_rss_mb())
    return out


def main(argv: Sequence[str] | None = None) -> int:
    failed = discover()
    groups = "; ".join(f"{g.name}: {g.description}" for g in GROUPS.values())
    parser = argparse.ArgumentParser(
        prog="python -m fbsync.bench", description=f"Run benchmark groups, one JSON line per figure. Groups: {groups}."
    )
    parser.add_argument("groups", nargs="*", help=f"groups to run (default: all): {', '.join(GROUPS)}")
    parser.add_argument("--rows", type=int, default=Options.rows, help="rows to generate (default %(default)s)")
    parser.add_argument("--seed", type=int, default=Options.seed, help="data seed (default %(default)s)")
    parser.add_argument(
        "--chunk", type=int, default=Options.chunk, help="rows per hash_batch call (default %(default)s)"
    )
    parser.add_argument(
        "--sdk-rows",
        type=int,
        default=Options.sdk_rows,
        help="rows timed through Meta's SDK helper (default %(default)s)",
    )
    parser.add_argument(
        "--workers", type=int, default=Options.workers, help="cores for the parallel engine (default %(default)s)"
    )
    parser.add_argument(
        "--slow-ms", default=Options.slow_ms, help="upload: latency of each /users call, ms or a range (%(default)s)"
    )
    parser.add_argument(
        "--in-flight", type=int, default=Options.in_flight, help="upload: batches in flight at most (%(default)s)"
    )
    parser.add_argument(
        "--limited-rows", type=int, default=Options.limited_rows, help="upload: rows of the Limited case (%(default)s)"
    )
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        broken = "".join(f"; {name} failed to import ({error})" for name, error in failed.items())
        parser.error(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}{broken}")
    options = Options(
        args.rows,
        args.seed,
        args.chunk,
        args.sdk_rows,
        args.workers,
        args.slow_ms,
        args.in_flight,
        args.limited_rows,
    )
    for name in args.groups or list(GROUPS):
        for figure in GROUPS[name].run(options):
            print(json.dumps(_complete(name, figure), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    # Run the importable module, so groups registered by fbsync.dev.bench_* land in its registry.
    from fbsync.dev import bench

    sys.exit(bench.main())
