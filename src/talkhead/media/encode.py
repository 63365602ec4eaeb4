"""The pipeline's one video writer: RGB frames + float audio → H.264 (yuv420p) / AAC in MP4, via PyAV.

Outputs are atomic: the writer encodes into a hidden temporary file beside the target and renames
it only when `close()` succeeds, so an interrupted job never leaves a file that looks finished (on
an exception inside `with VideoWriter(...)` the temporary file is deleted). Encoding is
deterministic for the same input: libx264 runs single-threaded by default, timestamps are
frame/sample counts, and the muxer writes no creation time or random ids.
"""

from __future__ import annotations

import logging
import os
import uuid
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
import soundfile as sf

from talkhead.atomic import atomic_path, clear_partials, partial_prefix

log = logging.getLogger(__name__)

AAC_FRAME = 1024  # samples per channel in one AAC frame
AUDIO_BITRATE = 128_000


def _hidden_temp(path: Path) -> Path:
    """A unique hidden name in the folder of `path` (same filesystem, so the rename is atomic)."""
    clear_partials(path)
    return path.with_name(f"{partial_prefix(path)}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _i420_frame(i420: np.ndarray, size: tuple[int, int]) -> av.VideoFrame:
    """A new yuv420p frame holding stacked I420 planes (3/2·H, W): written into its planes row by row (padding
    kept), the same frame VideoFrame.from_ndarray builds at a third of its cost (0.08 vs 0.25 ms at 512²)."""
    w, h = size
    frame = av.VideoFrame(w, h, "yuv420p")
    flat, luma, chroma = i420.reshape(-1), h * w, (h // 2) * (w // 2)
    sources = (flat[:luma].reshape(h, w), flat[luma:luma + chroma].reshape(h // 2, w // 2),
               flat[luma + chroma:].reshape(h // 2, w // 2))
    for plane, src in zip(frame.planes, sources):
        np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width] = src
    return frame


class VideoWriter:
    """Context manager writing H.264 video (and optionally AAC audio) to an MP4, atomically."""

    def __init__(self, path: str | Path, fps: int, size: tuple[int, int], audio_rate: int | None = None,
                 audio_channels: int = 1, crf: int = 18, preset: str = "veryfast", threads: int = 1) -> None:
        width, height = int(size[0]), int(size[1])
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"VideoWriter: size {width}x{height} must be positive and even (yuv420p)")
        if int(fps) != fps or fps <= 0:
            raise ValueError(f"VideoWriter: fps must be a positive integer, got {fps}")
        if audio_rate is not None and audio_channels not in (1, 2):
            raise ValueError(f"VideoWriter: audio_channels must be 1 or 2, got {audio_channels}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = (width, height)
        self.fps = int(fps)
        self.audio_rate = audio_rate
        self.audio_channels = audio_channels
        self.frames = 0
        self.samples = 0
        self._pending = np.zeros((audio_channels, 0), np.float32)  # (ch, n) not yet encoded
        self._tmp = _hidden_temp(self.path)
        self._closed = False
        self._container = av.open(str(self._tmp), mode="w", format="mp4", options={"fflags": "+bitexact"})
        try:
            self._video = self._add_video(crf, preset, threads)
            self._audio = self._add_audio() if audio_rate else None
        except Exception:
            self._abort()
            raise

    def _add_video(self, crf: int, preset: str, threads: int) -> av.video.stream.VideoStream:
        """The H.264 stream: yuv420p, CRF rate control, fixed thread count."""
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, self.fps)
        stream.codec_context.thread_count = int(threads)
        stream.options = {"crf": str(crf), "preset": preset, "threads": str(int(threads))}
        return stream

    def _add_audio(self) -> av.audio.stream.AudioStream:
        """The AAC stream at the given rate and channel count."""
        layout = "mono" if self.audio_channels == 1 else "stereo"
        stream = self._container.add_stream("aac", rate=int(self.audio_rate), layout=layout)
        stream.codec_context.time_base = Fraction(1, int(self.audio_rate))
        stream.bit_rate = AUDIO_BITRATE
        return stream

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    def write_frame(self, rgb: np.ndarray) -> None:
        """Encode one RGB frame, uint8 (H, W, 3) of the writer's size."""
        if rgb.dtype != np.uint8 or rgb.shape != (self.size[1], self.size[0], 3):
            raise ValueError(f"write_frame: expected uint8 {(self.size[1], self.size[0], 3)}, "
                             f"got {rgb.dtype} {rgb.shape}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        frame.time_base = Fraction(1, self.fps)
        self._container.mux(self._video.encode(frame))
        self.frames += 1

    def write_i420(self, i420: np.ndarray) -> None:
        """Encode one frame given as stacked I420 planes, uint8 (3/2·H, W) — no colour conversion."""
        if i420.dtype != np.uint8 or i420.shape != (self.size[1] * 3 // 2, self.size[0]):
            raise ValueError(f"write_i420: expected uint8 {(self.size[1] * 3 // 2, self.size[0])}, "
                             f"got {i420.dtype} {i420.shape}")
        frame = _i420_frame(np.ascontiguousarray(i420), self.size)
        frame.pts = self.frames
        frame.time_base = Fraction(1, self.fps)
        self._container.mux(self._video.encode(frame))
        self.frames += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Queue float samples in [-1, 1], shape (n,) or (n, channels); full AAC frames are encoded at once."""
        if self._audio is None:
            raise ValueError("write_audio: this writer was opened without audio (audio_rate=None)")
        arr = np.asarray(samples, dtype=np.float32)
        arr = arr[:, None] if arr.ndim == 1 else arr  # (n, ch)
        if arr.ndim != 2 or arr.shape[1] != self.audio_channels:
            raise ValueError(f"write_audio: expected (n,) or (n, {self.audio_channels}), got {np.shape(samples)}")
        self._pending = np.concatenate([self._pending, np.clip(arr, -1.0, 1.0).T], axis=1)
        while self._pending.shape[1] >= AAC_FRAME:
            self._encode_audio(self._pending[:, :AAC_FRAME])
            self._pending = self._pending[:, AAC_FRAME:]

    def _encode_audio(self, block: np.ndarray) -> None:
        """Encode one block (ch, n) float32 with its sample-count timestamp."""
        layout = "mono" if self.audio_channels == 1 else "stereo"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout=layout)
        frame.sample_rate = int(self.audio_rate)
        frame.pts = self.samples
        frame.time_base = Fraction(1, int(self.audio_rate))
        self._container.mux(self._audio.encode(frame))
        self.samples += block.shape[1]

    def close(self) -> None:
        """Flush the encoders, finish the file and move it onto the target path."""
        if self._closed:
            return
        try:
            if self._audio is not None and self._pending.shape[1]:
                self._encode_audio(self._pending)
                self._pending = self._pending[:, :0]
            self._container.mux(self._video.encode(None))
            if self._audio is not None:
                self._container.mux(self._audio.encode(None))
            self._container.close()
            self._closed = True
            os.replace(self._tmp, self.path)
        except BaseException:
            self._abort()
            raise
        log.debug("wrote %s: %d frames @ %d fps, %d audio samples", self.path, self.frames, self.fps, self.samples)

    def _abort(self) -> None:
        """Close the container quietly and delete the temporary file."""
        if not self._closed:
            self._closed = True
            try:
                self._container.close()
            except (av.FFmpegError, OSError, ValueError) as exc:
                log.debug("closing aborted %s: %s", self._tmp, exc)
        self._tmp.unlink(missing_ok=True)


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write float samples in [-1, 1], (n,) or (n, channels), as 16-bit PCM WAV, atomically."""
    data = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(str(tmp), data, int(rate), subtype="PCM_16", format="WAV")
