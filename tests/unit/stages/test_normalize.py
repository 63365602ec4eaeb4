"""Normalize (talkhead.quality.normalize; the stage's CLI last): the CFR video plan + PCM audio of the right
length; bad files become reasons, not crashes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from skimage import data as skdata

from talkhead.config import NormalizeConfig
from talkhead.data.manifest import read_manifest
from talkhead.data.status import ClipStatus, read_status
from talkhead.media.encode import VideoWriter
from talkhead.media.clip_video import ClipVideo
from talkhead.quality.normalize import normalize_clip
from talkhead.stages import normalize

CFG = NormalizeConfig.from_dict({})


def _ingested(tmp_path, payload_path, name="raw.mp4", start=0.0, end=None):
    """A fake ingest folder holding `payload_path` as its raw file."""
    folder = tmp_path / "ingest" / "c1"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(payload_path.read_bytes())
    ClipStatus("c1", "ingest", True, details={"file": name, "start": start, "end": end}).write(folder)
    return folder


def _run(tmp_path, ingest_dir, cfg=CFG):
    out = tmp_path / "normalize" / "c1"
    status = normalize_clip(ingest_dir, out, cfg)
    assert read_status(out) == status
    return status, out


def test_demo_clip_becomes_25fps_and_16k(tmp_path, demo_dataset):
    row = next(r for r in read_manifest(demo_dataset) if r.clip_id.startswith("demo_s"))
    status, out = _run(tmp_path, _ingested(tmp_path, demo_dataset.parent / row.source))
    assert status.ok, status.message
    frames = status.details["frames"]
    assert abs(frames - 50) <= 1
    video = ClipVideo.read(out)
    assert video.fps == 25 and video.frames == frames
    assert sum(1 for _ in video.rgb()) == frames, "decoding through video.json yields the recorded count"
    assert not (out / "video.mp4").exists(), "normalize must not re-encode the full frame"
    audio, rate = sf.read(out / "audio.wav", dtype="float32")
    assert rate == 16000 and len(audio) == frames * 16000 // 25
    assert np.abs(audio).max() > 0.05, "speech must survive resampling"
    assert json.loads((out / "probe.json").read_text())["audio"]["sample_rate"] in (22050, 44100)


def test_window_is_applied(tmp_path, demo_dataset):
    row = next(r for r in read_manifest(demo_dataset) if r.clip_id.startswith("demo_s"))
    status, out = _run(tmp_path, _ingested(tmp_path, demo_dataset.parent / row.source, start=0.4, end=1.4))
    assert status.ok and status.details["frames"] == 25
    frames = list(ClipVideo.read(out).rgb())
    assert len(frames) == 25


def test_video_plan_survives_moving_the_data_folder(tmp_path, demo_dataset):
    """video.json stores the source relative to its folder, so data/ can be moved or synced elsewhere."""
    row = next(r for r in read_manifest(demo_dataset) if r.clip_id.startswith("demo_s"))
    _, out = _run(tmp_path, _ingested(tmp_path, demo_dataset.parent / row.source))
    moved = tmp_path.parent / (tmp_path.name + "_moved")
    tmp_path.rename(moved)
    video = ClipVideo.read(moved / "normalize" / "c1")
    assert video.source.startswith(str(moved)) and sum(1 for _ in video.rgb()) == video.frames


def test_upstream_rejection_is_passed_on(tmp_path):
    folder = tmp_path / "ingest" / "c1"
    folder.mkdir(parents=True)
    ClipStatus("c1", "ingest", False, ["unavailable"], "404").write(folder)
    status, out = _run(tmp_path, folder)
    assert not status.ok and status.reasons == ["unavailable"]
    assert sorted(p.name for p in out.iterdir()) == ["status.json"]


def _bad_files(tmp_path, demo_dataset):
    """Inputs that must each yield a reason: name → (path, expected reason)."""
    row = next(r for r in read_manifest(demo_dataset) if r.clip_id.startswith("demo_s"))
    good = (demo_dataset.parent / row.source).read_bytes()
    files = {}
    (tmp_path / "empty.mp4").write_bytes(b"")
    files["zero_bytes"] = (tmp_path / "empty.mp4", "unreadable")
    (tmp_path / "trunc.mp4").write_bytes(good[: len(good) // 3])
    files["truncated"] = (tmp_path / "trunc.mp4", "unreadable")
    png = tmp_path / "photo.mp4"
    import cv2
    cv2.imwrite(str(tmp_path / "photo.png"), skdata.astronaut()[:, :, ::-1])
    png.write_bytes((tmp_path / "photo.png").read_bytes())
    files["png_named_mp4"] = (png, "unreadable")
    wav = tmp_path / "speech.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    files["audio_only"] = (wav, "unreadable")
    return files


def test_video_without_audio_is_normalized_for_the_gate(tmp_path):
    """No audio stream is not fatal here: the quality gate lists no_audio with every other reason."""
    path = tmp_path / "video_only.mp4"
    with VideoWriter(path, fps=25, size=(64, 64), preset="ultrafast") as writer:
        for _ in range(10):
            writer.write_frame(np.full((64, 64, 3), 128, np.uint8))
    status, out = _run(tmp_path, _ingested(tmp_path, path, name="raw.mp4"))
    assert status.ok and status.details["has_audio"] is False and status.details["frames"] == 10
    assert (out / "video.json").is_file() and not (out / "audio.wav").exists()


@pytest.mark.parametrize("case", ["zero_bytes", "truncated", "png_named_mp4", "audio_only"])
def test_bad_inputs_get_a_reason(tmp_path, demo_dataset, case):
    path, reason = _bad_files(tmp_path, demo_dataset)[case]
    status, _ = _run(tmp_path, _ingested(tmp_path, path, name="raw" + path.suffix))
    if case == "png_named_mp4" and status.ok:
        pytest.fail("a still image must not pass as a video clip")
    assert not status.ok and status.reasons == [reason], status


def test_cli_writes_summary_line(tmp_path, demo_dataset, capsys):
    row = next(r for r in read_manifest(demo_dataset) if r.clip_id.startswith("demo_s"))
    folder = _ingested(tmp_path, demo_dataset.parent / row.source)
    assert normalize.main(["--ingest", str(folder), "--out", str(tmp_path / "n" / "c1"), "--cfg", CFG.to_json()]) == 0
    err = capsys.readouterr().err  # entry points log to stderr, which the rule redirects to its log
    assert "frames" in err and "@ 25 fps" in err
