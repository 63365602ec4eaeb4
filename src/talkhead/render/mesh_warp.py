"""The offline renderer: talkhead motion drives the portrait's own face mesh, which warps the photo.

No learned weights. Per portrait (`prepare`): detect the one face and its 478-point mesh
(talkhead.render.portrait), fit its pose and canonical shape, precompute the keypoint spreading
weights (talkhead.render.deform), triangulate the mesh with a fixed border ring
(talkhead.render.warpfield) and measure the mouth's colours (talkhead.render.mouth). Per frame
(`render`): keypoint displacements relative to a reference motion → every mesh point → posed and
projected → a piecewise-affine backward field → the original photo resampled under it, the mouth
interior drawn where the lips part, written into one reused full-size frame.

References: `exp_reference="portrait"` (default) takes expression changes relative to the
portrait's own measured motion (a generator conditioned on this portrait produces motion in its
identity), `"first"` relative to the motion's first frame (any speaker's motion, LivePortrait's
relative mode); `pose_reference="first"` (default) keeps the head where the photo has it at
frame 0, `"portrait"` applies the motion's absolute pose (only meaningful when the motion was
measured in this portrait's pixel units). Blinks come from the motion or a schedule
(talkhead.render.blink).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from talkhead.features.motion import DIM, motion_from_pose
from talkhead.features.pose import fit_pose
from talkhead.render.base import Renderer, Source
from talkhead.render.blink import apply_blinks, blink_schedule, eye_opening, has_blinks
from talkhead.render.deform import N_FACE, FaceModel, Limits, keep_apart
from talkhead.render.mouth import MouthLook, MouthPatch, measure_look, render_mouth
from talkhead.render.portrait import Portrait, find_portrait
from talkhead.render.warpfield import Field, Mesh2D, Paster, warp_field

log = logging.getLogger(__name__)

BLINK_MODES = ("auto", "motion", "schedule", "off")


@dataclass(frozen=True)
class MeshWarpConfig:
    """Options of the mesh-warp renderer."""

    work_size: int = 512  # the face crop's side in pixels (≤); cost grows with its square
    exp_reference: str = "portrait"  # "portrait" | "first": what expression change is measured from
    pose_reference: str = "first"  # "first" | "portrait"
    blink: str = "auto"  # "auto": the motion's blinks, or a schedule if it has none; "motion", "schedule", "off"
    seed: int = 0  # blink schedule
    limits: Limits = Limits()


@dataclass(frozen=True)
class MeshSource(Source):
    """A portrait prepared for the mesh warp."""

    portrait: Portrait | None = None
    face: FaceModel | None = None
    mesh: Mesh2D | None = None
    look: MouthLook | None = None


class MeshWarpRenderer(Renderer):
    """Mesh-driven piecewise-affine warping of a single portrait (no learned weights)."""

    name = "mesh_warp"

    def __init__(self, config: MeshWarpConfig | None = None, **options) -> None:
        self.config = config or MeshWarpConfig(**options)
        references = (self.config.exp_reference, self.config.pose_reference)
        if any(r not in ("portrait", "first") for r in references):
            raise ValueError("exp_reference and pose_reference must be 'portrait' or 'first'")
        if self.config.blink not in BLINK_MODES:
            raise ValueError(f"blink must be one of {BLINK_MODES}, got {self.config.blink!r}")

    def prepare(self, image_rgb: np.ndarray, name: str = "the image") -> MeshSource:
        """Find the face, fit its mesh model and triangulate its work crop."""
        portrait = find_portrait(image_rgb, self.config.work_size, name=name)
        own = motion_from_pose(portrait.mesh[None], fit_pose(portrait.mesh[None]))[0]  # (70,)
        crop = portrait.crop
        points = crop.to_work(portrait.mesh)  # (478, 3) work pixels
        face = FaceModel.from_points(points)
        mesh = Mesh2D.build(points[:N_FACE, :2], crop.size)
        look = measure_look(crop.cut(portrait.image), points)
        return MeshSource(image=portrait.image, motion=own, portrait=portrait, face=face, mesh=mesh, look=look)

    def _deltas(self, source: MeshSource, motion: np.ndarray, fps: int) -> tuple[np.ndarray, np.ndarray]:
        """(T, 21, 3) keypoint displacements (blinks added) and the (7,) reference pose columns."""
        ref = source.motion if self.config.exp_reference == "portrait" else motion[0]
        delta = (motion[:, :63] - ref[None, :63]).reshape(len(motion), 21, 3).astype(np.float64)
        mode = self.config.blink
        if mode == "schedule" or (mode == "auto" and not has_blinks(motion)):
            opening = np.maximum(eye_opening(ref[None])[0], 0.0)  # (2,)
            delta = apply_blinks(delta, blink_schedule(len(motion), fps, self.config.seed), opening)
        delta = keep_apart(delta, source.face.canon, ((159, 145), (386, 374), (13, 14)))
        pose_ref = source.motion[63:] if self.config.pose_reference == "portrait" else motion[0, 63:]
        return delta, pose_ref

    def frame_points(self, source: MeshSource, motion: np.ndarray, fps: int = 25) -> np.ndarray:
        """(T, 70) motion → (T, 468, 3) mesh positions in work pixels, x, y and depth (no image work)."""
        motion = _check(motion)
        delta, pose_ref = self._deltas(source, motion, fps)
        return source.face.project(source.face.deform(delta), motion[:, 63:], pose_ref, self.config.limits)

    def render(self, source: Source, motion: np.ndarray, fps: int = 25, chunk: int = 64) -> Iterator[np.ndarray]:
        """(T, 70) raw motion → T full-size RGB frames (one reused buffer: copy a frame to keep it)."""
        if not isinstance(source, MeshSource):
            raise TypeError("MeshWarpRenderer.render needs the source its own prepare() returned")
        motion = _check(motion)
        delta, pose_ref = self._deltas(source, motion, fps)
        paster = Paster(source.image, source.portrait.crop)
        face, src_xy = source.face, source.face.points[:, :2]
        for start in range(0, len(motion), chunk):  # vectorised geometry per chunk, bounded memory
            stop = min(start + chunk, len(motion))
            pts = face.project(face.deform(delta[start:stop]), motion[start:stop, 63:], pose_ref, self.config.limits)
            for dst in pts:
                yield self.render_points(source, paster, dst, src_xy)

    def render_points(self, source: MeshSource, paster: Paster, dst: np.ndarray, src: np.ndarray) -> np.ndarray:
        """One frame from the mesh at `dst` (468, 3) work pixels, written into `paster`'s buffer."""
        field = warp_field(source.mesh, dst)
        overlay = None
        if field is not None:
            patch = render_mouth(dst[:, :2], src, source.look, source.mesh.size)
            if patch is not None and patch.alpha.max() > 0:
                _override(field, patch)
                overlay = (patch.x0, patch.y0, patch.colour, patch.alpha)
        return paster.paste(field, overlay)


def _override(field: Field, patch: MouthPatch) -> None:
    """Replace the field by the mouth's own source map where the patch asks (in place)."""
    h, w = field.dx.shape
    ph, pw = patch.use_map.shape
    x0, y0 = max(patch.x0, field.x0), max(patch.y0, field.y0)
    x1, y1 = min(patch.x0 + pw, field.x0 + w), min(patch.y0 + ph, field.y0 + h)
    if x1 <= x0 or y1 <= y0:
        return
    fs = (slice(y0 - field.y0, y1 - field.y0), slice(x0 - field.x0, x1 - field.x0))
    ps = (slice(y0 - patch.y0, y1 - patch.y0), slice(x0 - patch.x0, x1 - patch.x0))
    use = patch.use_map[ps]
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    field.dx[fs][use] = (patch.map_x[ps] - xx)[use]
    field.dy[fs][use] = (patch.map_y[ps] - yy)[use]


def _check(motion: np.ndarray) -> np.ndarray:
    """Validate a (T, 70) motion array and return it as float64."""
    motion = np.asarray(motion, np.float64)
    if motion.ndim != 2 or motion.shape[1] != DIM or len(motion) == 0:
        raise ValueError(f"motion must be (T, {DIM}) with T ≥ 1, got {motion.shape}")
    if not np.isfinite(motion).all():
        raise ValueError("motion has NaN or infinite values")
    return motion
