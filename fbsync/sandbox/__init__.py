"""A local stand-in for Meta's Marketing API (customer-list Custom Audiences and lookalikes).

See docs/sandbox.md for what is faithful to Meta and what is simplified.
"""

from .app import RequestPolicy, SandboxApp
from .config import SandboxConfig, config_from_options, everyone_matches
from .faults import ConnectionDropped, Faults, faults_from_options
from .injector import FaultInjector
from .server import RunningSandbox, running_sandbox, serve
from .store import SandboxStore

__all__ = [
    "ConnectionDropped",
    "FaultInjector",
    "Faults",
    "RequestPolicy",
    "RunningSandbox",
    "SandboxApp",
    "SandboxConfig",
    "SandboxStore",
    "config_from_options",
    "everyone_matches",
    "faults_from_options",
    "running_sandbox",
    "serve",
]
