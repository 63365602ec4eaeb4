"""YUV plane helpers: the I420 crop matches the RGB crop, rotation and other pixel formats are handled."""

from __future__ import annotations

import subprocess

import av
import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from skimage import data as skdata

from talkhead.faces.crop import cut_window
from talkhead.media.decode import to_rgb
from talkhead.media.encode import VideoWriter
from talkhead.media.yuv import crop_i420, display_size, i420_to_rgb, planes_of, small_rgb, window_origin


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
    small = small_rgb(frame, (50, 51))  # display (w, h): the rotated frame is 500 wide, 510 high
    assert display_size(frame) == (500, 510) and small.shape == (51, 50, 3)
    want = cv2.resize(rgb, (50, 51), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.abs(small.astype(np.float32) - want).mean() < 4.0


@pytest.mark.parametrize("fmt", ["yuv420p", "yuv444p", "yuvj420p", "yuv420p10le"])
def test_small_rgb_is_the_area_downscaled_frame(astronaut, fmt):
    """The cut detector's 64 px frames: what an area resize of the full RGB frame gives, in any pixel format."""
    frame = _frame(astronaut, fmt)
    small = small_rgb(frame, (64, 63))
    assert small.shape == (63, 64, 3) and small.dtype == np.uint8
    want = cv2.resize(to_rgb()(frame), (64, 63), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.abs(small.astype(np.float32) - want).mean() < 3.0


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
