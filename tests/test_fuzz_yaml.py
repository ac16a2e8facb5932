"""Fuzzing audiences.yaml through ``fbsync validate`` and ``fbsync plan`` as a user runs them.

Whatever the file holds (broken YAML, wrong types, random bytes, customer identifiers in odd places), the
command ends with an exit code from the documented set, never a traceback, and never prints an identifier
the file contained.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fbsync.cli import app

EXIT_CODES = {0, 1, 2, 3}
EMAILS = st.sampled_from(["jean.dupont@exemple.fr", "marie-claire.lefevre@orange.fr", "x.y+z@free.fr"])
PHONES = st.sampled_from(["+33 6 12 34 56 78", "06.12.34.56.78", "0033612345678"])

BASE = """version: 1
ad_account_id: act_123
crm: {url: "sqlite:///crm.db"}
defaults: {default_country: FR}
audiences:
  - name: vip
    display_name: "Clients VIP"
    query: "SELECT email, phone FROM customers"
    keys: {EMAIL: email, PHONE: phone}
  - name: lal_vip
    lookalike: {source: vip, countries: [FR], ratios: [0.01, 0.05]}
"""

# Lines a hostile or careless user could put anywhere in the file.
FRAGMENTS = st.one_of(
    st.sampled_from(
        [
            "  - name: Bad Name",
            "    keys: {TELEPHONE: phone}",
            "defaults: {default_country: ZZ}",
            "    lookalike: {source: nobody, countries: [ZZ], ratios: [0.5]}",
            "a: &x [*x]",
            "b: &y {k: *y}",
            "ad_account_id: 12345",
            "version: 2",
            "api: {max_attempts: 0}",
            "    exclude: [vip]",
            '    query: "DELETE FROM customers"',
            'crm: {url: "notaurl"}',
            ": : :",
            "- - - [",
            "\t\tkeys:",
            'defaults: {schedule: "every monday"}',
            "defaults: {timezone: Paris/Europe}",
        ]
    ),
    EMAILS.map(lambda e: f'    display_name: "{e}"'),
    EMAILS.map(lambda e: f"  - name: {e}"),
    PHONES.map(lambda p: f'ad_account_id: "{p}"'),
    EMAILS.map(lambda e: f'    keys: {{EMAIL: "{e}"}}'),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
)


def crm(tmp: Path) -> None:
    con = sqlite3.connect(tmp / "crm.db")
    con.execute("CREATE TABLE IF NOT EXISTS customers (email TEXT, phone TEXT)")
    con.commit()
    con.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fuzz")
    crm(tmp)
    return tmp


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.integers(min_value=0, max_value=12), FRAGMENTS), max_size=4),
    tail=st.binary(max_size=24),
    command=st.sampled_from(["validate", "plan"]),
)
def test_any_audiences_yaml_gives_a_documented_exit_and_no_leak(
    folder: Path, edits: list[tuple[int, str]], tail: bytes, command: str
) -> None:
    lines = BASE.splitlines()
    for at, fragment in edits:
        lines.insert(min(at, len(lines)), fragment)
    data = "\n".join(lines).encode("utf-8") + (tail if tail and tail[0] % 3 == 0 else b"")
    path = folder / "audiences.yaml"
    path.write_bytes(data)
    env = {"FBSYNC_STATE_DIR": str(folder / ".fbsync"), "FB_ACCESS_TOKEN": ""}
    r = CliRunner().invoke(app, [command, "-c", str(path)], env=env)
    assert r.exit_code in EXIT_CODES, (r.exit_code, r.output)
    assert "Traceback" not in r.output, r.output
    text = data.decode("utf-8", "replace")
    for secret in (
        "jean.dupont@exemple.fr",
        "marie-claire.lefevre@orange.fr",
        "x.y+z@free.fr",
        "+33 6 12 34 56 78",
        "06.12.34.56.78",
        "0033612345678",
    ):
        if secret in text:
            assert secret not in r.output, (secret, r.output)
