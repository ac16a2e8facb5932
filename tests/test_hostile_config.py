"""Broken or hostile input, as a user meets it through `fbsync validate`: one sentence, exit code 2, no traceback.

Each test writes the files a user could have (a Latin-1 export, an alias bomb, a typo in the environment),
runs the command line as they would, and checks the sentence that tells them what to fix.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from fbsync import logs
from fbsync.cli import app
from fbsync.config_types import check_country
from fbsync.errors import ConfigError

SECRET = "EAAB-very-secret-token-value"


def good_yaml(crm: Path, defaults: str = "  default_country: FR\n", extra: str = "") -> str:
    return (
        "version: 1\n"
        f"crm: {{url: 'sqlite:///{crm}'}}\n"
        "defaults:\n"
        f"{defaults}"
        "audiences:\n"
        "  - name: recent_buyers\n"
        '    display_name: "Acheteurs récents"\n'
        "    query: SELECT email FROM customers\n"
        "    keys: {EMAIL: email}\n"
        f"{extra}"
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working folder with a one-table CRM; no .env but the test's own, and the root logger restored."""
    monkeypatch.chdir(tmp_path)
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute("CREATE TABLE customers (email TEXT)")
        db.execute("INSERT INTO customers VALUES ('jean@example.fr')")
    db.close()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield tmp_path
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def validate(path: Path, *options: str) -> Result:
    return CliRunner().invoke(app, ["validate", "-c", str(path), *options])


def refused(result: Result, *words: str) -> str:
    """The one sentence of a refused run (exit code 2, no traceback) that contains every one of ``words``."""
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out, out
    assert out.count("✗") == 1, out
    for w in words:
        assert w in out, (w, out)
    return out


def test_a_valid_file_passes(home: Path) -> None:
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db"), encoding="utf-8")
    r = validate(path)
    assert r.exit_code == 0, r.output
    assert "is valid" in r.output


# ----------------------------------------------------------------------------- encodings


def test_latin1_yaml_names_file_line_and_fix(home: Path) -> None:
    path = home / "audiences.yaml"
    path.write_bytes(good_yaml(home / "crm.db").encode("latin-1"))
    out = refused(
        validate(path), "audiences.yaml, line 7 (byte offset", "is not UTF-8", "byte 0xE9", "save it as UTF-8"
    )
    assert "UnicodeDecodeError" not in out


def test_utf16_yaml_says_utf16(home: Path) -> None:
    path = home / "audiences.yaml"
    path.write_bytes(good_yaml(home / "crm.db").encode("utf-16"))
    refused(validate(path), "audiences.yaml: the file is UTF-16, not UTF-8; save it as UTF-8")


def test_utf8_bom_is_accepted_in_yaml_and_dotenv(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FBSYNC_CRM_URL", "recorded")  # so that monkeypatch removes what .env sets
    monkeypatch.delenv("FBSYNC_CRM_URL")
    (home / ".env").write_bytes(b"\xef\xbb\xbfFBSYNC_CRM_URL=sqlite:///" + str(home / "crm.db").encode() + b"\n")
    path = home / "audiences.yaml"
    text = good_yaml(home / "nowhere.db")  # only FBSYNC_CRM_URL from .env leads to the CRM
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    r = validate(path)
    assert r.exit_code == 0, r.output


def test_latin1_dotenv_names_the_file(home: Path) -> None:
    (home / ".env").write_bytes("# accès au CRM\nFBSYNC_CRM_URL=sqlite:///x.db\n".encode("latin-1"))
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db"), encoding="utf-8")
    refused(validate(path), f"{home / '.env'}, line 1 (byte offset 5): the file is not UTF-8", "save it as UTF-8")


# ----------------------------------------------------------------------------- aliases and nesting


@pytest.mark.parametrize(
    "snippet, anchor",
    [
        ("loop: &x [*x]\n", "x"),
        ("loop: &y {again: *y}\n", "y"),
        ("loop: &z {<<: *z}\n", "z"),
        ("loop: &w [1, [2, {deep: *w}]]\n", "w"),
    ],
)
def test_alias_inside_its_own_anchor(home: Path, snippet: str, anchor: str) -> None:
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db", extra=snippet), encoding="utf-8")
    out = refused(validate(path), f"audiences.yaml, line 10: the alias *{anchor} is inside", "write the value out")
    assert "RecursionError" not in out


@pytest.mark.timeout(30)
def test_billion_laughs_is_refused_at_once(home: Path) -> None:
    lines = ["lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db", extra="\n".join(lines) + "\n"), encoding="utf-8")
    started = time.perf_counter()
    r = validate(path)
    elapsed = time.perf_counter() - started
    refused(r, "audiences.yaml, line 14: the aliases (*name) expand to more than 100,000 YAML nodes")
    assert elapsed < 1.0, elapsed


def test_aliases_within_the_budget_still_work(home: Path) -> None:
    """Anchors are legitimate YAML: sharing a mapping between audiences stays allowed."""
    text = good_yaml(home / "crm.db").replace("keys: {EMAIL: email}", "keys: &k {EMAIL: email}")
    text += "  - name: vip\n    query: SELECT email FROM customers\n    keys: *k\n"
    path = home / "audiences.yaml"
    path.write_text(text, encoding="utf-8")
    r = validate(path)
    assert r.exit_code == 0, r.output
    assert "2 audiences" in r.output


@pytest.mark.timeout(30)
def test_runaway_nesting_is_refused(home: Path) -> None:
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db", extra="deep: " + "[" * 5000 + "]" * 5000 + "\n"), encoding="utf-8")
    out = refused(validate(path), "audiences.yaml, line 10: the YAML nests more than 100 levels")
    assert "RecursionError" not in out


# ----------------------------------------------------------------------------- countries and ratios


@pytest.mark.parametrize(
    "defaults, extra, where",
    [
        ("  default_country: ZZ\n", "", "line 4, defaults.default_country: 'ZZ'"),
        ("  consent: null\n", "    default_country: zz\n", "line 10, audiences[recent_buyers].default_country: 'zz'"),
        (
            "  consent: null\n",
            "  - name: lal\n    lookalike: {source: recent_buyers, countries: [FR, ZZ], ratios: [0.01]}\n",
            "line 11, audiences[lal].lookalike.countries[1]: 'ZZ'",
        ),
    ],
)
def test_unknown_country_is_refused_by_validate(home: Path, defaults: str, extra: str, where: str) -> None:
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db", defaults=defaults, extra=extra), encoding="utf-8")
    refused(
        validate(path),
        f"audiences.yaml, {where} is not an ISO 3166-1 alpha-2 country code; "
        "give a real two-letter code such as FR, BE or US.",
    )


def test_a_country_name_gets_its_code_suggested(home: Path) -> None:
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db", defaults="  default_country: UK\n"), encoding="utf-8")
    refused(validate(path), "'UK' is not an ISO 3166-1 alpha-2 country code; that country's code is GB.")


def test_check_country_for_the_command_line() -> None:
    assert check_country(" fr ") == "FR"
    with pytest.raises(ConfigError) as exc:
        check_country("ZZ")
    assert str(exc.value) == (
        "--default-country 'ZZ' is not an ISO 3166-1 alpha-2 country code; "
        "give a real two-letter code such as FR, BE or US."
    )
    assert exc.value.exit_code == 2


@pytest.mark.parametrize("ratios", ["[0.25]", "[0.0]", "[.nan]", "[0.01, 1]"])
def test_ratio_outside_meta_sizes_says_the_range(home: Path, ratios: str) -> None:
    extra = f"  - name: lal\n    lookalike: {{source: recent_buyers, countries: [FR], ratios: {ratios}}}\n"
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db", extra=extra), encoding="utf-8")
    refused(
        validate(path),
        "audiences[lal].lookalike.ratios[",
        "must be between 0.01 and 0.20 (Meta's lookalike sizes, 1–20 %)",
    )


def test_ratio_up_to_twenty_percent_is_accepted(home: Path) -> None:
    extra = "  - name: lal\n    lookalike: {source: recent_buyers, countries: [fr], ratios: [0.2, 0.1, 0.15]}\n"
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db", extra=extra), encoding="utf-8")
    r = validate(path)
    assert r.exit_code == 0, r.output


# ----------------------------------------------------------------------------- environment


@pytest.mark.parametrize(
    "name, value, sentence",
    [
        (
            "FBSYNC_STATE_KEY",
            "    ",
            "FBSYNC_STATE_KEY holds only spaces; set a real key of at least 16 characters, "
            "or unset it to use the key file fbsync keeps in the state folder.",
        ),
        (
            "FBSYNC_STATE_KEY",
            "short-" + SECRET[:6],
            "FBSYNC_STATE_KEY is too short; use at least 16 random characters",
        ),
        (
            "FBSYNC_GRAPH_URL",
            "notaurl",
            "FBSYNC_GRAPH_URL must be an http(s) URL such as https://graph.facebook.com",
        ),
        ("FBSYNC_GRAPH_URL", "ftp://graph.facebook.com", "FBSYNC_GRAPH_URL must be an http(s) URL"),
        ("FBSYNC_GRAPH_URL", "http://127.0.0.1:99999", "FBSYNC_GRAPH_URL must be an http(s) URL"),
        (
            "FB_AD_ACCOUNT_ID",
            "act_12ab",
            "FB_AD_ACCOUNT_ID must look like act_1234567890 (act_ followed by the account's digits).",
        ),
        (
            "FBSYNC_API_VERSION",
            "latest",
            "FBSYNC_API_VERSION must look like v24.0 (a Graph API version); leave it empty to use the SDK's.",
        ),
        ("FB_APP_SECRET", "  ", "FB_APP_SECRET holds only spaces; set a real value or leave it empty."),
    ],
)
def test_bad_environment_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, sentence: str
) -> None:
    monkeypatch.setenv("FB_ACCESS_TOKEN", SECRET)
    monkeypatch.setenv(name, value)
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db"), encoding="utf-8")
    out = refused(validate(path), sentence)
    assert SECRET not in out and SECRET[:6] not in out
    assert value.strip() == "" or value not in out


def test_every_environment_problem_at_once(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FBSYNC_STATE_KEY", " ")
    monkeypatch.setenv("FBSYNC_GRAPH_URL", "notaurl")
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db"), encoding="utf-8")
    refused(validate(path), "The environment has 2 problems:", "FBSYNC_STATE_KEY holds only spaces", "FBSYNC_GRAPH_URL")


def test_empty_variables_count_as_unset(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`.env.example` lists every variable empty: a copy of it must keep working."""
    for name in ("FBSYNC_STATE_KEY", "FBSYNC_GRAPH_URL", "FB_AD_ACCOUNT_ID", "FBSYNC_API_VERSION"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("FB_AD_ACCOUNT_ID", "1234567890")  # digits alone get their act_ prefix
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db"), encoding="utf-8")
    r = validate(path)
    assert r.exit_code == 0, r.output


# ----------------------------------------------------------------------------- log format


def test_log_format_must_be_text_or_json(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--log-format must be text or json, not 'xml'\.$"):
        logs.setup([], log_format="xml")


def test_log_format_xml_is_refused_by_the_command_line(home: Path) -> None:
    path = home / "audiences.yaml"
    path.write_text(good_yaml(home / "crm.db"), encoding="utf-8")
    r = CliRunner().invoke(app, ["sync", "-c", str(path), "--log-format", "xml"])
    refused(r, "--log-format", "xml", "json")
