"""The one redaction path: every message fbsync shows, logs or records goes through :func:`scrub`.

Two kinds of text must never leave fbsync:

* **secrets**: the access token, the app secret, the state key (registered once per process by
  :func:`register`, from the settings) and any ``access_token=…``/``appsecret_proof=…``/password URL
  parameter, whatever its value;
* **customer identifiers**: e-mail addresses, phone numbers written the way people write them
  (``+33 6 12 34 56 78``, ``06.12.34.56.78``), SHA-256 (or longer) hex digests, and control characters
  that could smuggle them past a terminal (shown as ``\\x00``).

The terminal (errors, warnings, doctor's lines), the log file, the run history's messages and the HTML
report all call :func:`scrub`, so a message written carelessly (say an exception's text quoting a CSV
row, or a URL with a token in it) is caught here rather than at each place that prints it.  Counts,
Meta's numeric ids and fbtrace ids are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SECRET = "***"
REDACTED = "[redacted]"  # a customer identifier was here
_secrets: set[str] = set()

_PARAM = re.compile(r"((?:access_token|appsecret_proof|client_secret|password|secret|token)=)[^&\s\"'<>]+", re.I)
_USERINFO = re.compile(r"(//[^:/@\s]+:)[^@\s/]+@")  # scheme://user:password@host
_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.I)
_HEX = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32,}(?![0-9a-fA-F])")
# +CC followed by 8+ digits, or a national number starting with 0 (never a Meta id, which has no leading 0
# or +), with the separators people type.
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)[1-9](?:[\s.\-()/]*\d){7,14}(?!\d)|(?<![\w])0[1-9](?:[\s.\-/]*\d){8}(?!\d)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def register(secrets: Iterable[str | None]) -> None:
    """Remember this process's secrets (values shorter than 4 characters are too common to replace)."""
    _secrets.update(s for s in secrets if s and len(s) >= 4)


def scrub(text: object) -> str:
    """``text`` with every secret and customer identifier replaced (see the module)."""
    s = "" if text is None else str(text)
    for secret in sorted(_secrets, key=len, reverse=True):
        s = s.replace(secret, SECRET)
    s = _USERINFO.sub(rf"\1{SECRET}@", _PARAM.sub(rf"\1{SECRET}", s))
    s = _EMAIL.sub(REDACTED, s)
    s = _HEX.sub(REDACTED, s)
    s = _PHONE.sub(REDACTED, s)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", s)
