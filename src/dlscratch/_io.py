"""Atomic file writing: a file is either the old one or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it onto ``path``.

    A crash or an exception before the rename leaves ``path`` as it was (the temporary file is
    removed when we still can), so a process killed mid-save never corrupts a saved file. What
    such a killed save left beside ``path`` is removed by the next successful save, once it is
    an hour old (a younger one may still be another process's save in progress).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp_path = _create_temporary(folder, "." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        raise
    _fsync_folder(folder)
    _remove_stale_temporaries(folder, os.path.basename(path))


STALE_AFTER_S = 3600.0


def _remove_stale_temporaries(folder: str, name: str) -> None:
    """Delete ``.<name>.<12 hex>.tmp`` files in ``folder`` untouched for ``STALE_AFTER_S``."""
    pattern = re.compile(r"\." + re.escape(name) + r"\.[0-9a-f]{12}\.tmp")
    cutoff = time.time() - STALE_AFTER_S
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)


def _create_temporary(folder: str, prefix: str) -> tuple[int, str]:
    """A new file in ``folder``, opened for writing, with the permissions of a plain ``open``.

    (``tempfile.mkstemp`` would make it 0600, and the rename would carry that onto the saved
    file; mode 0666 here is reduced by the umask exactly as ``open(path, "w")`` is.)
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp_path = os.path.join(folder, f"{prefix}{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp_path, flags, 0o666), tmp_path
        except FileExistsError:
            continue
    raise FileExistsError(f"atomic_write: could not create a temporary file in {folder!r}")


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
