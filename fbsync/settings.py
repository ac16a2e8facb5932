"""Settings from the environment (and ``.env``), contract: "Environment".

Secrets live here and nowhere else; ``repr`` masks them so a traceback or a log
line cannot print them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AuthError, ConfigError

META_GRAPH_URL = "https://graph.facebook.com"


@dataclass(frozen=True)
class Settings:
    """Resolved environment: secrets, URLs and folders."""

    access_token: str | None = field(default=None, repr=False)
    app_secret: str | None = field(default=None, repr=False)
    app_id: str | None = None
    ad_account_id: str | None = None
    graph_url: str = META_GRAPH_URL
    api_version: str | None = None
    crm_url: str | None = None
    state_dir: Path = Path(".fbsync")
    state_url: str | None = None
    state_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, config_path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
        """Read the contract's variables; the state dir defaults to ``.fbsync/`` beside the YAML."""
        env = os.environ if environ is None else environ
        get = lambda k: (env.get(k) or "").strip() or None  # noqa: E731
        base = config_path.parent if config_path else Path.cwd()
        state_dir = Path(get("FBSYNC_STATE_DIR") or base / ".fbsync")
        version = get("FBSYNC_API_VERSION")
        if version and not version.startswith("v"):
            version = "v" + version
        account = get("FB_AD_ACCOUNT_ID")
        if account and not account.startswith("act_"):
            account = "act_" + account
        return cls(
            access_token=get("FB_ACCESS_TOKEN"),
            app_secret=get("FB_APP_SECRET"),
            app_id=get("FB_APP_ID"),
            ad_account_id=account,
            graph_url=(get("FBSYNC_GRAPH_URL") or META_GRAPH_URL).rstrip("/"),
            api_version=version,
            crm_url=get("FBSYNC_CRM_URL"),
            state_dir=state_dir,
            state_url=get("FBSYNC_STATE_URL"),
            state_key=get("FBSYNC_STATE_KEY"),
        )

    def require_token(self) -> str:
        if not self.access_token:
            raise AuthError(
                "FB_ACCESS_TOKEN is not set; put a Marketing API token in the environment or in .env "
                "(a System User token in production, any non-empty value for the local sandbox)."
            )
        return self.access_token

    def account(self, from_yaml: str | None) -> str:
        acct = self.ad_account_id or from_yaml
        if not acct:
            raise ConfigError("No ad account: set ad_account_id in audiences.yaml or FB_AD_ACCOUNT_ID (act_…).")
        return acct

    def secrets(self) -> list[str]:
        """Values that must never appear in any output (used by the log filter and tests)."""
        return [s for s in (self.access_token, self.app_secret, self.state_key) if s]
