"""The demo animator: one real photograph (`skimage.data.astronaut()`) made to talk, blink and move.

Every demo "speaker" is this same photograph: the second one is its mirror image with a different
framing and colour balance, so there is one real face identity, not several. Each frame is made by:

1. a backward-mapped warp (`cv2.remap`) of the lower face: the lower lip, chin and jaw move down by
   `mouth_open * max_open_px` with a smooth falloff (1 at the lower lip, 0 at the jaw outline and at
   the mouth corners), so the skin stretches and nothing tears;
2. a dark, soft-edged mouth cavity drawn in the lens-shaped gap that opens under the upper teeth
   (the photo smiles: its own upper teeth are the light teeth band under the upper lip, and they
   stay put as they would on a real skull);
3. blinks: the upper eyelid (its skin and lash line, taken from just above each eye) is stretched
   down over the eye opening by a second backward warp, so the eye is filled from the top with the
   skin above it, plus a faint darker lash line at the closing lid;
4. the head pose, a similarity transform about the face centre (`cv2.warpAffine`, reflected
   border), and the crop to the output size, with the face about 35-40% of the frame width.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

SOURCE_SIZE = 512  # skimage.data.astronaut() is 512 x 512 RGB

# Landmarks of skimage.data.astronaut() in source pixels (x, y), measured once with MediaPipe Face
# Mesh 0.10.21 (`mediapipe.solutions.face_mesh.FaceMesh(static_image_mode=True,
# refine_landmarks=True)` on the RGB image, normalised coordinates times 512, rounded to 0.1 px).
# MediaPipe is not run at generation time. Mesh indices in the comments.
LOWER_INNER_LIP = ((203.3, 139.9), (206.4, 143.2), (209.0, 145.5), (212.6, 147.7), (217.3, 149.3), (223.0, 150.1),
                   (228.6, 149.7), (233.3, 148.5), (237.1, 146.6), (239.9, 144.6), (243.4, 141.5))
# 78 95 88 178 87 14 317 402 318 324 308 — also the bottom edge of the visible upper teeth
JAW = ((179.4, 110.0), (179.3, 118.9), (179.8, 128.8), (181.6, 139.4), (184.9, 148.3), (189.1, 155.3),
       (194.9, 162.0), (199.9, 167.3), (205.4, 172.1), (212.2, 175.7), (221.3, 177.4), (230.4, 176.9),
       (237.7, 174.1), (243.8, 170.0), (249.5, 165.4), (255.9, 159.4), (260.8, 152.9), (265.1, 144.4),
       (268.0, 134.1), (269.5, 124.4), (270.2, 115.5))
# 234 93 132 58 172 136 150 149 176 148 152 377 400 378 379 365 397 288 361 323 454
EYE_A_UPPER = ((195.2, 100.9), (196.1, 100.1), (197.2, 99.2), (199.4, 98.1), (202.8, 97.6), (206.3, 98.1),
               (209.7, 99.9), (212.2, 102.3), (213.3, 103.7))  # 33 246 161 160 159 158 157 173 133
EYE_A_LOWER = ((195.2, 100.9), (196.5, 102.2), (197.9, 103.0), (200.1, 103.8), (203.4, 104.3), (206.8, 104.3),
               (210.1, 104.0), (212.2, 103.9), (213.3, 103.7))  # 33 7 163 144 145 153 154 155 133
EYE_B_UPPER = ((237.0, 104.9), (238.4, 103.7), (241.2, 101.6), (244.7, 100.0), (248.3, 99.7), (251.9, 100.6),
               (253.9, 102.1), (255.0, 103.2), (255.8, 104.3))  # 362 398 384 385 386 387 388 466 263
EYE_B_LOWER = ((237.0, 104.9), (238.0, 105.3), (240.2, 105.6), (243.3, 106.2), (246.6, 106.7), (250.0, 106.6),
               (252.5, 106.1), (254.2, 105.4), (255.8, 104.3))  # 362 382 381 380 374 373 390 249 263
BROW_Y = (86.9, 90.7)  # 105, 334: eyebrow heights above eye A and eye B
FOREHEAD_Y = 71.7  # 10
FACE_WIDTH = 90.8  # 454.x - 234.x

CAVITY_DARK = np.array([18.0, 5.0, 7.0], np.float32)  # near-black at the top of the opening, RGB
CAVITY_RED = np.array([92.0, 28.0, 34.0], np.float32)  # dark red (tongue) towards the lower lip, RGB
LOWER_TEETH = np.array([205.0, 196.0, 186.0], np.float32)  # a hint of lower teeth when wide open
LASH = np.array([62.0, 42.0, 36.0], np.float32)
LASH_BAND = 1.5  # source px of the upper lid edge (lashes) that slide down without stretching

# Largest mouth opening (mouth_open 1, the envelope's 95th percentile) in source pixels. 20 px gives the demo
# clips an inner-lip gap (MediaPipe 13–14 over the eye corners 33–263) of std 0.040–0.049 and p95 − p5 0.15–0.17, as
# real talking clips have (0.046–0.069, 0.14–0.22: benchmarks/results/speaking.json); at 9 px it was 0.021 and
# 0.064, and every model trained on the demo learned a mouth that hardly opens (issue 19).
MAX_OPEN_PX = 20.0


@dataclass(frozen=True)
class Look:
    """Framing and colour balance of one demo speaker (all speakers are the same photograph)."""

    mirror: bool = False
    crop_side: float = 240.0  # source pixels across the frame: face width / crop_side ≈ 0.38
    shift: tuple[float, float] = (0.0, 10.0)  # frame centre minus face centre, source pixels
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)  # RGB colour balance


def _points(pts: tuple[tuple[float, float], ...], mirror: bool) -> np.ndarray:
    """Landmarks as an (N, 2) array, mirrored if asked, sorted by x."""
    arr = np.array(pts, dtype=np.float64)  # (N, 2)
    if mirror:
        arr[:, 0] = SOURCE_SIZE - arr[:, 0]
    return arr[np.argsort(arr[:, 0], kind="stable")]


def _smoothstep(t: np.ndarray) -> np.ndarray:
    """0 → 1 with zero slope at both ends."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _base_image(look: Look) -> np.ndarray:
    """The astronaut photo, mirrored and colour balanced per `look`, as float32 (512, 512, 3)."""
    from skimage import data

    img = data.astronaut().astype(np.float32)  # (512, 512, 3)
    if look.mirror:
        img = img[:, ::-1]
    return np.ascontiguousarray(np.clip(img * np.array(look.gains, np.float32), 0, 255))


class _Mouth:
    """Precomputed lower-face warp field, split line and lens-shaped opening profile."""

    def __init__(self, mirror: bool, max_open_px: float) -> None:
        lip, jaw = _points(LOWER_INNER_LIP, mirror), _points(JAW, mirror)
        self.max_open = max_open_px
        x0, x1 = int(jaw[:, 0].min()) - 4, int(np.ceil(jaw[:, 0].max())) + 5
        y0, y1 = int(lip[:, 1].min()) - 4, int(np.ceil(jaw[:, 1].max() + 1.6 * max_open_px)) + 5
        self.box = (x0, y0, x1, y1)
        xx, yy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))  # (h, w)
        self.xx, self.yy = xx, yy
        xl, xr = lip[0, 0], lip[-1, 0]
        self.split = np.interp(xx[0], lip[:, 0], lip[:, 1]).astype(np.float32)  # (w,) lower lip's inner edge
        u = (xx[0] - 0.5 * (xl + xr)) / (0.5 * (xr - xl))
        self.lens = (np.clip(1.0 - u * u, 0.0, 1.0) ** 0.75).astype(np.float32)  # (w,) 1 mid-mouth, 0 at corners
        cx, cy = 0.5 * (xl + xr), float(self.split.max())
        jaw_low = jaw[jaw[:, 1] >= cy - 2]  # jaw outline at or below the lip line
        ax = 0.5 * (jaw_low[:, 0].max() - jaw_low[:, 0].min())
        ay = float(jaw[:, 1].max()) - cy + 0.35 * max_open_px  # reaches 0 just past the chin: it drops a little
        rho = np.sqrt(((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2)
        reach = 0.5 * (1.0 + np.cos(np.pi * np.clip((rho - 0.4) / 0.6, 0.0, 1.0)))  # (h, w) 1 → 0 at the jaw
        below = yy - self.split[None, :]
        ramp = _smoothstep(below / (2.0 * max_open_px))  # cheeks beside the corners follow gradually
        weight = (self.lens[None, :] + (1.0 - self.lens[None, :]) * ramp) * reach
        self.weight = np.where(below >= 0, weight, 0.0).astype(np.float32)  # (h, w)

    def apply(self, img: np.ndarray, mouth_open: float) -> None:
        """Open the mouth of `img` (float32 (H, W, 3), in place) by mouth_open in 0..1."""
        if mouth_open <= 1e-4:
            return
        x0, y0, x1, y1 = self.box
        d = float(mouth_open) * self.max_open
        map_y = self.yy - d * self.weight
        roi = cv2.remap(img, self.xx, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)  # (h, w, 3)
        gap = d * self.lens  # (w,) height of the opening per column
        top = self.yy - self.split[None, :]
        inside = np.clip(np.minimum(top + 0.5, gap[None, :] - top + 0.5), 0.0, 1.0) * np.clip(gap, 0.0, 1.0)[None, :]
        alpha = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 0.6)[..., None]  # (h, w, 1)
        depth = np.clip(top / np.maximum(gap[None, :], 1e-3), 0.0, 1.0)[..., None]  # 0 under the teeth, 1 at lip
        colour = CAVITY_DARK + (CAVITY_RED - CAVITY_DARK) * _smoothstep(depth)  # (h, w, 3)
        teeth = np.clip((depth - 0.78) / 0.1, 0.0, 1.0) * np.clip((gap[None, :, None] - 3.0) / 4.0, 0.0, 0.55)
        colour = colour + (LOWER_TEETH - colour) * teeth
        roi += (colour.astype(np.float32) - roi) * alpha
        img[y0:y1, x0:x1] = roi

    def open_px(self, mouth_open: float) -> float:
        """Height of the opening at mid-mouth in source pixels."""
        return float(mouth_open) * self.max_open


class _Eye:
    """One eye: lid contours and the closing warp that slides the upper eyelid down over the eye."""

    def __init__(self, upper: np.ndarray, lower: np.ndarray, brow_y: float) -> None:
        lid_h = 0.6 * (float(upper[:, 1].min()) - brow_y)  # eyelid skin that stretches, source px
        self.x0, self.x1 = int(np.floor(upper[:, 0].min())) - 3, int(np.ceil(upper[:, 0].max())) + 4
        self.y0, self.y1 = int(np.floor(upper[:, 1].min() - lid_h)) - 2, int(np.ceil(lower[:, 1].max())) + 3
        xs = np.arange(self.x0, self.x1, dtype=np.float32)  # (w,)
        self.up = np.interp(xs, upper[:, 0], upper[:, 1]).astype(np.float32)  # (w,) equal to low past corners
        self.low = np.interp(xs, lower[:, 0], lower[:, 1]).astype(np.float32)  # (w,)
        self.top = self.up - lid_h  # (w,) where the stretch starts
        half = 0.5 * (upper[-1, 0] - upper[0, 0])
        u = np.abs(xs - 0.5 * (upper[0, 0] + upper[-1, 0])) / half
        self.taper = np.clip(1.0 - u ** 4, 0.0, 1.0).astype(np.float32)  # (w,) lash line thins at the corners
        self.xx, self.yy = np.meshgrid(xs, np.arange(self.y0, self.y1, dtype=np.float32))  # (h, w)

    def apply(self, img: np.ndarray, blink: float) -> None:
        """Close the eye of `img` (float32 (H, W, 3), in place) by blink in 0..1."""
        if blink <= 1e-3:
            return
        lid = self.up + blink * (self.low + 0.6 - self.up)  # (w,) where the lid edge goes
        edge = self.up - 0.8 * float(_smoothstep(np.asarray(blink / 0.3)))  # (w,) source row of the lash line
        t = (self.yy - self.top) / np.maximum(lid - self.top, 1e-3)  # (h, w) 0 at top, 1 at the new lid edge
        # The lash band moves rigidly with the lid edge; only the skin above it stretches.
        scale = (edge - LASH_BAND - self.top) / np.maximum(lid - LASH_BAND - self.top, 1e-3)  # (w,)
        stretched = np.where(lid - self.yy <= LASH_BAND, edge - (lid - self.yy),
                             self.top + (self.yy - self.top) * scale)
        map_y = np.where((t >= 0.0) & (t <= 1.0), stretched, self.yy).astype(np.float32)  # (h, w)
        roi = cv2.remap(img, self.xx, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)  # (h, w, 3)
        lash = np.clip(1.0 - np.abs(self.yy - lid) / 0.9, 0.0, 1.0) * (self.taper * 0.35 * blink)  # (h, w)
        lash = cv2.GaussianBlur(lash.astype(np.float32), (0, 0), 0.5)[..., None]
        roi += (LASH - roi) * lash
        img[self.y0:self.y1, self.x0:self.x1] = roi


class PortraitAnimator:
    """Renders frames of the astronaut photo with a given mouth opening, blink and head pose."""

    def __init__(self, size: int, look: Look | None = None, max_open_px: float = MAX_OPEN_PX) -> None:
        self.size = int(size)
        self.look = look or Look()
        self.base = _base_image(self.look)  # (512, 512, 3) float32
        m = self.look.mirror
        self.mouth = _Mouth(m, max_open_px)
        eyes = ((EYE_A_UPPER, EYE_A_LOWER, BROW_Y[0]), (EYE_B_UPPER, EYE_B_LOWER, BROW_Y[1]))
        self.eyes = [_Eye(_points(u, m), _points(lo, m), b) for u, lo, b in eyes]
        jaw = _points(JAW, m)
        self.face_centre = np.array([0.5 * (jaw[0, 0] + jaw[-1, 0]), 0.5 * (FOREHEAD_Y + jaw[:, 1].max())])
        self.inner = max(self.size, int(round(self.look.crop_side / 2)) * 2)  # render size before a shrink
        self.zoom = self.inner / self.look.crop_side  # inner-render pixels per source pixel

    @property
    def face_fraction(self) -> float:
        """Face width over frame width at scale 1."""
        return FACE_WIDTH / self.look.crop_side

    def face_box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the face in output pixels at the neutral pose."""
        k = self.size / self.look.crop_side
        centre = self.face_centre + np.array(self.look.shift)
        jaw = _points(JAW, self.look.mirror)
        lo = k * (np.array([jaw[:, 0].min(), FOREHEAD_Y]) - centre) + self.size / 2
        hi = k * (np.array([jaw[:, 0].max(), jaw[:, 1].max()]) - centre) + self.size / 2
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    def mouth_open_px(self, mouth_open: float, scale: float = 1.0) -> float:
        """Height of the mouth opening at mid-mouth in output pixels."""
        return self.mouth.open_px(mouth_open) * self.size / self.look.crop_side * scale

    def _matrix(self, roll_deg: float, tx: float, ty: float, scale: float) -> np.ndarray:
        """Affine (2, 3) from source pixels to the inner render: crop, then pose about the face centre."""
        k, half = self.zoom, self.inner / 2.0
        centre = self.face_centre + np.array(self.look.shift)
        face = k * (self.face_centre - centre) + half  # face centre in the inner render
        rot = cv2.getRotationMatrix2D((float(face[0]), float(face[1])), float(roll_deg), float(scale))  # (2, 3)
        crop = np.array([[k, 0.0, half - k * centre[0]], [0.0, k, half - k * centre[1]], [0.0, 0.0, 1.0]])
        pose = np.vstack([rot, [0.0, 0.0, 1.0]])
        pose[:2, 2] += np.array([tx, ty]) * self.inner / self.size
        return (pose @ crop)[:2]

    def render(self, mouth_open: float = 0.0, blink: float = 0.0, roll_deg: float = 0.0,
               tx: float = 0.0, ty: float = 0.0, scale: float = 1.0) -> np.ndarray:
        """One RGB frame (size, size, 3) uint8; tx, ty in output pixels, roll in degrees (counter-clockwise)."""
        img = self.base.copy()  # (512, 512, 3) float32
        self.mouth.apply(img, float(np.clip(mouth_open, 0.0, 1.0)))
        for eye in self.eyes:
            eye.apply(img, float(np.clip(blink, 0.0, 1.0)))
        frame = cv2.warpAffine(img, self._matrix(roll_deg, tx, ty, scale), (self.inner, self.inner),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)  # (inner, inner, 3)
        if self.inner != self.size:
            frame = cv2.resize(frame, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return np.clip(frame + 0.5, 0, 255).astype(np.uint8)  # (size, size, 3) uint8
