"""A speaking video: a renderer's frames of one portrait, streamed to H.264 with the driving audio in AAC.

The audio decides the length: the video has round(audio seconds × fps) frames (so the two end
within half a frame of each other); the motion is trimmed, or padded by holding its last frame,
to that count. Frames are encoded as they are rendered (talkhead.media.encode.VideoWriter) and
the audio is written beside them frame by frame, so memory does not grow with the video's length.
An odd-sized portrait loses its last row or column (H.264 4:2:0 needs even sizes).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from talkhead.logs import progress
from talkhead.media.encode import VideoWriter
from talkhead.render.base import Renderer, Source
from talkhead.render.portrait import load_image

log = logging.getLogger(__name__)

AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def load_audio(audio: str | Path | np.ndarray | tuple[np.ndarray, int], sample_rate: int | None = None
               ) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate from a file path, (samples, rate), or samples + `sample_rate`."""
    if isinstance(audio, (str, Path)):
        from talkhead.media.decode import decode_audio
        from talkhead.media.probe import probe

        info = probe(audio)
        if info["audio"] is None:
            raise ValueError(f"{audio}: no audio stream")
        rate = sample_rate or int(info["audio"]["sample_rate"])
        rate = rate if rate in AAC_RATES else 48000 if rate > 48000 else 16000
        return decode_audio(audio, rate), rate
    if isinstance(audio, tuple):
        audio, sample_rate = audio
    if sample_rate is None:
        raise ValueError("audio given as samples needs its sample_rate")
    samples = np.asarray(audio, np.float32)
    if samples.ndim == 2:  # (n, channels) → mono
        samples = samples.mean(1)
    if samples.ndim != 1:
        raise ValueError(f"audio samples must be (n,) or (n, channels), got {samples.shape}")
    return samples, int(sample_rate)


def fit_motion(motion: np.ndarray, frames: int) -> np.ndarray:
    """(T, 70) motion trimmed, or padded by holding its last frame, to `frames` rows."""
    motion = np.asarray(motion)
    if len(motion) >= frames:
        return motion[:frames]
    return np.concatenate([motion, np.repeat(motion[-1:], frames - len(motion), 0)])


def render_video(renderer: Renderer, image_path: str | Path | np.ndarray | Source, motion: np.ndarray,
                 audio: str | Path | np.ndarray | tuple[np.ndarray, int], out_mp4: str | Path, fps: int = 25,
                 sample_rate: int | None = None, crf: int = 18) -> dict[str, Any]:
    """Render `motion` (T, 70 raw) on the portrait (a file, an RGB array, or a Source the renderer already
    prepared) with `audio`; write out_mp4 and return a summary."""
    start = time.perf_counter()
    samples, rate = load_audio(audio, sample_rate)
    if len(samples) == 0:
        raise ValueError("the audio is empty")
    frames = max(1, int(round(len(samples) * fps / rate)))
    motion = fit_motion(motion, frames)
    if isinstance(image_path, Source):
        source, image = image_path, image_path.image
    else:
        image, name = (image_path, "the image") if isinstance(image_path, np.ndarray) else (load_image(image_path),
                                                                                             str(image_path))
        source = renderer.prepare(image, name=name) if _takes_name(renderer) else renderer.prepare(image)
    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    per_frame = rate / fps
    with VideoWriter(out_mp4, fps, (w, h), audio_rate=rate, crf=crf) as writer:
        for k, frame in enumerate(progress(renderer.render(source, motion, fps=fps), "render", total=frames,
                                           unit="frame")):
            writer.write_frame(np.ascontiguousarray(frame[:h, :w]))
            writer.write_audio(samples[int(round(k * per_frame)):int(round((k + 1) * per_frame))])
        if frames * per_frame < len(samples):  # the rounding left a few samples: keep them
            writer.write_audio(samples[int(round(frames * per_frame)):])
    wall = time.perf_counter() - start
    summary = {"frames": frames, "fps": fps, "size": [w, h], "audio_s": len(samples) / rate,
               "video_s": frames / fps, "sample_rate": rate, "wall_s": round(wall, 3)}
    log.info("wrote %s: %d frames (%.2f s) at %dx%d, audio %.2f s, %.1f s", out_mp4, frames, frames / fps, w, h,
             len(samples) / rate, wall)
    return summary


def _takes_name(renderer: Renderer) -> bool:
    """Whether the renderer's prepare() accepts a `name` for its error messages."""
    import inspect

    return "name" in inspect.signature(renderer.prepare).parameters
