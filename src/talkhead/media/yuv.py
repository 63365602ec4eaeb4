"""Work on decoded frames in their own YUV 4:2:0 planes instead of converting every full frame to RGB.

Converting a 1080p frame to RGB costs about as much as decoding it, and the pipeline needs RGB
only for small images: the 512² crop (face mesh, sharpness), a thumbnail for the scene-cut
detector, and the detector's input on probe frames. So the crop is cut and resized plane by plane
(I420 in, I420 out, straight into the encoder), and the cut detector's thumbnail is made by FFmpeg's
scaler straight from the decoded frame (area filter, one call). Display rotation is applied. Planes of
sources in other pixel formats (4:4:4, 10-bit, full range yuvj) are converted to yuv420p first by FFmpeg.
"""

from __future__ import annotations

from typing import NamedTuple

import av
import cv2
import numpy as np


class Planes(NamedTuple):
    """The Y (H, W) and U, V (ceil(H/2), ceil(W/2)) uint8 planes of one frame, display orientation."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray


def _plane(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A (height, width) uint8 view of one plane (line padding dropped)."""
    flat = np.frombuffer(plane, np.uint8)[: plane.line_size * plane.height]
    return flat.reshape(plane.height, plane.line_size)[:, : plane.width]


def quarter_turns(frame: av.VideoFrame) -> int:
    """The frame's display rotation in counter-clockwise quarter turns (0..3), as np.rot90 takes it."""
    return (int(round(frame.rotation)) % 360 // 90) % 4


def planes_of(frame: av.VideoFrame) -> Planes:
    """The frame's yuv420p planes with its display rotation applied (views where no rotation is needed)."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    y, u, v = (_plane(p) for p in frame.planes[:3])
    turns = quarter_turns(frame)
    if turns:
        y, u, v = (np.ascontiguousarray(np.rot90(p, k=turns)) for p in (y, u, v))
    return Planes(y, u, v)


def i420_to_rgb(i420: np.ndarray) -> np.ndarray:
    """(3/2·H, W) stacked I420 → (H, W, 3) RGB uint8 (BT.601, as FFmpeg's default conversion)."""
    return cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)


def stack_i420(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Y (H, W) and U, V (H/2, W/2), H and W even → the contiguous (3/2·H, W) I420 layout."""
    h, w = y.shape
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)


def small_rgb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The frame as (h, w, 3) RGB uint8 at display size `size` = (w, h): area-averaged by FFmpeg's scaler,
    display rotation applied (for the scene-cut detector, whose 64 px frames need nothing finer)."""
    turns = quarter_turns(frame)
    width, height = size if turns % 2 == 0 else size[::-1]  # the coded frame's orientation
    rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
    return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb


def display_size(frame: av.VideoFrame) -> tuple[int, int]:
    """(width, height) of the frame as shown, its display rotation applied."""
    return (frame.height, frame.width) if quarter_turns(frame) % 2 else (frame.width, frame.height)


def window_origin(window: np.ndarray, frame_size: tuple[int, int]) -> tuple[int, int, int]:
    """(x0, y0, side) of a (cx, cy, side) window on even luma pixels, inside a (width, height) frame."""
    w, h = frame_size
    side = max(2, min(int(round(float(window[2]) / 2)) * 2, w // 2 * 2, h // 2 * 2))
    x0 = int(np.floor((float(window[0]) - side / 2) / 2)) * 2
    y0 = int(np.floor((float(window[1]) - side / 2) / 2)) * 2
    return min(max(x0, 0), (w - side) // 2 * 2), min(max(y0, 0), (h - side) // 2 * 2), side


def crop_i420(p: Planes, window: np.ndarray, out_size: int) -> np.ndarray:
    """Cut the (cx, cy, side) window and resize it to an (3/2·out, out) I420 image; `out_size` even."""
    h, w = p.y.shape
    x0, y0, side = window_origin(window, (w, h))
    interp = cv2.INTER_AREA if side > out_size else cv2.INTER_CUBIC
    half = out_size // 2
    y = cv2.resize(p.y[y0:y0 + side, x0:x0 + side], (out_size, out_size), interpolation=interp)
    cx0, cy0, cs = x0 // 2, y0 // 2, side // 2
    u = cv2.resize(p.u[cy0:cy0 + cs, cx0:cx0 + cs], (half, half), interpolation=interp)
    v = cv2.resize(p.v[cy0:cy0 + cs, cx0:cx0 + cs], (half, half), interpolation=interp)
    return stack_i420(y, u, v)
