"""Value-based customer lists and their lookalikes (docs/meta-api.md §1.5 "Value-based audiences", §1.6, §1.7).

* A value-based list (``is_value_based=1``) takes rows with ``LOOKALIKE_VALUE``, "any non-negative integer or
  floating-point number" (G-VBL).  An add without the column, or with a value that is not such a number,
  is refused whole with code 100 (inf: Meta documents no error; ``num_invalid_entries`` counts badly
  hashed rows, and a value is not hashed, so a bad one is a parameter error, as the sandbox does for
  the other unhashed attribute columns; RUD clamps values to ≥ 0 before sending).
* ``LOOKALIKE_VALUE`` sent to a list that is not value-based → 100 (inf).
* ``usersreplace`` cannot turn a value-based list into a plain one or the reverse (G-CFCA) → 2650 (inf:
  Meta's code for failed replaces, no subcode).
* A lookalike of a value-based seed uses a ``custom_ratio`` spec with a ratio (G-VBL step 3): a spec
  with ``type`` similarity/reach is refused with 100 (inf).
* The value-based terms: ``tos_accepted.value_based_custom_audience_tos`` on the ad account; creating a
  value-based list, adding to or replacing one, or building a lookalike of one without them → 2655
  "Terms of service has not been accepted" (or 2663, ``value_based_tos_code``) with the value-based
  terms link (inf: code and wording of Meta's older terms errors, docs/meta-api.md §1.7 end).
* Removals never need the values nor the terms (opt-outs must always work, inf).
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from .app import SandboxApp
    from .store import Audience

VALUE_KEY = "LOOKALIKE_VALUE"
TERMS_URL = "https://www.facebook.com/customaudiences/value_based/tos.php"
_DECIMAL = re.compile(r"^\d+(\.\d+)?$")


def is_value_based(audience: Audience) -> bool:
    """Was the audience created with ``is_value_based``?"""
    return bool(audience.data.get("is_value_based"))


# --- errors (style of errors.py) ---


def value_required() -> errors.GraphError:
    """100: an add to a value-based list without LOOKALIKE_VALUE (RUD's rule, docs/meta-api.md §1.5)."""
    return errors.param("LOOKALIKE_VALUE is required in the schema of a value-based custom audience")


def bad_value(value: Any) -> errors.GraphError:
    """100: a LOOKALIKE_VALUE that is not a non-negative number (G-VBL; whole request refused, inf)."""
    shown = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return errors.param(
        f"Invalid value {shown} for LOOKALIKE_VALUE: it must be a non-negative integer or decimal number"
    )


def not_value_based(audience_id: int | str) -> errors.GraphError:
    """100: LOOKALIKE_VALUE sent to a list that is not value-based (inf)."""
    return errors.param(
        f"LOOKALIKE_VALUE is only accepted by a value-based custom audience (created with is_value_based=1); "
        f"custom audience {audience_id} is not value-based"
    )


def replace_switches_kind(value_based: bool) -> errors.GraphError:
    """2650: a replace whose schema would switch the list between value-based and plain (G-CFCA; code inf)."""
    has = "lacks" if value_based else "has"
    kind = "value-based" if value_based else "not value-based"
    return errors.update_failed(
        f"A replace cannot turn a value-based custom audience into a non-value-based one, or the reverse: this "
        f"audience is {kind} and the session's schema {has} LOOKALIKE_VALUE."
    )


def lookalike_spec_refused(kind: str) -> errors.GraphError:
    """100: a value-based seed with a ``type`` similarity/reach spec (G-VBL asks for custom_ratio; inf)."""
    return errors.param(
        f"A lookalike of a value-based custom audience needs a lookalike_spec of type custom_ratio with a ratio "
        f"(0.01 to 0.20), not type {kind}"
    )


def value_based_fixed() -> errors.GraphError:
    """100: ``is_value_based`` changed after creation (inf: the kind of a list is fixed, G-CFCA)."""
    return errors.param("is_value_based cannot be changed once the custom audience is created")


def terms_not_accepted(account_id: str, code: int) -> errors.GraphError:
    """2655 (or 2663): value-based terms not accepted.  Inferred: Meta documents no error for these terms;
    2655 "Terms of service has not been accepted" is the terms error ERR-M listed (earlier reading) and
    facebook/facebook-php-business-sdk#43 received, 2663 the same text with the terms link
    (facebook/facebook-nodejs-business-sdk#26).  HTTP 400 (inf)."""
    return errors.GraphError(
        f"(#{code}) Terms of service has not been accepted. To accept, go to {TERMS_URL}?act={account_id}", code
    )


# --- checks ---


def lookalike_value(value: Any) -> str:
    """The canonical JSON text of an acceptable LOOKALIKE_VALUE (numbers, or decimal digit strings), else 100."""
    if isinstance(value, bool):
        raise bad_value(value)
    if isinstance(value, int) and value >= 0:
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return json.dumps(value + 0.0)
    if isinstance(value, str) and _DECIMAL.match(value.strip()):
        text = value.strip()
        return str(int(text)) if "." not in text else json.dumps(float(text))
    raise bad_value(value)


def check_terms(app: SandboxApp, account_id: str) -> None:
    """The value-based terms of the ad account (``value_based_tos``)."""
    if not app.config.value_based_tos:
        raise terms_not_accepted(account_id, app.config.value_based_tos_code)


def check_upload(app: SandboxApp, audience: Audience, schema: list[str], op: str) -> None:
    """Schema against the list's kind for ``op`` ``add`` / ``remove`` / ``replace``; terms for adds and replaces."""
    if op == "remove":
        return
    valued, has_value = is_value_based(audience), VALUE_KEY in schema
    if op == "replace" and valued != has_value:
        raise replace_switches_kind(valued)
    if valued:
        check_terms(app, audience.account_id)
        if not has_value:
            raise value_required()
    elif has_value:
        raise not_value_based(audience.id)


def check_lookalike(app: SandboxApp, seed: Audience, spec: dict[str, Any]) -> None:
    """A value-based seed: the terms, and a custom_ratio spec (G-VBL step 3)."""
    if not is_value_based(seed):
        return
    check_terms(app, seed.account_id)
    if spec.get("type") != "custom_ratio":
        raise lookalike_spec_refused(str(spec.get("type")))
