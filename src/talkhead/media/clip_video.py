"""A clip's normalized video: its source file decoded on demand at the pipeline's constant frame rate.

Normalize does not re-encode the full frame (at 1080p an x264 encode costs ~4× decoding and the
crop encode together, and adds a generation of compression loss). It records a `video.json`
instead: which file to decode, the [start, end) window, the fps and the exact frame count. Every
later stage reads frames through `ClipVideo.frames()`, which applies the same constant-rate
mapping, rotation and window, and yields exactly `frames` frames — the count the audio was cut to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from talkhead.atomic import write_json
from talkhead.media.decode import DecodeReport, iter_decoded_cfr, iter_frames_cfr

VIDEO_FILE = "video.json"


@dataclass(frozen=True)
class ClipVideo:
    """What normalize recorded about one clip's video; `source` is relative to the normalize folder."""

    source: str
    fps: int
    start: float
    end: float | None
    frames: int
    width: int  # display size, rotation applied
    height: int

    @classmethod
    def read(cls, folder: str | Path) -> ClipVideo:
        """The record in `folder`/video.json, its source resolved against `folder`."""
        folder = Path(folder)
        data = json.loads((folder / VIDEO_FILE).read_text(encoding="utf-8"))
        video = cls(**data)
        return video if os.path.isabs(video.source) else cls(**{**data, "source": str(folder / video.source)})

    def write(self, folder: str | Path, final: str | Path | None = None) -> None:
        """Write video.json into `folder`, with `source` relative to `final` (the folder's path once renamed)."""
        base = Path(final if final is not None else folder)
        rel = os.path.relpath(Path(self.source).resolve(), base.resolve())
        write_json(Path(folder) / VIDEO_FILE, {**asdict(self), "source": rel})

    def rgb(self, max_side: int = 0) -> Iterator[np.ndarray]:
        """The clip's frames as RGB uint8 (H, W, 3), downscaled so the long side is at most `max_side` (0: full)."""
        return iter_frames_cfr(self.source, self.fps, self.start, self.end, max_side, frames=self.frames)

    def decoded(self, report: DecodeReport | None = None) -> Iterator[av.VideoFrame]:
        """The clip's frames as decoded (no conversion; the same object repeats when a frame is held).

        Decoding damage is counted in `report` (talkhead.media.decode.DecodeReport).
        """
        return iter_decoded_cfr(self.source, self.fps, self.start, self.end, frames=self.frames, report=report)
