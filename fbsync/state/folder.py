"""The state folder (``FBSYNC_STATE_DIR``): made 0700 on first use, and checked before anything is written.

Every command needs it (its log file, the state key, the SQLite store, scratch files, locks), so a folder
that is a file, cannot be created or cannot be written is one clear sentence up front, never a traceback
halfway through a run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import ConfigError

FIX = "set FBSYNC_STATE_DIR to a folder this user can write (or fix its permissions)"


def prepare(state_dir: Path) -> Path:
    """Create the folder (0700) if needed and check that files can be made in it; raise ConfigError if not."""
    if state_dir.exists() and not state_dir.is_dir():
        raise ConfigError(f"The state folder {state_dir} is a file, not a folder; {FIX}.")
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(f"The state folder {state_dir} cannot be created ({exc.strerror}); {FIX}.") from None
    try:
        fd, probe = tempfile.mkstemp(dir=state_dir, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"The state folder {state_dir} cannot be written ({exc.strerror}); {FIX}.") from None
    return state_dir
