"""Line-level pieces of the column-wise fast paths: a column as one newline-joined buffer, which lines the
byte checks left, and the per-value path for those (shared by :mod:`fbsync.identity.batch` and the Arrow
path, :mod:`fbsync.sources.columnar`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fbsync.identity import phone
from fbsync.identity._text import EMPTY, MAX_TEXT, sha256_hex
from fbsync.identity.normalize import send_value

_NON_EMPTY_LINE = re.compile(rb"[^\n]+")
Rows = Sequence[str] | Mapping[int, str]  # a column's cells, or only the suspects' (by row)


def send_or_reason(key: str, text: str, region: str | None) -> tuple[str, str | None]:
    """The value to send, or ``""`` and why not."""
    sent, reason = send_value(key, text, region)
    return (sent, None) if sent is not None else ("", reason)


def fill_left(
    key: str,
    texts: list[str],
    stripped: list[str],
    out: list[str],
    suspects: list[int],
    blanks: list[int],
    region: str | None,
) -> dict[int, str]:
    """Fill in the lines the fast pass left: blanks are empty or junk, suspects take the slow path."""
    bad: dict[int, str] = {}
    for index in blanks:
        if stripped[index]:
            suspects.append(index)
        else:
            out[index] = ""
            bad[index] = EMPTY
    bad.update(judge(key, texts, stripped, out, suspects, region))
    return bad


def judge(key: str, texts: Rows, stripped: Rows, out: Any, suspects: list[int], region: str | None) -> dict[int, str]:
    """The per-value path for the ``suspects`` rows: their sent value into ``out``, their reasons returned."""
    bad: dict[int, str] = {}
    seen: dict[str, tuple[str, str | None]] = {}  # junk repeats ("n/a", "0000000000")
    is_phone = key == "PHONE"
    for index in suspects:
        text = texts[index]
        result = seen.get(text)
        if result is None:
            short = stripped[index]  # plain shapes skip send_value, after the checks to_text makes
            plain = is_phone and len(short) != 64 and len(short) <= MAX_TEXT and short.isascii()
            number = phone.quick_phone(short, region) if plain else None
            result = seen[text] = (sha256_hex(number), None) if number else send_or_reason(key, text, region)
        out[index], reason = result
        if reason:
            bad[index] = reason
    return bad


def blank_lines(buffer: bytes) -> list[int]:
    """Numbers of the empty lines of a newline-joined buffer (a few per column: found with ``find``)."""
    if not buffer:
        return [0]
    found = [0] if buffer.startswith(b"\n") else []
    line = start = 0
    at = buffer.find(b"\n\n")
    while at >= 0:
        line += buffer.count(b"\n", start, at + 1)  # the empty line starts after the newline at ``at``
        start = at + 1
        found.append(line)
        at = buffer.find(b"\n\n", at + 1)
    if buffer.endswith(b"\n"):
        found.append(line + buffer.count(b"\n", start))
    return found


def leftover_lines(leftover: bytes, size: int) -> list[int]:
    """Numbers of the non-empty lines of ``leftover`` (what a fast pass did not accept)."""
    if len(leftover) == size - 1:
        return []
    found: list[int] = []
    line = start = 0
    for match in _NON_EMPTY_LINE.finditer(leftover):
        line += leftover.count(b"\n", start, match.start())
        start = match.start()
        found.append(line)
    return found


def ascii_buffer(stripped: list[str]) -> str:
    """Join trimmed cells; non-ASCII or over-long cells become blank lines (slow path)."""
    joined = "\n".join(stripped)
    if joined.isascii() and max(map(len, stripped), default=0) <= MAX_TEXT:
        return joined
    return "\n".join(s if s.isascii() and len(s) <= MAX_TEXT else "" for s in stripped)
