"""Versioned JSON result files that are written as they grow and resume after an interruption.

A sensitivity analysis (``.sens``) or a one-step search (``.search``) can take hours on a real
model. Both keep their results in a :class:`ResultStore`: a JSON document with a format version,
the kind of file, the structure hash of the model it belongs to, a ``config`` (the settings that
must match for the results to be reusable) and ``records`` (one entry per finished evaluation).
Every :meth:`ResultStore.add` rewrites the document atomically, so a crash or Ctrl-C loses at most
the evaluation in flight and a rerun picks up where the last one stopped.

A file that is corrupt, of another kind, of another version, of another model structure or made
with another config is never silently overwritten: opening it raises :class:`StaleFileError`
naming the file and what differs. With ``forced=True`` the old file is moved aside to
``<name>.stale-<timestamp>`` (never deleted) and a fresh one is started.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hwprune.errors import StaleFileError
from hwprune.io import read_json, write_json

__all__ = ["FORMAT_VERSION", "ResultStore", "move_aside"]

FORMAT_VERSION = 1


def move_aside(path: str | os.PathLike[str]) -> Path:
    """Rename ``path`` to ``<name>.stale-<UTC timestamp>`` (with a counter if that exists).

    Args:
        path: an existing file.

    Returns:
        The new path of the file.
    """
    path = Path(path)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.stale-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.stale-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    return target


def _jsonable(value: Any) -> Any:
    """Normalise tuples to lists (as JSON would) so configs compare equal after a round trip."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class ResultStore:
    """One result file: reuse what it holds, add results one by one, each write atomic.

    Args:
        path: the file (``.hwprune/<model>.sens`` or ``.search``); its folder is created.
        kind: what the file holds, e.g. ``"sensitivity"`` or ``"search"``; checked on load.
        structure_hash: hash of the model's structure (``hwprune.structure_hash``); checked on load.
        config: settings that must match for stored results to be reused (JSON-able); checked on
            load. Keep out of it what does not change the results' meaning.
        forced: if True, an existing file is moved aside and a fresh one started.

    Raises:
        StaleFileError: the existing file is corrupt or belongs to another model, kind, version or
            config (and ``forced`` is False). The message names the file and says what to do.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str,
        structure_hash: str,
        config: Mapping[str, Any] | None = None,
        forced: bool = False,
    ) -> None:
        self.path = Path(path)
        self.kind = kind
        self.structure_hash = structure_hash
        self.config: dict[str, Any] = _jsonable(dict(config or {}))
        self.moved_aside: Path | None = None
        self._records: dict[str, Any] = {}
        self._complete = False
        if self.path.exists():
            if forced:
                self.moved_aside = move_aside(self.path)
            else:
                self._load()

    @classmethod
    def open_existing(cls, path: str | os.PathLike[str], *, kind: str, structure_hash: str) -> ResultStore:
        """Open a file to read (or extend) whatever config it was made with.

        Raises:
            StaleFileError: the file is missing, corrupt, or of another kind, version or structure.
        """
        path = Path(path)
        if not path.is_file():
            raise StaleFileError(f"{kind} file {path} does not exist; run the step that writes it first")
        doc = read_json(path, kind=f"{kind} file")
        config = doc.get("config", {}) if isinstance(doc, dict) else {}
        return cls(
            path, kind=kind, structure_hash=structure_hash, config=config if isinstance(config, dict) else {}
        )

    # ----------------------------------------------------------------------------- loading
    def _stale(self, what: str) -> StaleFileError:
        return StaleFileError(
            f"{self.kind} file {self.path} {what}; rerun with forced=True to rebuild it "
            "(the old file is kept as <name>.stale-<timestamp>), or delete it"
        )

    def _load(self) -> None:
        doc = read_json(self.path, kind=f"{self.kind} file")
        if not isinstance(doc, dict) or not isinstance(doc.get("records"), dict):
            raise self._stale("is not a hwprune result file (no 'records' table)")
        if doc.get("format") != FORMAT_VERSION:
            raise self._stale(
                f"has format version {doc.get('format')!r}, this hwprune reads {FORMAT_VERSION}"
            )
        if doc.get("kind") != self.kind:
            raise self._stale(f"holds {doc.get('kind')!r} results, not {self.kind!r}")
        if doc.get("structure_hash") != self.structure_hash:
            raise self._stale(
                f"was made for another model structure (hash {doc.get('structure_hash')!r}, "
                f"this model {self.structure_hash!r})"
            )
        if _jsonable(doc.get("config", {})) != self.config:
            raise self._stale(f"was made with config {doc.get('config')!r}, this run uses {self.config!r}")
        self._records = dict(doc["records"])
        self._complete = bool(doc.get("complete", False))

    # ----------------------------------------------------------------------------- access
    def __contains__(self, key: object) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def get(self, key: str, default: Any = None) -> Any:
        """The stored result for ``key``, or ``default``."""
        return self._records.get(key, default)

    def items(self) -> Iterator[tuple[str, Any]]:
        """``(key, result)`` pairs in the order they were added."""
        return iter(list(self._records.items()))

    @property
    def records(self) -> dict[str, Any]:
        """A copy of every stored result, keyed as added."""
        return dict(self._records)

    @property
    def complete(self) -> bool:
        """True once :meth:`mark_complete` was called for the stored run."""
        return self._complete

    # ----------------------------------------------------------------------------- writing
    def add(self, key: str, value: Any, *, write: bool = True) -> None:
        """Store one result and rewrite the file atomically.

        Args:
            key: the result's name (e.g. ``"layer1.0.conv1@0.3"`` or a subnet index).
            value: a JSON-able result.
            write: rewrite the file now; False defers it to the next write or :meth:`save` (for
                callers that store many cheap results and bound what a crash loses by time).
        """
        self._records[str(key)] = _jsonable(value)
        if write:
            self._write()

    def mark_complete(self, complete: bool = True) -> None:
        """Record that the run finished (or, with False, that more results are expected)."""
        self._complete = complete
        self._write()

    def save(self) -> Path:
        """Write the file as it stands (also when it holds no records yet)."""
        return self._write()

    def _write(self) -> Path:
        doc = {
            "format": FORMAT_VERSION,
            "kind": self.kind,
            "structure_hash": self.structure_hash,
            "config": self.config,
            "complete": self._complete,
            "records": self._records,
        }
        return write_json(self.path, doc)
