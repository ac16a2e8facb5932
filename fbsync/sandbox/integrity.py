"""Integrity flags on audiences (docs/meta-api.md §8 "Integrity flags", §1.2, §1.4; R-CA).

Since 2025-09-02 Meta flags audiences whose name or description suggests health
conditions or financial status: ``operation_status`` reads 471 and
``fields_violating_integrity_policy`` names the fields.  The sandbox flags from
its own rule: a word of ``SandboxConfig.integrity_words`` in the name or the
description (whole words, case- and accent-insensitive (inf)), checked when the
audience is created or updated.  Then:

* ``/users`` (add, remove) and ``/usersreplace`` → 100/1713230;
* any edit of a flagged customer-file or lookalike audience, a rename included → 100/1713228;
* a lookalike from a flagged seed → 100/1713232;
* 1713231 (an edit of another kind of audience that keeps the flagged fields) is not
  simulated: the sandbox has only customer-file and lookalike audiences.

A flag stays until the admin endpoint lifts it (an accepted appeal).  The flagged
fields live in the audience's stored data under ``FLAG_KEY``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from . import errors
from .store import Audience, SandboxStore

FLAG_KEY = "_integrity_fields"
FIELDS = ("name", "description")
OPERATION_STATUS = {
    "code": 471,
    "description": "This audience has been flagged for integrity reasons: it may suggest information that is not "
    "permitted under our terms (such as health conditions or financial status). It cannot be used in ads.",
}


def _fold(text: str) -> str:
    """Lowercase without accents, so that "Diabète" and "diabete" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def matches(text: str, words: Iterable[str]) -> bool:
    """Does ``text`` contain one of ``words`` as a whole word (or phrase)?"""
    folded = _fold(text)
    for word in words:
        needle = _fold(word).strip()
        if needle and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", folded):
            return True
    return False


def violating_fields(data: dict[str, Any], words: Iterable[str]) -> list[str]:
    """The fields of an audience's data that contain a flagged word (``[]`` when clean)."""
    words = list(words)
    return [f for f in FIELDS if isinstance(data.get(f), str) and matches(data[f], words)]


def flagged_fields(audience: Audience) -> list[str]:
    """The audience's flagged fields (``[]`` when it is not flagged)."""
    return list(audience.data.get(FLAG_KEY) or [])


def is_flagged(audience: Audience) -> bool:
    """Is the audience flagged (operation_status 471)?"""
    return bool(audience.data.get(FLAG_KEY))


def check_upload(audience: Audience) -> None:
    """``/users`` and ``/usersreplace`` on a flagged audience → 100/1713230."""
    if is_flagged(audience):
        raise errors.flagged(errors.FLAGGED_UPLOAD, audience.id)


def check_edit(audience: Audience) -> None:
    """Any edit of a flagged customer-file or lookalike audience → 100/1713228."""
    if is_flagged(audience):
        code = errors.FLAGGED_EDIT if audience.subtype in ("CUSTOM", "LOOKALIKE") else errors.FLAGGED_OTHER_EDIT
        raise errors.flagged(code, audience.id)


def check_seed(seed: Audience) -> None:
    """A lookalike from a flagged seed → 100/1713232."""
    if is_flagged(seed):
        raise errors.flagged(errors.FLAGGED_SEED, seed.id)


def set_flag(store: SandboxStore, audience_id: int, fields: list[str], now: int) -> None:
    """Flag (``fields`` non-empty) or unflag (``[]``) an audience directly: the admin endpoint."""
    bad = [f for f in fields if f not in (*FIELDS, "rule")]
    audience = store.get_audience(audience_id)
    if audience is None or bad:
        raise ValueError(f"no audience {audience_id}" if audience is None else f"unknown field(s) {bad}")
    store.update_audience(audience.id, {FLAG_KEY: list(fields)}, now, touch=False)
