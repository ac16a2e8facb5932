"""Fault injection settings: Meta misbehaving on purpose, deterministically (docs/sandbox.md "Fault injection").

:class:`Faults` is the frozen, JSON-friendly description of what to inject;
:class:`fbsync.sandbox.injector.FaultInjector` applies it to each Graph call.
The same settings come from Python (``running_sandbox(faults=Faults(...))``,
``app.faults = ...``), from the command line (:func:`faults_from_options`,
``python -m fbsync.sandbox --error-rate 0.05 ...``) and from the admin endpoint
``POST /__sandbox/faults`` (:meth:`Faults.from_dict`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import THROTTLES

#: Every throttle the sandbox can inject (docs/meta-api.md §3 codes table, §4 "Quotas").
THROTTLE_KEYS: tuple[str, ...] = tuple(THROTTLES)
_RATES = ("error_rate", "html_fraction", "throttle_rate", "drop_rate", "drop_after_apply", "slow_rate")


class ConnectionDropped(ConnectionError):
    """Raised by :meth:`SandboxApp.handle` when a drop fault fires: close the socket without answering.

    ``server.py`` turns it into an abrupt close (the client gets a connection error).
    In a ``responses`` callback, re-raise it as ``requests.ConnectionError``.
    ``applied`` tells whether the call was applied before the drop.
    """

    def __init__(self, applied: bool) -> None:
        super().__init__("sandbox fault: connection dropped " + ("after" if applied else "before") + " applying")
        self.applied = applied


@dataclass(frozen=True)
class Faults:
    """What to inject.  Every rate is a probability per Graph call, drawn from ``random.Random(seed)``.

    Random faults (``error_rate``, ``throttle_rate``, ``drop_rate``, slowness) hit only the endpoint
    labels in ``endpoints`` when it is non-empty (labels as in ``GET /__sandbox/requests``, e.g.
    ``"POST /users"``).  Blocks, the per-minute budget, token expiry and 803 always apply.
    """

    seed: int = 0
    endpoints: tuple[str, ...] = ()
    #: HTTP 500 code 2 "An unexpected error has occurred…" (is_transient true), before applying the call.
    error_rate: float = 0.0
    #: Share of those 5xx answered as HTML ``Service Unavailable`` with HTTP 503 instead.
    html_fraction: float = 0.0
    #: A throttle (one of ``throttle_codes``) that blocks the account (code 4: the whole app).
    throttle_rate: float = 0.0
    throttle_codes: tuple[str, ...] = THROTTLE_KEYS
    #: How long a throttle blocks, and how much each call made during the block adds to it.
    block_seconds: float = 60.0
    block_extension_seconds: float = 10.0
    #: Ad-account budget over a rolling 60 s (read 1, write 3); ``None`` = no budget.
    calls_per_minute: int | None = None
    #: Close the connection without answering; ``drop_after_apply`` = share of drops made after the call
    #: was applied (``True`` = all of them, ``False`` = none).
    drop_rate: float = 0.0
    drop_after_apply: float = 0.0
    #: Delay before answering, in ms: a number, or ``(low, high)`` for a uniform random delay;
    #: applied to a ``slow_rate`` share of calls.
    slow_ms: tuple[float, float] = (0.0, 0.0)
    slow_rate: float = 1.0
    #: After this many Graph calls, the token (``expiring_token``, or else the first token seen) is
    #: refused with 190/463; other tokens keep working.
    token_expires_after: int | None = None
    expiring_token: str | None = dataclasses.field(default=None, repr=False)
    #: The first N ``/users`` calls on a just-created audience get ``(#803) … do not exist: users``.
    missing_after_create: int = 0

    def __post_init__(self) -> None:
        for name in _RATES:
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        codes = (self.throttle_codes,) if isinstance(self.throttle_codes, str) else tuple(self.throttle_codes)
        unknown = [code for code in codes if code not in THROTTLES]
        if unknown or not codes:
            raise ValueError(f"throttle_codes must be among {', '.join(THROTTLE_KEYS)}, got {unknown or 'nothing'}")
        object.__setattr__(self, "throttle_codes", codes)
        object.__setattr__(self, "slow_ms", _slow_range(self.slow_ms))
        for name in ("calls_per_minute", "token_expires_after"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.block_seconds <= 0 or self.block_extension_seconds < 0 or self.missing_after_create < 0:
            raise ValueError("block_seconds must be > 0; block_extension_seconds and missing_after_create >= 0")

    @property
    def active(self) -> bool:
        """True when anything at all would be injected."""
        return bool(
            self.error_rate
            or self.throttle_rate
            or self.calls_per_minute
            or self.drop_rate
            or self.slow_ms[1]
            or self.token_expires_after
            or self.missing_after_create
        )

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """JSON-ready settings (``expiring_token`` shown as ``"***"`` unless ``redact=False``)."""
        out = dataclasses.asdict(self)
        out["endpoints"] = list(self.endpoints)
        out["throttle_codes"] = list(self.throttle_codes)
        out["slow_ms"] = list(self.slow_ms)
        if redact and self.expiring_token:
            out["expiring_token"] = "***"
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Faults:
        """Settings from JSON (the admin endpoint); unknown names raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(unknown)}")
        return cls(**values)


def _slow_range(value: Any) -> tuple[float, float]:
    """``250`` → ``(250, 250)``; ``"100-500"`` or ``[100, 500]`` → ``(100, 500)``."""
    if isinstance(value, str):
        first, sep, second = value.partition("-")
        value = (float(first), float(second)) if sep else float(first)
    if isinstance(value, (int, float)):
        value = (float(value), float(value))
    low, high = (float(v) for v in value)
    if low < 0 or high < low:
        raise ValueError(f"slow_ms must be a delay >= 0 or a range low-high, got {value}")
    return low, high


def faults_from_options(
    error_rate: float = 0.0,
    throttle_rate: float = 0.0,
    drop_rate: float = 0.0,
    slow_ms: float | str | tuple[float, float] | None = None,
    token_expires_after: int | None = None,
    calls_per_minute: int | None = None,
    seed: int | None = None,
    **more: Any,
) -> Faults:
    """Faults from CLI-style options (``fbsync sandbox`` and ``python -m fbsync.sandbox``).

    ``slow_ms`` takes ``250`` or ``"100-500"``; ``None`` means "not given" everywhere.  Any other
    :class:`Faults` field can be passed by name (``html_fraction=0.2``, ``drop_after_apply=True``, …).
    Raises ``ValueError`` with a readable message for bad values.
    """
    values: dict[str, Any] = {
        "error_rate": error_rate or 0.0,
        "throttle_rate": throttle_rate or 0.0,
        "drop_rate": drop_rate or 0.0,
        "token_expires_after": token_expires_after,
        "calls_per_minute": calls_per_minute,
    }
    if slow_ms not in (None, "", 0):
        values["slow_ms"] = slow_ms
    if seed is not None:
        values["seed"] = seed
    values.update({k: v for k, v in more.items() if v is not None})
    return Faults.from_dict(values)
