"""Meta's upload session fields (``session_id``, ``batch_seq``, ``last_batch_flag``, ``estimated_num_total``) for
one series of ``/users`` or ``/usersreplace`` batches (docs/meta-api.md §1.5, §1.6; docs/uploads.md)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Session:
    """Meta's upload session fields for one series of /users or /usersreplace batches.

    ``on_next`` is called with each batch_seq before the batch is sent, so a caller can persist it and
    a resumed run never reuses a number Meta may have received.
    """

    session_id: int
    estimated_num_total: int | None = None
    batch_seq: int = 0
    on_next: Callable[[int], None] | None = field(default=None, repr=False, compare=False)
    # Batches of one replace session may be in flight together: numbers are taken (and persisted) one at a time.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def new(cls, estimated: int | None = None) -> Session:
        return cls(random.randint(1, 2**62), estimated)

    def next(self, last: bool) -> dict[str, Any]:
        with self._lock:
            self.batch_seq += 1
            seq = self.batch_seq
            if self.on_next is not None:
                self.on_next(seq)
        out: dict[str, Any] = {"session_id": self.session_id, "batch_seq": seq, "last_batch_flag": last}
        if self.estimated_num_total is not None:
            out["estimated_num_total"] = self.estimated_num_total
        return out
