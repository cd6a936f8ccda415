"""Reading a dlscratch ``.npz`` safely: every name and size is checked before anything is read.

A ``.npz`` is a zip archive of ``.npy`` entries. Its central directory declares each entry's
name and uncompressed size; nothing else is trusted. Before any entry is read:

- the path must be a regular file (a FIFO would block, a device would never end);
- every entry must be a plainly named ``.npy``, stored or deflated, inside the file, and the
  declared sizes together may not exceed what deflate can give from the file's bytes
  (``MAX_RATIO`` times the file size): a zip bomb is refused from its directory alone;
- the description (``__meta__``) is read first, size-capped, and a ``plan`` derived from it says
  which entries must be there and the shape and dtype of each: an unknown or missing name, or a
  declared size that is not exactly the planned array's, is refused before any array is read;
- each array's ``.npy`` header (capped) must agree with the plan and with the declared size.

So the memory a load takes is bounded by what the file itself can hold, whatever it declares.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

import numpy as np

from ._io import open_regular_file

META_KEY = "__meta__"
#: deflate never expands its input more than 1032-fold; a declared size beyond that is a lie
MAX_RATIO = 1032
#: the description is JSON; a megabyte is far more than any network's (metadata included)
MAX_META_BYTES = 4 * 2**20
#: a .npy header (magic, length, the dict, padding): NumPy writes 128 bytes for every array here
MAX_NPY_HEADER = 16 * 2**10
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")

#: expected entries: name -> (shape, dtype); dtype None accepts any real number type
Plan = Mapping[str, tuple[tuple[int, ...], Any]]


class ModelFileError(ValueError):
    """A model or checkpoint file that cannot be read: corrupt, foreign or unsafe."""


def read_archive(path: str, where: str, expected_format: str, max_version: int,
                 plan: Callable[[dict, int], Plan] | None = None
                 ) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, description) of the dlscratch file at ``path``; see the module's docstring.

    ``plan(meta, declared)`` gets the checked description (format and version already right)
    and the bytes the array entries declare in all (at most ``MAX_RATIO`` times the file's
    size), and returns the entries the file must hold; it raises ModelFileError for a
    description it refuses.
    Without a plan every entry is read, each checked against its declared size.
    """
    try:
        handle = open_regular_file(path, "dlscratch file")
    except ValueError as error:
        raise ModelFileError(f"{error} written by NeuralNetwork.save or Trainer.fit("
                             f"checkpoint=...)") from None
    with handle:
        magic = handle.read(4)
        # np.load would unpickle (or refuse to) anything that is not a zip or .npy file; a
        # dlscratch file is always a zip archive, so nothing else is even looked at
        if magic not in _ZIP_MAGICS:
            what = "empty" if not magic else "not a zip archive"
            raise ModelFileError(f"{where} is not a dlscratch file ({what}); expected a .npz "
                                 f"written by NeuralNetwork.save or Trainer.fit(checkpoint=...)")
        handle.seek(0)
        size = os.fstat(handle.fileno()).st_size
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
                NotImplementedError) as error:
            raise ModelFileError(f"{where} is corrupt or not a dlscratch file: "
                                 f"{type(error).__name__}: {error}") from None
        with archive:
            entries = _directory(archive, size, where)
            meta = _read_meta(archive, entries, where, expected_format, max_version)
            arrays = {name: info for name, info in entries.items() if name != META_KEY}
            declared = sum(info.file_size for info in arrays.values())
            expected = plan(meta, declared) if plan is not None else None
            if expected is not None:
                expected = _resolve(expected, arrays)
                _match_plan(archive, arrays, expected, where)
            result = {}
            for name, info in arrays.items():
                shape, dtype = expected[name] if expected is not None else (None, None)
                result[name] = _read_array(archive, info, name, shape, dtype, where)
    return result, meta


def _directory(archive: zipfile.ZipFile, size: int, where: str) -> dict[str, zipfile.ZipInfo]:
    """The entries by name (without ``.npy``), every one checked from the directory alone."""
    entries: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in archive.infolist():
        stem = info.filename[:-4] if info.filename.endswith(".npy") else None
        if stem is None or not _NAME.fullmatch(stem):
            raise ModelFileError(f"{where}: unexpected entry {info.filename[:80]!r} in the "
                                 f"archive; a dlscratch file holds only named .npy arrays")
        if stem in entries:
            raise ModelFileError(f"{where}: the entry {stem!r} appears twice in the archive")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{where}: the entry {stem!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(f"{where}: the entry {stem!r} uses zip compression method "
                                 f"{info.compress_type}; expected stored (0) or deflated (8)")
        if info.header_offset + info.compress_size > size:
            raise ModelFileError(f"{where}: the entry {stem!r} extends past the end of the file "
                                 f"({size:,} bytes); the file is truncated or corrupt")
        limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED \
            else MAX_RATIO * info.compress_size + 1024
        if info.file_size > limit:
            raise ModelFileError(f"{where}: the entry {stem!r} declares {info.file_size:,} bytes "
                                 f"from {info.compress_size:,} compressed, more than compression "
                                 f"can give; refused before reading (a zip bomb?)")
        total += info.file_size
        entries[stem] = info
    if total > MAX_RATIO * size + 1024:
        raise ModelFileError(f"{where}: the entries declare {total:,} bytes in all from a file "
                             f"of {size:,}, more than compression can give (entries sharing "
                             f"their data?); refused before reading")
    if META_KEY not in entries:
        raise ModelFileError(f"{where} is not a dlscratch file (no {META_KEY} entry)")
    return entries


def _read_meta(archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], where: str,
               expected_format: str, max_version: int) -> dict:
    info = entries[META_KEY]
    if info.file_size > MAX_META_BYTES + MAX_NPY_HEADER:
        raise ModelFileError(f"{where}: the description entry declares {info.file_size:,} bytes, "
                             f"more than a description may hold ({MAX_META_BYTES:,})")
    meta_bytes = _read_array(archive, info, META_KEY, None, None, where)
    if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
        raise ModelFileError(f"{where}: the description entry is malformed (dtype "
                             f"{meta_bytes.dtype}, shape {meta_bytes.shape}; expected uint8 bytes)")
    try:
        meta = json.loads(meta_bytes.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ModelFileError(f"{where}: the description is not valid JSON: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != expected_format:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ModelFileError(f"{where} is a {found!r} file; expected {expected_format!r}")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) \
            or not 1 <= version <= max_version:
        raise ModelFileError(f"{where} has format version {version!r}; this dlscratch reads "
                             f"versions 1 to {max_version}")
    return meta


def _resolve(plan: Plan, names: Iterable[str]) -> dict[str, tuple[tuple[int, ...] | None, Any]]:
    """``plan`` for ``names``: exact names, and ``prefix.*`` entries for any name under them
    (of any shape: such an entry is bounded by its declared size alone)."""
    resolved = {name: spec for name, spec in plan.items() if not name.endswith(".*")}
    wildcards = [(name[:-1], spec) for name, spec in plan.items() if name.endswith(".*")]
    for name in names:
        if name not in resolved:
            spec = next((spec for prefix, spec in wildcards if name.startswith(prefix)), None)
            if spec is not None:
                resolved[name] = (None, spec[1])
    return resolved


def _label(name: str) -> str:
    """How an entry is called in messages (checkpoints prefix their arrays)."""
    if name.startswith("optim."):
        return f"optimizer array {name[6:]}"
    return name[4:] if name.startswith("net.") else name


def _match_plan(archive: zipfile.ZipFile, entries: Mapping[str, zipfile.ZipInfo], plan: Plan,
                where: str) -> None:
    """Names and declared sizes of ``entries`` against ``plan``, before reading any data."""
    missing = [name for name in plan if name not in entries]
    unexpected = [name for name in entries if name not in plan]
    if missing or unexpected:
        shapes = ", ".join(f"{_label(name)} {tuple(plan[name][0])}" for name in missing)
        raise ModelFileError(f"{where}: the archive does not fit its description: missing keys "
                             f"{[_label(n) for n in missing]} (expected shapes: "
                             f"{shapes or 'none'}), unexpected keys "
                             f"{[_label(n) for n in unexpected[:20]]}")
    for name, (shape, dtype) in plan.items():
        info = entries[name]
        if shape is None:
            continue
        itemsize = np.dtype(dtype).itemsize if dtype is not None else 8
        data = math.prod(shape) * itemsize
        if dtype is not None and 0 < info.file_size - data <= MAX_NPY_HEADER:
            continue
        if dtype is None and info.file_size <= data + MAX_NPY_HEADER:
            continue
        # the header alone (a few hundred bytes) says what the entry holds instead
        try:
            with archive.open(info) as entry:
                found, _, found_dtype, _ = _header(entry, name, where)
        except ModelFileError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
            raise ModelFileError(f"{where}: entry {name!r} is corrupt: {error}") from None
        if tuple(found) != tuple(shape):
            raise ModelFileError(f"{where}: {_label(name)} has shape {tuple(found)} in the "
                                 f"file, but the network expects shape {tuple(shape)}")
        raise ModelFileError(f"{where}: {_label(name)} should hold {data:,} bytes of "
                             f"{np.dtype(dtype).name if dtype else 'numbers'} (shape "
                             f"{tuple(shape)}), but the archive declares {info.file_size:,} "
                             f"bytes and a header of dtype {found_dtype}")


def _read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str,
                shape: tuple[int, ...] | None, dtype: Any, where: str) -> np.ndarray:
    """One entry as an array: header checked against the plan and the declared size first."""
    try:
        with archive.open(info) as entry:
            found_shape, fortran, found_dtype, offset = _header(entry, name, where)
            if found_dtype.hasobject:
                raise ModelFileError(f"{where} holds a pickled object (entry {name!r}); "
                                     f"dlscratch never unpickles files (it could run arbitrary "
                                     f"code), so it was refused")
            if found_dtype.kind not in "biuf":
                raise ModelFileError(f"{where}: entry {name!r} is {found_dtype}, not a numeric "
                                     f"array; the file is corrupt or not a dlscratch file")
            if any(n < 0 for n in found_shape):
                raise ModelFileError(f"{where}: entry {name!r} declares the shape "
                                     f"{tuple(found_shape)}; the file is corrupt")
            if shape is not None and tuple(found_shape) != tuple(shape):
                raise ModelFileError(f"{where}: {_label(name)} has shape {tuple(found_shape)} "
                                     f"in the file, but the network expects shape "
                                     f"{tuple(shape)}")
            if dtype is not None and found_dtype != np.dtype(dtype):
                raise ModelFileError(f"{where}: parameter {_label(name)} is {found_dtype}, the "
                                     f"network {np.dtype(dtype).name}")
            nbytes = math.prod(found_shape) * found_dtype.itemsize
            if offset + nbytes != info.file_size:
                raise ModelFileError(f"{where}: entry {name!r} declares {info.file_size:,} "
                                     f"bytes, its header {offset + nbytes:,}; the file is "
                                     f"corrupt")
            data = entry.read(nbytes)
            if len(data) != nbytes:
                raise ModelFileError(f"{where}: entry {name!r} is truncated")
            if entry.read(1):
                raise ModelFileError(f"{where}: entry {name!r} is longer than it declares")
        array = np.frombuffer(bytearray(data), dtype=found_dtype)
        return array.reshape(found_shape, order="F" if fortran else "C")
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, TypeError,
            NotImplementedError, RuntimeError) as error:
        # a damaged archive fails in many ways: bad CRC, bad deflate stream, short read
        raise ModelFileError(f"{where}: entry {name!r} is corrupt: {type(error).__name__}: "
                             f"{error}") from None


def _header(entry: IO[bytes], name: str, where: str) -> tuple[tuple[int, ...], bool, np.dtype,
                                                            int]:
    """(shape, fortran order, dtype, bytes before the data) of a ``.npy`` entry; no pickles."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(entry)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(entry,
                                                              max_header_size=MAX_NPY_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(entry,
                                                              max_header_size=MAX_NPY_HEADER)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, EOFError, SyntaxError, TypeError) as error:
        raise ModelFileError(f"{where}: entry {name!r} is not a valid .npy array: "
                             f"{error}") from None
    offset = 6 + 2 + (2 if version == (1, 0) else 4)
    return shape, fortran, dtype, _header_end(entry, offset)


def _header_end(entry: IO[bytes], minimum: int) -> int:
    """Bytes read so far from ``entry`` (the header's end)."""
    try:
        return entry.tell()
    except (OSError, AttributeError):  # pragma: no cover (ZipExtFile always tells)
        return minimum
