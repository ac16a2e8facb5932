"""fbsync's error tree.

Every error a user can meet is an :class:`FbsyncError` whose message is one
sentence naming the problem and the fix.  The CLI catches ``FbsyncError`` once,
prints the message and exits with the error's ``exit_code``:

* 0 all done
* 1 at least one audience failed (:class:`AudienceError`)
* 2 bad input or configuration, nothing was sent (:class:`ConfigError`)
* 3 authentication, permission or terms problem (:class:`AuthError`)
* 130 interrupted (SIGINT/SIGTERM, :class:`Interrupted`): what Meta acknowledged before is recorded

Messages never contain a token, an app secret or an identifier.
"""

from __future__ import annotations


class FbsyncError(Exception):
    """Root of every error fbsync reports to a person."""

    exit_code = 1


class ConfigError(FbsyncError):
    """The YAML, the environment, a command-line argument or a CRM query is wrong."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class AuthError(FbsyncError):
    """Token, permission or terms problem: nothing more can be sent until a person acts."""

    exit_code = 3


class AudienceError(FbsyncError):
    """One audience failed; the others still run."""

    exit_code = 1


class MetaApiError(FbsyncError):
    """A Marketing API call failed.

    ``transient`` tells whether retrying may help.  ``code``/``subcode`` are Meta's.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        transient: bool = False,
        fbtrace_id: str | None = None,
        regain_seconds: float | None = None,
        too_big: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.subcode = subcode
        self.transient = transient
        self.fbtrace_id = fbtrace_id
        self.regain_seconds = regain_seconds
        self.too_big = too_big  # Meta found the request too large (105, or 1/99 on a batch): send it in halves


class MetaAuthError(MetaApiError, AuthError):
    """Meta refused the token, a permission or the terms."""

    exit_code = 3


class MetaConfigError(MetaApiError, ConfigError):
    """Meta refused how fbsync is set up (an expired or unknown API version): nothing more can work (exit 2)."""

    exit_code = 2


class IntegrityFlagged(MetaApiError):
    """Meta flagged the audience for integrity reasons (operation_status 471): uploads and edits are refused."""


class MetaUnreachable(MetaApiError):
    """Meta's API (or ``FBSYNC_GRAPH_URL``) did not answer: a network problem, a proxy, a timeout."""


class Refused(AudienceError):
    """fbsync refuses to send one audience (values Meta would refuse, a failed quality gate); nothing sent."""


class ShrinkRefused(Refused):
    """A sync would remove more than ``max_shrink`` of an audience."""


class Interrupted(FbsyncError):
    """The run was asked to stop (SIGTERM/SIGINT); what Meta acknowledged before is recorded."""

    exit_code = 130
