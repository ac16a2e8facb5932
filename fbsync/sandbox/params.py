"""Parsing a Graph request: path, parameters, typed parameter values.

Graph takes parameters from the query string and from a form-encoded,
multipart (``curl -F``) or JSON body, on every method, DELETE included
(docs/meta-api.md §1 "Base and encoding"; §7.1 for DELETE bodies).  Objects, lists
and booleans sent as form values arrive as JSON strings (SDK
``_top_level_param_json_encode``), so the JSON-valued parameters are decoded
here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from . import errors

VERSION_RE = re.compile(r"^v(\d+)\.(\d+)$")
JSON_PARAMS = frozenset({"payload", "session", "filtering", "lookalike_spec", "audience_labels", "adaccounts"})


@dataclass
class Effects:
    """What a fault policy asks the app to do once the call is answered: wait, or drop the connection."""

    delay: float = 0.0
    drop: bool = False


@dataclass
class GraphRequest:
    """One parsed Graph call, handed to route handlers and to request policies (fault injection)."""

    method: str
    version: str | None
    segments: list[str]
    params: dict[str, Any]
    headers: Mapping[str, str]
    base_url: str
    account_id: str | None = None
    endpoint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: The access token of the call (set by auth; never logged or echoed).
    token: str = field(default="", repr=False)
    effects: Effects = field(default_factory=Effects)


def header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup."""
    lname = name.lower()
    for key, value in headers.items():
        if key.lower() == lname:
            return value
    return ""


def split_path(path: str) -> tuple[str | None, list[str]]:
    """``/v26.0/act_1/customaudiences/`` → ``("v26.0", ["act_1", "customaudiences"])``.

    A trailing slash is accepted (the SDK adds one on node paths, docs/meta-api.md §1.4).
    Unversioned paths are accepted as Graph does (they use the app's default version).
    """
    parts = [p for p in path.split("/") if p]
    if parts and VERSION_RE.match(parts[0]):
        return parts[0], parts[1:]
    return None, parts


def version_tuple(version: str) -> tuple[int, int]:
    """``"v26.0"`` → ``(26, 0)``."""
    match = VERSION_RE.match(version)
    if not match:
        raise ValueError(version)
    return int(match.group(1)), int(match.group(2))


def parse_params(query: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """Merge query-string and body parameters (body wins); JSON-valued ones stay raw here."""
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    try:
        params.update(_body_params(header(headers, "Content-Type"), body))
    except errors.GraphError as err:
        params["__error__"] = err
    return params


def decode_json_params(params: dict[str, Any]) -> None:
    """Decode, in place, the parameters whose form value is a JSON string (payload, session, …)."""
    err = params.pop("__error__", None)
    if err is not None:
        raise err
    for name in JSON_PARAMS:
        if isinstance(params.get(name), str):
            params[name] = _decode_json(name, params[name])


def _body_params(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        return json_object(body, "The request body is not valid JSON", "The JSON request body must be an object")
    if ctype == "multipart/form-data":
        return _multipart(content_type, body)
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Form fields of a ``multipart/form-data`` body (what ``curl -F`` sends); files are ignored."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_filename():
            continue
        raw = part.get_payload(decode=True)  # bytes; None for an empty or nested multipart part
        text = raw if isinstance(raw, bytes) else b""
        out[str(name)] = text.decode(part.get_content_charset() or "utf-8", "replace")
    return out


def _decode_json(name: str, value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        if name == "audience_labels":
            return [v for v in value.split(",") if v]
        raise errors.param(f"Param {name} must be a valid JSON value") from None


def parse_fields(value: Any) -> list[tuple[str, list[str] | None]]:
    """``fields`` as Graph takes it: ``"a,b{c,d}"``, a JSON list, or a list.

    Returns ``[(name, subfields or None)]``; ``.limit()``-style modifiers are dropped.
    """
    if value is None or value == "":
        return []
    if isinstance(value, list):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, str) and value.lstrip().startswith("["):
        try:
            text = ",".join(str(v) for v in json.loads(value))
        except ValueError:
            raise errors.param("Param fields must be a comma-separated list") from None
    else:
        text = str(value)
    return [_one_field(chunk) for chunk in _split_top(text) if chunk.strip()]


def _split_top(text: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


def _one_field(chunk: str) -> tuple[str, list[str] | None]:
    chunk = chunk.strip()
    if "{" in chunk and chunk.endswith("}"):
        name, inner = chunk.split("{", 1)
        subs = [s.strip().split(".")[0] for s in _split_top(inner[:-1]) if s.strip()]
        return name.split(".")[0].strip(), subs
    return chunk.split(".")[0].strip(), None


def as_int(params: Mapping[str, Any], name: str, *, lo: int | None = None, hi: int | None = None) -> int | None:
    """Integer parameter (number or numeric string) within ``[lo, hi]``; None when absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    return to_int(value, name, lo=lo, hi=hi)


def to_int(value: Any, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """Coerce ``value`` to an int as Graph does for integer params, or raise code 100."""
    if isinstance(value, bool):
        raise errors.param(f"Param {name} must be an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise errors.param(f"Param {name} must be an integer")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise errors.param(f"Param {name} must be between {lo} and {hi}")
    return value


def to_bool(value: Any, name: str) -> bool:
    """Graph booleans: JSON true/false, 1/0, or those as strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise errors.param(f"Param {name} must be a boolean")


def as_bool(params: Mapping[str, Any], name: str) -> bool | None:
    """Boolean parameter, or None when absent."""
    value = params.get(name)
    if value is None or value == "":
        return None
    return to_bool(value, name)


def as_str(params: Mapping[str, Any], name: str) -> str | None:
    """String parameter, or None when absent or empty."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise errors.param(f"Param {name} must be a string")
    return str(value)


def json_object(value: Any, not_json: str, not_object: str) -> dict[str, Any]:
    """A JSON object given as text (or already decoded); Graph's parameter error otherwise."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            raise errors.param(not_json) from None
    if not isinstance(value, dict):
        raise errors.param(not_object)
    return value
