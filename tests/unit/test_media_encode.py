"""VideoWriter and write_wav: H.264/AAC round trips, timing, determinism and atomic outputs."""

from __future__ import annotations

import hashlib

import av
import numpy as np
import pytest
import soundfile as sf

from talkhead.media.encode import AAC_FRAME, VideoWriter, write_wav


def _frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [(rng.random((h, w, 3)) * 255).astype(np.uint8) for _ in range(n)]


def _tone(seconds: float, rate: int, channels: int) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    mono = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono, 0.5 * mono], axis=1)


def _write(path, fps=25, rate=22050, channels=1, n=20, interleave=True):
    frames, audio = _frames(n), _tone(n / fps, rate, channels)
    with VideoWriter(path, fps=fps, size=(64, 48), audio_rate=rate, audio_channels=channels, preset="ultrafast") as w:
        if interleave:
            per = len(audio) // n
            for k, frame in enumerate(frames):
                w.write_frame(frame)
                w.write_audio(audio[k * per:(k + 1) * per])
            w.write_audio(audio[n * per:])
        else:
            for frame in frames:
                w.write_frame(frame)
            w.write_audio(audio)
    return len(audio)


def _decode(path):
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        n_frames = sum(1 for _ in c.decode(vs))
        fps = float(vs.average_rate)
        a = c.streams.audio[0]
        rate, channels = a.codec_context.sample_rate, a.codec_context.channels
        a_dur = float(a.duration * a.time_base)
    return n_frames, fps, rate, channels, a_dur


@pytest.mark.parametrize("fps,rate,channels", [(25, 22050, 1), (30, 44100, 2)])
def test_round_trip_counts_rates_and_audio_duration(tmp_path, fps, rate, channels):
    path = tmp_path / "clip.mp4"
    n_samples = _write(path, fps=fps, rate=rate, channels=channels)
    n_frames, got_fps, got_rate, got_channels, a_dur = _decode(path)
    assert (n_frames, got_fps, got_rate, got_channels) == (20, fps, rate, channels)
    assert abs(a_dur - n_samples / rate) <= AAC_FRAME / rate


def test_audio_written_after_video_still_muxes(tmp_path):
    path = tmp_path / "late_audio.mp4"
    n_samples = _write(path, interleave=False)
    n_frames, _, rate, _, a_dur = _decode(path)
    assert n_frames == 20 and abs(a_dur - n_samples / rate) <= AAC_FRAME / rate


def test_output_is_byte_deterministic(tmp_path):
    _write(tmp_path / "a.mp4")
    _write(tmp_path / "b.mp4")
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("a.mp4", "b.mp4")]
    assert digest[0] == digest[1]


def test_video_only_has_no_audio_stream(tmp_path):
    path = tmp_path / "silent.mp4"
    with VideoWriter(path, fps=25, size=(64, 48), preset="ultrafast") as w:
        for frame in _frames(5):
            w.write_frame(frame)
        with pytest.raises(ValueError):
            w.write_audio(np.zeros(100, np.float32))
    with av.open(str(path)) as c:
        assert len(c.streams.video) == 1 and not c.streams.audio


@pytest.mark.parametrize("size", [(63, 48), (64, 47), (0, 48)])
def test_odd_or_empty_size_is_rejected(tmp_path, size):
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", fps=25, size=size)
    assert list(tmp_path.iterdir()) == []


def test_wrong_frame_shape_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="expected uint8"):
        with VideoWriter(tmp_path / "x.mp4", fps=25, size=(64, 48)) as w:
            w.write_frame(np.zeros((64, 48, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_exception_inside_with_leaves_no_file(tmp_path):
    target = tmp_path / "never.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(target, fps=25, size=(64, 48), audio_rate=22050) as w:
            for frame in _frames(3):
                w.write_frame(frame)
            w.write_audio(np.zeros(2000, np.float32))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_target_survives_a_failed_rewrite(tmp_path):
    target = tmp_path / "keep.mp4"
    _write(target)
    before = target.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(target, fps=25, size=(64, 48)) as w:
            w.write_frame(_frames(1)[0])
            raise KeyboardInterrupt
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


@pytest.mark.parametrize("channels", [1, 2])
def test_write_wav_is_16bit_pcm(tmp_path, channels):
    samples = _tone(0.25, 16000, channels)
    write_wav(tmp_path / "a.wav", samples, 16000)
    info = sf.info(str(tmp_path / "a.wav"))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, channels, "PCM_16", len(samples))
    back, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    assert np.abs(back - samples).max() < 1e-3
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]


@pytest.mark.parametrize("size", [(512, 512), (200, 200), (66, 34)])
def test_the_i420_frame_is_from_ndarrays_frame(size):
    """write_i420 fills a new frame's planes itself (line padding kept): the frame VideoFrame.from_ndarray builds."""
    from talkhead.media.encode import _i420_frame

    w, h = size
    i420 = np.random.default_rng(w).integers(0, 256, (h * 3 // 2, w), dtype=np.uint8)
    frame = _i420_frame(i420, size)
    assert (frame.width, frame.height, frame.format.name) == (w, h, "yuv420p")
    np.testing.assert_array_equal(frame.to_ndarray(), i420)
    np.testing.assert_array_equal(frame.to_ndarray(), av.VideoFrame.from_ndarray(i420, format="yuv420p").to_ndarray())
