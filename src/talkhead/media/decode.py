"""Streaming decode: constant-frame-rate RGB frames and mono float audio at a chosen rate.

Frames are resampled to a constant rate by presentation time (each output instant takes the
source frame shown at that instant), which is correct for variable-frame-rate sources; display
rotation is applied. Frames are yielded one at a time, so memory does not grow with clip length.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from talkhead.media.probe import MediaError

log = logging.getLogger(__name__)


def _rotate(rgb: np.ndarray, degrees: int) -> np.ndarray:
    """Apply a display rotation (counter-clockwise degrees, as FFmpeg reports it)."""
    turns = (degrees // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb


def _open(path: str | Path) -> av.container.InputContainer:
    """Open a media file for reading; MediaError(unreadable) if FFmpeg cannot."""
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: cannot open ({exc})") from None


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Even output size no larger than `max_side` on the long side (0 keeps the size), aspect kept."""
    scale = min(1.0, max_side / max(width, height)) if max_side else 1.0
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def iter_frames_cfr(
    path: str | Path, fps: int, start: float = 0.0, end: float | None = None, max_side: int = 0
) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames (H, W, 3) at exactly `fps` for [start, end) of the first video stream."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream", reason="unreadable")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        step = Fraction(1, fps)
        k = 0  # index of the next output frame; its instant is start + k / fps
        held: np.ndarray | None = None
        size: tuple[int, int] | None = None
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                t = float(frame.time)
                # Emit every output instant that falls before this frame's presentation time.
                while held is not None and start + float(k * step) < t - 1e-6:
                    if end is not None and start + float(k * step) >= end - 1e-6:
                        return
                    yield held
                    k += 1
                if end is not None and t >= end - 1e-6 and held is not None:
                    break
                rgb = _rotate(frame.to_ndarray(format="rgb24"), int(round(frame.rotation)) % 360)
                if size is None:
                    size = fit_size(rgb.shape[1], rgb.shape[0], max_side)
                if (rgb.shape[1], rgb.shape[0]) != size:
                    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
                held = rgb
                if t + 1e-6 < start:
                    continue
        except av.FFmpegError as exc:
            log.warning("%s: decoding stopped early (%s); keeping %d frames", path, exc, k)
        if held is None:
            raise MediaError(f"{path}: no decodable video frame")
        # The last source frame is shown until the end of the stream (or `end`).
        stop = _stream_end(stream, end)
        while start + float(k * step) < stop - 1e-6 or k == 0:
            yield held
            k += 1


def _stream_end(stream: av.video.stream.VideoStream, end: float | None) -> float:
    """End time of the video stream in seconds, clipped to `end`."""
    duration = float(stream.duration * stream.time_base) if stream.duration else None
    begin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    total = begin + duration if duration else 0.0
    return min(total, end) if end is not None else total


def decode_audio(path: str | Path, sample_rate: int, start: float = 0.0, end: float | None = None) -> np.ndarray | None:
    """Mono float32 samples of the first audio stream at `sample_rate`, or None if there is no audio stream."""
    with _open(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            log.warning("%s: audio decoding stopped early (%s)", path, exc)
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
        first = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    # Align to the container clock: audio that starts late gets leading silence.
    if first > 0:
        samples = np.concatenate([np.zeros(int(round(first * sample_rate)), np.float32), samples])
    lo = int(round(start * sample_rate))
    hi = None if end is None else int(round(end * sample_rate))
    return samples[lo:hi]
