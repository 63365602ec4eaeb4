"""Thumbnails of clips for the report: one representative frame each, a small JPEG inlined as a data URI.

The representative frame is the middle of the clip's normalized window (data/normalize/<clip>/video.json,
talkhead.media.clip_video): the whole picture, not the face crop, so a rejection for a second face, a
scene cut or no face at all shows what the gate saw. Decoding seeks to the nearest key frame before
the middle, so a thumbnail costs a fraction of a second whatever the clip's length. A clip whose
video cannot be read (it failed ingest or normalize, or its file is gone) has no thumbnail; the report
says why instead.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import av
import cv2
import numpy as np

from talkhead.media.clip_video import VIDEO_FILE, ClipVideo
from talkhead.media.decode import to_rgb

log = logging.getLogger(__name__)
THUMB_SIDE = 160  # pixels, the long side
JPEG_QUALITY = 70


def middle_frame(path: str | Path, at: float, max_side: int = THUMB_SIDE) -> np.ndarray:
    """The first frame shown at or after `at` seconds of the file's first video stream: RGB uint8 (H, W, 3)."""
    convert = to_rgb(max_side)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.time_base is not None:
            container.seek(int(at / stream.time_base), stream=stream, backward=True, any_frame=False)
        last = None
        for frame in container.decode(stream):
            last = frame
            if frame.time is None or frame.time >= at:
                break
        if last is None:
            raise ValueError(f"{path}: no decodable video frame")
        return convert(last)


def clip_thumbnail(normalize_dir: str | Path, max_side: int = THUMB_SIDE) -> np.ndarray | None:
    """The middle frame of a clip's normalized window, or None when it cannot be read (logged)."""
    folder = Path(normalize_dir)
    if not (folder / VIDEO_FILE).is_file():
        return None
    try:
        video = ClipVideo.read(folder)
        end = video.end if video.end is not None else video.start + video.frames / video.fps
        return middle_frame(video.source, (video.start + end) / 2, max_side)
    except (OSError, ValueError, IndexError, av.error.FFmpegError) as err:
        log.warning("no thumbnail for %s: %s", folder.name, err)
        return None


def jpeg_data_uri(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> str:
    """An RGB uint8 image (H, W, 3) as a `data:image/jpeg;base64,…` URI."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def png_data_uri(path: str | Path) -> str:
    """A PNG file as a `data:image/png;base64,…` URI (the plots the pipeline writes)."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
