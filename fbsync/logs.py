"""Logging that can never print a secret or a customer identifier, and keeps tracebacks in the file.

Every handler fbsync installs carries :class:`Redactor`, which passes each message (and traceback)
through :func:`fbsync.redact.scrub`, the one redaction path.  The console shows messages only; a
traceback (an unexpected error) goes to the log file in the state folder, never to the terminal.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from . import redact
from .errors import ConfigError

LOG_FORMATS = ("text", "json")
OWN = "_fbsync_handler"  # marks the handlers setup() installs, so it replaces only those


class Redactor(logging.Filter):
    """Scrubs every record before any handler writes it (secrets registered with :func:`redact.register`)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        redact.register(secrets)

    @staticmethod
    def scrub(text: str) -> str:
        return redact.scrub(text)

    def filter(self, record: logging.LogRecord) -> bool:
        msg = redact.scrub(record.getMessage())
        record.msg, record.args = msg, None
        if record.exc_info:
            record.exc_text = redact.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class _Console(logging.Formatter):
    """Messages only: a traceback belongs in the log file, not on a user's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        saved, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = saved


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``traceback`` only where ``with_traceback`` (the log file)."""

    def __init__(self, with_traceback: bool = False) -> None:
        super().__init__()
        self.with_traceback = with_traceback

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.with_traceback and record.exc_text:
            line["traceback"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


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
    for h in list(root.handlers):  # fbsync's own, from an earlier command of this process; never a host app's
        if getattr(h, OWN, False):
            root.removeHandler(h)
            h.close()
    root.setLevel(logging.DEBUG)
    redactor = Redactor(secrets)
    console = logging.StreamHandler()
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    console.setFormatter(JsonFormatter() if log_format == "json" else _Console("%(levelname)s %(message)s"))
    console.addFilter(redactor)
    setattr(console, OWN, True)
    root.addHandler(console)
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / "fbsync.log"
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        fh = logging.FileHandler(path, encoding="utf-8")
        fh.setLevel(logging.INFO)
        fh.setFormatter(
            JsonFormatter(with_traceback=True)
            if log_format == "json"
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
        fh.addFilter(redactor)
        setattr(fh, OWN, True)
        root.addHandler(fh)
    # urllib3 logs request lines with their query string, which holds the token: keep it quiet.
    for noisy in ("urllib3", "requests", "facebook_business"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
