"""YUV plane helpers: the I420 crop matches the RGB crop, rotation and other pixel formats are handled."""

from __future__ import annotations

import subprocess

import av
import imageio_ffmpeg
import numpy as np
import pytest
from skimage import data as skdata

from talkhead.faces.crop import cut_window
from talkhead.media.decode import to_rgb
from talkhead.media.encode import VideoWriter
from talkhead.media.yuv import crop_i420, i420_to_rgb, planes_of, thumbnail_rgb, window_origin


def _frame(rgb: np.ndarray, fmt: str = "yuv420p") -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)


def _rotated_frame(rgb: np.ndarray, tmp_path, degrees: int) -> av.VideoFrame:
    """The first frame of an MP4 carrying `rgb` with a display-rotation matrix (as phones write them)."""
    plain, rotated = tmp_path / "plain.mp4", tmp_path / "rotated.mp4"
    with VideoWriter(plain, fps=25, size=(rgb.shape[1], rgb.shape[0]), crf=10, preset="ultrafast") as writer:
        writer.write_frame(rgb)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-display_rotation",
                    str(degrees), "-i", str(plain), "-c", "copy", str(rotated)], check=True)
    container = av.open(str(rotated))
    frame = next(container.decode(video=0))
    container.close()
    return frame


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut()[:500, :510])  # (500, 510, 3), not square


@pytest.mark.parametrize("fmt", ["yuv420p", "yuv444p", "yuvj420p"])
def test_crop_i420_matches_the_rgb_crop(astronaut, fmt):
    frame = _frame(astronaut, fmt)
    window = np.array([260.0, 200.0, 300.0])
    i420 = crop_i420(planes_of(frame), window, 128)
    assert i420.shape == (192, 128) and i420.dtype == np.uint8
    got = i420_to_rgb(i420).astype(np.float32)
    want = cut_window(to_rgb()(frame), window, 128).astype(np.float32)
    assert np.abs(got - want).mean() < 6.0, "the plane-wise crop must show the same picture as the RGB crop"


def test_window_origin_is_even_and_inside():
    for cx, cy, side in [(5, 5, 100), (500, 400, 101), (250, 250, 1000), (100.7, 90.2, 33.3)]:
        x0, y0, s = window_origin(np.array([cx, cy, side]), (511, 401))
        assert x0 % 2 == 0 and y0 % 2 == 0 and s % 2 == 0
        assert 0 <= x0 and x0 + s <= 511 and 0 <= y0 and y0 + s <= 401


def test_rotation_is_applied_to_the_planes(astronaut, tmp_path):
    frame = _rotated_frame(astronaut, tmp_path, 90)
    assert frame.rotation == 90
    p = planes_of(frame)
    assert p.y.shape == (510, 500) and p.u.shape == (255, 250)
    rgb = to_rgb()(frame)  # the reference path rotates the RGB frame
    assert rgb.shape[:2] == p.y.shape
    thumb = thumbnail_rgb(p, long_side=128)
    small = np.asarray(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        width=thumb.shape[1], height=thumb.shape[0], format="rgb24").to_ndarray(), np.float32)
    assert np.abs(thumb.astype(np.float32) - small).mean() < 20.0


def test_write_i420_round_trip(tmp_path, astronaut):
    i420 = crop_i420(planes_of(_frame(astronaut)), np.array([255.0, 250.0, 400.0]), 64)
    with VideoWriter(tmp_path / "c.mp4", fps=25, size=(64, 64), crf=0, preset="ultrafast") as writer:
        for _ in range(3):
            writer.write_i420(i420)
        with pytest.raises(ValueError, match="write_i420"):
            writer.write_i420(i420[:-2])
    with av.open(str(tmp_path / "c.mp4")) as container:
        back = next(container.decode(video=0)).to_ndarray(format="yuv420p")
    assert np.abs(back.astype(int) - i420.astype(int)).max() <= 2  # crf 0: (nearly) lossless
