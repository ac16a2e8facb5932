"""SHA-256 of a whole column at once: OpenSSL through the optional C module, else hashlib.

``hashlib.sha256(value).hexdigest()`` costs ~350 ns per short value on the
development VM, nearly all of it per-call set-up; OpenSSL's SHA-256 needs ~55 ns
for one 64-byte block.  :mod:`fbsync.identity._fasthash` (``_fasthash.c``, built
at install time when a C compiler and OpenSSL's headers are there) hashes every
line of a buffer in one call.  Without it, or with ``FBSYNC_PURE_PYTHON=1`` in the
environment, the same digests come from hashlib.  Both paths give identical
output (tested); ``fbsync doctor`` reports which one runs.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Callable
from typing import Any

_sha256 = hashlib.sha256
HexLines = Callable[[bytes, bytes, int], "list[str]"]


def c_function(name: str) -> Any:
    """A function of the optional C module, or None when it is not built or ``FBSYNC_PURE_PYTHON`` is set."""
    if os.environ.get("FBSYNC_PURE_PYTHON", "").strip() not in ("", "0"):
        return None
    try:
        module = importlib.import_module("fbsync.identity._fasthash")
    except ImportError:
        return None
    return getattr(module, name, None)


#: The C function, or None when hashlib is used (tests swap it).
FAST: HexLines | None = c_function("sha256_hex_lines")


def backend() -> str:
    """``"openssl"`` when the C module hashes columns, ``"hashlib"`` otherwise."""
    return "openssl" if FAST is not None else "hashlib"


def python_hex_lines(data: bytes, prefix: bytes = b"", keep_last: int = 0) -> list[str]:
    """The hashlib version of :func:`hex_lines` (the reference for the C module)."""
    lines = data.split(b"\n")
    if keep_last > 0:
        cut = -keep_last
        lines = [line[cut:] for line in lines]
    if prefix:
        return [_sha256(prefix + line).hexdigest() for line in lines]
    return [_sha256(line).hexdigest() for line in lines]


def hex_lines(data: bytes, prefix: bytes = b"", keep_last: int = 0) -> list[str]:
    """Lowercase hex SHA-256 of ``prefix`` + each ``\\n``-separated line of ``data``.

    A line longer than ``keep_last`` (when > 0) is first cut to its last
    ``keep_last`` bytes.  ``n`` newlines give ``n + 1`` digests, as
    ``bytes.split`` gives ``n + 1`` lines.
    """
    fast = FAST
    if fast is not None:
        return fast(data, prefix, keep_last)
    return python_hex_lines(data, prefix, keep_last)
