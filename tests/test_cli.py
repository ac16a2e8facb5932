"""The command line: every command documented, `hash` as in the contract, `doctor` against the sandbox."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fbsync.cli import app
from fbsync.sandbox import running_sandbox
from fbsync.sandbox.config import config_from_options

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def commands() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert commands()
    for name in commands():
        r = runner.invoke(app, [name, "--help"])
        assert r.exit_code == 0, name
        assert f"fbsync {name}" in readme, f"`fbsync {name}` is not documented in README.md"


def test_hash_key_prints_the_contracts_json_lines() -> None:
    r = runner.invoke(app, ["hash", "--key", "EMAIL", " Mary@Example.com ", "not-an-email"])
    assert r.exit_code == 0, r.output
    a, b = [json.loads(line) for line in r.stdout.splitlines()]
    assert a == {
        "input_index": 0,
        "normalized": "mary@example.com",
        "sha256": "f1904cf1a9d73a55fa5de0ac823c4403ded71afd4c3248d00bdcd0866552bb79",
    }
    assert b["input_index"] == 1 and b["dropped"] and "normalized" not in b


def test_hash_key_phone_with_default_country() -> None:
    r = runner.invoke(app, ["hash", "--key", "PHONE", "--default-country", "FR", "06 12 34 56 78"])
    line = json.loads(r.stdout)
    assert line["normalized"] == "33612345678"
    assert line["sha256"] == hashlib.sha256(b"33612345678").hexdigest()


def test_hash_key_unhashed_keys_have_no_sha256() -> None:
    r = runner.invoke(app, ["hash", "--key", "EXTERN_ID", "CRM-42"])
    assert json.loads(r.stdout) == {"input_index": 0, "normalized": "CRM-42", "sha256": None}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_hash_file_writes_metas_customer_file(tmp_path: Path, suffix: str) -> None:
    df = pd.DataFrame(
        {
            "mail": ["Mary@Example.com", "bad", ""],
            "tel": ["06 12 34 56 78", "", "+33 7 00 00 00 01"],
            "other": ["secret", "x", "y"],
        }
    )
    src = tmp_path / f"in{suffix}"
    if suffix == ".parquet":
        df.to_parquet(src)
    else:
        df.to_csv(src, sep="\t" if suffix == ".tsv" else ",", index=False)
    out = tmp_path / "out.csv"
    r = runner.invoke(
        app, ["hash", str(src), "--map", "EMAIL=mail", "--map", "PHONE=tel", "--default-country", "FR", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0] == ["email", "phone"]
    assert rows[1] == [hashlib.sha256(b"mary@example.com").hexdigest(), hashlib.sha256(b"33612345678").hexdigest()]
    assert rows[2] == ["", hashlib.sha256(b"33700000001").hexdigest()]
    assert len(rows) == 3  # the row with no usable key is dropped
    assert "3 rows read, 2 written" in r.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["hash", "x.csv"], "No --map"),
        (["hash", "x.csv", "--map", "EMAIL"], "is not KEY=column"),
        (["hash", "x.csv", "--map", "MAIL=m"], "not a Meta key"),
        (["hash", "missing.csv", "--map", "EMAIL=m"], "no such file"),
        (["hash", "--key", "NOPE", "v"], "not a Meta key"),
        (["hash"], "Give a FILE"),
    ],
)
def test_hash_errors_exit_2(args: list[str], words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("m\na@b.fr\n")
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and words in r.stderr, r.output


def test_hash_file_missing_column(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("mail\na@b.fr\n")
    r = runner.invoke(app, ["hash", str(tmp_path / "x.csv"), "--map", "EMAIL=email"])
    assert r.exit_code == 2 and "no column 'email'" in r.stderr and "mail" in r.stderr


def doctor(url: str, tmp_path: Path, token: str = "tok-0123456789") -> tuple[int, str]:
    env = {"FB_ACCESS_TOKEN": token, "FBSYNC_GRAPH_URL": url, "FB_AD_ACCOUNT_ID": "act_5"}
    r = runner.invoke(app, ["doctor", "-c", str(tmp_path / "none.yaml")], env=env)
    return r.exit_code, r.stdout


def test_doctor_all_good(tmp_path: Path) -> None:
    with running_sandbox() as sb:
        code, out = doctor(sb.url, tmp_path)
    assert code == 0, out
    # token, expiry, permissions, account, terms, value-based terms, API version, access tier, hashing
    assert out.count("✓") + out.count("!") == 9 and "✗" not in out
    assert "value-based terms: accepted" in out
    assert "hashing: OpenSSL" in out or "! hashing: hashlib" in out
    assert "API version: v26.0" in out and "access tier:" in out


def test_doctor_says_when_hashing_falls_back_to_hashlib(monkeypatch: pytest.MonkeyPatch) -> None:
    from fbsync.doctor import hashing_check
    from fbsync.identity import hashing

    monkeypatch.setattr(hashing, "FAST", None)
    check = hashing_check()
    assert not check.ok and not check.blocking
    assert check.line().startswith("! hashing: hashlib") and "libssl-dev" in check.line()
    monkeypatch.setattr(hashing, "FAST", hashing.python_hex_lines)
    assert hashing_check().line() == "✓ hashing: OpenSSL column hashing (C module built)"


@pytest.mark.parametrize(
    "knobs, code, words",
    [
        (dict(no_tos=True), 3, "✗ custom audience terms: not accepted — a person must accept them"),
        (dict(missing_permissions=["ads_management"]), 3, "✗ permissions: ads_management is not granted"),
        (dict(account_disabled=True), 3, "✗ ad account: act_5"),
        (dict(token_type="USER", token_expires_in_days=3), 0, "! token expiry: expires in 3 days"),
    ],
)
def test_doctor_finds_each_problem(tmp_path: Path, knobs: dict, code: int, words: str) -> None:
    with running_sandbox(config=config_from_options(**knobs)) as sb:
        got, out = doctor(sb.url, tmp_path)
    assert got == code, out
    assert words in out


def test_doctor_bad_token(tmp_path: Path) -> None:
    with running_sandbox(access_token="the-good-one") as sb:
        code, out = doctor(sb.url, tmp_path, token="a-bad-token-123")
    assert code == 3 and "✗ token" in out and "a-bad-token-123" not in out
