"""Atomic file and folder writes: a reader never sees a half-written file, a crash leaves none behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_dir",
    "staging_dir",
    "publish_dir",
    "file_mode",
    "recover_dir",
    "clean_staging",
]


def _umask() -> int:
    """The process umask, read without changing it where the platform allows (/proc on Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # no way to read it alone elsewhere: set and restore at once
    os.umask(old)
    return old


def file_mode(directory: bool = False) -> int:
    """The mode ``open``/``mkdir`` would give a new file (0666) or folder (0777) under the umask.

    ``tempfile`` creates files 0600 and folders 0700 whatever the umask; the atomic writers
    chmod to this so results are as readable as any other file the user writes.
    """
    return (0o777 if directory else 0o666) & ~_umask()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    Args:
        path: destination file; its parent folder is created if missing.
        data: the bytes to write.

    Returns:
        The destination as a ``Path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode(encoding))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a folder's files in a temporary sibling folder and move them into ``path`` on success.

    Files already in ``path`` that the block does not write are kept; on an exception nothing in
    ``path`` changes and the temporary folder is removed.

    Args:
        path: the destination folder.

    Yields:
        The temporary folder to write into.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, file_mode(directory=True))
    try:
        yield tmp
        path.mkdir(parents=True, exist_ok=True)
        for item in sorted(tmp.rglob("*")):
            if item.is_file():
                dest = path / item.relative_to(tmp)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def staging_dir(dest: str | os.PathLike[str]) -> Path:
    """A new empty sibling folder of ``dest`` (``.<name>.tmp-XXXX``) to build a replacement in.

    Same file system as ``dest``, so :func:`publish_dir` can rename it into place.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-{os.getpid()}-", dir=dest.parent))
    os.chmod(tmp, file_mode(directory=True))
    return tmp


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_staging(dest: str | os.PathLike[str]) -> list[Path]:
    """Remove staging folders of ``dest`` left by killed processes (their pid is gone); returns them."""
    dest = Path(dest)
    removed: list[Path] = []
    if not dest.parent.is_dir():
        return removed
    for p in dest.parent.glob(f".{dest.name}.tmp-*-*"):
        pid = p.name[len(f".{dest.name}.tmp-") :].split("-", 1)[0]
        if p.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _prev(dest: Path) -> Path:
    return dest.with_name(dest.name + ".prev")


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return int(rc) == 0


def publish_dir(staged: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Make the complete folder ``staged`` the folder ``dest``; the run it replaces becomes ``dest.prev``.

    At every instant ``dest`` is either the old complete folder or the new complete one: on Linux the
    two are exchanged in one atomic ``renameat2`` call; elsewhere the old folder is renamed to
    ``<dest>.prev`` first and :func:`recover_dir` puts it back if the process dies between the two
    renames. One previous run is kept as ``<dest>.prev`` (an older ``.prev`` is removed).

    Args:
        staged: the folder built by the caller (see :func:`staging_dir`).
        dest: where it goes.

    Returns:
        ``dest``.
    """
    staged, dest = Path(staged), Path(dest)
    prev = _prev(dest)
    if not dest.exists():
        os.replace(staged, dest)
        return dest
    if prev.exists():
        shutil.rmtree(prev)
    if _exchange(staged, dest):  # dest is now the new run, staged the old one
        os.replace(staged, prev)
    else:
        os.replace(dest, prev)
        os.replace(staged, dest)
    return dest


def recover_dir(dest: str | os.PathLike[str]) -> bool:
    """Finish an interrupted :func:`publish_dir`: if ``dest`` is missing but ``dest.prev`` exists, put
    the previous complete run back. Returns True when it did."""
    dest = Path(dest)
    prev = _prev(dest)
    if not dest.exists() and prev.is_dir():
        os.replace(prev, dest)
        return True
    return False
