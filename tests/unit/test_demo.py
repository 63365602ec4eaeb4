"""The demo dataset: offline speech, the portrait animator, and the written clips with their ground truth."""

from __future__ import annotations

import csv
import hashlib

import av
import numpy as np
import pytest

from talkhead.config import DemoConfig
from talkhead.data.manifest import read_manifest
from talkhead.demo import write_demo_dataset
from talkhead.demo.clips import GT_COLUMNS, MANIFEST_COLUMNS, frame_rms
from talkhead.demo.portrait import Look, PortraitAnimator
from talkhead.demo.speech import synthesize

TINY = {"speakers": 1, "clips_per_speaker": 1, "seconds": 1.5, "size": 128, "negatives": True, "seed": 3}


# --- speech -------------------------------------------------------------------------------------

def test_speech_is_real_and_repeatable():
    samples, rate = synthesize("Hello there, this is a short test sentence.")
    assert rate == 22050 and samples.dtype == np.float32 and samples.ndim == 1
    assert 1.5 < len(samples) / rate < 5.0
    assert np.abs(samples).max() <= 1.0 and np.sqrt(np.mean(samples ** 2)) > 0.03
    again, _ = synthesize("Hello there, this is a short test sentence.")
    assert np.array_equal(samples, again)


def test_voice_variant_changes_the_voice():
    base, _ = synthesize("Good morning.", voice="en-us")
    female, _ = synthesize("Good morning.", voice="en-us+f3")
    assert len(base) != len(female) or not np.array_equal(base, female)


def test_unknown_voice_is_a_clear_error():
    with pytest.raises(RuntimeError, match="voice"):
        synthesize("Hello.", voice="no-such-language")


# --- portrait -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def animator():
    return PortraitAnimator(128)


def _regions(animator):
    """Boolean masks (H, W): mouth area, eye band, and everything well away from the face."""
    x0, y0, x1, y1 = animator.face_box()
    yy, xx = np.mgrid[0:animator.size, 0:animator.size]
    w, h = x1 - x0, y1 - y0
    mouth = (xx > x0 + 0.25 * w) & (xx < x1 - 0.25 * w) & (yy > y0 + 0.62 * h) & (yy < y0 + 0.9 * h)
    eyes = (xx > x0) & (xx < x1) & (yy > y0 + 0.25 * h) & (yy < y0 + 0.42 * h)
    far = (xx < x0 - 0.2 * w) | (xx > x1 + 0.2 * w) | (yy < y0 - 0.1 * h) | (yy > y1 + 0.3 * h)
    return mouth, eyes, far


def test_face_fills_a_third_of_the_frame(animator):
    assert 0.30 <= animator.face_fraction <= 0.45
    assert animator.render().shape == (128, 128, 3)


def test_mouth_opening_changes_only_the_mouth(animator):
    mouth, eyes, far = _regions(animator)
    closed = animator.render(mouth_open=0.0).astype(float)
    half = np.abs(animator.render(mouth_open=0.5).astype(float) - closed).sum(axis=2)
    full_img = animator.render(mouth_open=1.0).astype(float)
    full = np.abs(full_img - closed).sum(axis=2)
    assert full[mouth].mean() > half[mouth].mean() > 5.0
    assert full[far].max() == 0 and full[eyes].max() == 0
    assert full_img[mouth].mean() < closed[mouth].mean() - 5, "an open mouth shows a dark cavity"
    assert animator.mouth_open_px(1.0) > animator.mouth_open_px(0.5) > 0


def test_blink_changes_the_eyes(animator):
    mouth, eyes, far = _regions(animator)
    diff = np.abs(animator.render(blink=1.0).astype(float) - animator.render().astype(float)).sum(axis=2)
    assert diff[eyes].mean() > 3.0
    assert diff[mouth].max() == 0 and diff[far].max() == 0


def test_pose_and_mirror_move_the_picture():
    plain = PortraitAnimator(96)
    moved = plain.render(roll_deg=3.0, tx=4.0, ty=-3.0, scale=1.02)
    assert np.abs(moved.astype(int) - plain.render().astype(int)).mean() > 5
    mirrored = PortraitAnimator(96, Look(mirror=True, crop_side=265.0, gains=(0.9, 1.0, 1.1))).render()
    assert mirrored.shape == (96, 96, 3) and not np.array_equal(mirrored, plain.render())


# --- the written dataset ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny dataset: 1 speaker, 1 clip of 1.5 s at 128 px, plus negatives; returns the manifest."""
    return write_demo_dataset(tmp_path_factory.mktemp("demo"), DemoConfig.from_dict(TINY))


def _video(path):
    """(frames, fps, mono float audio, audio rate) of an mp4."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(vs)]
        fps = float(vs.average_rate)
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [o.to_ndarray().reshape(-1) for f in c.decode(audio=0) for o in resampler.resample(f)]
    return frames, fps, np.concatenate(chunks), rate


def _gt(path):
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def test_manifest_columns_rows_and_files(tiny):
    with open(tiny, newline="") as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == MANIFEST_COLUMNS
    rows = read_manifest(tiny)
    assert [r.clip_id for r in rows] == ["demo_s0_c0", "demo_noface", "demo_silent"]
    for row in rows:
        assert (tiny.parent / row.source).is_file() and row.start == 0 and row.end == pytest.approx(1.52, abs=0.05)
        assert row.split == "train" and row.emotion == "neutral"
        fields, gt = _gt(tiny.parent / f"{row.clip_id}.gt.csv")
        assert tuple(fields) == GT_COLUMNS and len(gt) == 38
    assert (tiny.parent / "README.md").read_text().count("astronaut") >= 1


def test_clip_frames_fps_and_audio_duration(tiny):
    frames, fps, audio, rate = _video(tiny.parent / "demo_s0_c0.mp4")
    assert (len(frames), fps, rate) == (38, 25.0, 22050)
    assert frames[0].shape == (128, 128, 3)
    assert abs(len(audio) / rate - 38 / 25) <= 1024 / rate


def test_mouth_follows_the_speech_envelope(tiny):
    frames, fps, audio, rate = _video(tiny.parent / "demo_s0_c0.mp4")
    _, gt = _gt(tiny.parent / "demo_s0_c0.gt.csv")
    mouth = np.array([float(r["mouth_open"]) for r in gt])
    rms = frame_rms(audio, rate, int(fps), len(frames))
    assert mouth.max() == pytest.approx(1.0, abs=0.05) and mouth[:5].max() < 0.05, "silent lead-in keeps it shut"
    assert np.corrcoef(mouth, rms)[0, 1] > 0.5
    pixels = np.array([float(r["mouth_open_px"]) for r in gt])
    assert np.corrcoef(mouth, pixels)[0, 1] > 0.99


def test_negatives_are_silent_face_and_faceless_speech(tiny):
    _, _, silent_audio, _ = _video(tiny.parent / "demo_silent.mp4")
    assert np.abs(silent_audio).max() < 1e-3
    _, gt = _gt(tiny.parent / "demo_silent.gt.csv")
    assert max(float(r["mouth_open"]) for r in gt) == 0.0
    _, _, cat_audio, _ = _video(tiny.parent / "demo_noface.mp4")
    assert np.sqrt(np.mean(cat_audio ** 2)) > 0.02


def test_same_config_gives_identical_bytes(tiny, tmp_path):
    again = write_demo_dataset(tmp_path, DemoConfig.from_dict(TINY))
    first = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tiny.parent.iterdir()}
    second = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in again.parent.iterdir()}
    assert first == second and len(first) == 8


def test_speakers_are_split_apart_and_sources_differ(tmp_path):
    cfg = DemoConfig.from_dict({"speakers": 3, "clips_per_speaker": 1, "seconds": 1.0, "size": 96,
                                "negatives": False})
    rows = read_manifest(write_demo_dataset(tmp_path, cfg))
    assert [(r.speaker, r.split) for r in rows] == [("demo_a", "train"), ("demo_b", "val"), ("demo_c", "test")]
    with av.open(str(tmp_path / rows[1].source)) as c:
        a = c.streams.audio[0].codec_context
        assert float(c.streams.video[0].average_rate) == 30.0 and (a.sample_rate, a.channels) == (44100, 2)
