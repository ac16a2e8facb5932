"""The one way fbsync builds a Marketing API client: from the YAML's ``api:`` options and the settings.

Every command that talks to Meta (``sync``, ``plan``, ``upload``, ``forget``, ``status``, ``doctor``)
gets its client here, so the retry budgets and the pacing a user sets in ``api:`` hold everywhere.
Tests and embedders pass their own :data:`ClientFactory` (a fake clock, a recording client).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..settings import Settings
from .client import MetaClient, RetryPolicy
from .governor import Governor

if TYPE_CHECKING:
    from ..config import ApiOptions

ClientFactory = Callable[[Settings, str], MetaClient]


def client_factory(api: ApiOptions | None = None) -> ClientFactory:
    """A factory of clients that follow ``api`` (the YAML's ``api:`` block; defaults when None)."""

    def make(settings: Settings, account: str) -> MetaClient:
        if api is None:
            return MetaClient(settings, account)
        policy = RetryPolicy(
            attempts=api.max_attempts,
            maximum=api.max_backoff_seconds,
            total=api.max_wait_per_call_seconds,
            per_audience=api.max_wait_per_audience_seconds,
        )
        governor = Governor(slow_from=api.slow_down_from_percent, cap=api.max_uploads_in_flight)
        return MetaClient(settings, account, policy, governor)

    return make
