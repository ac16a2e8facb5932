"""RGPD end to end against the sandbox: consent, suppression (query, plain and hashed files), forget, purge."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from e2e_helpers import Workdir, configure, expected_rows, make_workdir

from fbsync import identity
from fbsync.sandbox import running_sandbox

pytestmark = pytest.mark.e2e
VIP_Q = "SELECT id, email, phone, first_name, last_name, consent FROM customers WHERE is_vip = 1"
VIP_K = {"EMAIL": "email", "PHONE": "phone", "FN": "first_name", "LN": "last_name"}


@pytest.fixture
def wd(tmp_path: Path, demo_crm: Path):  # type: ignore[no-untyped-def]
    with running_sandbox() as sb:
        yield make_workdir(tmp_path, demo_crm, sb.url)


def edit(wd: Workdir, fn) -> None:  # type: ignore[no-untyped-def]
    cfg = yaml.safe_load((wd.path / "audiences.yaml").read_text(encoding="utf-8"))
    fn(cfg)
    (wd.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))


def aud(cfg: dict, name: str) -> dict:
    return next(a for a in cfg["audiences"] if a["name"] == name)


def ids_of(rows: set[tuple[str, ...]], schema: tuple[str, ...]) -> set[tuple[str, str]]:
    return {(k, v) for r in rows for k, v in zip(schema, r) if v}


def without(rows: set[tuple[str, ...]], schema: tuple[str, ...], ids: set[tuple[str, str]]) -> set[tuple[str, ...]]:
    return {r for r in rows if not any((k, v) in ids for k, v in zip(schema, r) if v)}


SCHEMA = ("EMAIL", "PHONE", "LN", "FN")  # Meta's key order, as identity.KEYS gives it


def vip_expected(wd: Workdir, consent: str | None = "consent") -> set[tuple[str, ...]]:
    assert tuple(k for k in identity.KEYS if k in VIP_K) == SCHEMA
    return expected_rows(wd.crm, VIP_Q, VIP_K, consent=consent)


def test_consent_filter_withdrawal_and_off(wd: Workdir) -> None:
    assert wd.run("sync", "vip").exit_code == 0
    con = sqlite3.connect(wd.crm)
    con.execute("UPDATE customers SET consent = 0 WHERE is_vip = 1 AND consent = 1 AND id % 7 = 0")
    con.commit()
    con.close()
    before = wd.members("Clients VIP")
    r = json.loads(wd.run("sync", "vip", "--json").stdout)["audiences"][0]
    assert wd.members("Clients VIP") == vip_expected(wd) and r["removed"] == len(before - vip_expected(wd)) > 0
    edit(wd, lambda c: aud(c, "vip").update(consent=None))
    r = json.loads(wd.run("sync", "vip", "--json").stdout)["audiences"][0]
    assert r["rows_no_consent"] == 0
    assert wd.members("Clients VIP") == vip_expected(wd, consent=None)


def test_missing_consent_column_is_a_config_error(wd: Workdir) -> None:
    edit(wd, lambda c: aud(c, "vip").update(query="SELECT email, phone, first_name, last_name FROM customers"))
    r = wd.run("sync")
    assert r.exit_code == 2 and "audience vip" in r.stderr and "'consent'" in r.stderr
    assert wd.requests()["total"] == 0


def optout_ids(wd: Workdir) -> set[tuple[str, str]]:
    con = sqlite3.connect(wd.crm)
    rows = con.execute("SELECT email, phone FROM optouts").fetchall()
    con.close()
    b = identity.hash_batch({"EMAIL": [r[0] for r in rows], "PHONE": [r[1] for r in rows]}, "FR")
    return ids_of(set(b.rows), b.schema)


def test_suppression_from_a_query_matches_any_identifier(wd: Workdir) -> None:
    edit(
        wd,
        lambda c: c.update(
            suppression={"query": "SELECT email, phone FROM optouts", "keys": {"EMAIL": "email", "PHONE": "phone"}}
        ),
    )
    r = wd.run("sync", "vip", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)["audiences"][0]
    want = without(vip_expected(wd), SCHEMA, optout_ids(wd))
    assert want != vip_expected(wd) and rep["rows_suppressed"] > 0
    assert wd.members("Clients VIP") == want


@pytest.mark.parametrize("hashed", [False, True])
def test_suppression_from_a_file_plain_or_hashed(wd: Workdir, hashed: bool) -> None:
    assert wd.run("sync", "vip").exit_code == 0
    con = sqlite3.connect(wd.crm)
    raw = con.execute("SELECT email FROM customers WHERE is_vip = 1 AND consent = 1 AND email LIKE '%@%.%'").fetchall()
    con.close()
    emails = [e for (e,) in raw][:10]
    norm = [identity.normalize("EMAIL", e)[0] for e in emails]
    with (wd.path / "optouts.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["email"])
        for e, n in zip(emails, norm):
            w.writerow([hashlib.sha256(n.encode()).hexdigest().upper() if hashed else e])
    edit(wd, lambda c: c.update(suppression={"files": ["optouts.csv"]}))
    assert wd.run("sync", "vip").exit_code == 0
    ids = {("EMAIL", hashlib.sha256(n.encode()).hexdigest()) for n in norm if n}
    assert wd.members("Clients VIP") == without(vip_expected(wd), SCHEMA, ids)
    assert len(vip_expected(wd) - wd.members("Clients VIP")) >= 5


def test_suppression_beats_append_mode(wd: Workdir) -> None:
    edit(wd, lambda c: aud(c, "vip").update(mode="append"))
    assert wd.run("sync", "vip").exit_code == 0
    edit(
        wd,
        lambda c: c.update(
            suppression={"query": "SELECT email, phone FROM optouts", "keys": {"EMAIL": "email", "PHONE": "phone"}}
        ),
    )
    rep = json.loads(wd.run("sync", "vip", "--json").stdout)["audiences"][0]
    assert rep["removed"] > 0 and rep["strategy"] == "diff"
    assert wd.members("Clients VIP") == without(vip_expected(wd), SCHEMA, optout_ids(wd))


def _person(wd: Workdir) -> tuple[str, str]:
    """A consenting VIP whose email and phone are both valid and unique."""
    con = sqlite3.connect(wd.crm)
    for email, phone in con.execute(
        "SELECT email, phone FROM customers WHERE is_vip = 1 AND consent = 1 AND last_order_days <= 30 ORDER BY id"
    ):
        if identity.normalize("EMAIL", email)[0] and identity.normalize("PHONE", phone, "FR")[0]:
            n = con.execute("SELECT count(*) FROM customers WHERE email = ? OR phone = ?", (email, phone)).fetchone()
            if n[0] == 1:
                con.close()
                return email, phone
    raise AssertionError("no suitable person")


@pytest.mark.parametrize("by", ["email", "phone"])
def test_forget_removes_everywhere_and_keeps_out(wd: Workdir, by: str) -> None:
    assert wd.run("sync").exit_code == 0
    email, phone = _person(wd)
    key, value = ("EMAIL", email) if by == "email" else ("PHONE", phone)
    hashed = identity.hash_one(key, value, "FR")[0]
    holding = [n for n in ("Clients VIP", "Acheteurs récents (30 j)") if any(hashed in row for row in wd.members(n))]
    assert len(holding) == 2
    r = wd.run("forget", f"--{by}", value, "--yes")
    assert r.exit_code == 0, r.output
    assert "Forgotten: removed from" in r.stdout and "recent_buyers (1 row)" in r.stdout
    for n in holding:
        assert not any(hashed in row for row in wd.members(n))
    r = json.loads(wd.run("sync", "--json").stdout)
    for n in holding:  # the CRM still holds them; the next sync does not re-add them
        assert not any(hashed in row for row in wd.members(n))
    assert sum(a["rows_suppressed"] for a in r["audiences"]) >= 2
    (entry,) = [h for h in json.loads(wd.run("history", "--json").stdout) if h["command"] == "forget"]
    assert entry["status"] == "ok" and {a["audience"] for a in entry["audiences"] if a["rows_removed"]} >= {
        "vip",
        "recent_buyers",
    }
    assert json.loads(entry["summary"])["rows_removed"] >= 2
    blob = b"".join(f.read_bytes() for f in wd.state.rglob("*") if f.is_file())
    assert value.encode() not in blob and hashed.encode() not in blob


def test_forget_unknown_person_is_reported_and_still_suppressed(wd: Workdir) -> None:
    assert wd.run("sync", "vip").exit_code == 0
    r = wd.run("forget", "--email", "nobody.here@example.org", "--yes")
    assert r.exit_code == 0 and "Not found" in r.stdout and "suppressed anyway" in r.stdout
    con = sqlite3.connect(wd.crm)
    con.execute(
        "UPDATE customers SET email = 'nobody.here@example.org' WHERE id = (SELECT min(id) FROM customers "
        "WHERE is_vip = 1 AND consent = 1)"
    )
    con.commit()
    con.close()
    rep = json.loads(wd.run("sync", "vip", "--json").stdout)["audiences"][0]
    assert rep["rows_suppressed"] == 1


@pytest.mark.parametrize(
    "args, words",
    [
        ([], "--email and/or --phone"),
        (["--phone", "12"], "phone"),
        (["--email", "not-an-email"], "email"),
    ],
)
def test_forget_bad_input_exits_2_and_changes_nothing(wd: Workdir, args: list[str], words: str) -> None:
    r = wd.run("forget", *args, "--yes")
    assert r.exit_code == 2 and words in r.stderr, r.output
    assert wd.requests()["total"] == 0


def test_purge_deletes_local_data_and_the_next_sync_reestablishes(wd: Workdir) -> None:
    assert wd.run("sync", "vip").exit_code == 0
    r = wd.run("purge", "vip", "--yes")
    assert r.exit_code == 0 and "Purged vip" in r.stdout
    status = {s["name"]: s for s in json.loads(wd.run("status", "--json").stdout)}
    assert status["vip"]["meta_id"] is None and status["vip"]["ledger_rows"] == 0
    assert next(h["command"] for h in json.loads(wd.run("history", "--json").stdout)) == "purge"
    rep = json.loads(wd.run("sync", "vip", "--json").stdout)["audiences"][0]
    assert rep["strategy"] == "replace" and wd.members("Clients VIP") == vip_expected(wd)
    assert wd.run("purge", "nope", "--yes").exit_code == 2


IDS = ("EMAIL", "PHONE")


def id_pairs(rows: set[tuple[str, ...]], schema: tuple[str, ...]) -> set[tuple[str, str]]:
    return {(k, v) for r in rows for k, v in zip(schema, r) if v and k in IDS}


def test_exclude_and_intersect_between_audiences(wd: Workdir) -> None:
    rb_q = next(
        a for a in yaml.safe_load((wd.path / "audiences.yaml").read_text())["audiences"] if a["name"] == "recent_buyers"
    )
    rb_keys = rb_q["keys"]
    rb_schema = tuple(k for k in identity.KEYS if k in rb_keys)
    configure(wd.sandbox_url, min_audience_size_after_removal=None)  # about fbsync's sets, not Meta's minimum
    edit(wd, lambda c: aud(c, "recent_buyers").update(exclude=["vip"]))
    r = wd.run("sync", "recent_buyers", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)["audiences"][0]
    rb = expected_rows(wd.crm, rb_q["query"], rb_keys)
    vip_ids = id_pairs(vip_expected(wd), SCHEMA)
    want = {row for row in rb if not any((k, v) in vip_ids for k, v in zip(rb_schema, row) if v and k in IDS)}
    assert rep["rows_desired"] == len(want) and rep["rows_excluded"] >= len(rb) - len(want) > 0
    assert wd.members("Acheteurs récents (30 j)") == want
    edit(wd, lambda c: aud(c, "recent_buyers").update(exclude=[], intersect=["vip"]))
    refused = json.loads(wd.run("sync", "recent_buyers", "--json").stdout)["audiences"][0]
    assert refused["status"] == "refused"  # the intersection shrinks it by far more than 50 %
    rep = json.loads(wd.run("sync", "recent_buyers", "--force", "--json").stdout)["audiences"][0]
    inter = {row for row in rb if any((k, v) in vip_ids for k, v in zip(rb_schema, row) if v and k in IDS)}
    assert wd.members("Acheteurs récents (30 j)") == inter and 0 < len(inter) < len(rb)
    assert rep["rows_desired"] == len(inter) and rep["rows_not_intersecting"] >= len(rb) - len(inter)


def test_suppression_matches_identifiers_not_shared_attributes(wd: Workdir, tmp_path: Path) -> None:
    (wd.path / "optouts.csv").write_text("fn,ln\nMarie,Martin\n", encoding="utf-8")
    edit(wd, lambda c: c.update(suppression={"files": ["optouts.csv"]}))
    rep = json.loads(wd.run("sync", "vip", "--json").stdout)["audiences"][0]
    assert rep["rows_suppressed"] == 0 and wd.members("Clients VIP") == vip_expected(wd)


def test_exclusion_chains_resolve_in_dependency_order(wd: Workdir) -> None:
    cfg = yaml.safe_load((wd.path / "audiences.yaml").read_text())
    q = {a["name"]: (a["query"], a["keys"]) for a in cfg["audiences"]}
    edit(
        wd,
        lambda c: (aud(c, "recent_buyers").update(exclude=["vip"]), aud(c, "vip").update(exclude=["lapsed_customers"])),
    )
    r = wd.run("sync", "recent_buyers", "--json")
    assert r.exit_code == 0, r.output

    def rows(name: str) -> tuple[set[tuple[str, ...]], tuple[str, ...]]:
        query, keys = q[name]
        return expected_rows(wd.crm, query, keys), tuple(k for k in identity.KEYS if k in keys)

    def minus(name: str, other_ids: set[tuple[str, str]]) -> set[tuple[str, ...]]:
        rs, schema = rows(name)
        return {r for r in rs if not any((k, v) in other_ids for k, v in zip(schema, r) if v and k in IDS)}

    lapsed, lschema = rows("lapsed_customers")
    vip_after = minus("vip", id_pairs(lapsed, lschema))
    vip_schema = rows("vip")[1]
    want = minus("recent_buyers", id_pairs(vip_after, vip_schema))
    assert wd.members("Acheteurs récents (30 j)") == want
    assert want != minus("recent_buyers", id_pairs(rows("vip")[0], vip_schema))  # the chain mattered
