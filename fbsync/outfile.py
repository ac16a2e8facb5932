"""Writing a command's output file atomically, or to stdout: ``hash -o``, ``report -o``.

The output goes to a temporary file beside its destination and is renamed over it only once complete,
so a failure (a bad row, a full disk, Ctrl-C) never leaves half a file; a destination that is a folder,
or in a folder that cannot be written, is one sentence before anything is computed.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from .errors import ConfigError


class Output(io.TextIOWrapper):
    """UTF-8 text to stdout, or to a file written atomically: into a temporary file beside it that
    :meth:`close` renames over it; :meth:`discard` (or an exception in a ``with`` block) removes it
    instead, leaving the file as it was.  Closing never closes stdout."""

    def __init__(self, buffer: IO[bytes], target: Path | None = None, tmp: Path | None = None) -> None:
        super().__init__(buffer, encoding="utf-8", newline="", write_through=target is None)
        self._target, self._tmp, self._done = target, tmp, False

    def close(self) -> None:
        self._finish(commit=True)

    def sync(self) -> None:
        """Push what was written so far to the disk (a file only; stdout and devices: nothing), so that
        committing has little left to wait for.  Safe from one writing thread while no other writes."""
        if self._tmp is not None:
            self.buffer.flush()
            os.fdatasync(self.buffer.fileno())

    def discard(self) -> None:
        """Drop what was written (stdout: nothing, what was written is gone)."""
        self._finish(commit=False)

    def _finish(self, commit: bool) -> None:
        if self._done or (self._target is None and not commit):  # stdout: nothing to take back
            return
        self._done = True
        if self._target is None:  # stdout: flushed, left open
            try:
                self.flush()
            finally:
                self.detach()
            return
        try:
            if commit and self._tmp is not None:
                self.flush()
                os.fsync(self.buffer.fileno())
            super().close()
            if commit and self._tmp is not None:
                if self._target.is_file():  # keep the permissions of the file replaced
                    os.chmod(self._tmp, self._target.stat().st_mode & 0o7777)
                os.replace(self._tmp, self._target)
        except OSError as exc:
            if commit:
                raise ConfigError(f"cannot write {self._target}: {exc.strerror or exc}; give another -o.") from None
        finally:
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._finish(commit=kind is None)

    def __del__(self) -> None:
        if not getattr(self, "_done", True):
            self.discard()  # never closed: a partial file is never committed


def open_out(path: Path | None, *, mode: int | None = None, parents: bool = False) -> Output:
    """Where a command's output goes: stdout (``None``) or OUT, written atomically (see :class:`Output`).

    OUT is checked here: a directory, or a folder that does not exist or is not writable, is a
    :class:`ConfigError`.  A new file gets ``mode`` (default 0600: ``hash`` writes hashed personal data;
    the HTML report, which holds counts only, asks for 0644); a replaced file keeps its permissions.
    ``parents`` creates the destination's missing folders first.  Use ``with open_out(out) as stream: …``.
    """
    if path is None:
        return Output(sys.stdout.buffer)
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a directory; give a file path, e.g. {path / 'hashed.csv'}.")
    try:
        if parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not path.is_file():  # a device or a pipe (/dev/null): written directly
            return Output(path.open("wb"), path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError:
        raise ConfigError(
            f"cannot write {path}: the folder does not exist or is not writable; give another -o or create it."
        ) from None
    if mode is not None:
        os.chmod(tmp, mode)
    return Output(os.fdopen(fd, "wb"), path, Path(tmp))


class BlockWriter:
    """Writes blocks of bytes to ``out`` from a thread, so the disk works while the caller computes the next
    one.  ``with BlockWriter(out) as write: write(data)``; at most ``depth`` blocks wait.  A file written
    atomically (:class:`Output`) is pushed to the disk every ``sync_every`` bytes, so committing it waits for
    little.  A write error is raised in the caller, at its next ``write`` or when the block ends."""

    def __init__(self, out: IO[str], depth: int = 2, sync_every: int = 64 << 20) -> None:
        import queue
        import threading

        out.flush()
        self._out, self._raw = out, getattr(out, "buffer", None)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._sync_every = sync_every
        self._thread = threading.Thread(target=self._run, name="fbsync-writer", daemon=True)
        self._thread.start()

    def __enter__(self) -> Callable[[bytes], None]:
        return self.write

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._queue.put(None)
        self._thread.join()
        if kind is None and self._error is not None:
            raise self._error

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def _run(self) -> None:
        unsynced = 0
        while (data := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drained, so the caller never waits on a full queue
            try:
                if self._raw is not None:
                    self._raw.write(data)
                else:
                    self._out.write(data.decode("utf-8"))
                unsynced += len(data)
                if unsynced >= self._sync_every and isinstance(self._out, Output):
                    self._out.sync()
                    unsynced = 0
            except BaseException as exc:
                self._error = exc
