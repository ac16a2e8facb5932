"""One row per Meta error: retried, fails the audience, or stops the run (docs/meta-api.md §3)."""

from __future__ import annotations

import json

import pytest

from fbsync.errors import MetaAuthError
from fbsync.meta.errors import classify, regain_seconds

RETRY, FAIL, STOP = "retry", "fail", "stop"


def body(code: int, sub: int | None = None, transient: bool | None = None) -> str:
    e: dict = {"message": "m", "type": "OAuthException", "code": code, "fbtrace_id": "x"}
    if sub is not None:
        e["error_subcode"] = sub
    if transient is not None:
        e["is_transient"] = transient
    return json.dumps({"error": e})


@pytest.mark.parametrize(
    "status, code, sub, transient, expected",
    [
        (500, 1, None, None, RETRY),
        (400, 1, 99, None, RETRY),
        (500, 2, None, True, RETRY),
        (400, 4, None, None, RETRY),
        (400, 17, 2446079, None, RETRY),
        (400, 32, None, None, RETRY),
        (400, 341, None, None, RETRY),
        (400, 368, None, None, RETRY),
        (400, 613, 1487742, None, RETRY),
        (400, 613, None, None, RETRY),
        (400, 80003, 2446079, None, RETRY),
        (400, 80004, None, None, RETRY),
        (400, 803, None, None, RETRY),
        (400, 2650, 1870145, None, RETRY),
        (400, 2650, 1870148, None, RETRY),
        (400, 12345, None, True, RETRY),
        (500, 12345, None, None, RETRY),
        (400, 100, None, None, FAIL),
        (400, 100, 33, None, FAIL),
        (400, 100, 1713230, None, FAIL),
        (400, 200, 1870047, None, FAIL),
        (400, 2650, 1870158, None, FAIL),
        (400, 2650, 1870147, None, FAIL),
        (400, 2650, 1870159, None, FAIL),
        (400, 2654, None, None, FAIL),
        (400, 2656, None, None, FAIL),
        (400, 190, None, None, STOP),
        (400, 190, 463, None, STOP),
        (400, 102, None, None, STOP),
        (400, 10, None, None, STOP),
        (400, 200, None, None, STOP),
        (400, 294, None, None, STOP),
        (400, 200, 1870034, None, STOP),
        (400, 200, 1870090, None, STOP),
        (400, 2655, None, None, STOP),
        (400, 200, 1870050, None, STOP),
    ],
)
def test_classification(status: int, code: int, sub: int | None, transient: bool | None, expected: str) -> None:
    e = classify(status, body(code, sub, transient))
    got = STOP if isinstance(e, MetaAuthError) else RETRY if e.transient else FAIL
    assert got == expected, str(e)
    assert e.code == code and e.subcode == sub
    if got == STOP:
        assert e.exit_code == 3


@pytest.mark.parametrize(
    "status, text, transient",
    [
        (503, "<html><body>Service Unavailable</body></html>", True),
        (502, "", True),
        (None, None, True),
        (400, "<html>Bad Request</html>", False),
        (502, "<html>oops</html>", True),
        (200, "<html>half a page", True),
    ],
)
def test_html_or_empty_bodies(status: int | None, text: str | None, transient: bool) -> None:
    e = classify(status, text)
    assert e.transient is transient and "HTTP" in str(e)


def test_wrong_appsecret_proof_stops_the_run() -> None:
    e = classify(
        400,
        json.dumps(
            {
                "error": {
                    "message": "Invalid appsecret_proof provided in the API argument",
                    "type": "GraphMethodException",
                    "code": 100,
                }
            }
        ),
    )
    assert isinstance(e, MetaAuthError) and "FB_APP_SECRET" in str(e)


def test_terms_message_tells_what_to_accept() -> None:
    e = classify(400, body(200, 1870034))
    assert "terms" in str(e) and "accept" in str(e)


def test_regain_time_is_minutes_in_header() -> None:
    h = {
        "x-business-use-case-usage": json.dumps(
            {"1": [{"type": "custom_audience", "estimated_time_to_regain_access": 3}]}
        )
    }
    assert regain_seconds(h) == 180
    assert regain_seconds({"X-Business-Use-Case-Usage": "not json"}) is None
    assert regain_seconds(None) is None


def body_msg(code: int, sub: int | None, message: str) -> str:
    e: dict = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "x"}
    if sub is not None:
        e["error_subcode"] = sub
    return json.dumps({"error": e})


@pytest.mark.parametrize(
    "code, sub, message, exit_code, transient, too_big, words",
    [
        (
            2635,
            None,
            "(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: v27.0.",
            2,
            False,
            False,
            ["FBSYNC_API_VERSION=v27.0", "no longer serves"],
        ),
        (2500, None, "Unknown path components: /customaudiences", 2, False, False, ["FBSYNC_API_VERSION"]),
        (
            2500,
            None,
            "An active access token must be used to query information about the current user.",
            3,
            False,
            False,
            ["FB_ACCESS_TOKEN"],
        ),
        (200, 1870034, "Custom Audience terms not accepted", 3, False, False, ["customaudiences/tos"]),
        (200, 1870090, "Custom Audience terms not accepted", 3, False, False, ["customaudiences/tos"]),
        (200, 1870092, "Business Tools terms not accepted", 3, False, False, ["Business Tools terms"]),
        (1487301, None, "Custom audience not available", 1, False, False, ["another business"]),
        (80003, 2446079, "There have been too many calls to this ad-account.", 1, True, False, ["custom audience"]),
        (100, 1713230, "Audience flagged", 1, False, False, ["uploads", "appeal"]),
        (100, 1713228, "Audience flagged", 1, False, False, ["rename", "appeal"]),
        (100, 1713231, "Audience flagged", 1, False, False, ["flagged field", "appeal"]),
        (100, 1713232, "Seed flagged", 1, False, False, ["lookalike", "appeal"]),
        (200, 1870047, "Audience Size too Low", 1, False, False, ["too small"]),
        (
            105,
            None,
            "(#105) The number of parameters exceeded the maximum for this operation",
            1,
            False,
            True,
            ["too many parameters"],
        ),
        (1, 99, "An unknown error occurred", 1, True, True, []),
    ],
)
def test_meta_2026_codes(
    code: int, sub: int | None, message: str, exit_code: int, transient: bool, too_big: bool, words: list[str]
) -> None:
    """The codes of Meta's API as it is in December 2026 (docs/meta-api.md §8), one row each."""
    e = classify(
        400,
        body_msg(code, sub, message),
        {
            "X-Business-Use-Case-Usage": json.dumps(
                {"42": [{"type": "custom_audience", "call_count": 100, "estimated_time_to_regain_access": 12}]}
            )
        },
    )
    assert (e.exit_code, e.transient, e.too_big) == (exit_code, transient, too_big), str(e)
    for w in words:
        assert w in str(e), (w, str(e))
    if code == 80003:
        assert e.regain_seconds == 12 * 60  # waited once, not failed
