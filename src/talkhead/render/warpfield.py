"""Piecewise-affine warps as one dense displacement field, and its paste-back at the photo's resolution.

The field lives in the work crop (≤ work_size pixels). Triangles (a Delaunay triangulation of the
reference mesh plus a fixed ring on the crop's border, computed once) carry their vertices from the
reference to the frame's positions; every work pixel of a frame triangle gets that triangle's
inverse affine map, so the field is continuous (no tears) by construction. Triangle ids are
rasterised with `cv2.fillConvexPoly` (sub-pixel vertices), starting from the reference id map and
redrawing only the triangles that moved: pixels outside them keep their (unchanged) triangle.
This is 10-20× faster than a point-location query per pixel.

The paste-back samples the field at the photo's own pixels (`cv2.warpAffine` of the field) and
resamples the ORIGINAL photo there (`cv2.remap`), so a 3500-px portrait stays sharp although the
field was computed at 512 px; only the box where something moved is touched. The displacement is
feathered to zero over the crop's outer band, so the seam is invisible even when the head turns.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from talkhead.render.portrait import WorkCrop

SUBPIXEL = 4  # fillConvexPoly fractional bits
RING_PER_SIDE = 10  # fixed points per crop side
FEATHER = 0.12  # outer fraction of the crop where the displacement fades out
SMOOTH_PX = 0.7  # Gaussian sigma (work pixels) applied to the field


@dataclass(frozen=True)
class Mesh2D:
    """The reference vertices (face + border ring) in work pixels, triangles and their id map."""

    vertices: np.ndarray  # (V, 2) float32 reference positions
    triangles: np.ndarray  # (F, 3) int32
    ids: np.ndarray  # (S, S) int32 reference triangle per pixel; F = none
    feather: np.ndarray  # (S, S) float32 0 at the crop border → 1 inside
    size: int

    @classmethod
    def build(cls, face_xy: np.ndarray, size: int) -> Mesh2D:
        """Triangulate the (N, 2) face points plus a fixed border ring of a size × size crop."""
        edge = np.linspace(-1.0, size, RING_PER_SIDE + 1)[:-1]
        far = float(size)
        ring = np.concatenate([np.stack([edge, np.full_like(edge, -1.0)], 1),
                               np.stack([np.full_like(edge, far), edge], 1),
                               np.stack([far - 1 - edge, np.full_like(edge, far)], 1),
                               np.stack([np.full_like(edge, -1.0), far - 1 - edge], 1)])
        verts = np.concatenate([np.asarray(face_xy, np.float64), ring]).astype(np.float32)
        tris = Delaunay(verts).simplices.astype(np.int32)
        ids = np.full((size, size), len(tris), np.int32)
        _draw(ids, verts, tris, np.arange(len(tris)))
        ramp = np.clip(np.minimum(np.arange(size), size - 1 - np.arange(size)) / (FEATHER * size), 0, 1)
        ramp = (ramp * ramp * (3 - 2 * ramp)).astype(np.float32)
        return cls(verts, tris, ids, np.outer(ramp, ramp), size)


def _draw(ids: np.ndarray, verts: np.ndarray, tris: np.ndarray, which: np.ndarray) -> None:
    """Rasterise the triangles `which` with their index into the id map (in place)."""
    pts = np.round(verts[tris[which]] * (1 << SUBPIXEL)).astype(np.int32)  # (F', 3, 2)
    for k, poly in zip(which.tolist(), pts):
        cv2.fillConvexPoly(ids, poly, k, lineType=cv2.LINE_8, shift=SUBPIXEL)


def _inverse_affines(dst: np.ndarray, src: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(F + 1, 2, 3) affine maps from each frame triangle to its reference one (+ identity last)."""
    d = np.concatenate([dst[tris].transpose(0, 2, 1), np.ones((len(tris), 1, 3))], 1).astype(np.float64)  # (F, 3, 3)
    s = src[tris].transpose(0, 2, 1).astype(np.float64)  # (F, 2, 3)
    det = np.linalg.det(d)
    ok = np.abs(det) > 1e-6
    aff = np.zeros((len(tris) + 1, 2, 3))
    aff[:, 0, 0] = aff[:, 1, 1] = 1.0  # identity for uncovered pixels
    # a collapsed triangle still covers its edge pixels: shift them by its mean displacement
    aff[:-1, :, 2] = (s - d[:, :2]).mean(2)
    aff[:-1][ok] = s[ok] @ np.linalg.inv(d[ok])
    return aff


@dataclass(frozen=True)
class Field:
    """A displacement (work source minus work pixel) on the box [x0, x1) × [y0, y1) of the work crop."""

    x0: int
    y0: int
    dx: np.ndarray  # (h, w) float32
    dy: np.ndarray  # (h, w) float32


def warp_field(mesh: Mesh2D, face_dst: np.ndarray, moved_px: float = 1e-3) -> Field | None:
    """The backward displacement for the face points at `face_dst` (N, 3: x, y, depth); None when nothing moved.

    Moved triangles are drawn far to near (painter's order), so where the turned face folds over
    itself (the far cheek's contour, the nostril behind the nose tip) the nearer surface wins.
    """
    n = len(face_dst)
    dst = mesh.vertices.copy()
    dst[:n] = face_dst[:, :2]
    moving = np.abs(dst - mesh.vertices).max(1) > moved_px  # (V,)
    which = np.flatnonzero(moving[mesh.triangles].any(1))
    if len(which) == 0:
        return None
    depth = np.empty(len(dst), np.float32)
    depth[:n] = face_dst[:, 2]
    depth[n:] = face_dst[:, 2].max() + 1.0  # the border ring lies behind the face
    which = which[np.argsort(-depth[mesh.triangles[which]].mean(1), kind="stable")]
    moved = mesh.triangles[which]  # (F', 3)
    corners = np.concatenate([dst[moved].reshape(-1, 2), mesh.vertices[moved].reshape(-1, 2)])
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 2, mesh.size)
    ids = mesh.ids.copy()
    _draw(ids, dst, mesh.triangles, which)
    aff = _inverse_affines(dst, mesh.vertices, mesh.triangles).astype(np.float32)  # (F + 1, 2, 3)
    box = ids[y0:y1, x0:x1]
    xx = np.arange(x0, x1, dtype=np.float32)[None, :]
    yy = np.arange(y0, y1, dtype=np.float32)[:, None]
    a = aff.reshape(len(aff), 6)
    dx = a[box, 0] * xx + a[box, 1] * yy + a[box, 2] - xx
    dy = a[box, 3] * xx + a[box, 4] * yy + a[box, 5] - yy
    if SMOOTH_PX > 0:  # anti-alias where the turned face folds over itself (the field is continuous elsewhere)
        dx, dy = (cv2.GaussianBlur(c, (0, 0), SMOOTH_PX, borderType=cv2.BORDER_REPLICATE) for c in (dx, dy))
    f = mesh.feather[y0:y1, x0:x1]
    return Field(int(x0), int(y0), dx * f, dy * f)


class Paster:
    """Writes warped regions of one portrait into a reused full-size frame buffer."""

    def __init__(self, image: np.ndarray, crop: WorkCrop) -> None:
        self.image = image
        self.crop = crop
        self.frame = image.copy()  # (H, W, 3) uint8, the buffer every frame is written into
        self._dirty: tuple[int, int, int, int] | None = None

    def _region(self, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int] | None:
        """A work-pixel box → the photo-pixel box that covers it, clipped to the photo."""
        c, h, w = self.crop, *self.image.shape[:2]
        px0 = max(int(np.floor(x0 / c.scale + c.x0)) - 1, 0)
        py0 = max(int(np.floor(y0 / c.scale + c.y0)) - 1, 0)
        px1 = min(int(np.ceil(x1 / c.scale + c.x0)) + 2, w)
        py1 = min(int(np.ceil(y1 / c.scale + c.y0)) + 2, h)
        return (px0, py0, px1, py1) if px1 > px0 and py1 > py0 else None

    def _to_region(self, arr: np.ndarray, bx: int, by: int, region: tuple[int, int, int, int],
                   interp: int = cv2.INTER_LINEAR) -> np.ndarray:
        """Resample a work-pixel array whose top-left is (bx, by) onto the photo-pixel region (0 outside)."""
        c = self.crop
        px0, py0, px1, py1 = region
        m = np.array([[c.scale, 0.0, (px0 - c.x0) * c.scale - bx],
                      [0.0, c.scale, (py0 - c.y0) * c.scale - by]], np.float32)
        return cv2.warpAffine(arr, m, (px1 - px0, py1 - py0), flags=interp | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def paste(self, field: Field | None, overlay: tuple[int, int, np.ndarray, np.ndarray] | None) -> np.ndarray:
        """Apply a field and an optional (x0, y0, colour (h, w, 3), alpha (h, w)) overlay; returns the frame."""
        if self._dirty is not None:  # undo the previous frame's region
            x0, y0, x1, y1 = self._dirty
            self.frame[y0:y1, x0:x1] = self.image[y0:y1, x0:x1]
            self._dirty = None
        if field is None:
            return self.frame
        h, w = field.dx.shape
        region = self._region(field.x0, field.y0, field.x0 + w, field.y0 + h)
        if region is None:
            return self.frame
        px0, py0, px1, py1 = region
        disp = self._to_region(np.dstack([field.dx, field.dy]), field.x0, field.y0, region) / self.crop.scale
        disp[..., 0] += np.arange(px0, px1, dtype=np.float32)[None, :]  # now absolute source coordinates
        disp[..., 1] += np.arange(py0, py1, dtype=np.float32)[:, None]
        out = cv2.remap(self.image, disp, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)  # (h', w', 3)
        self.frame[py0:py1, px0:px1] = out
        if overlay is not None:  # composite on the overlay's own (small) box only
            ox, oy, colour, alpha = overlay
            box = self._region(ox, oy, ox + alpha.shape[1], oy + alpha.shape[0])
            if box is not None:
                bx0, by0, bx1, by1 = box
                rgba = self._to_region(np.dstack([colour * alpha[..., None], alpha]), ox, oy, box)
                under = self.frame[by0:by1, bx0:bx1].astype(np.float32)
                mixed = under * (1 - rgba[..., 3:4]) + rgba[..., :3] + 0.5
                self.frame[by0:by1, bx0:bx1] = np.clip(mixed, 0, 255).astype(np.uint8)
                region = (min(px0, bx0), min(py0, by0), max(px1, bx1), max(py1, by1))
        self._dirty = region
        return self.frame
