"""Several identifiers per customer, end to end against the sandbox, which keeps people as Meta does (a
removal takes off the person it matches, with every row of theirs): fan-out, removals that would take a kept
row along, forget, exclusions — and property tests over generated customers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Workdir, make_workdir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbsync import identity
from fbsync.sandbox import running_sandbox
from fbsync.sandbox.config import everyone_matches

pytestmark = pytest.mark.e2e

YAML = """\
version: 1
ad_account_id: act_1234567890
crm: {url: "sqlite:///demo/crm.db"}
defaults: {default_country: FR, consent: null, max_shrink: 1}
audiences:
  - name: clients
    query: "SELECT email, email2, phone FROM clients"
    keys: {EMAIL: [email, email2], PHONE: phone}
  - name: news
    query: "SELECT emails FROM clients"
    keys: {EMAIL: {column: emails, split: ";"}}
EXTRA"""


@pytest.fixture
def sb() -> Iterator[Any]:
    with running_sandbox() as s:
        yield s


def write(wd: Workdir, people: list[tuple[str | None, str | None, str | None]]) -> None:
    con = sqlite3.connect(wd.crm)
    con.execute("DROP TABLE IF EXISTS clients")
    con.execute("CREATE TABLE clients (id INTEGER PRIMARY KEY, email TEXT, email2 TEXT, phone TEXT, emails TEXT)")
    con.executemany(
        "INSERT INTO clients (email, email2, phone, emails) VALUES (?, ?, ?, ?)",
        [(e1, e2, p, ";".join(x for x in (e1, e2) if x)) for e1, e2, p in people],
    )
    con.commit()
    con.close()


def h(v: str) -> str:
    return identity.hash_batch({"EMAIL": [v]}).rows[0][0]


def hp(v: str) -> str:
    return identity.hash_batch({"PHONE": [v]}, "FR").rows[0][0]


def rows_of(people: list[tuple[str | None, str | None, str | None]]) -> set[tuple[str, str]]:
    """What ``clients`` must hold: a row per e-mail, the phone repeated (a customer without e-mail: one row)."""
    out = set()
    for e1, e2, p in people:
        emails = list(dict.fromkeys(x for x in (e1, e2) if x)) or [None]
        for e in emails:
            row = (h(e) if e else "", hp(p) if p else "")
            if any(row):
                out.add(row)
    return out


def workdir(tmp: Path, crm: Path, sb: Any, extra: str = "") -> Workdir:
    return make_workdir(tmp, crm, sb.url, YAML.replace("EXTRA", extra))


PEOPLE = [
    ("anne@exemple.fr", "anne@travail.fr", "0612345601"),
    ("bruno@exemple.fr", None, "0612345602"),
    ("chloe@exemple.fr", "chloe@travail.fr", None),
    ("david@exemple.fr", None, "0612345604"),
]


def test_several_emails_go_as_several_rows_and_a_dropped_one_keeps_the_customer(
    tmp_path: Path, demo_crm: Path, sb: Any
) -> None:
    wd = workdir(tmp_path, demo_crm, sb)
    write(wd, PEOPLE)
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    assert wd.members("clients") == rows_of(PEOPLE)
    assert rep["clients"]["rows_read"] == 4 and rep["clients"]["rows_desired"] == 6  # customers read, rows sent
    assert {r[0] for r in wd.members("news")} == {h(e) for p in PEOPLE for e in p[:2] if e}
    # Anne and Chloé leave their work address: a customer whose identifiers change has all its rows sent again
    # after the removals (Meta takes the person off with a removal), so both stay on the list.
    later = [("anne@exemple.fr", None, "0612345601"), PEOPLE[1], ("chloe@exemple.fr", None, None), PEOPLE[3]]
    write(wd, later)
    plan = json.loads(wd.run("plan", "clients", "--json").stdout)["audiences"][0]
    r = wd.run("sync", "clients", "--json")
    (a,) = json.loads(r.stdout)["audiences"]
    assert wd.members("clients") == rows_of(later)
    assert (a["removed"], a["added"], a["resent"]) == (4, 2, 0)
    assert (plan["added"], plan["removed"], plan["resent"]) == (2, 4, 0)


def test_forget_one_email_takes_the_whole_customer_out_of_every_audience(
    tmp_path: Path, demo_crm: Path, sb: Any
) -> None:
    wd = workdir(tmp_path, demo_crm, sb)
    write(wd, PEOPLE)
    assert wd.run("sync").exit_code == 0
    r = wd.run("forget", "--email", "chloe@travail.fr", "--yes")
    assert r.exit_code == 0, r.output
    assert not {h("chloe@exemple.fr"), h("chloe@travail.fr")} & {r[0] for r in wd.members("clients")}
    assert not {h("chloe@exemple.fr"), h("chloe@travail.fr")} & {r[0] for r in wd.members("news")}
    assert wd.run("sync").exit_code == 0  # kept out: one of her e-mails is suppressed, so the whole customer is
    assert wd.members("clients") == rows_of([p for p in PEOPLE if not p[0].startswith("chloe")])


def test_exclusion_matches_any_identifier_of_a_customer(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    extra = "  - name: staff\n    query: \"SELECT 'anne@travail.fr' AS email\"\n    keys: {EMAIL: email}\n"
    wd = workdir(tmp_path, demo_crm, sb, extra)
    yaml_path = wd.path / "audiences.yaml"
    text = yaml_path.read_text().replace(
        "keys: {EMAIL: [email, email2], PHONE: phone}",
        "keys: {EMAIL: [email, email2], PHONE: phone}\n    exclude: [staff]",
    )
    yaml_path.write_text(text)
    write(wd, PEOPLE)
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    assert rep["clients"]["rows_excluded"] == 1  # one customer: both of Anne's rows
    assert wd.members("clients") == rows_of(PEOPLE[1:])


emails = st.sampled_from([f"p{i}@exemple.fr" for i in range(12)])
phones = st.sampled_from([f"06123456{i:02d}" for i in range(8)])
people = st.lists(st.tuples(emails, st.one_of(st.none(), emails), st.one_of(st.none(), phones)), min_size=1, max_size=8)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=people, after=people)
def test_the_list_on_meta_is_the_desired_rows_after_any_change(
    tmp_path_factory: pytest.TempPathFactory, demo_crm: Path, before: list[Any], after: list[Any]
) -> None:
    """Whatever the customers become (shared phones, e-mails moving between customers, dropped addresses), the
    sandbox's people-based list ends up holding exactly the desired rows, and the ledger agrees (a third run
    sends nothing)."""
    with running_sandbox(config=everyone_matches()) as sb:
        wd = workdir(tmp_path_factory.mktemp("p"), demo_crm, sb)
        write(wd, before)
        assert wd.run("sync", "clients").exit_code == 0
        write(wd, after)
        r = wd.run("sync", "clients", "--json")
        assert r.exit_code == 0, r.output
        assert wd.members("clients") == rows_of(after)
        (again,) = json.loads(wd.run("sync", "clients", "--json").stdout)["audiences"]
        assert again["added"] == again["removed"] == 0


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(crowd=people, which=st.integers(min_value=0, max_value=7))
def test_forgetting_any_email_of_a_customer_removes_all_its_rows(
    tmp_path_factory: pytest.TempPathFactory, demo_crm: Path, crowd: list[Any], which: int
) -> None:
    with running_sandbox(config=everyone_matches()) as sb:
        wd = workdir(tmp_path_factory.mktemp("f"), demo_crm, sb)
        write(wd, crowd)
        assert wd.run("sync").exit_code == 0
        e1, e2, _ = crowd[which % len(crowd)]
        gone = e2 or e1
        assert wd.run("forget", "--email", gone, "--yes").exit_code == 0
        hashes = {h(e) for c in crowd for e in c[:2] if e and gone in c[:2]}  # every e-mail of those customers
        for name in ("clients", "news"):
            assert not hashes & {r[0] for r in wd.members(name)}, name
