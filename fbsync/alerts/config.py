"""The ``alerts:`` block of audiences.yaml, and the ``FBSYNC_ALERT_*`` variables that add to it.

::

    alerts:
      urls: ["slack://TokenA/TokenB/TokenC/#ads", "mailtos://user:pass@smtp.example.com?to=ads@example.com"]
      webhook: {url: "https://hooks.example.com/fbsync", secret: "${FBSYNC_ALERT_WEBHOOK_SECRET}"}
      token_expiry_days: 14       # warn when the access token expires within 14 days
      api_version_days: 30        # … or the Marketing API version fbsync speaks
      max_drop_share: 0.3         # an audience that left out more than 30 % of the rows read
      min_match_rate: 0.2         # an audience Meta matched below 20 %
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Environment variables: Apprise URLs (separated by spaces, commas or new lines), the webhook and its secret.
ENV_URLS, ENV_WEBHOOK, ENV_SECRET = "FBSYNC_ALERT_URLS", "FBSYNC_ALERT_WEBHOOK_URL", "FBSYNC_ALERT_WEBHOOK_SECRET"
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


class Webhook(BaseModel):
    """A generic JSON webhook: fbsync's own body (docs/alerts.md), signed when a secret is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str
    secret: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http:// or https:// address, such as https://hooks.example.com/fbsync")
        return v


class AlertsConfig(BaseModel):
    """Where alerts go and which thresholds raise them (every field optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    urls: list[str] = []
    webhook: Webhook | None = None
    token_expiry_days: Annotated[int, Field(ge=0, le=365)] = 14
    api_version_days: Annotated[int, Field(ge=0, le=365)] = 30
    max_drop_share: Annotated[float, Field(ge=0, le=1)] | None = None
    min_match_rate: Annotated[float, Field(ge=0, le=1)] | None = None

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for u in v:
            if not _SCHEME.match(u.strip()):
                raise ValueError(
                    f"{_mask(u)!r} is not a notification URL; write it as Apprise does, such as slack://… or "
                    "mailtos://… (https://github.com/caronc/apprise/wiki)"
                )
        return [u.strip() for u in v]

    @property
    def enabled(self) -> bool:
        return bool(self.urls or self.webhook)


def _mask(url: str) -> str:
    """A URL as an error may show it: its scheme only (the rest often holds a token)."""
    m = _SCHEME.match(url)
    return (m.group(0) + "…") if m else (url[:6] + "…" if len(url) > 6 else url)


def with_env(cfg: AlertsConfig | None, env: Mapping[str, str] | None = None) -> AlertsConfig:
    """The YAML's block with the ``FBSYNC_ALERT_*`` variables added: URLs appended, the webhook's URL and
    secret taken from the environment when the YAML sets none."""
    env = os.environ if env is None else env
    cfg = cfg or AlertsConfig()
    urls = [u for u in re.split(r"[\s,]+", env.get(ENV_URLS, "")) if u]
    hook = cfg.webhook
    if env.get(ENV_WEBHOOK) and hook is None:
        hook = Webhook(url=env[ENV_WEBHOOK], secret=env.get(ENV_SECRET) or None)
    elif hook is not None and hook.secret is None and env.get(ENV_SECRET):
        hook = hook.model_copy(update={"secret": env[ENV_SECRET]})
    if not urls and hook is cfg.webhook:
        return cfg
    return AlertsConfig.model_validate({**cfg.model_dump(), "urls": [*cfg.urls, *urls], "webhook": hook})
