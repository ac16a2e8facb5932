"""The sandbox over real HTTP: persistence, admin endpoints, the official SDK, a subprocess, speed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import responses

from fbsync.sandbox import SandboxApp, SandboxStore, running_sandbox
from fbsync.sandbox.config import everyone_matches

TOKEN = "http-token"


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _create(url: str, name: str = "a") -> str:
    resp = requests.post(
        f"{url}/v26.0/act_7/customaudiences",
        data={"name": name, "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY", "access_token": TOKEN},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


def test_persistence_across_restarts(tmp_path):
    data = str(tmp_path / "sandbox.db")
    with running_sandbox(data=data) as sb:
        aud = _create(sb.url, "kept")
        resp = requests.post(
            f"{sb.url}/v26.0/{aud}/users",
            data={
                "access_token": TOKEN,
                "payload": json.dumps({"schema": ["EMAIL"], "data": [[h("a")]]}),
                "session": json.dumps({"session_id": 3, "batch_seq": 1, "last_batch_flag": True}),
            },
        )
        assert resp.status_code == 200
    with running_sandbox(data=data) as sb:
        resp = requests.get(f"{sb.url}/v26.0/{aud}", params={"access_token": TOKEN, "fields": "name"})
        assert resp.json() == {"id": aud, "name": "kept"}
        assert sb.store.members(int(aud))["rows"] == [[h("a")]]
        again = requests.post(
            f"{sb.url}/v26.0/{aud}/users",
            data={
                "access_token": TOKEN,
                "payload": json.dumps({"schema": ["EMAIL"], "data": [[h("b")]]}),
                "session": json.dumps({"session_id": 3, "batch_seq": 2, "last_batch_flag": False}),
            },
        )
        assert again.json()["error"]["error_subcode"] == 1870159  # the closed session survived the restart
        assert int(_create(sb.url)) == int(aud) + 1


def test_admin_endpoints_over_http():
    with running_sandbox() as sb:
        aud = _create(sb.url, "x")
        requests.post(
            f"{sb.url}/v26.0/{aud}/users",
            data={
                "access_token": TOKEN,
                "payload": json.dumps({"schema": ["EMAIL", "FN"], "data": [[h("b"), ""], [h("a"), h("f")]]}),
            },
        )
        listing = requests.get(f"{sb.url}/__sandbox/audiences").json()["data"]
        assert listing == [
            {
                "id": aud,
                "account_id": "7",
                "name": "x",
                "subtype": "CUSTOM",
                "member_count": 2,  # uploaded rows; persons = the people Meta matched among them
                "persons": sum(sb.app.matcher.known("EMAIL", v) for v in (h("a"), h("b"))),
                "kind": "MULTI_HASHES",
                "schema": ["EMAIL", "FN"],
            }
        ]
        members = requests.get(f"{sb.url}/__sandbox/audiences/{aud}/members").json()
        assert members == {"schema": ["EMAIL", "FN"], "rows": sorted([[h("b"), ""], [h("a"), h("f")]])}
        counts = requests.get(f"{sb.url}/__sandbox/requests").json()
        assert counts == {
            "total": 2,
            "by_endpoint": {"POST /customaudiences": 1, "POST /users": 1},
            "in_flight_peak": {"POST /customaudiences": 1, "POST /users": 1},
        }
        assert requests.get(f"{sb.url}/__sandbox/audiences/999/members").status_code == 404
        assert requests.post(f"{sb.url}/__sandbox/reset").json() == {"success": True}
        assert requests.get(f"{sb.url}/__sandbox/audiences").json() == {"data": []}
        assert requests.get(f"{sb.url}/__sandbox/requests").json()["total"] == 0


def test_official_sdk_against_sandbox():
    from facebook_business.adobjects.adaccount import AdAccount
    from facebook_business.adobjects.customaudience import CustomAudience
    from facebook_business.api import FacebookAdsApi
    from facebook_business.exceptions import FacebookRequestError

    # Every e-mail is on Facebook here: this test is about the wire format, not about matching.
    with running_sandbox(access_token=TOKEN, app_secret="s3cret", config=everyone_matches()) as sb:
        api = FacebookAdsApi.init(access_token=TOKEN, app_secret="s3cret", crash_log=False)
        api._session.GRAPH = sb.url
        account = AdAccount("act_1")
        tos = account.api_get(fields=["tos_accepted"])["tos_accepted"]
        assert tos == {"custom_audience_tos": 1, "value_based_custom_audience_tos": 1}
        created = account.create_custom_audience(
            params={
                "name": "sdk",
                "subtype": "CUSTOM",
                "customer_file_source": "USER_PROVIDED_ONLY",
                "description": "d",
            }
        )
        aud_id = created["id"]
        for i in range(3):
            account.create_custom_audience(
                params={"name": f"more{i}", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY"}
            )
        names = [a["name"] for a in account.get_custom_audiences(fields=["name"], params={"limit": 2})]
        assert names == ["more2", "more1", "more0", "sdk"]  # the SDK Cursor walked every page
        audience = CustomAudience(aud_id)
        resp = audience.create_user(
            params={
                "payload": {"schema": ["EMAIL", "FN"], "data": [[h("a@b.c"), h("jo")], ["oops", ""]]},
                "session": {"session_id": 12, "batch_seq": 1, "last_batch_flag": True},
            }
        )
        assert resp["num_received"] == 2 and resp["num_invalid_entries"] == 1
        audience.add_users(schema=["EMAIL", "FN"], users=[["x@y.z", "Ann"]], is_raw=True)
        audience.remove_users(schema=["EMAIL", "FN"], users=[["a@b.c", "jo"]], is_raw=True)  # DELETE, payload in URL
        read = CustomAudience(aud_id).api_get(
            fields=["name", "approximate_count_lower_bound", "data_source", "delivery_status"]
        )
        assert read["name"] == "sdk" and read["approximate_count_lower_bound"] == 1
        assert read["data_source"]["sub_type"] == "MULTI_HASHES"
        with pytest.raises(FacebookRequestError) as info:
            audience.add_users(schema=CustomAudience.Schema.email_hash, users=["q@r.s"])
        assert info.value.api_error_code() == 2650 and info.value.http_status() == 400
        with pytest.raises(FacebookRequestError) as info:
            CustomAudience("23850000099999999").api_get(fields=["name"])
        assert (info.value.api_error_code(), info.value.api_error_subcode()) == (100, 33)
        CustomAudience(aud_id).api_update(params={"name": "renamed"})
        assert CustomAudience(aud_id).api_get(fields=["name"])["name"] == "renamed"
        other = FacebookAdsApi.init(access_token="wrong", app_secret="s3cret", crash_log=False)
        other._session.GRAPH = sb.url
        with pytest.raises(FacebookRequestError) as info:
            AdAccount("act_1", api=other).api_get(fields=["name"])
        assert info.value.api_error_code() == 190


def test_mounted_in_responses_callback():
    app = SandboxApp(SandboxStore(None))

    def callback(request):
        path, _, query = request.path_url.partition("?")
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        status, headers, payload = app.handle(request.method, path, query, dict(request.headers), body)
        return status, headers, payload

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, re.compile(r"https://graph\.facebook\.com/.*"), callback=callback)
        mock.add_callback(responses.GET, re.compile(r"https://graph\.facebook\.com/.*"), callback=callback)
        resp = requests.post(
            "https://graph.facebook.com/v26.0/act_3/customaudiences",
            data={"name": "r", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY", "access_token": "t"},
        )
        aud = resp.json()["id"]
        got = requests.get(f"https://graph.facebook.com/v26.0/{aud}", params={"access_token": "t", "fields": "name"})
        assert got.json() == {"id": aud, "name": "r"}


def test_subprocess_entry_point(tmp_path):
    env = {**os.environ, "FB_ACCESS_TOKEN": "env-token"}
    env.pop("FB_APP_SECRET", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fbsync.sandbox", "--port", "0", "--data", str(tmp_path / "s.db")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "the sandbox printed nothing within 20 s"
        line = proc.stdout.readline().strip()
        match = re.fullmatch(r"sandbox listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        url = match.group(1)
        assert requests.get(f"{url}/v26.0/me", params={"access_token": "env-token"}).status_code == 200
        assert requests.get(f"{url}/v26.0/me", params={"access_token": "other"}).json()["error"]["code"] == 190
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_upload_speed():
    """20,000 rows x 7 keys in two 10,000-row batches (the brief: well under a second or two)."""
    app = SandboxApp(SandboxStore(None))
    schema = ["EMAIL", "PHONE", "FN", "LN", "ZIP", "CT", "COUNTRY"]
    rows = [[h(f"{k}{i}") for k in schema] for i in range(20_000)]
    status, _, raw = app.handle(
        "POST",
        "/v26.0/act_1/customaudiences",
        "access_token=t&name=a&subtype=CUSTOM&customer_file_source=USER_PROVIDED_ONLY",
        {},
        b"",
    )
    aud = json.loads(raw)["id"]
    started = time.perf_counter()
    for start in (0, 10_000):
        body = json.dumps({"access_token": "t", "payload": {"schema": schema, "data": rows[start : start + 10_000]}})
        status, _, raw = app.handle(
            "POST", f"/v26.0/{aud}/users", "", {"Content-Type": "application/json"}, body.encode()
        )
        assert status == 200, raw
    elapsed = time.perf_counter() - started
    assert app.store.get_audience(int(aud)).member_count == 20_000
    assert elapsed < 3.0, elapsed


def test_concurrent_clients():
    from concurrent.futures import ThreadPoolExecutor

    with running_sandbox() as sb:

        def work(n: int) -> int:
            aud = _create(sb.url, f"c{n}")
            with requests.Session() as session:
                for batch in range(3):
                    rows = [[h(f"{n}-{batch}-{i}")] for i in range(200)]
                    resp = session.post(
                        f"{sb.url}/v26.0/{aud}/users",
                        data={"access_token": TOKEN, "payload": json.dumps({"schema": ["EMAIL"], "data": rows})},
                    )
                    assert resp.status_code == 200, resp.text
            return sb.store.get_audience(int(aud)).member_count

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert list(pool.map(work, range(8))) == [600] * 8
        assert sb.app.request_count()["total"] == 8 * 4


def test_next_links_point_at_the_same_server():
    with running_sandbox() as sb:
        ids = [_create(sb.url, f"n{i}") for i in range(3)]
        page = requests.get(f"{sb.url}/v26.0/act_7/customaudiences", params={"access_token": TOKEN, "limit": 1}).json()
        seen = [row["id"] for row in page["data"]]
        while "next" in page["paging"]:
            assert page["paging"]["next"].startswith(f"{sb.url}/v26.0/act_7/customaudiences?")
            page = requests.get(page["paging"]["next"]).json()
            seen += [row["id"] for row in page["data"]]
        assert seen == list(reversed(ids))


def test_long_delete_url_breaks_like_meta():
    """docs/meta-api.md §7.1: payloads in the URL break past a few thousand rows; a body does not."""
    with running_sandbox() as sb:
        aud = _create(sb.url)
        payload = json.dumps({"schema": ["EMAIL"], "data": [[h(str(i))] for i in range(3000)]})
        in_url = requests.delete(f"{sb.url}/v26.0/{aud}/users", params={"access_token": TOKEN, "payload": payload})
        assert in_url.status_code == 414
        in_body = requests.delete(f"{sb.url}/v26.0/{aud}/users", data={"access_token": TOKEN, "payload": payload})
        assert in_body.status_code == 200 and in_body.json()["num_received"] == 3000
