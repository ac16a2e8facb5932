"""``python -m fbsync.sandbox [--host H] [--port N] [--data FILE]``: serve the sandbox."""

from __future__ import annotations

import argparse
import functools

from .config import SandboxConfig
from .server import serve


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until Ctrl-C (token and secret come from the environment)."""
    parser = argparse.ArgumentParser(prog="python -m fbsync.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on start)")
    parser.add_argument("--data", default=None, help="SQLite file that keeps state across restarts")
    parser.add_argument("--lookalike-seconds", type=float, default=None,
                        help="seconds a new lookalike stays populating (default 5)")
    args = parser.parse_args(argv)
    config = SandboxConfig() if args.lookalike_seconds is None else SandboxConfig(
        lookalike_build_seconds=args.lookalike_seconds)
    serve(args.host, args.port, args.data, config=config, announce=functools.partial(print, flush=True))


if __name__ == "__main__":
    main()
