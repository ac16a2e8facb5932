"""Suppression (RGPD): people never sent to any audience, and how ``fbsync forget`` finds them.

Suppression: people never sent to any audience, whatever its mode, matched on ANY hashed
identifier.  They come from the YAML's ``suppression`` (a CRM query and/or CSV files of plain or
already-hashed identifiers, Meta key names as headers) and from every ``fbsync forget``.  The set
lives in memory as keyed hashes (HMAC under the state key) of ``KEY + hashed value``; the state
store keeps the forgotten people the same way, never a plaintext or a bare hash.

Forget removes one person from every customer-file audience fbsync manages, **by the exact rows
fbsync sent** (the ledger knows them), so each removal is verifiable and touches only fbsync's
audiences.  Meta's ``DELETE /act_{id}/usersofanyaudience`` would also reach audiences other tools
made; fbsync leaves that to the account's owner (README, "RGPD").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import identity
from .config import Config
from .customers import Links
from .errors import ConfigError
from .sources.crm import CrmSource
from .sources.files import header_mapping, read_columns
from .state.crypto import RowCipher
from .state.staging import Staging
from .state.store import StateStore

log = logging.getLogger(__name__)


#: The keys that identify one person (the registry's ``identifies``). Names, places, dates and gender are
#: attributes many people share: matching on them would suppress or exclude every "Marie" of Paris.
IDENTIFYING_KEYS: frozenset[str] = identity.keys.IDENTIFYING


def identifier_hash(cipher: RowCipher, key: str, value: str) -> bytes:
    """The keyed hash of one hashed identifier of one key (what suppression compares)."""
    return cipher.keyed_hash(f"{key}\x1f{value}")


@dataclass
class Suppression:
    """Keyed hashes of identifiers to keep out, and how many came from where."""

    cipher: RowCipher
    hashes: set[bytes] = field(default_factory=set)
    sources: dict[str, int] = field(default_factory=dict)

    def add_rows(self, schema: Sequence[str], rows: Iterable[Sequence[str]], source: str) -> None:
        before = len(self.hashes)
        idx = [(i, k) for i, k in enumerate(schema) if k in IDENTIFYING_KEYS]
        for row in rows:
            for i, key in idx:
                if row[i]:
                    self.hashes.add(identifier_hash(self.cipher, key, row[i]))
        self.sources[source] = self.sources.get(source, 0) + len(self.hashes) - before

    def matches(self, schema: Sequence[str], row: Sequence[str]) -> bool:
        """True when the row shares any identifier with a suppressed person."""
        if not self.hashes:
            return False
        return any(
            v and k in IDENTIFYING_KEYS and identifier_hash(self.cipher, k, v) in self.hashes
            for k, v in zip(schema, row)
        )

    def __bool__(self) -> bool:
        return bool(self.hashes)


def check_suppression(cfg: Config, crm: CrmSource | None, base: Path) -> None:
    """Preflight: the suppression query returns its columns and its files exist (nothing sent)."""
    sup = cfg.suppression
    if sup is None:
        return
    if sup.query:
        if not sup.keys:
            raise ConfigError("suppression: a query needs keys (Meta key -> column), e.g. {EMAIL: email}.")
        if crm is None:
            raise ConfigError("suppression: a query needs a CRM (crm.url or FBSYNC_CRM_URL).")
        crm.check_columns(sup.query, sup.keys, "suppression")
    for f in sup.files:
        path = Path(f) if Path(f).is_absolute() else base / f
        if not path.is_file():
            raise ConfigError(f"suppression: the file {path} does not exist; fix suppression.files.")


def load_suppression(
    cfg: Config, crm: CrmSource | None, cipher: RowCipher, store: StateStore, base: Path, default_country: str | None
) -> Suppression:
    """Everyone to keep out: the YAML's query and files, and every person forgotten so far."""
    s = Suppression(cipher)
    s.hashes |= store.suppressed_hashes()
    s.sources["forgotten"] = len(s.hashes)
    sup = cfg.suppression
    if sup is None:
        return s
    if sup.query and sup.keys and crm is not None:
        keys = dict(sup.keys)
        for chunk in crm.stream(sup.query, list(dict.fromkeys(keys.values())), "suppression"):
            batch = identity.hash_batch({k: chunk.columns[c] for k, c in keys.items()}, default_country)
            s.add_rows(batch.schema, batch.rows, "query")
    for f in sup.files:
        path = Path(f) if Path(f).is_absolute() else base / f
        _add_file(s, path, default_country)
    return s


def _add_file(s: Suppression, path: Path, default_country: str | None) -> None:
    """A suppression file: its columns named after Meta keys (any case), read like any customer file
    (encoding and delimiter sniffed, malformed rows skipped); errors never echo a value of the file."""
    try:
        mapping = header_mapping(path, via_map=False)
        chunks = read_columns(path, list(mapping.values()))
    except ConfigError as exc:
        raise ConfigError(f"suppression file {exc}") from None
    for chunk in chunks:
        batch = identity.hash_batch({k: chunk[c] for k, c in mapping.items()}, default_country)
        s.add_rows(batch.schema, batch.rows, path.name)


def person_identifiers(
    emails: Sequence[str], phones: Sequence[str], default_country: str | None
) -> list[tuple[str, str]]:
    """(KEY, hashed value) of the person to forget; bad input is a ConfigError (exit 2)."""
    if not emails and not phones:
        raise ConfigError("fbsync forget needs --email and/or --phone to say who to forget.")
    out: list[tuple[str, str]] = []
    for key, values in (("EMAIL", emails), ("PHONE", phones)):
        for v in values:
            sent, reason = identity.hash_one(key, v, default_country)
            if sent is None:
                hint = " (write it with its country code, e.g. +33 6 12 34 56 78)" if key == "PHONE" else ""
                raise ConfigError(f"--{key.lower()} {identity.mask(key, v)}: {reason}{hint}; nothing was changed.")
            out.append((key, sent))
    return out


def matching_rows(
    store: StateStore,
    cipher: RowCipher,
    name: str,
    schema: Sequence[str],
    ids: set[tuple[str, str]],
    links: Links | None = None,
) -> list[tuple[bytes, bytes]]:
    """(fingerprint, encrypted row) of the ledger rows of an audience that hold any of the identifiers, and
    of the rows linked to those (the customer's other rows: another identifier they share, or the keys a
    fanned customer's rows repeat), since Meta takes off the whole person a removal matches.  The ledger is
    decrypted once per pass, at most three passes; the applier sends exactly these rows back for removal."""
    links = links or Links.of(schema)
    keys: set[tuple[object, ...]] = {
        (i, v) for i, k in enumerate(schema) for kk, v in ids if kk == k and k in IDENTIFYING_KEYS
    }
    found: dict[bytes, bytes] = {}
    for _ in range(3):
        grew = False
        for chunk in store.iter_ledger(name):
            for fp, enc in chunk:
                if fp in found:
                    continue
                linked = links.keys_of(cipher.decrypt(enc))
                if not keys.isdisjoint(linked):
                    found[fp] = enc
                    keys |= linked
                    grew = True
        if not grew:
            break
    return list(found.items())


def mark_suppressed(
    stg: Staging, store: StateStore, cipher: RowCipher, suppression: Suppression, name: str, schema: Sequence[str]
) -> int:
    """Mark, among the ledger rows the staging no longer desires, those of suppressed people (``forced``):
    append mode removes nothing else, but suppression beats every mode.  Returns how many are marked."""
    if not suppression:
        return 0
    for fps in stg.iter_removes(10_000):
        stg.add_forced(
            fp
            for fp, enc in store.encrypted_rows(name, [f for (f,) in fps])
            if suppression.matches(schema, cipher.decrypt(enc))
        )
    return stg.forced


def summarize(audiences: dict[str, Any]) -> str:
    touched = {k: v for k, v in audiences.items() if v}
    if not touched:
        return "found in no audience fbsync manages"
    return "removed from " + ", ".join(f"{k} ({v} row{'s' if v != 1 else ''})" for k, v in touched.items())
