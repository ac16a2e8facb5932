"""Graph API errors as the sandbox returns them.

Every error body is ``{"error": {"message", "type", "code", "error_subcode"
(only when there is one), "is_transient", "error_user_title"/"error_user_msg"
(only when there are some), "fbtrace_id"}}`` (docs/meta-api.md §3, "Body shape").
Throttles omit ``is_transient``, as Meta often does (docs/meta-api.md §7.3).
HTTP status is 400 for nearly everything, as Meta does, even for throttles
(docs/meta-api.md §3, "HTTP status"); 500 only for Meta's "unknown" / internal
family (code 1 and 2).

Each factory below names the docs/meta-api.md section (or the public source) its
code, subcode and wording come from.  Where docs/meta-api.md is silent the choice is
marked ``(inf)`` and listed in docs/sandbox.md.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

OAUTH = "OAuthException"
GRAPH_METHOD = "GraphMethodException"
DOCS_HINT = "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
_TRACE_ALPHABET = string.ascii_letters + string.digits + "_-"


def new_trace_id() -> str:
    """An opaque id shaped like Meta's ``fbtrace_id`` (11 url-safe characters)."""
    return "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(11))


@dataclass(eq=False)
class GraphError(Exception):
    """One Graph API error; raised inside handlers, rendered by the app."""

    message: str
    code: int
    subcode: int | None = None
    type: str = OAUTH
    status: int = 400
    #: ``None`` leaves ``is_transient`` out of the body (Meta's throttles, docs/meta-api.md §7.3).
    transient: bool | None = False
    user_title: str | None = None
    user_msg: str | None = None
    #: ``error_data`` object (e.g. ``estimated_time_to_regain_access`` of a rate-limit refusal), or None.
    data: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.code}/{self.subcode}: {self.message}"

    def body(self, trace_id: str) -> dict[str, Any]:
        """The JSON body Meta sends for this error (docs/meta-api.md §3)."""
        err: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        if self.transient is not None:
            err["is_transient"] = self.transient
        if self.user_title:
            err["error_user_title"] = self.user_title
        if self.user_msg:
            err["error_user_msg"] = self.user_msg
        if self.data:
            err["error_data"] = dict(self.data)
        err["fbtrace_id"] = trace_id
        return {"error": err}


# --- auth (docs/meta-api.md §5 "Auth"; public error bodies quoted in docs/sandbox.md) ---


def missing_token(on_me: bool) -> GraphError:
    """No ``access_token``: 2500 on ``/me``, 104 on any other object.

    Wording as Graph returns it (fbsamples/messenger-platform-samples#125 for 2500,
    spring-guides/gs-consuming-rest#10 for 104); both are "P" codes in docs/meta-api.md §3.
    """
    if on_me:
        return GraphError("An active access token must be used to query information about the current user.", 2500)
    return GraphError("An access token is required to request this resource.", 104)


def invalid_token() -> GraphError:
    """Wrong token: 190 (docs/meta-api.md §3).  The token itself is never echoed."""
    return GraphError("Invalid OAuth access token - Cannot parse access token", 190)


def missing_proof() -> GraphError:
    """ "Require App Secret" is on and no proof came (docs/meta-api.md §5 [SEC]); code 100, GraphMethodException."""
    return GraphError("API calls from the server require an appsecret_proof argument", 100, type=GRAPH_METHOD)


def invalid_proof() -> GraphError:
    """Proof is not HMAC-SHA256(app_secret, token) (docs/meta-api.md §5 [SEC]); code 100, GraphMethodException."""
    return GraphError("Invalid appsecret_proof provided in the API argument", 100, type=GRAPH_METHOD)


# --- routing (docs/meta-api.md §1.4 "Unknown id or no permission"; §1 "Base and encoding") ---


def unsupported(method: str, object_id: str) -> GraphError:
    """100/33: object missing, not ours, or the method is not supported on it (docs/meta-api.md §1.4)."""
    return GraphError(
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be loaded "
        f"due to missing permissions, or does not support this operation. {DOCS_HINT}",
        100,
        33,
        type=GRAPH_METHOD,
    )


def nonexisting_field(name: str, node_type: str) -> GraphError:
    """Unknown field or edge on a known node: Graph's code-100 wording (inf: wording)."""
    return GraphError(f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})", 100)


def unknown_path(components: str) -> GraphError:
    """More path components than any Graph route has (Graph code 2500, listed in docs/meta-api.md §3)."""
    return GraphError(f"Unknown path components: {components}", 2500)


def deprecated_version(latest: str) -> GraphError:
    """2635: the version is no longer served (docs/meta-api.md §1 "Base and encoding")."""
    return GraphError(
        f"(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: {latest}.",
        2635,
    )


def unknown_version(version: str) -> GraphError:
    """A version Meta does not serve (newer than the table, or not yet released): 2500 (docs/meta-api.md §8)."""
    return unknown_path(f"/{version}")


def method_override_refused(method: str) -> GraphError:
    """POST with ``method=DELETE|GET`` after 2026-11-04 (docs/meta-api.md §8 "Legacy Graph features";
    BLOG-V27).  Code 100 and wording: (inf), Meta names no error for it."""
    return param(
        f"The HTTP method override (method={method}) is no longer available: since November 4, 2026 new apps "
        f"cannot use it and existing apps cannot start new uses of it. Send a real {method} request instead."
    )


def too_many_params(count: int, limit: int) -> GraphError:
    """105 "too many parameters" (docs/meta-api.md §1.5 "Errors", R-USERS); the limit is (inf)."""
    return GraphError(
        f"(#105) The number of parameters exceeded the maximum for this operation ({count} > {limit})", 105
    )


# --- parameters (docs/meta-api.md §3: 100 = invalid parameter) ---


def param(message: str) -> GraphError:
    """Generic invalid-parameter error, code 100 (docs/meta-api.md §3)."""
    return GraphError(f"(#100) {message}", 100)


def required(name: str) -> GraphError:
    """A required parameter is missing (code 100, Graph's usual wording)."""
    return param(f"The parameter {name} is required")


def schema_mismatch() -> GraphError:
    """Rows that do not fit the schema: "(#100) Data is missing or does not match schema" (docs/meta-api.md §3)."""
    return param("Data is missing or does not match schema")


def too_many_rows() -> GraphError:
    """More than 10,000 rows in one request: 1/99 as observed (docs/meta-api.md §1.5 "Limits").

    facebook/facebook-java-business-sdk#46 got ``{"code":1,"message":"An unknown error occurred",
    "error_subcode":99}`` for 30k rows; code 1 comes with HTTP 500 (fpbs#119).  Not transient:
    retrying the same request cannot succeed, only a smaller batch can.
    """
    return GraphError("An unknown error occurred", 1, 99, status=500)


def internal() -> GraphError:
    """Unexpected sandbox failure: Graph's code 2 "temporary service error" (docs/meta-api.md §3)."""
    return GraphError(
        "An unexpected error has occurred. Please retry your request later.", 2, status=500, transient=True
    )


# --- custom audiences (docs/meta-api.md §1.1, §1.5-§1.7, §7) ---


def update_failed(detail: str, subcode: int | None = None) -> GraphError:
    """2650 "Failed to update the custom audience" (docs/meta-api.md §1.5, §1.6, §3)."""
    return GraphError(f"(#2650) Failed to update the custom audience: {detail}", 2650, subcode)


def kind_mismatch(locked: str, incoming: str) -> GraphError:
    """2650 schema-kind lock, worded as in fpbs#433 (docs/meta-api.md §7.2)."""
    return update_failed(
        f"This audience was created from data source FILE_IMPORTED.{locked}, "
        f"which does not support data source FILE_IMPORTED.{incoming}."
    )


def create_failed(detail: str) -> GraphError:
    """2654 "create failed" (docs/meta-api.md §1.1); used for caps and lookalike refusals."""
    return GraphError(f"(#2654) {detail}", 2654)


def seed_too_small() -> GraphError:
    """2654 for a lookalike seed under 100 people; wording from the SDK's docs examples (docs/meta-api.md §1.7)."""
    return create_failed(
        "Source Audience is Too Small: There aren't enough people in your source in the country you chose. "
        "Please choose a country that includes at least 100 people in your source."
    )


def lookalikes_exist() -> GraphError:
    """2656: a seed with lookalikes cannot be deleted (docs/meta-api.md §1.4, §1.7)."""
    return GraphError(
        "(#2656) Audience Cannot Be Deleted: This audience is the source of one or more lookalike audiences. "
        "Delete those lookalike audiences first.",
        2656,
    )


# --- integrity flags (docs/meta-api.md §1.4, §1.5, §1.7, §8 "Integrity flags"; wording (inf)) ---

FLAGGED_UPLOAD = 1713230
FLAGGED_EDIT = 1713228
FLAGGED_OTHER_EDIT = 1713231  # other audience kinds, not simulated (docs/sandbox.md)
FLAGGED_SEED = 1713232


def flagged(subcode: int, audience_id: int | str) -> GraphError:
    """100 with an integrity subcode: the audience was flagged (operation_status 471)."""
    what = {
        FLAGGED_UPLOAD: "users cannot be added to, removed from or replaced in",
        FLAGGED_EDIT: "you cannot edit (or rename)",
        FLAGGED_OTHER_EDIT: "you cannot edit",
        FLAGGED_SEED: "you cannot create a lookalike audience from",
    }[subcode]
    return GraphError(
        f"(#100) Audience Flagged for Integrity Reasons: {what} audience {audience_id}, which was flagged for "
        "suggesting information not permitted under our terms (such as health conditions or financial status). "
        "Appeal the decision, or create a new audience.",
        100,
        subcode,
        user_title="Audience flagged for integrity reasons",
        user_msg="This audience may suggest information not permitted under our terms. Create a new audience.",
    )


def audience_too_small_after_removal(minimum: int) -> GraphError:
    """200/1870047 "Audience Size too Low" (docs/meta-api.md §1.5 "Errors", §8; ERR-M).  HTTP 400 (inf)."""
    return GraphError(
        "(#200) Audience Size too Low: You cannot remove users from this audience because it will result in a low "
        f"audience size (fewer than {minimum} people). Delete the audience, or add people before removing others.",
        200,
        1870047,
        user_title="Audience Size too Low",
        user_msg="You cannot remove users from this audience because it will result in a low audience size.",
    )


def business_tools_terms_not_accepted() -> GraphError:
    """200/1870092: Meta Business Tools terms not accepted (docs/meta-api.md §1.1 "Errors", §8; ERR-M).

    HTTP 403 like the Custom Audience terms error (inf).
    """
    return GraphError(
        "(#200) Meta Business Tools Terms Not Accepted: You need to accept the Meta Business Tools Terms before "
        "you can upload customer information. See https://www.facebook.com/legal/businesstech",
        200,
        1870092,
        status=403,
        user_title="Meta Business Tools Terms Not Accepted",
        user_msg="You need to accept the Meta Business Tools Terms before you can upload customer information.",
    )


def not_owned(audience_id: str) -> GraphError:
    """1487301: the audience belongs to another business (docs/meta-api.md §3, §8; RUD's map).  Code 100 (inf)."""
    return GraphError(
        f"(#100) Custom Audience Unavailable: custom audience {audience_id} belongs to another business and has not "
        "been shared with this ad account.",
        100,
        1487301,
        user_title="Custom Audience Unavailable",
        user_msg="The custom audience you are trying to use has not been shared with your ad account.",
    )


def special_category_targeting(categories: list[str], detail: str) -> GraphError:
    """100/2909035: targeting not allowed in a special ad category campaign (docs/meta-api.md §8; code and
    wording (inf): §8 only says 2909035 is a general special-category targeting refusal)."""
    return GraphError(
        f"(#100) Invalid targeting for a special ad category ({', '.join(categories)}): {detail}",
        100,
        2909035,
        user_title="Targeting not available for special ad categories",
        user_msg=detail,
    )


# usersreplace subcodes (docs/meta-api.md §1.6 table)
REPLACE_IN_PROGRESS = 1870145
REPLACE_TIMED_OUT = 1870158
REPLACE_FIRST_NOT_ONE = 1870147
REPLACE_FINISHED = 1870159
REPLACE_TOO_BIG = 1870144

_REPLACE_TEXT = {
    REPLACE_IN_PROGRESS: "Another update to this audience is in progress. Please try again later.",
    REPLACE_TIMED_OUT: "The replace session has timed out (90 minutes after its first batch).",
    REPLACE_FIRST_NOT_ONE: "The first batch of a replace session must have batch_seq 1.",
    REPLACE_FINISHED: "This session has already finished.",
    REPLACE_TOO_BIG: "Audiences with 100 million or more people cannot be replaced.",
}


def replace_error(subcode: int) -> GraphError:
    """2650 with one of the usersreplace subcodes (docs/meta-api.md §1.6)."""
    return update_failed(_REPLACE_TEXT[subcode], subcode)


# --- permissions, terms and tokens (docs/meta-api.md §1.1 "Needs", §3 codes 190/200) ---


def expired_token(expired_at: str, now: str) -> GraphError:
    """190/463 "Session has expired" (docs/meta-api.md §3 "190 (+…463…)"); Graph's wording, times in Pacific time."""
    return GraphError(
        f"Error validating access token: Session has expired on {expired_at}. The current time is {now}.", 190, 463
    )


def no_ads_permission() -> GraphError:
    """Neither ads_read nor ads_management: code 200, Graph's wording (docs/meta-api.md §3 "10, 200–299").

    HTTP 403: Graph answers its code-200 permission errors with 403 (arsduo/koala#693 logs
    ``(#200) Permissions error … [HTTP 403]``).
    """
    return GraphError("(#200) Ad account owner has NOT grant ads_management or ads_read permission", 200, status=403)


def needs_ads_management() -> GraphError:
    """A write without ads_management: code 200, Graph's wording, HTTP 403 (see :func:`no_ads_permission`)."""
    return GraphError("(#200) Requires ads_management permission to manage the object", 200, status=403)


def terms_not_accepted(account_id: str, subcode: int = 1870034) -> GraphError:
    """200/1870034 (or 1870090): Custom Audience terms not accepted (docs/meta-api.md §1.1 "Errors", §3).

    HTTP 403 like the rest of code 200 (inf: no public log shows this subcode's status).
    """
    return GraphError(
        "(#200) Custom Audience Terms Not Accepted: You need to accept the Custom Audience Terms before you can "
        "create or edit an audience or an ad set. See "
        f"https://business.facebook.com/ads/manage/customaudiences/tos/?act={account_id}",
        200,
        subcode,
        status=403,
        user_title="Custom Audience Terms Not Accepted",
        user_msg="You need to accept the Custom Audience Terms before you can create or edit an audience or an ad set.",
    )


# --- injected faults (docs/meta-api.md §3, §4, §7.4) ---


def aliases_missing(edge: str) -> GraphError:
    """803 just after an audience is created (docs/meta-api.md §3, §7.4; facebook-ruby-business-sdk#124); retryable."""
    return GraphError(f"(#803) Some of the aliases you requested do not exist: {edge}", 803, transient=True)


TOO_MANY_TITLE = "Ad Account Has Too Many API Calls"
TOO_MANY_MSG = "There have been too many calls from this ad-account. Please wait a bit and try again."
#: Throttle key → (code, subcode, message, user title, user message), docs/meta-api.md §3 and §4 "Quotas".
THROTTLES: dict[str, tuple[int, int | None, str, str | None, str | None]] = {
    "80003/2446079": (
        80003,
        2446079,
        "(#80003) There have been too many calls to this ad-account. Wait a bit and try again. "
        "For more info, please refer to "
        "https://developers.facebook.com/docs/graph-api/overview/rate-limiting#custom-audience.",
        TOO_MANY_TITLE,
        TOO_MANY_MSG,
    ),
    "17/2446079": (17, 2446079, "(#17) User request limit reached", TOO_MANY_TITLE, TOO_MANY_MSG),
    "4": (4, None, "(#4) Application request limit reached", None, None),
    "613/1487742": (
        613,
        1487742,
        "(#613) Calls to this api have exceeded the rate limit.",
        "Too many calls",
        "There have been too many calls from this ad-account. Wait a bit and try again.",
    ),
}


def throttled(key: str, regain_minutes: int | None = None) -> GraphError:
    """A throttle: HTTP 400, no ``is_transient`` (docs/meta-api.md §3 "HTTP status", §7.3).

    ``regain_minutes`` (the tier limits) also goes into ``error_data.estimated_time_to_regain_access`` (inf).
    """
    code, subcode, message, title, msg = THROTTLES[key]
    data = None if regain_minutes is None else {"estimated_time_to_regain_access": regain_minutes}
    return GraphError(message, code, subcode, transient=None, user_title=title, user_msg=msg, data=data)
