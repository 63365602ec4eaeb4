"""Atomic outputs and per-clip status records."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.atomic import atomic_dir, atomic_path, partial_prefix, write_json
from talkhead.media.encode import VideoWriter
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


def test_leftovers_of_a_killed_job_are_cleared_by_the_next_one(tmp_path):
    """kill -9 cannot run cleanup code: the next writer of the same target removes what it left."""
    clip_dir, wav, video = tmp_path / "crop" / "c1", tmp_path / "a.wav", tmp_path / "v.mp4"
    clip_dir.parent.mkdir()
    stale = [clip_dir.parent / (partial_prefix(clip_dir) + "dead1"), tmp_path / (partial_prefix(wav) + "x.tmp"),
             tmp_path / (partial_prefix(video) + "123-abc")]
    stale[0].mkdir()
    (stale[0] / "crop.mp4").write_bytes(b"half")
    stale[1].write_bytes(b"half")
    stale[2].write_bytes(b"half")
    other = tmp_path / ".a.wav.bak"  # not ours: must survive
    other.write_bytes(b"keep")
    with atomic_dir(clip_dir) as tmp:
        (tmp / "x").write_text("1")
    with atomic_path(wav) as tmp:
        tmp.write_bytes(b"RIFF")
    with VideoWriter(video, fps=25, size=(16, 16), preset="ultrafast") as writer:
        writer.write_frame(np.zeros((16, 16, 3), np.uint8))
    assert not any(p.exists() for p in stale)
    assert other.exists() and sorted(p.name for p in tmp_path.iterdir()) == [".a.wav.bak", "a.wav", "crop", "v.mp4"]
