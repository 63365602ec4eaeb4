"""What a media file really is: container, streams, rates, rotation — read with PyAV, never trusted from the name."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import av


# Containers and codecs that hold still pictures: a portrait renamed to .mp4 is not a clip.
_IMAGE_FORMATS = {"image2", "image2pipe", "apng", "gif", "webp_pipe"}
_IMAGE_CODECS = {"png", "mjpeg", "bmp", "tiff", "webp", "gif", "jpeg2000", "apng"}


class MediaError(RuntimeError):
    """The file cannot be read as media; `reason` is a reason code from the QC vocabulary."""

    def __init__(self, message: str, reason: str = "unreadable") -> None:
        super().__init__(message)
        self.reason = reason


def check_local_file(path: str | Path) -> Path:
    """The regular file behind `path`, resolved; MediaError naming what is wrong otherwise.

    A missing file, a symbolic-link loop or a file that cannot be opened for reading is `unavailable`
    (the source cannot be had); a directory or another non-regular file is `unreadable` (not a video).
    """
    path = Path(path)
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file", reason="unavailable") from None
    except (RuntimeError, OSError) as exc:  # Python 3.11 says RuntimeError for a loop, later ones OSError(ELOOP)
        if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
            raise MediaError(f"{path}: a symbolic link loop, no file behind it", reason="unavailable") from None
        raise MediaError(f"{path}: cannot be resolved ({exc.strerror or exc})", reason="unavailable") from None
    if resolved.is_dir():
        raise MediaError(f"{path}: a directory, not a video file", reason="unreadable")
    if not resolved.is_file():
        raise MediaError(f"{path}: not a regular file (a device, pipe or socket)", reason="unreadable")
    try:
        with resolved.open("rb"):
            pass
    except PermissionError:
        raise MediaError(f"{path}: permission denied (the file cannot be opened for reading)",
                         reason="unavailable") from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot be opened ({exc.strerror or exc})", reason="unavailable") from None
    return resolved


def _first_frame_rotation(container: av.container.InputContainer) -> int:
    """Display rotation in degrees of the first decodable video frame (0 if none decodes)."""
    stream = container.streams.video[0]
    try:
        for frame in container.decode(stream):
            return int(round(frame.rotation)) % 360
    except av.FFmpegError:
        return 0
    return 0


def probe(path: str | Path) -> dict[str, Any]:
    """Describe `path`: format, duration and its first video and audio streams; MediaError if unreadable."""
    path = check_local_file(path)
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"{path}: not a media file ({exc})") from None
    with container:
        info: dict[str, Any] = {
            "format": container.format.name,
            "duration_s": float(container.duration / av.time_base) if container.duration else None,
            "size_bytes": path.stat().st_size,
            "video": None,
            "audio": None,
        }
        if container.streams.video:
            vs = container.streams.video[0]
            rate = vs.average_rate or vs.guessed_rate or vs.base_rate
            info["video"] = {
                "codec": vs.codec_context.name,
                "width": vs.codec_context.width,
                "height": vs.codec_context.height,
                "fps": float(rate) if rate else None,
                "frames": int(vs.frames) or None,
                "duration_s": float(vs.duration * vs.time_base) if vs.duration else None,
                "pix_fmt": vs.codec_context.pix_fmt,
            }
            info["video"]["rotation"] = _first_frame_rotation(container)
        info["audio_streams"] = [{
            "index": k, "codec": aus.codec_context.name, "sample_rate": aus.codec_context.sample_rate,
            "channels": aus.codec_context.channels,
            "sample_format": aus.codec_context.format.name if aus.codec_context.format else None,
            "duration_s": float(aus.duration * aus.time_base) if aus.duration else None,
            "language": aus.metadata.get("language"),
        } for k, aus in enumerate(container.streams.audio)]
        info["audio"] = info["audio_streams"][0] if info["audio_streams"] else None
        animated = info["format"] == "gif" and _has_another_frame(container)  # the first was decoded above
    if animated:
        raise MediaError(f"{path.name}: an animated GIF, not a video (no audio, no fixed frame rate)")
    _refuse_still_image(path, info)
    return info


def _has_another_frame(container: av.container.InputContainer) -> bool:
    """True when the video stream still yields a frame from where decoding stands."""
    try:
        for _ in container.decode(video=0):
            return True
    except av.FFmpegError:
        return False
    return False


def _refuse_still_image(path: Path, info: dict[str, Any]) -> None:
    """MediaError(unreadable) if `info` describes a picture, not a video (image container or 1-frame still codec)."""
    fmt = info["format"] or ""
    video = info["video"]
    is_image_format = fmt in _IMAGE_FORMATS or fmt.endswith("_pipe")
    single_still = video is not None and video["codec"] in _IMAGE_CODECS and (video["frames"] or 0) <= 1
    if is_image_format or single_still:
        raise MediaError(f"{path.name}: a still image ({fmt}/{video['codec'] if video else '-'}), not a video")
