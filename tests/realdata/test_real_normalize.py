"""Every real fixture video goes through ingest → normalize without a traceback; negatives get reasons."""

from __future__ import annotations

import csv

import pytest

from talkhead.config import IngestConfig, NormalizeConfig
from talkhead.data.ingest import ingest_clip
from talkhead.data.manifest import ManifestRow
from talkhead.media.clip_video import ClipVideo
from talkhead.media.probe import probe
from talkhead.quality.normalize import normalize_clip

pytestmark = pytest.mark.realdata
NO_AUDIO = {"videos/LivePortrait__driving_d13.mp4", "videos/IP_LAP__template_video_129.mp4"}


def _expected(real_media):
    with (real_media / "expected.csv").open() as fh:
        return [r["file"] for r in csv.DictReader(fh)]


def test_every_real_video_normalizes_or_gets_a_reason(real_media, tmp_path):
    cfg = NormalizeConfig.from_dict({})
    for i, rel in enumerate(_expected(real_media)):
        clip = f"r{i}"
        row = ManifestRow(clip, str(real_media / rel), 0.0, None, "s", "train", "none")
        ingested = ingest_clip(row, real_media / "expected.csv", tmp_path / "ingest" / clip,
                               IngestConfig.from_dict({"local": "copy"}))
        assert ingested.ok, ingested.message
        status = normalize_clip(tmp_path / "ingest" / clip, tmp_path / "normalize" / clip, cfg)
        assert status.ok, (rel, status)
        assert status.details["has_audio"] is (rel not in NO_AUDIO)
        if rel not in NO_AUDIO:
            assert status.ok, (rel, status)
            assert status.details["fps"] == 25
            assert status.details["audio_samples"] == status.details["frames"] * 16000 // 25
        video = ClipVideo.read(tmp_path / "normalize" / clip)
        assert sum(1 for _ in video.rgb()) == video.frames == status.details["frames"], rel
        first = next(iter(video.rgb()))
        assert first.shape[:2] == (video.height, video.width), "rotation is applied to the recorded size"
        if probe(real_media / rel)["video"]["rotation"] in (90, 270):
            assert video.height > video.width
