"""The inside of an opening mouth: the photo's own gap, then upper teeth and a dark cavity, not a smear.

A piecewise-affine warp that moves the lower lip down stretches the few pixels between the lips
over the whole opening. Instead, in the mouth's own frame (x along the line from inner corner 78
to 308, y across it) each column of the opening between the upper inner lip (78…13…308) and the
lower inner lip (78…14…308) is filled from the top:
1. down to the photo's own gap height: the photo's gap content, moved with the upper lip and not
   stretched (teeth already visible under the upper lip stay attached to the skull);
2. then, down to `TEETH_HEIGHT` of the mouth width, a synthetic upper-teeth band (colour from the
   photo's bright, desaturated gap pixels when it shows teeth, else a neutral off-white matched to
   the face's brightness), darker under the lip, towards the corners and between the incisors;
3. below it a cavity, near-black under the teeth, dark red (tongue) towards the lower lip.
The band is anti-aliased on its edges and fades in over the first pixel of opening, so a motion
that does not open the mouth leaves the warp untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
SKIN_PROBES = (50, 280, 101, 330, 206, 426, 151, 9)  # cheeks and forehead: the face's brightness
TEETH_HEIGHT = 0.13  # visible upper teeth, fraction of the inner mouth width
NEUTRAL_TEETH = np.array([222.0, 214.0, 200.0], np.float32)  # RGB at skin luma REF_LUMA
REF_LUMA = 165.0
REF_SATURATION = 0.25  # HSV saturation of ordinary lit skin; greyer faces get greyer mouths
CAVITY_DARK = np.array([22.0, 8.0, 10.0], np.float32)
CAVITY_RED = np.array([84.0, 28.0, 32.0], np.float32)


@dataclass(frozen=True)
class MouthLook:
    """Colours for the synthetic mouth interior, measured once on the portrait."""

    teeth: np.ndarray  # (3,) float32 RGB
    light: float  # face brightness relative to REF_LUMA
    photo_teeth: bool  # the photo's gap already shows teeth
    chroma: float = 1.0  # colourfulness of the skin relative to REF_SATURATION (0 = a greyscale photo)

    def tint(self, rgb: np.ndarray) -> np.ndarray:
        """Scale a synthetic RGB colour (…, 3) to the face's brightness and colourfulness."""
        rgb = np.asarray(rgb, np.float32) * self.light
        grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        return grey[..., None] + (rgb - grey[..., None]) * self.chroma


@dataclass(frozen=True)
class MouthPatch:
    """Per-frame mouth result in work pixels: a source-map override and a colour overlay, on one box."""

    x0: int
    y0: int
    map_x: np.ndarray  # (h, w) float32 work-crop source x where `use_map`
    map_y: np.ndarray  # (h, w)
    use_map: np.ndarray  # (h, w) bool
    colour: np.ndarray  # (h, w, 3) float32 RGB
    alpha: np.ndarray  # (h, w) float32 0..1


def _frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(origin, x axis, y axis, width) of the mouth frame from inner corner 78 to 308."""
    a, b = points[78].astype(np.float64), points[308].astype(np.float64)
    width = float(np.linalg.norm(b - a))
    u = (b - a) / max(width, 1e-6)
    return a, u, np.array([-u[1], u[0]]), max(width, 1e-6)


def _contours(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper and lower inner-lip contours as (s, t) in the mouth frame, s in 0..1 sorted."""
    a, u, v, width = _frame(points)
    out = []
    for idx in (UPPER_INNER, LOWER_INNER):
        rel = points[list(idx)].astype(np.float64) - a
        s, t = rel @ u / width, rel @ v
        order = np.argsort(s)
        out += [s[order], t[order]]
    return out[0], out[1], out[2], out[3]


def measure_look(work: np.ndarray, points: np.ndarray) -> MouthLook:
    """Teeth colour and face brightness from the (S, S, 3) work image and its (468, 2+) mesh."""
    h, w = work.shape[:2]
    probes = np.clip(np.round(points[list(SKIN_PROBES), :2]).astype(int), 0, [w - 1, h - 1])
    skin = work[probes[:, 1], probes[:, 0]].astype(np.float32)
    luma = float(np.median(skin @ np.array([0.299, 0.587, 0.114], np.float32)))
    light = float(np.clip(luma / REF_LUMA, 0.55, 1.0))
    saturation = float(np.median((skin.max(1) - skin.min(1)) / np.maximum(skin.max(1), 1.0)))
    chroma = float(np.clip(saturation / REF_SATURATION, 0.0, 1.0))
    poly = np.concatenate([points[list(UPPER_INNER), :2], points[list(LOWER_INNER[::-1]), :2]])
    poly = np.round(poly).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [poly], 1)
    gap = work[mask.astype(bool)].astype(np.float32)
    if len(gap):
        hsv = cv2.cvtColor(gap.reshape(-1, 1, 3).astype(np.uint8), cv2.COLOR_RGB2HSV).reshape(-1, 3)
        bright = gap[(hsv[:, 2] > 0.6 * 255) & (hsv[:, 1] < 0.35 * 255) & (hsv[:, 2] > 0.9 * luma)]
        if len(bright) >= max(6, 0.15 * len(gap)):
            return MouthLook(np.median(bright, 0).astype(np.float32), light, True, chroma)
    look = MouthLook(NEUTRAL_TEETH, light, False, chroma)
    return MouthLook(look.tint(NEUTRAL_TEETH).clip(0, 255), light, False, chroma)


def render_mouth(dst: np.ndarray, src: np.ndarray, look: MouthLook, size: int) -> MouthPatch | None:
    """The mouth patch for one frame from the warped (dst) and reference (src) mesh, (468, 2) work px."""
    su, tu, sl, tl = _contours(dst)
    su0, tu0, sl0, tl0 = _contours(src)
    a, u, v, width = _frame(dst)
    a0, u0, v0, width0 = _frame(src)
    poly = np.concatenate([dst[list(UPPER_INNER)], dst[list(LOWER_INNER)]])[:, :2]
    x0, y0 = np.floor(poly.min(0)).astype(int) - 2
    x1, y1 = np.ceil(poly.max(0)).astype(int) + 3
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
    if x1 <= x0 or y1 <= y0:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    rel_x, rel_y = xx - a[0], yy - a[1]
    s = (rel_x * u[0] + rel_y * u[1]) / width  # (h, w) 0..1 across the mouth
    t = rel_x * v[0] + rel_y * v[1]  # (h, w) px below the corner line
    top = np.interp(s, su, tu)
    bottom = np.interp(s, sl, tl)
    gap0 = np.maximum(np.interp(s, sl0, tl0) - np.interp(s, su0, tu0), 0.0)  # the photo's own gap
    gap = bottom - top
    depth = t - top  # (h, w) px below the upper inner lip
    inside = (s > 0) & (s < 1)
    band = np.clip(np.minimum(depth + 0.5, bottom - t + 0.5), 0, 1) * inside  # (h, w) AA coverage
    opening = np.clip(gap - gap0, 0, 1.0)  # fades in over the first pixel of extra opening
    # 1. the photo's own gap, carried by the upper lip (unstretched)
    keep = (depth >= -0.5) & (depth < gap0 + 1.0) & inside & (opening > 0)
    src_t = np.interp(s, su0, tu0) + depth
    map_x = a0[0] + s * width0 * u0[0] + src_t * v0[0]
    map_y = a0[1] + s * width0 * u0[1] + src_t * v0[1]
    # 2. synthetic upper teeth below the photo's gap, 3. cavity below them
    lens = np.sqrt(np.clip(1 - (2 * s - 1) ** 2, 0, 1))
    teeth_h = TEETH_HEIGHT * width * lens
    photo_gap = float(np.interp(0.5, sl0, tl0) - np.interp(0.5, su0, tu0))
    if look.photo_teeth or photo_gap > 0.3 * TEETH_HEIGHT * width0:  # the photo's own opening is the teeth
        teeth_h = gap0
    teeth = np.clip(teeth_h - depth, 0, 1)[..., None]  # 1 inside the teeth, soft bottom edge
    under_lip = 0.78 + 0.22 * np.clip(depth / np.maximum(0.35 * teeth_h, 1e-3), 0, 1)
    incisor = 1 - 0.18 * sum(np.exp(-(((s - 0.5 - k * 0.11) * width) / 0.5) ** 2) for k in (-2, -1, 0, 1, 2))
    shade = (0.7 + 0.3 * lens) * under_lip * incisor
    tooth = look.teeth[None, None] * shade[..., None]
    deep = np.clip((depth - teeth_h) / np.maximum(gap - teeth_h, 1.0), 0, 1)[..., None]
    deep = np.clip((deep - 0.35) / 0.65, 0, 1)  # near-black under the teeth, reddening in the lower part
    deep = deep * deep * (3 - 2 * deep)
    cavity = look.tint(CAVITY_DARK + (CAVITY_RED - CAVITY_DARK) * deep)
    colour = cavity + (tooth - cavity) * teeth
    alpha = band * opening * np.clip(depth - gap0 + 0.5, 0, 1)  # anti-aliased below the photo's own gap
    return MouthPatch(int(x0), int(y0), map_x.astype(np.float32), map_y.astype(np.float32), keep,
                      colour.astype(np.float32), alpha.astype(np.float32))
