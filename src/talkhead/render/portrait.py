"""Portraits for rendering: load any common image, find its one face and mesh, cut a bounded work crop.

Loading goes through Pillow with the EXIF orientation applied (phone photos), greyscale, palette
and alpha images become RGB. A file of more than `MAX_PIXELS` (100 megapixels) is refused from its
header, before decoding (`ImageTooLargeError`), and an unreadable one is a `ValueError`; a caller
that wants a smaller image (`talkhead generate --max-size`) gets it area-averaged to an even size
(`fit_long_side`). Detection runs MediaPipe's full-range detector
(talkhead.faces.mediapipe_backend) on a copy whose long side is at most `DETECT_SIDE`, so a
3500-px photo costs the same as a 1000-px one. Faces are counted after a size filter: a face
whose box side is under `MIN_RELATIVE` of the largest face's, or under `MIN_FACE_PX` pixels of the
original, is background (a photo on the wall, a passer-by) and ignored. None left →
`NoFaceError`; more than one → `MultipleFacesError` with the count. When the detector finds
nothing, it tries again on the image with a wide border (a face that fills the whole picture, e.g.
a 112-px aligned crop, is otherwise missed).

The 478-point mesh is measured on a square crop of twice the face box around it (MediaPipe's
landmark model sees 192 px anyway). The renderer then works in the `WorkCrop`: a square of
`CROP_FACTOR` times the mesh's extent around the face, resampled to at most `work_size` pixels,
so its cost does not grow with the photo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from talkhead.faces.types import Detection

log = logging.getLogger(__name__)

DETECT_SIDE = 1280  # long side of the copy the detector sees (pixels)
MESH_SIDE = 384  # side of the square crop the face mesh runs on (pixels)
MIN_RELATIVE = 0.35  # faces smaller than this fraction of the largest face are background
MIN_FACE_PX = 24  # faces smaller than this (original pixels) are background
CROP_FACTOR = 2.0  # work crop side / face mesh extent
N_FACE = 468  # mesh points without the irises
MAX_PIXELS = 100_000_000  # larger image files are refused before decoding (3 bytes a pixel: 300 MB of RGB)
_LIMIT_NOTE = f"talkhead decodes at most {MAX_PIXELS / 1e6:.0f} megapixels safely, downscale it first"


class NoFaceError(ValueError):
    """The portrait has no (large enough) face."""


class ImageTooLargeError(ValueError):
    """The image file has more pixels than MAX_PIXELS (a decompression bomb, or just too large)."""


class MultipleFacesError(ValueError):
    """The portrait has more than one face of comparable size."""

    def __init__(self, message: str, count: int) -> None:
        super().__init__(message)
        self.count = count


@dataclass(frozen=True)
class WorkCrop:
    """A square window of the portrait (may extend past its edges) and its work resolution."""

    x0: float  # top-left corner in portrait pixels
    y0: float
    side: float  # side in portrait pixels
    size: int  # side of the work image in pixels (≤ work_size)

    @property
    def scale(self) -> float:
        """Work pixels per portrait pixel."""
        return self.size / self.side

    def to_work(self, xy: np.ndarray) -> np.ndarray:
        """Portrait pixel coordinates (…, 2+) → work-crop pixels (z scaled alike)."""
        out = np.asarray(xy, np.float64).copy()
        out[..., 0] -= self.x0
        out[..., 1] -= self.y0
        return out * self.scale

    def cut(self, image: np.ndarray) -> np.ndarray:
        """The (size, size, 3) work image: the window resampled, reflected past the portrait's edges."""
        s = self.scale
        if s < 1:  # area-average: resize the clipped window, then place it
            return _cut_area(image, self)
        m = np.array([[s, 0.0, -s * self.x0], [0.0, s, -s * self.y0]], np.float32)
        return cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT_101)


def _cut_area(image: np.ndarray, crop: WorkCrop) -> np.ndarray:
    """Downscaled cut with area averaging (no aliasing); reflects past the edges."""
    pad = int(np.ceil(crop.side))
    x0, y0 = int(np.floor(crop.x0)), int(np.floor(crop.y0))
    x1, y1 = x0 + pad + 1, y0 + pad + 1
    h, w = image.shape[:2]
    top, left, bottom, right = max(0, -y0), max(0, -x0), max(0, y1 - h), max(0, x1 - w)
    win = image[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
    if top or left or bottom or right:
        win = cv2.copyMakeBorder(win, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    k = crop.size / crop.side
    small = cv2.resize(win, (int(round(win.shape[1] * k)), int(round(win.shape[0] * k))), interpolation=cv2.INTER_AREA)
    ox, oy = (crop.x0 - x0) * k, (crop.y0 - y0) * k
    m = np.array([[1.0, 0.0, -ox], [0.0, 1.0, -oy]], np.float32)
    return cv2.warpAffine(small, m, (crop.size, crop.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


@dataclass(frozen=True)
class Portrait:
    """One detected face in a portrait: its mesh in portrait pixels and the work crop around it."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    mesh: np.ndarray  # (478, 3) float32 portrait pixels (z: MediaPipe's pixel-scaled depth)
    box: np.ndarray  # (4,) float32 detector box x0, y0, x1, y1
    crop: WorkCrop


def load_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """An image file (JPEG, PNG, WebP, TIFF, BMP, …) as (H, W, 3) uint8 RGB, EXIF orientation applied.

    A file of more than MAX_PIXELS pixels (read from its header, before anything is decoded) and a
    file that is not a readable image are a `ValueError` with a one-line message. With `max_side`,
    the long side is capped by `fit_long_side` (a JPEG is decoded at a reduced DCT scale first).
    """
    import warnings
    import zlib

    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # our own limit replaces Pillow's bomb warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                size = im.size  # before any draft
                _check_pixels(path, *size)
                if max_side is not None and max(im.size) > max_side:
                    k = max_side / max(im.size)
                    im.draft(im.mode, (max(1, round(im.size[0] * k)), max(1, round(im.size[1] * k))))
                rgb = _to_rgb(ImageOps.exif_transpose(im))
    except Image.DecompressionBombError:  # Pillow refuses (from the header) before we see the size
        raise ImageTooLargeError(f"{path}: over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (Pillow's "
                                 f"decompression-bomb limit); {_LIMIT_NOTE}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from None
    if max_side is None or max(size) <= max_side:
        return rgb
    out = fit_long_side(rgb, max_side)
    w, h = sorted(size, reverse=rgb.shape[1] >= rgb.shape[0])  # the file's size, in the output's orientation
    log.info("%s: %d×%d portrait downscaled to %d×%d (long side capped at %d px)", path, w, h, out.shape[1],
             out.shape[0], max_side)
    return out


def _check_pixels(path: str | Path, width: int, height: int) -> None:
    """ImageTooLargeError when a width × height image has more than MAX_PIXELS pixels."""
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(f"{path}: {width}×{height} is {width * height / 1e6:.0f} megapixels; {_LIMIT_NOTE}")


def _to_rgb(im) -> np.ndarray:
    """A loaded PIL image of any mode → (H, W, 3) uint8 RGB (16-bit/float grey scaled, alpha on white)."""
    from PIL import Image

    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float greyscale
        grey = np.asarray(im, np.float64)
        grey = grey / 257.0 if im.mode.startswith("I;16") else grey * (255.0 / max(grey.max(), 1e-6))
        return np.repeat(np.clip(grey + 0.5, 0, 255).astype(np.uint8)[..., None], 3, 2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)  # transparent → white
    return np.asarray(im.convert("RGB"), np.uint8).copy()


def fit_long_side(image: np.ndarray, max_side: int) -> np.ndarray:
    """(H, W, 3) → the same image with its long side ≤ max_side and both sides even (area-averaged).

    An image already within `max_side` is returned as it is (odd sides included: the video writer
    drops a last odd row or column); a larger one gets exactly the largest even long side ≤ max_side
    and the other side scaled alike, rounded to even (its aspect changes by under one pixel).
    """
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    long = max(2, max_side - max_side % 2)
    k = long / max(h, w)
    nw, nh = (long, max(2, 2 * round(h * k / 2))) if w >= h else (max(2, 2 * round(w * k / 2)), long)
    return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)


def _detect(detector, rgb: np.ndarray) -> list[Detection]:
    """Detections on a copy with long side ≤ DETECT_SIDE, in the image's own pixels."""
    h, w = rgb.shape[:2]
    k = min(1.0, DETECT_SIDE / max(h, w))
    small = rgb
    if k < 1:
        small = cv2.resize(rgb, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    found = detector.detect(small)
    if not found:  # a face that fills the frame: retry with a border around it
        pad = max(small.shape[:2]) // 2
        padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(127, 127, 127))
        found = [Detection(d.box - pad, d.score, d.keypoints - pad) for d in detector.detect(padded)]
    return [Detection(d.box / k, d.score, d.keypoints / k) for d in found]


def count_faces(detections: list[Detection]) -> list[Detection]:
    """The detections that count as faces: not tiny, and not much smaller than the largest."""
    if not detections:
        return []
    largest = max(d.size for d in detections)
    return [d for d in detections if d.size >= max(MIN_FACE_PX, MIN_RELATIVE * largest)]


def _mesh(rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """(478, 3) mesh in portrait pixels from a square crop of twice `box` around it, or None."""
    from talkhead.faces.mediapipe_backend import FaceMesh

    side = 2.0 * max(box[2] - box[0], box[3] - box[1])
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    crop = WorkCrop(cx - side / 2, cy - side / 2, side, MESH_SIDE)
    mesh = FaceMesh()
    try:
        pts = mesh.landmarks(crop.cut(rgb))
    finally:
        mesh.close()
    if pts is None:
        return None
    out = pts.astype(np.float64) / crop.scale
    out[:, 0] += crop.x0
    out[:, 1] += crop.y0
    return out.astype(np.float32)


def work_crop(mesh: np.ndarray, work_size: int) -> WorkCrop:
    """The square window of CROP_FACTOR × the face's extent around it, at ≤ work_size pixels."""
    pts = mesh[:N_FACE, :2]
    lo, hi = pts.min(0), pts.max(0)
    side = CROP_FACTOR * float((hi - lo).max())
    cx, cy = (lo + hi) / 2
    size = int(min(work_size, round(side)))
    size += size % 2
    return WorkCrop(float(cx - side / 2), float(cy - side / 2), side, size)


def find_portrait(image: np.ndarray, work_size: int = 512, name: str = "the image") -> Portrait:
    """Detect the one face of an (H, W, 3) uint8 RGB portrait; NoFaceError / MultipleFacesError otherwise."""
    from talkhead.faces.mediapipe_backend import MediaPipeDetector

    image = np.ascontiguousarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    detector = MediaPipeDetector(score_threshold=0.5, model=1)
    try:
        faces = count_faces(_detect(detector, image))
    finally:
        detector.close()
    if not faces:
        raise NoFaceError(f"no face found in {name}")
    if len(faces) > 1:
        raise MultipleFacesError(f"{len(faces)} faces found in {name}; the renderer needs a portrait of one "
                                 "person (crop the image to one face)", count=len(faces))
    mesh = _mesh(image, faces[0].box)
    if mesh is None:
        raise NoFaceError(f"no face found in {name} (a face was detected but its landmarks were not)")
    crop = work_crop(mesh, work_size)
    log.debug("%s: face %.0f px, work crop %.0f px → %d px", name, faces[0].size, crop.side, crop.size)
    return Portrait(image=image, mesh=mesh, box=faces[0].box, crop=crop)
