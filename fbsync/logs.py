"""Logging that can never print a secret.

Every handler fbsync installs carries :class:`Redactor`, which replaces the
token, the app secret, the state key and any ``access_token=…`` /
``appsecret_proof=…`` URL parameter with ``***`` before a record is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from .errors import ConfigError

LOG_FORMATS = ("text", "json")
_PARAM = re.compile(r"((?:access_token|appsecret_proof|client_secret|password)=)[^&\s\"']+", re.I)


class Redactor(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def scrub(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return _PARAM.sub(r"\1***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        msg = self.scrub(record.getMessage())
        record.msg, record.args = msg, None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            },
            ensure_ascii=False,
        )


def setup(
    secrets: list[str], *, verbose: bool = False, log_format: str = "text", state_dir: Path | None = None
) -> None:
    """Console logs on stderr (warnings, or info with -v) and a full log file in the state dir.

    An unknown ``log_format`` is refused rather than quietly written as text: a collector expecting
    JSON lines would otherwise drop every record without anyone noticing.
    """
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"--log-format must be text or json, not {log_format!r}.")
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(logging.DEBUG)
    redactor = Redactor(secrets)
    fmt: logging.Formatter = JsonFormatter() if log_format == "json" else logging.Formatter("%(levelname)s %(message)s")
    console = logging.StreamHandler()
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    console.setFormatter(fmt)
    console.addFilter(redactor)
    root.addHandler(console)
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / "fbsync.log"
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        fh = logging.FileHandler(path, encoding="utf-8")
        fh.setLevel(logging.INFO)
        fh.setFormatter(
            JsonFormatter()
            if log_format == "json"
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
        fh.addFilter(redactor)
        root.addHandler(fh)
    # urllib3 logs request lines with their query string, which holds the token: keep it quiet.
    for noisy in ("urllib3", "requests", "facebook_business"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
