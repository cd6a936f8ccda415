"""Atomic file writing: a file is either the old one or the new one, never half of either."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from typing import IO, Any

import numpy as np


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it onto ``path``.

    A crash or an exception before the rename leaves ``path`` as it was (the temporary file is
    removed when we still can), so a process killed mid-save never corrupts a saved file. What
    such a killed save left beside ``path`` is removed by the next successful save, once it is
    an hour old (a younger one may still be another process's save in progress).
    """
    path = check_writable_target(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        old_mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        old_mode = None  # a new file: the permissions of a plain open
    try:
        fd, tmp_path = _create_temporary(folder, temporary_prefix(os.path.basename(path)))
    except OSError as error:
        raise _about(error, path) from None
    try:
        with os.fdopen(fd, mode) as handle:
            if old_mode is not None and hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), old_mode)  # a 0600 model stays 0600
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        if isinstance(error, OSError):
            # the user gave ``path``; the hidden temporary file is no name to show them
            raise _about(error, path) from None
        raise
    _fsync_folder(folder)
    _remove_stale_temporaries(folder, os.path.basename(path))


STALE_AFTER_S = 3600.0


#: the most bytes of a file name (NAME_MAX on Linux and macOS)
NAME_MAX = 255
_TEMPORARY_SUFFIX_BYTES = len(".0123456789ab.tmp")


def temporary_prefix(name: str) -> str:
    """``.<name>.``, the name cut short enough that the temporary name (prefix, 12 hex digits,
    ``.tmp``) stays within NAME_MAX bytes: a legal 250-character name must be savable."""
    room = NAME_MAX - _TEMPORARY_SUFFIX_BYTES - 1
    encoded = os.fsencode(name)
    if len(encoded) > room:
        name = os.fsdecode(encoded[:room])  # bytes cut mid-character come back as themselves
    return "." + name + "."


def _remove_stale_temporaries(folder: str, name: str) -> None:
    """Delete ``.<name>.<12 hex>.tmp`` files in ``folder`` untouched for ``STALE_AFTER_S``."""
    pattern = re.compile(re.escape(temporary_prefix(name)) + r"[0-9a-f]{12}\.tmp")
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


# ---------------------------------------------------------------------- what kind of path
def _kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "not a regular file"


def _about(error: OSError, path: str) -> OSError:
    """``error`` again, naming ``path`` (not the temporary file it happened to)."""
    strerror = error.strerror or str(error)
    new = type(error)(error.errno, f"{strerror} (while saving {path!r})") \
        if error.errno is not None else type(error)(f"{error} (while saving {path!r})")
    return new


def check_writable_target(path: str | os.PathLike, name: str = "path", owner: str = "save"
                          ) -> str:
    """``path`` as a str, once it is sure a save can replace it: absent or a regular file.

    A path ending in a separator (``adir/``), a FIFO, a device, a folder, a socket or a symbolic
    link is refused with ValueError (a save renames a new file onto the path: it would replace
    the device node or the link itself, not write into what they stand for). Missing folders
    are created; the folder must accept a new file (tried for real, which is also right for
    root and read-only mounts).
    """
    path = os.fspath(path)
    if path.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
        raise ValueError(f"{owner}: {name} {path!r} ends in a path separator, so it names a "
                         f"folder; expected a file name such as 'model.npz'")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise ValueError(f"{owner}: {name} {path!r} cannot be used: {error.strerror}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        hint = (" that points elsewhere; give the path of the file itself"
                if stat.S_ISLNK(info.st_mode) else "")
        raise ValueError(f"{owner}: {name} {path!r} is {_kind(info.st_mode)}{hint}; a file is "
                         f"saved only to a new path or over a regular file")
    if info is not None and not info.st_mode & 0o222:
        # the rename would replace it even so (the folder decides), also for root
        raise PermissionError(errno.EACCES, f"{owner}: {name} {path!r} is read-only (mode "
                              f"{stat.S_IMODE(info.st_mode):04o}); a read-only file is never "
                              f"replaced: make it writable (chmod u+w) or save elsewhere")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise _about(error, path) from None
    return path


def check_folder_writable(path: str | os.PathLike, name: str = "path", owner: str = "save"
                          ) -> str:
    """``check_writable_target``, and a file really created (and removed) in the folder."""
    path = check_writable_target(path, name, owner)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, probe = _create_temporary(folder, temporary_prefix(os.path.basename(path)))
    except OSError as error:
        raise type(error)(error.errno, f"{owner}: cannot write {name} {path!r}: the folder "
                          f"{folder!r} does not accept new files ({error.strerror})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return path


def open_regular_file(path: str | os.PathLike, what: str = "file") -> IO[bytes]:
    """``path`` opened for binary reading, refusing at once anything but a regular file.

    A FIFO would block the reader forever, a device would read without end: both, folders,
    sockets and symbolic-link loops raise ValueError naming the path and what it is. A
    symbolic link to a regular file is followed. FileNotFoundError for a missing file.
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"no such {what}", path) from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ValueError(f"{path!r} is a symbolic link loop (it never reaches a file), "
                             f"not a regular file; expected a {what}") from None
        raise
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path!r} is {_kind(info.st_mode)}, not a regular file; expected a "
                         f"{what}")
    # O_NONBLOCK: should the path become a FIFO between the check and the open, the open
    # returns at once instead of waiting for a writer; fstat then sees what was opened
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise ValueError(f"{path!r} is {_kind(opened.st_mode)}, not a regular file; "
                             f"expected a {what}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays as plain numbers and lists (NaN, inf -> None)."""
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
