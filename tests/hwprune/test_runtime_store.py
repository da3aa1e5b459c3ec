"""ResultStore: versioned, resumable JSON result files; stale and corrupt files are never lost."""

from __future__ import annotations

import json

import pytest

from hwprune.errors import StaleFileError
from hwprune.runtime.store import FORMAT_VERSION, ResultStore, move_aside


def _store(path, **kw):
    kw.setdefault("kind", "sensitivity")
    kw.setdefault("structure_hash", "abc123")
    return ResultStore(path, **kw)


def test_add_writes_each_result_and_reopens(tmp_path):
    path = tmp_path / ".hwprune" / "net.sens"
    s = _store(path, config={"ratios": (0.1, 0.2)})
    s.add("conv1@0.1", 0.9)
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT_VERSION and doc["structure_hash"] == "abc123"
    assert doc["records"] == {"conv1@0.1": 0.9} and doc["complete"] is False
    s.add("conv1@0.2", {"score": 0.8, "ratios": (1, 2)})
    s.mark_complete()

    again = _store(path, config={"ratios": [0.1, 0.2]})  # a list equals the tuple after JSON
    assert again.complete
    assert again.records == {"conv1@0.1": 0.9, "conv1@0.2": {"score": 0.8, "ratios": [1, 2]}}
    assert "conv1@0.2" in again and len(again) == 2 and list(again) == ["conv1@0.1", "conv1@0.2"]
    assert not list(tmp_path.glob(".hwprune/*.tmp")), "no temporary file is left behind"


def test_stale_hash_raises_names_file_and_keeps_it(tmp_path):
    path = tmp_path / "net.sens"
    _store(path).add("a@0.1", 1.0)
    before = path.read_text()
    with pytest.raises(StaleFileError, match=r"net\.sens.*another model structure.*forced=True"):
        _store(path, structure_hash="other")
    assert path.read_text() == before


@pytest.mark.parametrize(
    "content, what",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "no 'records'"),
        (json.dumps({"format": 99, "kind": "sensitivity", "records": {}}), "format version 99"),
        (
            json.dumps(
                {"format": FORMAT_VERSION, "kind": "search", "structure_hash": "abc123", "records": {}}
            ),
            "'search' results",
        ),
    ],
)
def test_corrupt_or_foreign_file_is_a_clear_error(tmp_path, content, what):
    path = tmp_path / "net.sens"
    path.write_text(content)
    with pytest.raises(StaleFileError, match=what):
        _store(path)
    assert path.read_text() == content


def test_config_mismatch_is_stale(tmp_path):
    path = tmp_path / "net.search"
    _store(path, kind="search", config={"budget": 0.5}).add("0", {"score": 1})
    with pytest.raises(StaleFileError, match="config"):
        _store(path, kind="search", config={"budget": 0.4})


def test_forced_moves_old_file_aside_and_starts_fresh(tmp_path):
    path = tmp_path / "net.sens"
    path.write_text("{broken")
    s = _store(path, forced=True)
    assert len(s) == 0 and s.moved_aside is not None
    assert s.moved_aside.read_text() == "{broken" and s.moved_aside.name.startswith("net.sens.stale-")
    s.add("x", 1)
    # a second forced rebuild within the same second does not overwrite the first stale copy
    s2 = _store(path, forced=True)
    assert s2.moved_aside != s.moved_aside and s2.moved_aside.exists() and s.moved_aside.exists()


def test_move_aside_counter(tmp_path):
    a = tmp_path / "f"
    a.write_text("1")
    first = move_aside(a)
    a.write_text("2")
    second = move_aside(a)
    assert first != second and first.read_text() == "1" and second.read_text() == "2"
    assert not a.exists()
