"""A clip that starts late in its source decodes from the keyframe before its start: the same frames, less work."""

from __future__ import annotations

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from talkhead.media import decode
from talkhead.media.decode import DecodeReport, count_frames_cfr, iter_decoded_cfr
from talkhead.media.encode import VideoWriter

SECONDS, SRC_FPS = 14, 30


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, object]:
    """The same 14 s, 30 fps video as H.264 MP4 (a keyframe a second, B-frames), MKV and MPEG-TS (no index)."""
    tmp = tmp_path_factory.mktemp("seek")
    plain = tmp / "plain.mp4"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (72, 96, 3), np.uint8)
    with VideoWriter(plain, fps=SRC_FPS, size=(96, 72), crf=0, preset="ultrafast") as writer:
        for i in range(SECONDS * SRC_FPS):  # every frame differs: a moving bar over a still texture
            frame = base.copy()
            frame[:, (i * 3) % 96:(i * 3) % 96 + 6] = (i * 7) % 256
            writer.write_frame(frame)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    out = {}
    for name, args in {"gop.mp4": ["-c:v", "libx264", "-g", "30", "-bf", "2", "-crf", "20"],
                       "gop.mkv": ["-c:v", "libx264", "-g", "30", "-bf", "2", "-crf", "20"],
                       "gop.ts": ["-c:v", "libx264", "-g", "30", "-bf", "2", "-crf", "20"]}.items():
        path = tmp / name
        subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-i", str(plain), *args, str(path)], check=True)
        out[name] = path
    return out


def _frames(path, start, end, monkeypatch, seek: bool) -> tuple[list[np.ndarray], DecodeReport, int]:
    monkeypatch.setattr(decode, "SEEK_AFTER_S", 2.0 if seek else float("inf"))
    report = DecodeReport()
    frames = [f.to_ndarray(format="rgb24") for f in iter_decoded_cfr(path, 25, start, end, report=report)]
    return frames, report, count_frames_cfr(path, 25, start, end)


@pytest.mark.parametrize("name", ["gop.mp4", "gop.mkv", "gop.ts"])
@pytest.mark.parametrize("start,end", [(7.3, 9.1), (2.5, 3.0), (10.0, None), (12.97, 13.5)])
def test_a_late_clip_gets_the_frames_of_a_decode_from_the_beginning(sources, name, start, end, monkeypatch):
    want, full, want_n = _frames(sources[name], start, end, monkeypatch, seek=False)
    got, seeked, got_n = _frames(sources[name], start, end, monkeypatch, seek=True)
    assert got_n == want_n == len(want) == len(got)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert seeked.errors == seeked.corrupt_frames == 0 and seeked.damaged_frames(25, start, len(got)) == []
    if name != "gop.ts":  # indexed containers: only the GOPs from the one holding `start` are decoded
        last = SECONDS if end is None else end
        assert seeked.decoded <= (last - int(start) + 0.5) * SRC_FPS and seeked.decoded < full.decoded


def test_a_clip_near_the_start_does_not_seek(sources, monkeypatch):
    _, report, _ = _frames(sources["gop.mp4"], 1.5, 3.0, monkeypatch, seek=True)
    assert report.keyframes[0] == 0.0  # read from the first packet


def test_audio_of_an_early_segment_stops_after_its_end(tmp_path):
    """decode_audio stops a second after `end`: the same samples as decoding the whole stream, fewer packets."""
    from talkhead.media.decode import decode_audio

    path = tmp_path / "tone.mp4"
    rate = 44100
    t = np.arange(12 * rate) / rate
    with VideoWriter(path, fps=25, size=(32, 32), audio_rate=rate) as writer:
        for _ in range(12 * 25):
            writer.write_frame(np.zeros((32, 32, 3), np.uint8))
        writer.write_audio((0.3 * np.sin(2 * np.pi * 440 * t * (1 + t / 12))).astype(np.float32))  # a chirp
    whole = decode_audio(path, 16000)
    for start, end in [(0.0, 2.0), (3.3, 5.1), (10.5, 11.99)]:
        report = DecodeReport()
        got = decode_audio(path, 16000, start, end, report=report)
        np.testing.assert_array_equal(got, whole[int(round(start * 16000)):int(round(end * 16000))])
        assert report.packets <= (end + decode.AUDIO_TAIL_S + 0.1) * rate / 1024  # the rest was never read
