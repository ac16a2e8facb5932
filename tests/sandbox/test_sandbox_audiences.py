"""Accounts and audiences: create, read, list, page, filter, update, delete, routing errors."""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from fbsync.sandbox.store import FIRST_AUDIENCE_ID


def test_me_and_account(graph):
    me = graph.get("/me")
    assert me.status == 200 and set(me.body) == {"id", "name"}
    acc = graph.get("/act_42", fields="id,account_id,account_status,currency,timezone_name,tos_accepted,business")
    assert acc.status == 200
    assert acc.body["id"] == "act_42" and acc.body["account_id"] == "42"
    assert acc.body["account_status"] == 1
    assert acc.body["tos_accepted"] == {"custom_audience_tos": 1, "value_based_custom_audience_tos": 1}
    assert set(acc.body["business"]) == {"id", "name"}
    assert graph.get("/act_42").body == {"account_id": "42", "id": "act_42"}


@pytest.mark.parametrize(
    "path, code, subcode",
    [
        ("/act_abc", 100, 33),
        ("/act_", 100, 33),
        ("/12345", 100, 33),
        ("/not-an-id", 100, 33),
        ("/act_1/adsets", 100, None),
        ("/act_1/customaudiences/extra", 2500, None),
    ],
)
def test_unknown_objects_and_routes(graph, path, code, subcode):
    resp = graph.get(path)
    assert resp.status == 400
    assert resp.code() == (code, subcode)


def test_unsupported_method_on_known_node(graph):
    aud = graph.create()
    resp = graph.call("DELETE", "/act_1/customaudiences")
    assert resp.code() == (100, 33)
    assert resp.error["message"].startswith("Unsupported delete request.")
    assert graph.call("PUT", f"/{aud}").code() == (100, 33)


def test_error_body_shape(graph):
    resp = graph.get("/99999")
    assert set(resp.error) == {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}
    assert resp.error["type"] == "GraphMethodException" and resp.error["is_transient"] is False
    assert "Object with ID '99999' does not exist" in resp.error["message"]


@pytest.mark.parametrize(
    "version, ok", [("v26.0", True), ("v23.0", True), ("v24.0", True), ("v22.0", False), ("v2.11", False), (None, True)]
)
def test_versions(graph, version, ok):
    graph.version = version or ""
    resp = graph.get("/me")
    assert (resp.status == 200) is ok
    if not ok:
        assert resp.code() == (2635, None)


def test_trailing_slash_and_unversioned(graph, app):
    aud = graph.create()
    status, _, body = app.handle("GET", f"/v26.0/{aud}/", "access_token=t&fields=name", {}, b"")
    assert status == 200 and json.loads(body)["name"] == "aud"


def test_create_returns_numeric_ids(graph):
    first, second = graph.create(), graph.create()
    assert first == str(FIRST_AUDIENCE_ID) and int(second) == int(first) + 1


def test_create_read_after_write(graph):
    resp = graph.post(
        "/act_1/customaudiences",
        name="n",
        subtype="CUSTOM",
        customer_file_source="PARTNER_PROVIDED_ONLY",
        description="d",
        retention_days=30,
        fields="name,subtype,retention_days,operation_status",
    )
    assert resp.status == 200
    assert resp.body["name"] == "n" and resp.body["subtype"] == "CUSTOM" and resp.body["retention_days"] == 30
    assert resp.body["operation_status"]["code"] == 410  # no upload yet
    assert resp.body["id"].isdigit()


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY"}, "name"),
        ({"name": "x", "customer_file_source": "USER_PROVIDED_ONLY"}, "subtype"),
        ({"name": "x", "subtype": "CUSTOM"}, "customer_file_source"),
        ({"name": "x", "subtype": "CUSTOM", "customer_file_source": "BOTH"}, "customer_file_source"),
        (
            {"name": "x", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY", "retention_days": 0},
            "retention_days",
        ),
        (
            {"name": "x", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY", "retention_days": 181},
            "retention_days",
        ),
        (
            {"name": "x", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY", "retention_days": "ten"},
            "retention_days",
        ),
        ({"name": "x", "subtype": "WEBSITE"}, "subtype"),
        (
            {
                "name": "x",
                "subtype": "CUSTOM",
                "customer_file_source": "USER_PROVIDED_ONLY",
                "audience_labels": ["NOPE"],
            },
            "audience_labels",
        ),
    ],
)
def test_create_validation(graph, params, fragment):
    resp = graph.call("POST", "/act_1/customaudiences", params)
    assert resp.code() == (100, None)
    assert fragment in resp.error["message"]


def test_customer_file_cap(app, graph):
    from fbsync.sandbox import SandboxConfig

    app.config = SandboxConfig(max_customer_file_audiences=2)
    graph.create()
    graph.create()
    resp = graph.call(
        "POST",
        "/act_1/customaudiences",
        {"name": "x", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY"},
    )
    assert resp.code() == (2654, None)
    graph.create(account="act_2")  # the cap is per account


def test_get_fields(graph):
    aud = graph.create(description="desc")
    resp = graph.get(
        f"/{aud}",
        fields="id,account_id,name,description,subtype,customer_file_source,"
        "approximate_count_lower_bound,approximate_count_upper_bound,data_source,delivery_status,"
        "operation_status,time_created,time_updated,time_content_updated,retention_days,"
        "permission_for_actions",
    )
    body = resp.body
    assert body["account_id"] == "1" and body["description"] == "desc"
    assert body["approximate_count_lower_bound"] == body["approximate_count_upper_bound"] == 0
    assert body["data_source"] == {"type": "UNKNOWN", "sub_type": "ANYTHING"}
    assert body["delivery_status"]["code"] == 300 and body["retention_days"] == 0
    assert body["permission_for_actions"]["subtype_supports_lookalike"] is True
    assert isinstance(body["time_created"], int)
    assert graph.get(f"/{aud}").body == {"id": aud}
    assert graph.get(f"/{aud}", fields="delivery_status{code}").body["delivery_status"] == {"code": 300}


def test_unknown_field_refused(graph):
    aud = graph.create()
    resp = graph.get(f"/{aud}", fields="name,bogus")
    assert resp.code() == (100, None) and "bogus" in resp.error["message"]
    assert graph.get(f"/{aud}", fields="pixel_id").body == {"id": aud}  # real field, no value: omitted


def test_delivery_status_ready_at_100(graph):
    aud = graph.create()
    graph.seed(aud, 99)
    assert graph.get(f"/{aud}", fields="delivery_status").body["delivery_status"]["code"] == 300
    graph.seed(aud, 100)
    body = graph.get(f"/{aud}", fields="delivery_status,approximate_count_lower_bound,operation_status").body
    assert body["delivery_status"]["code"] == 200 and body["approximate_count_lower_bound"] == 100
    assert body["operation_status"]["code"] == 200


def test_list_paging(graph):
    ids = [graph.create(name=f"a{i}") for i in range(5)]
    graph.create(account="act_2")
    seen, resp = [], graph.get("/act_1/customaudiences", fields="name", limit=2)
    pages = 0
    while True:
        pages += 1
        assert resp.status == 200
        seen += [row["id"] for row in resp.body["data"]]
        assert all(set(row) == {"id", "name"} for row in resp.body["data"])
        nxt = resp.body["paging"].get("next")
        if not nxt:
            break
        parts = urlsplit(nxt)
        assert parts.netloc == "sandbox.test" and parts.path == "/v26.0/act_1/customaudiences"
        query = dict(parse_qsl(parts.query))
        assert query["limit"] == "2" and query["fields"] == "name"
        resp = graph.call("GET", parts.path[len("/v26.0") :], query, token=None)
    assert pages == 3 and seen == list(reversed(ids))  # newest first, every audience once
    default = graph.get("/act_1/customaudiences")
    assert all(set(row) == {"id"} for row in default.body["data"]) and "next" not in default.body["paging"]


def test_list_before_cursor_and_bad_cursor(graph):
    for i in range(4):
        graph.create(name=f"a{i}")
    first = graph.get("/act_1/customaudiences", limit=2)
    second = graph.get("/act_1/customaudiences", limit=2, after=first.body["paging"]["cursors"]["after"])
    back = graph.get("/act_1/customaudiences", limit=2, before=second.body["paging"]["cursors"]["before"])
    assert back.body["data"] == first.body["data"]
    assert graph.get("/act_1/customaudiences", after="!!!").code() == (100, None)
    assert graph.get("/act_9/customaudiences").body == {"data": []}


@pytest.mark.parametrize(
    "rule, expected",
    [
        ({"field": "name", "operator": "EQUAL", "value": "beta"}, ["beta"]),
        ({"field": "name", "operator": "IN", "value": ["alpha", "gamma"]}, ["gamma", "alpha"]),
        ({"field": "name", "operator": "CONTAIN", "value": "ALP"}, ["alpha"]),
        ({"field": "name", "operator": "NOT_CONTAIN", "value": "a"}, []),
        ({"field": "subtype", "operator": "EQUAL", "value": "CUSTOM"}, ["gamma", "beta", "alpha"]),
        ({"field": "operation_status.code", "operator": "IN", "value": [410]}, ["gamma", "beta", "alpha"]),
    ],
)
def test_list_filtering(graph, rule, expected):
    for name in ("alpha", "beta", "gamma"):
        graph.create(name=name)
    resp = graph.get("/act_1/customaudiences", fields="name", filtering=json.dumps([rule]))
    assert [row["name"] for row in resp.body["data"]] == expected


def test_filter_by_id(graph):
    ids = [graph.create(name=str(i)) for i in range(3)]
    resp = graph.get(
        "/act_1/customaudiences", filtering=json.dumps([{"field": "id", "operator": "EQUAL", "value": ids[1]}])
    )
    assert [row["id"] for row in resp.body["data"]] == [ids[1]]


@pytest.mark.parametrize(
    "filtering",
    [
        [{"field": "colour", "operator": "EQUAL", "value": "x"}],
        [{"field": "name", "operator": "LIKE", "value": "x"}],
        [{"field": "name", "operator": "IN", "value": "x"}],
        {"field": "name"},
        "not json",
    ],
)
def test_list_filtering_errors(graph, filtering):
    raw = filtering if isinstance(filtering, str) else json.dumps(filtering)
    assert graph.get("/act_1/customaudiences", filtering=raw).code() == (100, None)


def test_update(graph, clock):
    aud = graph.create()
    clock.advance(10)
    resp = graph.post(f"/{aud}", name="renamed", description="new", retention_days=90)
    assert resp.status == 200 and resp.body == {"success": True}
    body = graph.get(f"/{aud}", fields="name,description,retention_days,time_updated,time_created").body
    assert body["name"] == "renamed" and body["description"] == "new" and body["retention_days"] == 90
    assert body["time_updated"] == body["time_created"] + 10
    assert graph.post(f"/{aud}", retention_days=400).code() == (100, None)
    assert graph.post(f"/{aud}", customer_file_source="NOPE").code() == (100, None)


@pytest.mark.parametrize("how", ["delete", "post_method_delete", "json_body"])
def test_delete(graph, how):
    aud = graph.create()
    if how == "delete":
        resp = graph.call("DELETE", f"/{aud}")
    elif how == "post_method_delete":
        graph.app.config = dataclasses.replace(graph.app.config, method_override_grandfathered=True)  # an old use
        resp = graph.call("POST", f"/{aud}", {"method": "DELETE"})
    else:
        resp = graph.call("DELETE", f"/{aud}", via="json")
    assert resp.status == 200 and resp.body == {"success": True}
    assert graph.get(f"/{aud}").code() == (100, 33)
    assert graph.call("DELETE", f"/{aud}").code() == (100, 33)
    assert graph.get("/act_1/customaudiences").body == {"data": []}


def test_multipart_body_like_curl_F(app):
    boundary = "XyZ"
    fields = {"name": "curl", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY", "access_token": "t"}
    body = (
        "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items())
        + f"--{boundary}--\r\n"
    )
    status, _, raw = app.handle(
        "POST",
        "/v26.0/act_5/customaudiences",
        "",
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        body.encode(),
    )
    assert status == 200 and json.loads(raw)["id"].isdigit()


def test_usage_headers(graph, app):
    from fbsync.sandbox.usage import UsageBudget, UsageMeter

    aud = graph.create()
    resp = graph.get(f"/{aud}", fields="name")
    app_usage = json.loads(resp.headers["X-App-Usage"])
    assert set(app_usage) == {"call_count", "total_time", "total_cputime"}
    account = json.loads(resp.headers["X-Ad-Account-Usage"])
    assert account["ads_api_access_tier"] == "standard_access" and account["acc_id_util_pct"] > 0
    buc = json.loads(resp.headers["X-Business-Use-Case-Usage"])
    assert buc["1"][0]["type"] == "custom_audience"
    assert "X-Ad-Account-Usage" not in graph.get("/me").headers
    assert "X-Business-Use-Case-Usage" not in graph.get("/act_1").headers
    app.usage = UsageMeter(app.clock, UsageBudget(tier="development_access", app_calls_per_hour=10))
    for _ in range(5):
        resp = graph.get(f"/{aud}", fields="name")
    assert json.loads(resp.headers["X-App-Usage"])["call_count"] == 50
    assert json.loads(resp.headers["X-Ad-Account-Usage"])["acc_id_util_pct"] == round(100 * 5 / 60, 2)
    assert json.loads(resp.headers["X-Business-Use-Case-Usage"])["1"][0]["call_count"] == round(100 * 5 / 5040)


def test_request_counter(graph, app):
    aud = graph.create()
    graph.get(f"/{aud}")
    graph.get("/nope")
    graph.add(aud, ["EMAIL"], [[graph.h("a")]])
    app.config = dataclasses.replace(app.config, method_override_grandfathered=True)  # an existing use (§8)
    graph.call(
        "POST", f"/{aud}/users", {"method": "DELETE", "payload": {"schema": ["EMAIL"], "data": [[graph.h("a")]]}}
    )
    counts = app.request_count()
    assert counts["total"] == 5
    assert counts["by_endpoint"]["POST /users"] == 1 and counts["by_endpoint"]["DELETE /users"] == 1
    assert counts["by_endpoint"]["POST /customaudiences"] == 1 and counts["by_endpoint"]["GET /{audience_id}"] == 1


def test_policy_hook_and_internal_errors(graph, app):
    class Maintenance:
        def intercept(self, app, request):
            if request.endpoint == "GET /me":
                return 503, {"Content-Type": "text/plain"}, b"down"
            if request.endpoint == "GET /act_{id}":
                raise RuntimeError("sandbox bug")
            return None

    app.policies.append(Maintenance())
    assert graph.app.handle("GET", "/v26.0/me", "access_token=t", {}, b"")[0] == 503
    broken = graph.get("/act_1")
    assert broken.status == 500 and broken.code() == (2, None) and broken.error["is_transient"] is True
    assert graph.get("/act_1/customaudiences").status == 200
