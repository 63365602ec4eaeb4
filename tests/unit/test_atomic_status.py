"""Atomic outputs and per-clip status records."""

from __future__ import annotations

import pytest

from talkhead.atomic import atomic_dir, atomic_path, write_json
from talkhead.data.status import ClipStatus, read_status


def test_atomic_path_leaves_nothing_when_interrupted(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_only_on_success(tmp_path):
    target = tmp_path / "clip"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip"]


def test_status_round_trip_and_vocabulary(tmp_path):
    ClipStatus("c1", "ingest", False, ["unavailable"], "gone", {"source": "x"}).write(tmp_path)
    status = read_status(tmp_path)
    assert (status.ok, status.reasons, status.details) == (False, ["unavailable"], {"source": "x"})
    with pytest.raises(ValueError, match="unknown reason"):
        ClipStatus("c1", "ingest", False, ["cosmic_rays"])


def test_write_json_is_deterministic(tmp_path):
    write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    write_json(tmp_path / "b.json", {"a": [1, 2], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
