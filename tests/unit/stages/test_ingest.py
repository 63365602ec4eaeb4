"""Ingest (talkhead.data.ingest, directly and through the stage's CLI): local sources referenced/copied/linked,
http downloads with retries, bad sources recorded, not fatal."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from talkhead.config import IngestConfig
from talkhead.data.ingest import ingest_clip
from talkhead.data.manifest import read_manifest
from talkhead.data.status import ingested_file, read_status
from talkhead.stages import ingest

HEADER = "clip_id,source,start,end,speaker,split,emotion\n"


@pytest.fixture()
def http_root(tmp_path):
    """A loopback HTTP server over a temp folder; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _manifest(tmp_path, source):
    path = tmp_path / "manifest.csv"
    path.write_text(HEADER + f"c1,{source},0.5,2,spk,train,\n")
    return path


@pytest.mark.parametrize("mode", ["reference", "copy", "hardlink"])
def test_local_source_is_taken_as_configured_with_checksum(tmp_path, mode):
    original = tmp_path / "clip.MP4"
    original.write_bytes(b"not really a video")
    out = tmp_path / "data" / "ingest" / "c1"
    cfg = IngestConfig.from_dict({"local": mode}).to_json()
    assert ingest.main(["--manifest", str(_manifest(tmp_path, "clip.MP4")), "--clip", "c1", "--out", str(out),
                        "--cfg", cfg]) == 0
    status = read_status(out)
    assert status.ok and status.details["sha256"] == hashlib.sha256(b"not really a video").hexdigest()
    assert (status.details["start"], status.details["end"], status.details["split"]) == (0.5, 2.0, "train")
    taken = ingested_file(out, status)
    assert taken.read_bytes() == b"not really a video"
    if mode == "reference":  # nothing copied: the record points at the original
        assert taken == original.resolve() and sorted(p.name for p in out.iterdir()) == ["status.json"]
    else:
        assert taken == out / "raw.mp4"
        assert (taken.stat().st_ino == original.stat().st_ino) == (mode == "hardlink")


def test_default_never_shares_the_original_inode(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"x")
    out = tmp_path / "c1"
    ingest.main(["--manifest", str(_manifest(tmp_path, "clip.mp4")), "--clip", "c1", "--out", str(out)])
    assert not any(p.stat().st_ino == (tmp_path / "clip.mp4").stat().st_ino for p in out.iterdir())


@pytest.mark.parametrize("case, reason, words", [
    ("loop", "unavailable", "symbolic link loop"),
    ("directory", "unreadable", "a directory"),
    ("denied", "unavailable", "permission denied"),
])
def test_bad_local_sources_get_a_specific_reason(tmp_path, monkeypatch, case, reason, words):
    if case == "loop":
        (tmp_path / "a.mp4").symlink_to(tmp_path / "b.mp4")
        (tmp_path / "b.mp4").symlink_to(tmp_path / "a.mp4")
    elif case == "directory":
        (tmp_path / "a.mp4").mkdir()
    else:  # the tests run as root, whom chmod does not stop: refuse the open instead
        (tmp_path / "a.mp4").write_bytes(b"x")
        real_open = Path.open

        def refuse(self, *args, **kwargs):
            if self.name == "a.mp4":
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refuse)
    out = tmp_path / "c1"
    assert ingest.main(["--manifest", str(_manifest(tmp_path, "a.mp4")), "--clip", "c1", "--out", str(out)]) == 0
    status = read_status(out)
    assert not status.ok and status.reasons == [reason] and words in status.message, status


def test_missing_local_source_is_unavailable_not_a_crash(tmp_path):
    out = tmp_path / "c1"
    assert ingest.main(["--manifest", str(_manifest(tmp_path, "gone.mp4")), "--clip", "c1", "--out", str(out)]) == 0
    status = read_status(out)
    assert not status.ok and status.reasons == ["unavailable"] and "gone.mp4" in status.message
    assert sorted(p.name for p in out.iterdir()) == ["status.json"]


def test_http_source_downloads(tmp_path, http_root):
    root, base = http_root
    (root / "a.mp4").write_bytes(b"x" * 5000)
    out = tmp_path / "c1"
    status = ingest_clip(read_manifest(_manifest(tmp_path, f"{base}/a.mp4"))[0],
                         tmp_path / "manifest.csv", out, IngestConfig.from_dict({"retries": 0}))
    assert status.ok and status.details["size_bytes"] == 5000 and status.details["source_kind"] == "url"


def test_http_404_is_retried_then_unavailable(tmp_path, http_root, caplog):
    _, base = http_root
    out = tmp_path / "c1"
    cfg = IngestConfig.from_dict({"retries": 2, "backoff_s": 0.01})
    status = ingest_clip(read_manifest(_manifest(tmp_path, f"{base}/missing.mp4"))[0],
                         tmp_path / "manifest.csv", out, cfg)
    assert not status.ok and status.reasons == ["unavailable"] and "404" in status.message
    assert sum("retrying" in r.message for r in caplog.records) == 2


def test_unknown_clip_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit, match="not in"):
        ingest.main(["--manifest", str(_manifest(tmp_path, "a.mp4")), "--clip", "zz", "--out", str(tmp_path / "o")])


def test_a_referenced_original_changed_after_ingest_is_unavailable_downstream(tmp_path):
    from talkhead.config import NormalizeConfig
    from talkhead.quality.normalize import normalize_clip

    original = tmp_path / "clip.mp4"
    original.write_bytes(b"x" * 100)
    out = tmp_path / "c1"
    ingest.main(["--manifest", str(_manifest(tmp_path, "clip.mp4")), "--clip", "c1", "--out", str(out)])
    original.write_bytes(b"y" * 120)
    status = normalize_clip(out, tmp_path / "n", NormalizeConfig.from_dict({}))
    assert not status.ok and status.reasons == ["unavailable"] and "changed since it was ingested" in status.message
