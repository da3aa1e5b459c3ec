"""The IDX file format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/), read and written
with numpy.

An IDX file is two zero bytes, a type code byte, a byte with the number of dimensions, one big-endian
uint32 per dimension, then the values in row-major order, big-endian. Files ending in ``.gz`` (or
starting with the gzip magic bytes) are decompressed on the fly.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from hwprune.errors import DataError

__all__ = ["IDX_DTYPES", "read_idx", "write_idx"]

# type code -> big-endian numpy dtype (the format's own table)
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise DataError(f"IDX file {path} does not exist") from e
    except OSError as e:
        raise DataError(f"cannot read IDX file {path}: {e.strerror or e}") from e
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"IDX file {path} is not a valid gzip file ({e}); download it again") from e
    return raw


def read_idx(path: str | os.PathLike[str], *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a numpy array.

    Args:
        path: The file.
        ndim: If given, the number of dimensions the file must have.

    Returns:
        A read-only array in native byte order with the file's dtype and dimensions.

    Raises:
        DataError: The file is missing or unreadable, its magic number or type code is wrong, it has
            another number of dimensions than ``ndim``, or it is shorter or longer than its header says.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"IDX file {path} is truncated: {len(data)} bytes, not even a header")
    zero, code, dims = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in IDX_DTYPES:
        raise DataError(
            f"{path} is not an IDX file: magic number 0x{data[:4].hex()} (expected 0x0000 then a type code "
            f"in {', '.join(f'0x{c:02x}' for c in IDX_DTYPES)} and the number of dimensions)"
        )
    if ndim is not None and dims != ndim:
        raise DataError(f"IDX file {path} has {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(
            f"IDX file {path} is truncated inside its header ({len(data)} bytes, header needs {header})"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=dims, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"IDX file {path} has {len(data)} bytes but its header {shape} of {dtype.name} needs {expected}; "
            "the file is truncated or corrupt"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
    arr.flags.writeable = False
    return arr


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    Args:
        path: Destination.
        array: Any array whose dtype is in the IDX table (uint8, int8, int16, int32, float32, float64).

    Returns:
        The path written.

    Raises:
        DataError: The dtype has no IDX type code, or the array has more than 255 dimensions.
    """
    from hwprune.io import atomic_write_bytes

    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim > 255:
        raise DataError(f"cannot write {array.dtype} with {array.ndim} dimensions as IDX ({path})")
    body = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body += np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        body = gzip.compress(body, mtime=0)
    return atomic_write_bytes(path, body)
