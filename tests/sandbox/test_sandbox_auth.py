"""Auth: token required, configured token only, appsecret_proof (docs/meta-api.md §5 "Auth")."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from fbsync.sandbox import SandboxApp, SandboxStore

SECRET = "gdrtejfdghurnhnjghjnertihbknlrvv"
GOOD = "bekguvjhdvdburldfnrfdguljijenklc"


def proof(token: str, secret: str = SECRET, suffix: str = "") -> str:
    return hmac.new(secret.encode(), (token + suffix).encode(), hashlib.sha256).hexdigest()


def test_sdk_unit_vector():
    """docs/meta-api.md §6 test_appsecret_proof vector."""
    assert proof(GOOD) == "031fbfeb2e7498b0ed1eed93b5aab2939d01ece4abde9ba465770ece9f973fb0"


@pytest.fixture
def locked(clock):
    store = SandboxStore(None)
    yield SandboxApp(store, access_token=GOOD, app_secret=SECRET, clock=clock)
    store.close()


def _get(app, path, query):
    status, headers, body = app.handle("GET", path, query, {}, b"")
    return status, json.loads(body), headers


@pytest.mark.parametrize(
    "path, code, message",
    [
        ("/v26.0/me", 2500, "An active access token must be used to query information about the current user."),
        ("/v26.0/act_1", 104, "An access token is required to request this resource."),
        ("/v26.0/act_1/customaudiences", 104, "An access token is required to request this resource."),
    ],
)
def test_missing_token(app, path, code, message):
    status, body, headers = _get(app, path, "")
    assert status == 400
    assert body["error"]["code"] == code and body["error"]["type"] == "OAuthException"
    assert body["error"]["message"] == message
    assert "WWW-Authenticate" in headers


def test_any_token_when_unconfigured(app):
    assert _get(app, "/v26.0/me", "access_token=anything")[0] == 200
    assert _get(app, "/v26.0/me", "access_token=")[1]["error"]["code"] == 2500


def test_wrong_token_not_echoed(locked):
    secret_looking = "EAAB-wrong-token-123"
    status, body, headers = _get(
        locked, "/v26.0/me", f"access_token={secret_looking}&appsecret_proof={proof(secret_looking)}"
    )
    assert status == 400
    assert body["error"]["code"] == 190 and body["error"]["type"] == "OAuthException"
    assert "Invalid OAuth access token" in body["error"]["message"]
    assert secret_looking not in json.dumps(body) and secret_looking not in json.dumps(headers)


@pytest.mark.parametrize(
    "query, ok, message",
    [
        (f"access_token={GOOD}&appsecret_proof={proof(GOOD)}", True, None),
        (f"access_token={GOOD}&appsecret_proof={proof(GOOD).upper()}", True, None),
        (f"access_token={GOOD}", False, "API calls from the server require an appsecret_proof argument"),
        (
            f"access_token={GOOD}&appsecret_proof={proof(GOOD, 'other')}",
            False,
            "Invalid appsecret_proof provided in the API argument",
        ),
        (f"access_token={GOOD}&appsecret_proof=abc", False, "Invalid appsecret_proof provided in the API argument"),
        (
            f"access_token={GOOD}&appsecret_time=1700000000&appsecret_proof={proof(GOOD, suffix='|1700000000')}",
            True,
            None,
        ),
        (
            f"access_token={GOOD}&appsecret_time=1700000000&appsecret_proof={proof(GOOD)}",
            False,
            "Invalid appsecret_proof",
        ),
    ],
)
def test_appsecret_proof(locked, query, ok, message):
    status, body, _ = _get(locked, "/v26.0/act_1", query)
    assert (status == 200) is ok, body
    if not ok:
        assert body["error"]["code"] == 100 and body["error"]["type"] == "GraphMethodException"
        assert body["error"]["message"].startswith(message)


def test_token_in_body_and_authorization_header(locked):
    form = (
        "name=a&subtype=CUSTOM&customer_file_source=USER_PROVIDED_ONLY"
        f"&access_token={GOOD}&appsecret_proof={proof(GOOD)}"
    )
    status, _, _ = locked.handle(
        "POST", "/v26.0/act_1/customaudiences", "", {"Content-Type": "application/x-www-form-urlencoded"}, form.encode()
    )
    assert status == 200
    status, _, _ = locked.handle(
        "GET", "/v26.0/me", f"appsecret_proof={proof(GOOD)}", {"Authorization": f"Bearer {GOOD}"}, b""
    )
    assert status == 200


def test_admin_endpoints_need_no_token(locked):
    status, _, body = locked.handle("GET", "/__sandbox/requests", "", {}, b"")
    assert status == 200 and json.loads(body)["total"] == 0
