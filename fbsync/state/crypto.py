"""Keys for the state store: a keyed fingerprint per row and encryption at rest.

One master secret (``FBSYNC_STATE_KEY``, else a key file generated once in the
state dir with mode 0600) is stretched with HKDF into two independent keys:

* a fingerprint key: ``HMAC-SHA256(fp_key, row)[:16]`` identifies a row for set
  operations (diffs) without decrypting anything; without the key, a fingerprint
  cannot be joined with a list of email hashes;
* an encryption key: AES-256-GCM with a random 96-bit nonce per row, so the
  hashed row can be sent back to Meta for removal later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import ConfigError
from ..identity.hashing import c_function

log = logging.getLogger(__name__)
KEY_FILE = "state.key"
SEP = "\x1f"


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"fbsync-state-v1", info=info).derive(master)


def load_master_key(state_key: str | None, state_dir: Path) -> bytes:
    """The master secret from the environment, or from (a newly generated) key file."""
    if state_key:
        if len(state_key) < 16:
            raise ConfigError(
                "FBSYNC_STATE_KEY is too short; use at least 16 random characters "
                '(for example the output of `python -c "import secrets; print(secrets.token_urlsafe(32))"`).'
            )
        return state_key.encode()
    path = state_dir / KEY_FILE
    if path.exists():
        return path.read_bytes().strip()
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = base64.urlsafe_b64encode(secrets.token_bytes(32))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    log.warning(
        "generated a new state key in %s (mode 0600); back it up or set FBSYNC_STATE_KEY, "
        "or fbsync will not be able to read its ledger",
        path,
    )
    return key


#: The C module's ``seal_rows`` (OpenSSL HMAC and AES-GCM over a whole chunk), or None when every row goes
#: through hmac and cryptography (tests swap it).
SEAL: Callable[[bytes, bytes, bytes, list[bytes], bytes], list[tuple[bytes, bytes]]] | None = c_function("seal_rows")

#: The C module's ``seal_fields``: the same over the kept rows of column-wise hashed fields.
SEAL_FIELDS: Callable[..., tuple[bytes, bytes, bytes]] | None = c_function("seal_fields")


def _prefix(schema: Sequence[str]) -> bytes:
    """What a row's fingerprint covers before the row: its schema (the same row under another schema is
    another member)."""
    return (SEP.join(schema) + "\x1e").encode()


class RowCipher:
    """Fingerprints and encrypts hashed rows (tuples of strings)."""

    def __init__(self, master: bytes) -> None:
        self._fp_key = _derive(master, b"fingerprint")
        self._aes_key = _derive(master, b"row-encryption")
        self._aead = AESGCM(self._aes_key)
        self.key_id = hashlib.sha256(_derive(master, b"key-id")).hexdigest()[:16]

    def fingerprint(self, schema: tuple[str, ...], row: tuple[str, ...]) -> bytes:
        msg = _prefix(schema) + SEP.join(row).encode()
        return hmac.digest(self._fp_key, msg, "sha256")[:16]  # one-shot C HMAC: same bytes as hmac.new

    def encrypt(self, row: tuple[str, ...]) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, SEP.join(row).encode(), None)

    def pairs(self, schema: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[tuple[bytes, bytes]]:
        """``(fingerprint(schema, row), encrypt(row))`` for many rows.  With the C module, OpenSSL does both over
        the whole chunk, the nonces drawn in one read of the system's generator (200,000 7-key rows: 0.38 s
        instead of 0.75 s); the same bytes come from :meth:`fingerprint` and :meth:`encrypt` without it."""
        if SEAL is None:
            return [(self.fingerprint(schema, row), self.encrypt(row)) for row in rows]
        messages = [SEP.join(row).encode() for row in rows]
        return SEAL(self._fp_key, self._aes_key, _prefix(schema), messages, os.urandom(12 * len(rows)))

    def seal_columns(
        self, schema: tuple[str, ...], columns: Sequence[Any], keep: bytes | bytearray | None, rows: int
    ) -> tuple[bytes, bytes, bytes]:
        """:meth:`pairs` for the ``rows`` kept rows of a chunk hashed column-wise
        (:class:`fbsync.sources.columnar.Block`'s fields and ``keep``), without a Python object per row: the
        fingerprints one after another, the encrypted rows one after another, and each one's length (int64),
        as :meth:`fbsync.state.staging.Staging.add_sealed` takes them.  Needs the C module."""
        if SEAL_FIELDS is None:
            raise RuntimeError("seal_columns needs the C module (fbsync.identity._fasthash)")
        return SEAL_FIELDS(self._fp_key, self._aes_key, _prefix(schema), list(columns), keep, os.urandom(12 * rows))

    def decrypt(self, blob: bytes) -> tuple[str, ...]:
        return tuple(self._aead.decrypt(blob[:12], blob[12:], None).decode().split(SEP))

    def keyed_hash(self, value: str) -> bytes:
        """Keyed hash of one identifier (for suppression lists kept without plaintext)."""
        return hmac.digest(self._fp_key, b"id" + value.encode(), "sha256")[:16]


class EphemeralCipher(RowCipher):
    """A cipher whose key lives only in this process: staging files left by a crash are unreadable."""

    def __init__(self) -> None:
        super().__init__(secrets.token_bytes(32))
