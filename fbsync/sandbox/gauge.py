"""How many calls the sandbox is answering at once, per edge: what a test or a benchmark reads to see that
member batches really overlapped (or, on Limited access, never did).  Counted by the HTTP adapter around
each Graph call, the simulated latency included; reported by ``GET /__sandbox/requests`` as
``in_flight_peak`` (``{"POST /users": 4, ...}``) and reset with the rest."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    """Calls being answered now, and the most at once since start or reset, per ``METHOD /edge``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()

    @contextmanager
    def track(self, method: str, path: str) -> Iterator[None]:
        if path.startswith("/__sandbox"):
            yield
            return
        key = f"{method.upper()} /{path.rstrip('/').rsplit('/', 1)[-1]}"
        with self._lock:
            self._now[key] += 1
            self._peak[key] = max(self._peak[key], self._now[key])
        try:
            yield
        finally:
            with self._lock:
                self._now[key] -= 1

    def peaks(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._peak.items()))

    def reset(self) -> None:
        with self._lock:
            self._peak.clear()
