"""Fault injection over real HTTP: dropped connections, slowness, the admin faults endpoint, the CLI options."""

from __future__ import annotations

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

from fbsync.sandbox import Faults, running_sandbox

TOKEN = "http-token"
CREATE = {"name": "a", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY", "access_token": TOKEN}


def _audiences(url: str) -> list[dict]:
    return requests.get(f"{url}/__sandbox/audiences", timeout=5).json()["data"]


@pytest.mark.parametrize("after_apply, created", [(False, 0), (True, 1)])
def test_dropped_connection_through_the_server(after_apply, created):
    faults = Faults(drop_rate=1.0, drop_after_apply=after_apply, endpoints=("POST /customaudiences",))
    with running_sandbox(faults=faults) as sb, requests.Session() as session:
        with pytest.raises(requests.ConnectionError):
            session.post(f"{sb.url}/v26.0/act_1/customaudiences", data=CREATE, timeout=5)
        assert len(_audiences(sb.url)) == created
        # the same client keeps working afterwards (a new connection)
        assert session.get(f"{sb.url}/v26.0/act_1", params={"access_token": TOKEN}, timeout=5).status_code == 200
        assert requests.get(f"{sb.url}/__sandbox/faults", timeout=5).json()["injected"] == {"drop": 1}


def test_slow_response_through_the_server():
    with running_sandbox(faults=Faults(slow_ms=150, endpoints=("GET /me",))) as sb:
        started = time.perf_counter()
        assert requests.get(f"{sb.url}/v26.0/me", params={"access_token": TOKEN}, timeout=5).status_code == 200
        assert time.perf_counter() - started >= 0.15
        requests.get(f"{sb.url}/v26.0/act_1", params={"access_token": TOKEN}, timeout=5)  # not targeted
        assert requests.get(f"{sb.url}/__sandbox/faults", timeout=5).json()["injected"] == {"slow": 1}
        with pytest.raises(requests.ReadTimeout):  # a client timeout shorter than the delay
            requests.get(f"{sb.url}/v26.0/me", params={"access_token": TOKEN}, timeout=0.05)


def _admin_round_trip(url: str) -> None:
    """Set, read, use and clear faults at run time through ``/__sandbox/faults``."""
    me = f"{url}/v26.0/me"
    assert requests.get(f"{url}/__sandbox/faults", timeout=5).json()["faults"] is None
    resp = requests.post(f"{url}/__sandbox/faults", json={"error_rate": 1.0, "seed": 4}, timeout=5)
    assert resp.status_code == 200 and resp.json()["faults"]["error_rate"] == 1.0
    got = requests.get(me, params={"access_token": TOKEN}, timeout=5)
    assert got.status_code == 500 and got.json()["error"]["code"] == 2
    assert requests.get(f"{url}/__sandbox/faults", timeout=5).json()["injected"] == {"error_500": 1}
    bad = requests.post(f"{url}/__sandbox/faults", json={"error_rate": 3}, timeout=5)
    assert bad.status_code == 400 and "error_rate" in bad.json()["error"]
    assert requests.post(f"{url}/__sandbox/faults", data="[1]", timeout=5).status_code == 400
    assert requests.delete(f"{url}/__sandbox/faults", timeout=5).json()["faults"] is None
    assert requests.get(me, params={"access_token": TOKEN}, timeout=5).status_code == 200
    block = requests.post(
        f"{url}/__sandbox/faults/block", json={"account_id": "act_5", "code": "17/2446079", "seconds": 300}, timeout=5
    ).json()
    assert block["blocks"]["act_5"]["code"] == "17/2446079"
    refused = requests.get(f"{url}/v26.0/act_5", params={"access_token": TOKEN}, timeout=5)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 17
    regain = json.loads(refused.headers["X-Business-Use-Case-Usage"])["5"][0]["estimated_time_to_regain_access"]
    assert regain == 6  # 300 s + 10 s for this call
    assert requests.post(f"{url}/__sandbox/faults", json={}, timeout=5).json()["blocks"] == {}
    assert requests.get(f"{url}/v26.0/act_5", params={"access_token": TOKEN}, timeout=5).status_code == 200


def test_admin_faults_endpoint():
    with running_sandbox() as sb:
        _admin_round_trip(sb.url)
        with_token = requests.post(
            f"{sb.url}/__sandbox/faults", json={"token_expires_after": 1, "expiring_token": "s3cr3t"}, timeout=5
        )
        assert "s3cr3t" not in with_token.text


def test_subprocess_with_fault_and_doctor_options(tmp_path):
    env = {**os.environ, "FB_ACCESS_TOKEN": TOKEN}
    env.pop("FB_APP_SECRET", None)
    args = [
        sys.executable,
        "-m",
        "fbsync.sandbox",
        "--port",
        "0",
        "--throttle-rate",
        "1",
        "--throttle-codes",
        "80003/2446079",
        "--fault-endpoints",
        "POST /users",
        "--token-expires-after",
        "5",
        "--no-tos",
        "--missing-permission",
        "business_management",
        "--seed",
        "3",
    ]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "the sandbox printed nothing within 20 s"
        match = re.fullmatch(r"sandbox listening on (http://127\.0\.0\.1:\d+)", proc.stdout.readline().strip())
        assert match
        url, params = match.group(1), {"access_token": TOKEN}
        faults = requests.get(f"{url}/__sandbox/faults", timeout=5).json()["faults"]
        assert faults["throttle_rate"] == 1.0 and faults["endpoints"] == ["POST /users"]
        assert faults["token_expires_after"] == 5 and faults["seed"] == 3
        account = requests.get(f"{url}/v26.0/act_1", params={**params, "fields": "tos_accepted"}, timeout=5).json()
        assert account["tos_accepted"] == {}
        create = requests.post(f"{url}/v26.0/act_1/customaudiences", data={**CREATE, **params}, timeout=5).json()
        assert (create["error"]["code"], create["error"]["error_subcode"]) == (200, 1870034)
        perms = requests.get(f"{url}/v26.0/me/permissions", params=params, timeout=5).json()["data"]
        assert "business_management" not in [p["permission"] for p in perms]
        requests.post(f"{url}/__sandbox/config", json={"custom_audience_tos": True}, timeout=5)
        aud = requests.post(f"{url}/v26.0/act_1/customaudiences", data={**CREATE, **params}, timeout=5).json()["id"]
        users = requests.post(
            f"{url}/v26.0/{aud}/users",
            data={**params, "payload": json.dumps({"schema": "EMAIL_SHA256", "data": ["a" * 64]})},
            timeout=5,
        ).json()  # 5th call
        assert users["error"]["code"] == 80003
        expired = requests.get(f"{url}/v26.0/me", params=params, timeout=5)  # 6th call: the token expired
        assert (expired.json()["error"]["code"], expired.json()["error"]["error_subcode"]) == (190, 463)
        assert requests.post(f"{url}/__sandbox/tokens", json={"token": "renewed"}, timeout=5).status_code == 200
        assert requests.get(f"{url}/v26.0/me", params={"access_token": "renewed"}, timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert TOKEN not in (proc.stderr.read() or "")


def test_bad_cli_option_is_refused():
    proc = subprocess.run(
        [sys.executable, "-m", "fbsync.sandbox", "--error-rate", "2"],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert proc.returncode == 2 and "error_rate must be between 0 and 1" in proc.stderr
