"""audiences.yaml: the contract's example loads; every error names file, line and field; all at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fbsync.config import effective, load_config, parse_config
from fbsync.errors import ConfigError

README = Path(__file__).resolve().parents[1] / "README.md"

GOOD = """
version: 1
ad_account_id: act_1234567890
crm:
  url: ${CRM_URL:-sqlite:///demo/crm.db}
defaults:
  consent: consent
  default_country: fr
audiences:
  - name: recent_buyers
    display_name: "Acheteurs récents (30 j)"
    query: SELECT email, phone FROM customers
    keys: {EMAIL: email, PHONE: phone}
    mode: append
  - name: vip
    query: SELECT email FROM customers WHERE is_vip = 1
    keys: {EMAIL: email}
    consent: null
  - name: lal
    lookalike: {source: recent_buyers, countries: [FR], ratios: [0.03, 0.01]}
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "a.yaml", env or {})
    assert exc.value.exit_code == 2
    return exc.value.problems


def test_good_config_and_effective_settings() -> None:
    cfg = parse_config(GOOD, "a.yaml", {})
    assert cfg.crm.url == "sqlite:///demo/crm.db"
    rb, vip, lal = cfg.audiences
    e = effective(cfg, rb)
    assert (e.mode, e.default_country, e.consent, e.max_shrink, e.timezone) == (
        "append",
        "FR",
        "consent",
        0.5,
        "Europe/Paris",
    )
    assert effective(cfg, vip).consent is None and effective(cfg, vip).mode == "mirror"
    assert lal.lookalike is not None and lal.lookalike.ratios == [0.01, 0.03]


def test_env_expansion() -> None:
    cfg = parse_config(GOOD, "a.yaml", {"CRM_URL": "postgresql://u@h/db"})
    assert cfg.crm.url == "postgresql://u@h/db"


def test_missing_variable_names_line() -> None:
    text = GOOD.replace("${CRM_URL:-sqlite:///demo/crm.db}", "${CRM_URL}")
    (p,) = problems(text)
    assert p.startswith("a.yaml, line 5:") and "CRM_URL" in p and ".env" in p


def test_readme_reference_example_is_valid() -> None:
    """The README's audiences.yaml reference (the product contract's example) is a valid file as it stands."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## audiences.yaml reference\n+```yaml\n(.*?)```", text, re.S)
    assert block
    cfg = parse_config(block.group(1), "contract.yaml", {})
    assert [a.name for a in cfg.audiences] == ["recent_buyers", "vip", "lal_recent_buyers"]


@pytest.mark.parametrize(
    "old, new, line, field, words",
    [
        ("  - name: recent_buyers\n", "  - name: Recent\n", 10, "audiences[Recent].name", "lowercase"),
        (
            "{EMAIL: email, PHONE: phone}",
            "{EMAIL: email, TELEPHONE: phone}",
            13,
            "audiences[recent_buyers].keys",
            "unknown key 'TELEPHONE'",
        ),
        ("    mode: append\n", "    mode: sometimes\n", 14, "audiences[recent_buyers].mode", "mirror"),
    ],
)
def test_each_error_has_file_line_field(old: str, new: str, line: int, field: str, words: str) -> None:
    (p,) = problems(GOOD.replace(old, new, 1))
    assert p.startswith(f"a.yaml, line {line}, {field}"), p
    assert words in p


def test_three_faults_three_errors() -> None:
    text = (
        GOOD.replace("act_1234567890", "1234567890")
        .replace("ratios: [0.03, 0.01]", "ratios: [0.03, 0.25]")
        .replace("    consent: null\n", "    colour: red\n")
    )
    ps = problems(text)
    assert len(ps) == 3, ps
    assert any("line 3, ad_account_id" in p for p in ps)
    assert any("audiences[vip].colour" in p and "not a known field" in p for p in ps)
    assert any("audiences[lal].lookalike.ratios[1]" in p for p in ps)


@pytest.mark.parametrize(
    "change, words",
    [
        (("source: recent_buyers", "source: nobody"), "'nobody' is neither"),
        (("    mode: append\n", "    mode: append\n    exclude: [ghost]\n"), "'ghost' is not an audience"),
        (("    mode: append\n", "    mode: append\n    exclude: [vip]\n"), None),
        (("  - name: vip\n", "  - name: recent_buyers\n"), "used twice"),
        (("    consent: null\n", "    consent: null\n    exclude: [lal]\n"), "is a lookalike"),
    ],
)
def test_references(change: tuple[str, str], words: str | None) -> None:
    text = GOOD.replace(*change, 1)
    if words is None:
        parse_config(text, "a.yaml", {})
        return
    assert any(words in p for p in problems(text))


def test_lookalike_ratios_run_to_twenty_percent_and_countries_are_upper_cased() -> None:
    cfg = parse_config(GOOD.replace("countries: [FR], ratios: [0.03, 0.01]", "countries: [fr, be], ratios: [0.2]"))
    lal = cfg.audiences[2].lookalike
    assert lal is not None and lal.ratios == [0.2] and lal.countries == ["FR", "BE"]


@pytest.mark.parametrize(
    "old, new, words",
    [
        ("ratios: [0.03, 0.01]", "ratios: [0.21]", "must be between 0.01 and 0.20 (Meta's lookalike sizes, 1–20 %)"),
        ("ratios: [0.03, 0.01]", "ratios: [0.035]", "is not a whole percent"),
        ("countries: [FR]", "countries: [ZZ]", "lookalike.countries[0]: 'ZZ' is not an ISO 3166-1 alpha-2 country"),
        ("default_country: fr", "default_country: ZZ", "line 8, defaults.default_country: 'ZZ' is not an ISO"),
        ("default_country: fr", "default_country: ''", "defaults.default_country: is not an ISO"),
        ("default_country: fr", "default_country: France", "that country's code is FR"),
    ],
)
def test_ratios_and_countries_say_what_meta_takes(old: str, new: str, words: str) -> None:
    (p,) = problems(GOOD.replace(old, new, 1))
    assert words in p, p


def test_exclusion_cycle_is_an_error() -> None:
    text = GOOD.replace("    mode: append\n", "    mode: append\n    exclude: [vip]\n", 1).replace(
        "    consent: null\n", "    consent: null\n    intersect: [recent_buyers]\n", 1
    )
    assert any("cycle" in p and "recent_buyers" in p for p in problems(text))


@pytest.mark.parametrize(
    "snippet, words",
    [
        ("version: 1\naudiences: [\n", "YAML syntax"),
        ("", "empty"),
        ("version: 2\naudiences: []\n", "version"),
        (
            "version: 1\ndefaults: {schedule: 'every monday'}\naudiences:\n  - {name: a, query: q, keys: {EMAIL: e}}\n",
            "cron",
        ),
        (
            "version: 1\ndefaults: {timezone: Mars/Olympus}\naudiences:\n  - {name: a, query: q, keys: {EMAIL: e}}\n",
            "time zone",
        ),
        ("version: 1\naudiences:\n  - {name: a, query: q}\n", "needs a query and keys"),
        ("version: 1\naudiences:\n  - {name: a, query: q, keys: {}}\n", "at least one"),
    ],
)
def test_malformed(snippet: str, words: str) -> None:
    ps = problems(snippet)
    assert any(words in p for p in ps), ps


def test_load_config_reads_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_URL", "recorded")  # so that monkeypatch removes what .env sets
    monkeypatch.delenv("CRM_URL")
    (tmp_path / ".env").write_text("CRM_URL=sqlite:///from_dotenv.db\n")
    (tmp_path / "audiences.yaml").write_text(GOOD)
    loaded = load_config(tmp_path / "audiences.yaml")
    assert loaded.config.crm.url == "sqlite:///from_dotenv.db"
    assert len(loaded.digest) == 64


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(Path("/nonexistent/audiences.yaml"), env={})
