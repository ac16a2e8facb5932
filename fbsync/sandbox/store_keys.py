"""Digests and canonical texts the store indexes by (shared by the store, members and matching)."""

from __future__ import annotations

import hashlib
import json


def row_key(member: dict[str, str]) -> str:
    """Canonical text of one member: sorted JSON of its non-empty identifiers."""
    return json.dumps(member, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(text: str) -> int:
    """Signed 64-bit BLAKE2b of ``text``: compact index keys (collisions are re-checked on the full row)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


def value_digest(key: str, value: str) -> int:
    """Index key of one identifier value of a member."""
    return digest(f"{key}\0{value}")
