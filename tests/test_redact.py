"""The one redaction path: no secret and no customer identifier survives it; counts and Meta's ids do."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fbsync import logs, redact

LOCAL = st.from_regex(r"[a-z][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True)
DOMAIN = st.from_regex(r"[a-z][a-z0-9-]{0,10}\.(fr|com|net|org|co\.uk)", fullmatch=True)
EMAIL = st.builds(lambda a, b: f"{a}@{b}", LOCAL, DOMAIN)
PHONE = st.builds(
    lambda cc, digits, sep: f"+{cc}{sep}" + sep.join(digits[i : i + 2] for i in range(0, len(digits), 2)),
    st.sampled_from(["33", "32", "41", "44", "1"]),
    st.from_regex(r"[1-9][0-9]{8}", fullmatch=True),
    st.sampled_from([" ", ".", "-", ""]),
) | st.from_regex(r"0[1-9]( ?[0-9]{2}){4}", fullmatch=True)
HASH = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
FILLER = st.text(alphabet="abcdefghij ,;:()-'", max_size=20)


@given(st.lists(st.tuples(FILLER, st.one_of(EMAIL, PHONE, HASH)), min_size=1, max_size=5), FILLER)
def test_no_identifier_survives(parts: list[tuple[str, str]], tail: str) -> None:
    text = "".join(f"{f} {ident} " for f, ident in parts) + tail
    out = redact.scrub(text)
    for _, ident in parts:
        assert ident not in out, (ident, out)


def test_secrets_and_url_credentials_are_replaced() -> None:
    redact.register(["tok-ABCDEFGH12345678", "s3", None])
    text = (
        "GET https://u:hunter2@graph.example/v26.0/me?access_token=tok-ABCDEFGH12345678&appsecret_proof=abc "
        "and the token tok-ABCDEFGH12345678 again"
    )
    out = redact.scrub(text)
    assert "tok-ABCDEFGH12345678" not in out and "hunter2" not in out and "appsecret_proof=***" in out
    assert "s3" in redact.scrub("s3 bucket")  # too short to be taken for a secret everywhere


@pytest.mark.parametrize(
    "kept",
    [
        "audience 23850000000000042: +13,500 −994 members (Meta id 120210000000000001)",
        "run 12 finished in 00:03:54 on 2026-12-07",
        "fbtrace_id AbCdEfGh123, code 2650/1870145",
    ],
)
def test_counts_ids_and_dates_are_left_alone(kept: str) -> None:
    assert redact.scrub(kept) == kept


def test_control_characters_are_shown_not_sent_to_the_terminal() -> None:
    assert redact.scrub("a\x00b\x1b[31mc") == "a\\x00b\\x1b[31mc"


def test_the_log_goes_through_it_and_keeps_tracebacks_off_the_console(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    before = list(root.handlers)
    logs.setup(["the-secret-token-123"], state_dir=tmp_path)
    log = logging.getLogger("fbsync.test")
    try:
        raise ValueError("row jean.dupont@exemple.fr with the-secret-token-123")
    except ValueError:
        log.error("failed for jean.dupont@exemple.fr", exc_info=True)
    finally:
        for h in list(root.handlers):  # leave logging as the other tests expect it
            root.removeHandler(h)
            h.close()
        for h in before:
            root.addHandler(h)
    err = capsys.readouterr().err
    text = (tmp_path / "fbsync.log").read_text()
    assert "failed for [redacted]" in err and "Traceback" not in err
    assert "Traceback" in text and "ValueError" in text
    assert "jean.dupont" not in err + text and "the-secret-token-123" not in err + text
