"""A local stand-in for Meta's Marketing API (customer-list Custom Audiences and lookalikes).

See docs/sandbox.md for what is faithful to Meta and what is simplified.
"""

from .app import RequestPolicy, SandboxApp
from .config import SandboxConfig
from .server import RunningSandbox, running_sandbox, serve
from .store import SandboxStore

__all__ = [
    "RequestPolicy",
    "RunningSandbox",
    "SandboxApp",
    "SandboxConfig",
    "SandboxStore",
    "running_sandbox",
    "serve",
]
