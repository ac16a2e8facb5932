"""Membership: ``POST|DELETE /{id}/users``, ``POST /{id}/usersreplace``, ``DELETE /act_{id}/usersofanyaudience``.

Rules: docs/meta-api.md §1.5 (payload, session, response, removal semantics), §1.6
(replace sessions and their 2650 subcodes), §7.2 (schema-kind lock); value-based lists:
:mod:`.valuebased`; rows resolve to people: :mod:`.matching`, :mod:`.members`.
Membership changes apply at once; Meta takes up to 24 h (docs/sandbox.md).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from . import errors, integrity, render, valuebased
from .params import GraphRequest
from .payload import ATTRIBUTE_KEYS, Parsed, Session, parse_head, parse_rows, parse_session
from .sessions import FINISHED, REPLACE, RUNNING, TIMED_OUT, USERS, SessionState
from .store import Audience

if TYPE_CHECKING:
    from .app import SandboxApp


def add_users(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``POST /{id}/users``: add members."""
    return _users(app, req, remove=False)


def remove_users(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``DELETE /{id}/users`` (body, query, or POST with ``method=DELETE``): remove members."""
    return _users(app, req, remove=True)


def _customer_file(audience: Audience) -> None:
    if audience.subtype != "CUSTOM":
        raise errors.update_failed(
            f"users can only be changed on customer file custom audiences, not {audience.subtype}."
        )


def _check_kind(audience: Audience, parsed: Parsed) -> None:
    """An audience keeps the kind of its first upload (docs/meta-api.md §7.2)."""
    if audience.kind and audience.kind != parsed.kind:
        raise errors.kind_mismatch(audience.kind, parsed.kind)


def _parse(app: SandboxApp, audience: Audience, req: GraphRequest, op: str) -> Parsed:
    """The payload of an add / remove / replace, checked against the list's kind (value-based or not)."""
    head = parse_head(req.params.get("payload"), unknown_error_above=app.config.max_payload_rows_before_unknown_error)
    valuebased.check_upload(app, audience, head.schema, op)
    return parse_rows(head, keep_values=op != "remove" and valuebased.is_value_based(audience))


def _users(app: SandboxApp, req: GraphRequest, *, remove: bool) -> dict[str, Any]:
    audience: Audience = req.extra["audience"]
    _customer_file(audience)
    integrity.check_upload(audience)  # flagged: 100/1713230 (docs/meta-api.md §1.5, §8)
    parsed = _parse(app, audience, req, "remove" if remove else "add")
    session = parse_session(req.params.get("session"), needed=False)
    if app.running_replace(audience) is not None:
        raise errors.replace_error(errors.REPLACE_IN_PROGRESS)
    _check_kind(audience, parsed)
    state = _advance_users_session(app, audience, session, parsed) if session else None
    now = app.now()
    with app.store.transaction():
        if remove:
            change = app.store.memberships.remove([audience.id], audience.account_id, parsed.members, app.matcher, now)
            _check_size_after_removal(app, audience.persons, change.persons)  # raising rolls the removal back
        else:
            app.store.lock_schema(audience.id, parsed.kind, parsed.identity_keys)
            change = app.store.memberships.add(
                audience.id, audience.account_id, parsed.members, parsed.values, app.matcher, now
            )
        if state is not None:
            state.matched += change.matched
            app.store.sessions.save(state)
    session_id = session.session_id if session else random.randint(10**17, 2**63 - 1)
    received, invalid = (state.received, state.invalid) if state else (parsed.received, parsed.invalid)
    return {
        "audience_id": str(audience.id),
        "session_id": str(session_id),
        "num_received": received,
        "num_invalid_entries": invalid,
        "invalid_entry_samples": parsed.samples,
    }


def _check_size_after_removal(app: SandboxApp, before: int, removed: int) -> None:
    """200/1870047 when a removal takes an audience of at least ``min_audience_size_after_removal`` people
    below it (docs/meta-api.md §1.5 "Errors", §8; the threshold and "from at least" are (inf))."""
    minimum = app.config.min_audience_size_after_removal
    if minimum and before >= minimum and before - removed < minimum:
        raise errors.audience_too_small_after_removal(minimum)


def remove_from_any(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``DELETE /act_{id}/usersofanyaudience``: remove the people from every customer list of the account
    (docs/meta-api.md §1.5 "Remove"; R-CA: the opt-out path).

    (inf) Meta documents no response: the sandbox answers like ``usersreplace`` (``account_id`` …).  An
    opt-out must always go through, so neither the kind lock, a running replace, an integrity flag nor the
    minimum size after removal stops it; ``session`` is validated but not tracked.
    """
    account = req.account_id
    assert account is not None
    app.store.ensure_account(account, app.now())
    head = parse_head(req.params.get("payload"), unknown_error_above=app.config.max_payload_rows_before_unknown_error)
    parsed = parse_rows(head, keep_values=False)
    session = parse_session(req.params.get("session"), needed=False)
    now = app.now()
    lists = [a.id for a in app.store.list_audiences(account) if a.subtype == "CUSTOM"]
    app.store.memberships.remove(lists, account, parsed.members, app.matcher, now, touch_all=False)
    return {
        "account_id": account,
        "session_id": str(session.session_id if session else random.randint(10**17, 2**63 - 1)),
        "num_received": parsed.received,
        "num_invalid_entries": parsed.invalid,
        "invalid_entry_samples": parsed.samples,
    }


def _advance_users_session(app: SandboxApp, audience: Audience, session: Session, parsed: Parsed) -> SessionState:
    """Per (audience, session_id): unique batch_seq, one schema, closed by last_batch_flag, 90 minutes (inf)."""
    now = app.now()
    state = app.store.sessions.get(audience.id, USERS, session.session_id)
    if state is None:
        state = SessionState(
            audience.id, USERS, session.session_id, started=now, schema=parsed.schema, kind=parsed.kind
        )
    elif state.status == FINISHED:
        raise errors.replace_error(errors.REPLACE_FINISHED)
    elif now - state.started > app.config.session_seconds:
        raise errors.replace_error(errors.REPLACE_TIMED_OUT)
    _same_batch_rules(state, session, parsed)
    _count(state, session, parsed, now)
    return state


def _same_batch_rules(state: SessionState, session: Session, parsed: Parsed) -> None:
    """Rules common to both session kinds: no repeated batch_seq, the same schema throughout."""
    if session.batch_seq in state.seqs:
        raise errors.update_failed(f"batch_seq {session.batch_seq} was already received in session {state.session_id}.")
    if parsed.schema != state.schema:
        raise errors.update_failed(f"every batch of session {state.session_id} must use the schema of its first batch.")


def _count(state: SessionState, session: Session, parsed: Parsed, now: int) -> None:
    state.seqs.append(session.batch_seq)
    state.received += parsed.received
    state.invalid += parsed.invalid
    state.last_batch = now
    if state.estimated is None and session.estimated_num_total is not None:
        state.estimated = session.estimated_num_total
    if session.last_batch_flag:
        state.status = FINISHED


def settle_replace(app: SandboxApp, audience: Audience) -> SessionState | None:
    """The running replace of an audience; one past its 90 minutes is completed first (docs/meta-api.md §1.6).

    "Late batches are discarded and the audience keeps what arrived": the rows received
    within the 90 minutes become the audience's members, as if the last batch had come.
    """
    state = app.store.sessions.running_replace(audience.id)
    if state is None or app.now() - state.started <= app.config.session_seconds:
        return state
    state.status = TIMED_OUT
    _finish_replace(app, state, state.started + int(app.config.session_seconds))
    return None


def _finish_replace(app: SandboxApp, state: SessionState, when: int) -> None:
    """Swap the staged rows in as the audience's members, locking it to the session's kind."""
    store = app.store
    with store.transaction():
        audience = store.get_audience(state.audience_id)
        assert audience is not None
        schema = [k for k in state.schema if k not in ATTRIBUTE_KEYS]
        store.lock_schema(audience.id, state.kind, [])
        store.set_schema(audience.id, schema)
        store.memberships.swap(audience.id, when)
        store.sessions.save(state)


def replace_users(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``POST /{id}/usersreplace`` (docs/meta-api.md §1.6)."""
    audience: Audience = req.extra["audience"]
    _customer_file(audience)
    integrity.check_upload(audience)
    parsed = _parse(app, audience, req, "replace")
    session = parse_session(req.params.get("session"), needed=True)
    assert session is not None
    running = app.running_replace(audience)
    state = _replace_state(app, audience, session, parsed, running)
    _same_batch_rules(state, session, parsed)
    _count(state, session, parsed, app.now())
    with app.store.transaction():
        state.matched += app.store.memberships.stage(
            audience.id, audience.account_id, parsed.members, parsed.values, app.matcher
        )
        app.store.sessions.save(state)
        if state.status == FINISHED:
            _finish_replace(app, state, app.now())
    return {
        "account_id": audience.account_id,
        "session_id": str(session.session_id),
        "num_received": state.received,
        "num_invalid_entries": state.invalid,
        "invalid_entry_samples": parsed.samples,
    }


def _replace_state(
    app: SandboxApp, audience: Audience, session: Session, parsed: Parsed, running: SessionState | None
) -> SessionState:
    """Which replace session this batch belongs to, or the 2650 subcode that refuses it."""
    known = app.store.sessions.get(audience.id, REPLACE, session.session_id)
    if session.batch_seq == 1:
        if known is not None and known.status != RUNNING:
            raise errors.replace_error(
                errors.REPLACE_TIMED_OUT if known.status == TIMED_OUT else errors.REPLACE_FINISHED
            )
        if running is not None:
            raise errors.replace_error(errors.REPLACE_IN_PROGRESS)
        if audience.persons >= app.config.replace_max_members:
            raise errors.replace_error(errors.REPLACE_TOO_BIG)
        _check_kind(audience, parsed)
        app.store.sessions.clear_staged(audience.id)
        return SessionState(
            audience.id, REPLACE, session.session_id, started=app.now(), schema=parsed.schema, kind=parsed.kind
        )
    if known is None:
        raise errors.replace_error(errors.REPLACE_FIRST_NOT_ONE)
    if known.status == TIMED_OUT:
        raise errors.replace_error(errors.REPLACE_TIMED_OUT)
    if known.status == FINISHED:
        raise errors.replace_error(errors.REPLACE_FINISHED)
    return known


#: CustomAudienceSession fields of the SDK (``get_sessions``, docs/meta-api.md §5, §8 "After an upload").
SESSION_FIELDS = (
    "session_id",
    "num_received",
    "num_invalid_entries",
    "num_matched",
    "progress",
    "stage",
    "start_time",
    "end_time",
)


def list_sessions(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``GET /{id}/sessions``: the audience's upload and replace sessions, newest first.

    Values are strings, as the SDK types every field of CustomAudienceSession (inf).  ``num_matched`` =
    rows that resolved to a person (:mod:`.matching`); ``progress`` is 100 once finished, else the
    share of ``estimated_num_total`` received (at most 99), or 0 without an estimate.
    """
    audience: Audience = req.extra["audience"]
    app.running_replace(audience)  # completes a replace past its 90 minutes
    data = []
    for state in app.store.sessions.of_audience(audience.id):
        stage, ended = state.stage(app.now(), app.config.session_seconds)
        if stage == "finished":
            progress = 100
        elif state.estimated:
            progress = min(99, 100 * state.received // state.estimated)
        else:
            progress = 0
        full = {
            "id": str(state.session_id),
            "session_id": str(state.session_id),
            "num_received": str(state.received),
            "num_invalid_entries": str(state.invalid),
            "num_matched": str(state.matched),
            "progress": str(progress),
            "stage": stage,
            "start_time": str(state.started),
            "end_time": None if ended is None else str(ended),
        }
        row = render.select(
            full, req.params.get("fields") or ",".join(SESSION_FIELDS), _ALLOWED, "CustomAudienceSession"
        )
        row.pop("id", None)
        data.append({k: v for k, v in row.items() if v is not None})
    return {"data": data}


_ALLOWED = frozenset(SESSION_FIELDS)
