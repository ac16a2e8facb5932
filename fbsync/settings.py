"""Settings from the environment (and ``.env``), contract: "Environment".

Secrets live here and nowhere else; ``repr`` masks them so a traceback or a log
line cannot print them.

An empty variable counts as unset (``.env.example`` lists every variable with an
empty value).  A variable that holds only spaces, or a value of the wrong shape,
is refused by :meth:`Settings.from_env` with a :class:`ConfigError` before
anything runs: silently ignoring it would, for the state key, encrypt the ledger
with another key, and for the Graph URL, retry a typo as a network outage.
Messages name the variable, never its value (it may be a secret pasted in the
wrong place).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import AuthError, ConfigError

META_GRAPH_URL = "https://graph.facebook.com"
STATE_KEY_MIN = 16
_ACCOUNT = re.compile(r"act_\d+")
_VERSION = re.compile(r"v\d+\.\d+")
_STATE_KEY_BLANK = (
    f"FBSYNC_STATE_KEY holds only spaces; set a real key of at least {STATE_KEY_MIN} characters, "
    "or unset it to use the key file fbsync keeps in the state folder."
)


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
        """Read the contract's variables; the state dir defaults to ``.fbsync/`` beside the YAML.

        Every problem is collected and raised as one :class:`ConfigError` (exit code 2).
        """
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def get(name: str) -> str | None:
            raw = env.get(name) or ""
            if raw and not raw.strip():
                problems.append(
                    _STATE_KEY_BLANK
                    if name == "FBSYNC_STATE_KEY"
                    else f"{name} holds only spaces; set a real value or leave it empty."
                )
            return raw.strip() or None

        base = config_path.parent if config_path else Path.cwd()
        state_dir = Path(get("FBSYNC_STATE_DIR") or base / ".fbsync")
        version = get("FBSYNC_API_VERSION")
        if version and not version.startswith("v"):
            version = "v" + version
        if version and not _VERSION.fullmatch(version):
            problems.append(
                "FBSYNC_API_VERSION must look like v24.0 (a Graph API version); leave it empty to use the SDK's."
            )
        account = get("FB_AD_ACCOUNT_ID")
        if account and not account.startswith("act_"):
            account = "act_" + account
        if account and not _ACCOUNT.fullmatch(account):
            problems.append("FB_AD_ACCOUNT_ID must look like act_1234567890 (act_ followed by the account's digits).")
        graph_url = (get("FBSYNC_GRAPH_URL") or META_GRAPH_URL).rstrip("/")
        if not _is_http_url(graph_url):
            problems.append(
                f"FBSYNC_GRAPH_URL must be an http(s) URL such as {META_GRAPH_URL} "
                "(or http://127.0.0.1:8765 for the sandbox); leave it empty to talk to Meta."
            )
        state_key = get("FBSYNC_STATE_KEY")
        if state_key and len(state_key) < STATE_KEY_MIN:
            problems.append(
                f"FBSYNC_STATE_KEY is too short; use at least {STATE_KEY_MIN} random characters "
                '(for example the output of `python -c "import secrets; print(secrets.token_urlsafe(32))"`).'
            )
        settings = cls(
            access_token=get("FB_ACCESS_TOKEN"),
            app_secret=get("FB_APP_SECRET"),
            app_id=get("FB_APP_ID"),
            ad_account_id=account,
            graph_url=graph_url,
            api_version=version,
            crm_url=get("FBSYNC_CRM_URL"),
            state_dir=state_dir,
            state_url=get("FBSYNC_STATE_URL"),
            state_key=state_key,
        )
        if len(problems) == 1:
            raise ConfigError(problems[0])
        if problems:
            raise ConfigError(f"The environment has {len(problems)} problems:\n  " + "\n  ".join(problems), problems)
        return settings

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


def _is_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host, no spaces and, if any, a valid port."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0 and " " not in url
    except ValueError:  # a port that is not a number, or out of range
        return False
