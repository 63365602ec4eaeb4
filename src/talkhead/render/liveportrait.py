"""The learned renderer: LivePortrait's warping network and SPADE generator animate the portrait.

LivePortrait (Guo et al. 2024, https://arxiv.org/abs/2407.03168), talkhead's own implementation
(talkhead.models.liveportrait) with the official checkpoints from a folder in the release layout
(talkhead.models.liveportrait.weights). Per portrait (`prepare`): find the one face
(talkhead.render.portrait), cut a square crop around it in the manner of LivePortrait's cropper
(`CROP_SCALE` × the face mesh's extent, shifted up by `CROP_SHIFT` of its side, so the forehead is
in), run the appearance extractor F (feature volume f_s) and the motion extractor M (canonical
keypoints x_c, pose, expression, scale, translation) on it once. Per frame (`render`): the motion
row gives the driving keypoints x_d by Eqn. 2, the stitching MLP corrects them, the warping module
W and generator G make a 512² crop, and a feathered mask pastes it back into the full portrait.

The motion is applied relative to references, in units that cancel (LivePortrait's relative mode):
rotation R_d = R(m_t) R(m_0)ᵀ R_s, scale s_d = s_s · m_s,t / m_s,0, translation
t_d = t_s + (m_t,t − m_t,0) · s_s / m_s,0 (tx, ty only, as Eqn. 2), expression
δ_d = δ_s + (m_δ,t − ref_δ) with ref the portrait's own motion (`exp_reference="portrait"`, the motion
a generator conditioned on this portrait produces) or the motion's first frame (`"first"`). With
motion measured by the liveportrait backend these are LivePortrait's own quantities; the mesh
backend's (crop pixels, canonical eye-distance units) still give the right ratios for pose, scale
and translation, while its expression units only approximate LivePortrait's.

GPU when `device` is cuda, with float16 autocast (the reference's flag_use_half_precision);
CPU otherwise, in float32, and slow: measured 13 s a frame on one thread, 6.5 s on two (docs/generate.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from talkhead.features.liveportrait_motion import motion_from_outputs
from talkhead.features.motion import DIM
from talkhead.features.precision import autocast, compute_dtype
from talkhead.models.liveportrait.appearance import AppearanceFeatureExtractor
from talkhead.models.liveportrait.keypoints import rotation_matrix, transform_keypoints
from talkhead.models.liveportrait.motion_extractor import INPUT_SIZE, MotionExtractor
from talkhead.models.liveportrait.spade import SPADEDecoder
from talkhead.models.liveportrait.stitching import StitchingRetargeting
from talkhead.models.liveportrait.warping import WarpingNetwork
from talkhead.models.liveportrait.weights import load_module
from talkhead.render.base import Renderer, Source
from talkhead.render.portrait import N_FACE, WorkCrop, find_portrait

log = logging.getLogger(__name__)

CROP_SCALE = 2.0  # crop side / the 468-point mesh's extent (LivePortrait: 2.3 × its 203-point contour's)
CROP_SHIFT = 0.06  # the crop's centre moves up by this fraction of its side (LivePortrait: vy_ratio -0.125)
OUTPUT_SIZE = 512  # G's output side
FEATHER = 0.12  # fraction of the crop side over which the paste-back mask fades to 0 at each edge


@dataclass(frozen=True)
class LivePortraitSource(Source):
    """A portrait prepared for LivePortrait: its crop window, f_s and the source keypoint info."""

    crop: WorkCrop | None = None  # the window in portrait pixels, size = OUTPUT_SIZE
    feature_3d: torch.Tensor | None = None  # (1, 32, 16, 64, 64) f_s on the renderer's device
    kp_canonical: torch.Tensor | None = None  # (1, 21, 3) x_c
    kp_source: torch.Tensor | None = None  # (1, 21, 3) x_s (Eqn. 2 of the source's own motion)


class LivePortraitRenderer(Renderer):
    """F, M, W, G and the stitching MLP from an official LivePortrait folder; paste-back into the portrait."""

    name = "liveportrait"

    def __init__(self, directory: str | Path, device: str = "cpu", dtype: str | None = None,
                 stitching: bool = True, exp_reference: str = "portrait", batch_size: int = 1) -> None:
        """`dtype`: float32 | float16 | bfloat16 autocast (default float16 on cuda, float32 on the CPU);
        `batch_size`: frames per W + G pass (more only helps on a GPU)."""
        if exp_reference not in ("portrait", "first"):
            raise ValueError(f"exp_reference must be 'portrait' or 'first', got {exp_reference!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self.batch_size = batch_size
        self.device = torch.device(device)
        requested = dtype or ("float16" if self.device.type == "cuda" else "float32")
        self.dtype = compute_dtype(requested, self.device, "liveportrait renderer")
        self.exp_reference = exp_reference
        directory = Path(directory)
        self.appearance = load_module(AppearanceFeatureExtractor(), directory, "appearance_feature_extractor")
        self.motion = load_module(MotionExtractor(), directory, "motion_extractor")
        self.warping = load_module(WarpingNetwork(), directory, "warping_module")
        self.generator = load_module(SPADEDecoder(), directory, "spade_generator")
        self.stitching = load_module(StitchingRetargeting(), directory, "stitching_retargeting_module") \
            if stitching else None
        for module in (self.appearance, self.motion, self.warping, self.generator, self.stitching):
            if module is not None:
                module.to(self.device)
        if self.device.type == "cpu":
            log.info("LivePortrait renderer on the CPU in float32: seconds a frame (device cuda is much faster)")

    def prepare(self, image_rgb: np.ndarray, name: str = "the image") -> LivePortraitSource:
        """Find the face, crop it as LivePortrait does and compute f_s and the source keypoints once."""
        portrait = find_portrait(image_rgb, name=name)
        crop = face_crop(portrait.mesh)
        small = WorkCrop(crop.x0, crop.y0, crop.side, INPUT_SIZE).cut(portrait.image)  # (256, 256, 3)
        x = torch.from_numpy(small.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(self.device)
        with torch.no_grad(), autocast(self.device, self.dtype):
            feature_3d = self.appearance(x).float()  # (1, 32, 16, 64, 64)
            out = self.motion(x)
        own, kp = motion_from_outputs(out)  # (1, 70), (1, 21, 3)
        kp_canonical = torch.from_numpy(kp).to(self.device)
        kp_source = self._drive(kp_canonical, torch.from_numpy(own).to(self.device))
        return LivePortraitSource(image=portrait.image, motion=own[0], crop=crop, feature_3d=feature_3d,
                                  kp_canonical=kp_canonical, kp_source=kp_source)

    @staticmethod
    def _drive(kp_canonical: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """Absolute motion rows (B, 70) in LivePortrait's units → x_d (B, 21, 3) by Eqn. 2."""
        b = len(motion)
        return transform_keypoints(kp_canonical.expand(b, -1, -1), motion[:, 67], motion[:, 68], motion[:, 69],
                                   motion[:, 63:64], motion[:, 64:67], motion[:, :63])

    def driving_keypoints(self, source: LivePortraitSource, motion: np.ndarray) -> torch.Tensor:
        """(T, 70) raw motion → (T, 21, 3) driving keypoints, relative to the references, stitched."""
        m = torch.from_numpy(np.asarray(motion, np.float32)).to(self.device)  # (T, 70)
        own = torch.from_numpy(source.motion).to(self.device)[None]  # (1, 70)
        first = m[:1]
        ref_exp = own[:, :63] if self.exp_reference == "portrait" else first[:, :63]
        exp = own[:, :63] + (m[:, :63] - ref_exp)  # (T, 63)
        ratio = own[:, 63:64] / first[:, 63:64]  # source scale per motion scale unit
        scale = m[:, 63:64] * ratio  # (T, 1)
        shift = torch.zeros_like(m[:, 64:67])
        shift[:, :2] = own[:, 64:66] + (m[:, 64:66] - first[:, 64:66]) * ratio  # tx, ty
        angles = [m[:, 67 + i] for i in range(3)]
        rot = rotation_matrix(*angles) @ rotation_matrix(*first[:, 67:70].T).transpose(1, 2) \
            @ rotation_matrix(*own[:, 67:70].T)  # (T, 3, 3) R_t R_0ᵀ R_s (row-vector convention)
        kp = source.kp_canonical.expand(len(m), -1, -1)  # (T, 21, 3)
        driving = (kp @ rot + exp.view(len(m), -1, 3)) * scale[:, :, None] + shift[:, None, :]
        if self.stitching is not None:
            with torch.no_grad():
                driving = self.stitching.stitch(source.kp_source.expand(len(m), -1, -1), driving)
        return driving  # (T, 21, 3)

    @torch.no_grad()
    def warp_decode(self, source: LivePortraitSource, kp_driving: torch.Tensor) -> np.ndarray:
        """(B, 21, 3) driving keypoints → (B, 512, 512, 3) uint8 crops (W then G)."""
        b = len(kp_driving)
        with autocast(self.device, self.dtype):
            warped = self.warping(source.feature_3d.expand(b, -1, -1, -1, -1), kp_driving=kp_driving,
                                  kp_source=source.kp_source.expand(b, -1, -1))
            image = self.generator(warped["out"]).float()  # (B, 3, 512, 512)
        image = (image.clamp(0, 1) * 255).permute(0, 2, 3, 1)
        return image.to(torch.uint8).cpu().numpy()

    def render(self, source: Source, motion: np.ndarray, fps: int = 25) -> Iterator[np.ndarray]:
        """(T, 70) raw motion → T full-size RGB frames (one reused buffer: copy a frame to keep it)."""
        if not isinstance(source, LivePortraitSource):
            raise TypeError("LivePortraitRenderer.render needs the source its own prepare() returned")
        motion = np.asarray(motion, np.float32)
        if motion.ndim != 2 or motion.shape[1] != DIM or len(motion) == 0 or not np.isfinite(motion).all():
            raise ValueError(f"motion must be finite (T, {DIM}) with T ≥ 1, got {motion.shape}")
        if motion[0, 63] <= 0:
            raise ValueError(f"motion's first scale must be positive (the reference of the others), "
                             f"got {motion[0, 63]}")
        driving = self.driving_keypoints(source, motion)  # (T, 21, 3)
        paster = CropPaster(source.image, source.crop)
        for start in range(0, len(motion), self.batch_size):
            for crop in self.warp_decode(source, driving[start:start + self.batch_size]):
                yield paster.paste(crop)

    def close(self) -> None:
        """Drop the networks (and their GPU memory)."""
        self.appearance = self.motion = self.warping = self.generator = self.stitching = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def face_crop(mesh: np.ndarray) -> WorkCrop:
    """The square crop window around a (478, 3) face mesh in portrait pixels, at OUTPUT_SIZE pixels."""
    pts = mesh[:N_FACE, :2]
    lo, hi = pts.min(0), pts.max(0)
    side = CROP_SCALE * float((hi - lo).max())
    cx, cy = (lo + hi) / 2
    cy -= CROP_SHIFT * side
    return WorkCrop(float(cx - side / 2), float(cy - side / 2), side, OUTPUT_SIZE)


def feather_mask(size: int, feather: float = FEATHER) -> np.ndarray:
    """(size, size) float32 mask: 1 inside, a smooth (smoothstep) fall to 0 over `feather` of the side at each edge."""
    u = (np.arange(size, dtype=np.float64) + 0.5) / size
    ramp = np.clip(np.minimum(u, 1 - u) / feather, 0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep
    return np.outer(ramp, ramp).astype(np.float32)


class CropPaster:
    """Pastes OUTPUT_SIZE² crops back into one reused full-size frame under a feathered mask."""

    def __init__(self, image: np.ndarray, crop: WorkCrop) -> None:
        self.image = image
        self.frame = image.copy()  # (H, W, 3) uint8
        h, w = image.shape[:2]
        self.x0, self.y0 = max(int(np.floor(crop.x0)), 0), max(int(np.floor(crop.y0)), 0)
        self.x1 = min(int(np.ceil(crop.x0 + crop.side)) + 1, w)
        self.y1 = min(int(np.ceil(crop.y0 + crop.side)) + 1, h)
        s = crop.scale  # crop pixels per portrait pixel; crop (u, v) = s · (portrait - crop corner)
        self.m = np.array([[1 / s, 0.0, crop.x0 - self.x0], [0.0, 1 / s, crop.y0 - self.y0]], np.float32)
        self.mask = self._warp(feather_mask(crop.size))[..., None]  # (rh, rw, 1)

    def _warp(self, crop: np.ndarray) -> np.ndarray:
        """A crop-pixel array → the portrait region it covers (0 outside the crop)."""
        return cv2.warpAffine(crop, self.m, (self.x1 - self.x0, self.y1 - self.y0), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def paste(self, crop: np.ndarray) -> np.ndarray:
        """One (512, 512, 3) uint8 crop → the full frame with it blended in (the same buffer each call)."""
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            return self.frame
        region = self.image[self.y0:self.y1, self.x0:self.x1].astype(np.float32)
        warped = self._warp(crop).astype(np.float32)
        blended = self.mask * warped + (1 - self.mask) * region
        self.frame[self.y0:self.y1, self.x0:self.x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        return self.frame
