"""MoDA's 70-value motion per frame from LivePortrait's motion extractor (the `liveportrait` motion backend).

In features (layer 3), beside the mesh's motion; it runs LivePortrait's networks of models (layer 2), and
liveportrait_motion_clip's own imports (config, data.featurefile, data.status) are lower.

MoDA (https://arxiv.org/abs/2507.03256) generates, per frame, what LivePortrait's
(https://arxiv.org/abs/2407.03168) motion extractor M measures: with `liveportrait.dir` set, the
features phase runs M (talkhead.models.liveportrait, the official weights loaded strictly) on every
frame of the clip's face crop instead of measuring the motion from the face mesh
(talkhead.features.motion). Each crop frame (512², RGB) is resized to 256² with bilinear
interpolation, as LivePortrait prepares its driving frames (cv2.resize), scaled to [0, 1] and
run in batches of `liveportrait.batch_size`.

Layout of `motion` (T, 70) float32, MoDA's order, from M's outputs for frame i:
  0-62   exp: the expression deformation δ, keypoint k's (x, y, z) at 3k..3k+2 (M's `exp`, as is)
  63     scale s (M's `scale`)
  64-66  tx, ty, tz (M's `t`; LivePortrait's Eqn. 2 applies only tx, ty: tz is kept for the layout)
  67-69  pitch, yaw, roll in degrees: the softmax expectation over M's 66 bins of 3°, minus 97.5
         (talkhead.models.liveportrait.keypoints.headpose_degrees)
so the driving keypoints of frame i are s · (x_c R(pitch, yaw, roll) + δ) + (tx, ty, 0).

`clip_kp_canonical` (21, 3) float32: the canonical keypoints x_c of the clip's FIRST frame. In
LivePortrait x_c belongs to the source image that is animated, and MoDA takes it from its reference
image; the packed clip's identity reference (`reference/image`) is the crop's first frame, so x_c
comes from the same frame (an average over the clip would match no image that a renderer warps).
The crop's framing is talkhead's (crop.size around the tracked face), not LivePortrait's own
cropper's (scale 2.3, shifted up by 0.125): the weights see slightly different face sizes than in
training, which the normalisation statistics absorb for generation but which bounds how far these
values equal LivePortrait's own on the same video.

`liveportrait_motion_clip` (the motion phase on one clip with `liveportrait.dir` set) reads
data/crop/{clip}/crop.mp4 and data/quality/{clip}/quality.json; writes data/features/{clip}/motion.safetensors
with `motion` (T, 70) and `clip_kp_canonical` (21, 3), the same layout as the mesh's motion
(talkhead.features.motion) plus the first frame's canonical keypoints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from talkhead.config import LiveportraitConfig
from talkhead.data.featurefile import write_features
from talkhead.data.status import accepted_measures
from talkhead.features.precision import autocast, compute_dtype
from talkhead.media.decode import iter_frames_cfr
from talkhead.models.checkpoint import deterministic
from talkhead.models.liveportrait.keypoints import headpose_degrees
from talkhead.models.liveportrait.motion_extractor import INPUT_SIZE, MotionExtractor
from talkhead.models.liveportrait.weights import checkpoint_digest, load_module
from talkhead.vocab import MOTION_DIM

log = logging.getLogger(__name__)

VERSION = "liveportrait-motion-1"
EXTRACTOR = "liveportrait-motion-extractor"
N_KEYPOINTS = 21
NAMES: tuple[str, ...] = (*(f"exp_{k}_{a}" for k in range(N_KEYPOINTS) for a in "xyz"), "scale", "tx", "ty", "tz",
                          "pitch", "yaw", "roll")


@dataclass
class LivePortraitMotion:
    """The motion extractor loaded once (per shard job), with where and how it computes."""

    model: MotionExtractor
    device: torch.device
    dtype: torch.dtype
    batch_size: int
    identity: str  # `sha256:<16 hex>` of base_models/motion_extractor.* (the feature file's checkpoint)


def load_extractor(cfg: LiveportraitConfig) -> LivePortraitMotion:
    """LivePortrait's motion extractor from `cfg.dir` (official layout, strict load) on `cfg.device`."""
    directory = Path(cfg.dir)
    device = torch.device(cfg.device)
    model = load_module(MotionExtractor(), directory, "motion_extractor").to(device)
    dtype = compute_dtype(cfg.dtype, device, "liveportrait motion extractor")
    identity = checkpoint_digest(directory, "motion_extractor")
    log.info("LivePortrait motion extractor %s on %s (%s)", identity, device, str(dtype).removeprefix("torch."))
    return LivePortraitMotion(model, device, dtype, cfg.batch_size, identity)


def prepare(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 RGB → (N, 3, 256, 256) float32 in [0, 1] (bilinear resize, as LivePortrait)."""
    if frames.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
        frames = np.stack([cv2.resize(f, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR) for f in frames])
    return torch.from_numpy(frames.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()


def motion_from_outputs(out: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """M's raw outputs for B frames → ((B, 70) motion in MoDA's layout, (B, 21, 3) canonical keypoints)."""
    out = {k: v.float() for k, v in out.items()}
    angles = [headpose_degrees(out[a])[:, None] for a in ("pitch", "yaw", "roll")]  # 3 × (B, 1)
    motion = torch.cat([out["exp"], out["scale"], out["t"], *angles], dim=1)  # (B, 70)
    return motion.cpu().numpy().astype(np.float32), out["kp"].reshape(len(motion), -1, 3).cpu().numpy()


@torch.no_grad()
def extract_batch(extractor: LivePortraitMotion, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) uint8 crop frames → ((N, 70) motion, (N, 21, 3) canonical keypoints)."""
    x = prepare(frames).to(extractor.device)  # (N, 3, 256, 256)
    with autocast(extractor.device, extractor.dtype):
        out = extractor.model(x)
    return motion_from_outputs(out)


def extract_clip(extractor: LivePortraitMotion, crop_mp4: str | Path, fps: int,
                 frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A crop video → ((T, 70) motion, (21, 3) canonical keypoints of its first frame)."""
    motion = np.empty((frames, MOTION_DIM), np.float32)
    first: np.ndarray | None = None
    pending: list[np.ndarray] = []
    done = 0

    def flush() -> None:
        nonlocal done, first
        m, kp = extract_batch(extractor, np.stack(pending))
        motion[done:done + len(m)] = m
        first = kp[0] if first is None else first
        done += len(m)
        pending.clear()

    for rgb in iter_frames_cfr(crop_mp4, fps):
        if done + len(pending) >= frames:
            raise ValueError(f"{crop_mp4}: more than the {frames} frames the clip has")
        pending.append(rgb)
        if len(pending) == extractor.batch_size:
            flush()
    if pending:
        flush()
    if done != frames or first is None:
        raise ValueError(f"{crop_mp4}: {done} frames decoded for a {frames}-frame clip")
    return motion, first.astype(np.float32)


def liveportrait_motion_clip(crop_dir: Path, quality_dir: Path, out: Path, cfg: LiveportraitConfig,
                             extractor: LivePortraitMotion | None = None) -> dict:
    """One clip's motion through LivePortrait's motion extractor (loaded unless given); return its metadata."""
    m = accepted_measures(quality_dir)
    extractor = extractor or load_extractor(cfg)
    with deterministic():
        motion, kp_canonical = extract_clip(extractor, crop_dir / "crop.mp4", m["fps"], m["frames"])
    info = {"clip": m["clip"], "modality": "motion", "rate_hz": m["fps"], "frames": m["frames"],
            "extractor": EXTRACTOR, "version": VERSION, "checkpoint": extractor.identity,
            "backend": "liveportrait", "names": ",".join(NAMES)}
    write_features(out, {"motion": motion, "clip_kp_canonical": kp_canonical}, info)
    return info
