"""The Marketing API client at the HTTP level (responses): request shapes, sessions, proof, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from fbsync.errors import AudienceError, MetaApiError, MetaAuthError
from fbsync.meta.client import MetaClient, RetryPolicy
from fbsync.meta.session import Session
from fbsync.settings import Settings

G = "http://graph.test"
V = "v24.0"
TOKEN = "EAAtesttoken"


def client(**kw: object) -> tuple[MetaClient, list[float]]:
    slept: list[float] = []
    s = Settings(access_token=TOKEN, graph_url=G, api_version=V, **kw)  # type: ignore[arg-type]
    return MetaClient(s, "act_42", RetryPolicy(attempts=4, sleep=slept.append)), slept


def form(call: responses.Call) -> dict[str, str]:
    body = call.request.body or ""
    body = body.decode() if isinstance(body, bytes) else body
    return {k: v[0] for k, v in parse_qs(body).items()}


def query(call: responses.Call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}


@responses.activate
def test_create_customer_list_shape() -> None:
    responses.post(f"{G}/{V}/act_42/customaudiences", json={"id": "238"})
    c, _ = client()
    assert c.create_customer_list("Clients VIP", "desc", "USER_PROVIDED_ONLY") == "238"
    call = responses.calls[0]
    # enable_fetch_or_create: Meta returns an audience of the same name instead of a second one (create once);
    # fields: the subtype comes back, so one of another kind is refused rather than filled.
    assert form(call) == {
        "name": "Clients VIP",
        "subtype": "CUSTOM",
        "customer_file_source": "USER_PROVIDED_ONLY",
        "description": "desc",
        "enable_fetch_or_create": "true",
        "fields": "id,subtype,is_value_based",
    }
    assert query(call)["access_token"] == TOKEN
    assert "appsecret_proof" not in query(call)


@responses.activate
def test_create_customer_list_refuses_an_audience_of_another_kind() -> None:
    """fetch-or-create matches on the name only: a lookalike of that name must not become the customer list."""
    responses.post(f"{G}/{V}/act_42/customaudiences", json={"id": "239", "subtype": "LOOKALIKE"})
    c, _ = client()
    with pytest.raises(AudienceError, match="not a customer list"):
        c.create_customer_list("Clients VIP", None, "USER_PROVIDED_ONLY")


@responses.activate
def test_appsecret_proof_on_every_call() -> None:
    responses.get(f"{G}/{V}/me", json={"id": "1", "name": "x"})
    c, _ = client(app_secret="s3cret")
    c.me()
    expected = hmac.new(b"s3cret", TOKEN.encode(), hashlib.sha256).hexdigest()
    assert query(responses.calls[0])["appsecret_proof"] == expected


@responses.activate
def test_add_users_payload_and_session() -> None:
    responses.post(f"{G}/{V}/238/users", json={"audience_id": "238", "num_received": 2, "num_invalid_entries": 0})
    c, _ = client()
    s = Session(77, estimated_num_total=2)
    c.add_users("238", ["EMAIL", "PHONE"], [("a" * 64, ""), ("b" * 64, "c" * 64)], s, last=True)
    f = form(responses.calls[0])
    assert json.loads(f["payload"]) == {
        "schema": ["EMAIL", "PHONE"],
        "is_raw": True,
        "data": [["a" * 64, ""], ["b" * 64, "c" * 64]],
    }
    assert json.loads(f["session"]) == {
        "session_id": 77,
        "batch_seq": 1,
        "last_batch_flag": True,
        "estimated_num_total": 2,
    }


@responses.activate
def test_remove_users_sends_the_payload_in_the_body_not_the_url() -> None:
    responses.delete(f"{G}/{V}/238/users", json={"audience_id": "238", "num_received": 10000})
    c, _ = client()
    rows = [(f"{i:064x}",) for i in range(10_000)]
    c.remove_users("238", ["EMAIL"], rows, Session(5), last=True)
    call = responses.calls[0]
    assert call.request.method == "DELETE"
    assert "payload" not in query(call) and len(call.request.url) < 300
    assert len(json.loads(form(call)["payload"])["data"]) == 10_000


def test_more_than_10000_rows_is_refused_before_sending() -> None:
    c, _ = client()
    with pytest.raises(ValueError):
        c.add_users("1", ["EMAIL"], [("a",)] * 10_001, Session(1), last=True)


@responses.activate
def test_session_batches_are_sequential() -> None:
    s = Session.new(25_000)
    seqs = [s.next(last=i == 2) for i in range(3)]
    assert [x["batch_seq"] for x in seqs] == [1, 2, 3]
    assert [x["last_batch_flag"] for x in seqs] == [False, False, True]
    assert len({x["session_id"] for x in seqs}) == 1 and 0 < seqs[0]["session_id"] < 2**63


@responses.activate
def test_audiences_walks_every_page_and_filters_by_name() -> None:
    url = f"{G}/{V}/act_42/customaudiences"
    responses.get(
        url,
        json={"data": [{"id": "1", "name": "a"}], "paging": {"cursors": {"after": "C1"}, "next": url + "?after=C1"}},
    )
    responses.get(url, json={"data": [{"id": "2", "name": "b"}], "paging": {"cursors": {"after": "C2"}}})
    c, _ = client()
    assert [a["id"] for a in c.audiences()] == ["1", "2"]
    assert query(responses.calls[1])["after"] == "C1"
    assert query(responses.calls[0])["limit"] == "20"


def err(code: int, sub: int | None = None, status: int = 400, transient: bool | None = None) -> dict:
    e: dict = {"message": f"(#{code}) boom", "type": "OAuthException", "code": code, "fbtrace_id": "T"}
    if sub:
        e["error_subcode"] = sub
    if transient is not None:
        e["is_transient"] = transient
    return {"error": e}


@responses.activate
def test_transient_error_is_retried_then_succeeds() -> None:
    url = f"{G}/{V}/238/users"
    responses.post(url, json=err(2, transient=True), status=500)
    responses.post(url, json=err(80003, 2446079), status=400)
    responses.post(url, json={"num_received": 1})
    c, slept = client()
    assert c.add_users("238", ["EMAIL"], [("a" * 64,)], Session(9), last=True)["num_received"] == 1
    assert len(responses.calls) == 3 and len(slept) == 2
    sessions = [json.loads(form(call)["session"]) for call in responses.calls]
    assert sessions[0] == {"session_id": 9, "batch_seq": 1, "last_batch_flag": True}
    # retries never reuse a batch_seq Meta may have received: each goes in a fresh one-batch session
    assert all(x["session_id"] != 9 and x["batch_seq"] == 1 and x["last_batch_flag"] for x in sessions[1:])


@responses.activate
def test_throttle_waits_metas_regain_time() -> None:
    url = f"{G}/{V}/238"
    usage = {"42": [{"type": "custom_audience", "call_count": 100, "estimated_time_to_regain_access": 2}]}
    responses.get(url, json=err(80003, 2446079), status=400, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    responses.get(url, json={"id": "238"})
    c, slept = client()
    assert c.audience("238") == {"id": "238"}
    assert slept == [120.0]


@responses.activate
def test_permanent_error_is_not_retried() -> None:
    responses.post(f"{G}/{V}/238/users", json=err(100), status=400)
    c, slept = client()
    with pytest.raises(MetaApiError) as exc:
        c.add_users("238", ["EMAIL"], [("a" * 64,)], Session(1), last=True)
    assert not exc.value.transient and slept == [] and len(responses.calls) == 1
    assert TOKEN not in str(exc.value) and "a" * 64 not in str(exc.value)


@responses.activate
def test_expired_token_is_an_auth_error_with_exit_3() -> None:
    responses.get(f"{G}/{V}/act_42", json=err(190, 463), status=400)
    c, slept = client()
    with pytest.raises(MetaAuthError) as exc:
        c.account()
    assert exc.value.exit_code == 3 and "FB_ACCESS_TOKEN" in str(exc.value) and slept == []


@responses.activate
def test_transient_errors_give_up_after_the_attempts() -> None:
    responses.get(f"{G}/{V}/238", body="<html>Service Unavailable</html>", status=503)
    c, slept = client()
    with pytest.raises(MetaApiError) as exc:
        c.audience("238")
    assert exc.value.transient and len(responses.calls) == 4 and len(slept) == 3


@responses.activate
def test_unknown_audience_reads_as_none() -> None:
    responses.get(f"{G}/{V}/999", json=err(100, 33), status=400)
    c, _ = client()
    assert c.audience("999") is None


@responses.activate
def test_replace_retry_takes_the_next_batch_seq_and_reads_the_answers() -> None:
    url = f"{G}/{V}/238/usersreplace"
    responses.post(url, body="<html>oops</html>", status=502)  # batch 3's answer is lost
    responses.post(url, json=err(2650, 1870159), status=400)  # retry as 4: session already finished
    c, _ = client()
    s = Session(50, batch_seq=2)
    assert c.replace_users("238", ["EMAIL"], [("a" * 64,)], s, last=True)["num_invalid_entries"] == 0
    seqs = [json.loads(form(call)["session"])["batch_seq"] for call in responses.calls]
    assert seqs == [3, 4]


@responses.activate
def test_replace_first_batch_that_never_arrived_is_sent_again_as_1() -> None:
    url = f"{G}/{V}/238/usersreplace"
    responses.post(url, body="", status=504)
    responses.post(url, json=err(2650, 1870147), status=400)  # seq 2 refused: 1 never arrived
    responses.post(url, json={"num_received": 1})
    c, _ = client()
    seen: list[int] = []
    s = Session(51, on_next=seen.append)
    c.replace_users("238", ["EMAIL"], [("a" * 64,)], s, last=False)
    assert [json.loads(form(call)["session"])["batch_seq"] for call in responses.calls] == [1, 2, 1]
    assert seen == [1, 2, 1]


@responses.activate
def test_per_audience_wait_budget_stops_retrying() -> None:
    responses.get(f"{G}/{V}/238", json=err(2, transient=True), status=500)
    slept: list[float] = []
    s = Settings(access_token=TOKEN, graph_url=G, api_version=V)
    c = MetaClient(s, "act_42", RetryPolicy(attempts=50, initial=10, maximum=10, per_audience=25, sleep=slept.append))
    c.retry.wait = lambda state: 10.0  # type: ignore[method-assign]
    with pytest.raises(MetaApiError):
        c.audience("238")
    assert slept == [10.0, 10.0, 5.0] and c.waited == 25
    c.start_audience()
    assert c.waited == 0


@responses.activate
def test_creation_that_timed_out_is_looked_up_not_repeated() -> None:
    import requests as rq

    url = f"{G}/{V}/act_42/customaudiences"
    responses.post(url, body=rq.ConnectionError("reset"))
    responses.get(url, json={"data": [{"id": "777", "name": "Clients VIP"}]})
    c, slept = client()
    assert c.create_customer_list("Clients VIP", None, "USER_PROVIDED_ONLY") == "777"
    assert [call.request.method for call in responses.calls] == ["POST", "GET"] and len(slept) == 1


@responses.activate
def test_creation_retried_when_the_lookup_finds_nothing() -> None:
    url = f"{G}/{V}/act_42/customaudiences"
    responses.post(url, json=err(2, transient=True), status=500)
    responses.get(url, json={"data": []})
    responses.post(url, json={"id": "778"})
    c, _ = client()
    assert c.create_customer_list("Clients VIP", None, "USER_PROVIDED_ONLY") == "778"
    assert [call.request.method for call in responses.calls] == ["POST", "GET", "POST"]
