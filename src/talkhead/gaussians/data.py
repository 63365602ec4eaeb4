"""One speaker's training data for a Gaussian head: crop frames, audio, expression and pose of each accepted clip.

Reads the packed dataset (data/dataset/metadata.parquet and the clip files it lists:
`audio_mel/mel` (4T, 80), `face_mesh/points` (T, 478, 3) crop px, `head_pose/matrix|translation|scale`,
`blendshapes/coefficients` (T, 52)) and the clip's crop video (data/crop/{clip}/crop.mp4, decoded
and resized to the training size). Every clip of the speaker is used, whatever its split (a
per-identity model has no unseen speakers to generalise to); the last `holdout` fraction of each
clip's frames is held out for PSNR/SSIM/LMD and never trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from talkhead.config import ConfigError
from talkhead.data.featurefile import read_features
from talkhead.models.arkit_channels import EXPRESSION_INDEX

KEYS = ["audio_mel/mel", "face_mesh/points", "head_pose/matrix", "head_pose/translation", "head_pose/scale",
        "blendshapes/coefficients"]
LIPS = (61, 291, 0, 17, 13, 14, 78, 308, 84, 314, 37, 267, 146, 375)  # mesh points spanning the mouth
FPS = 25


@dataclass
class ClipData:
    """One clip at the training size: frames, per-frame conditions and the train / held-out frame split."""

    clip: str
    frames: torch.Tensor  # (T, S, S, 3) uint8
    mel: torch.Tensor  # (4T, 80)
    expression: torch.Tensor  # (T, 21) expression blendshapes
    rotation: torch.Tensor  # (T, 3, 3)
    translation: torch.Tensor  # (T, 3) crop px
    scale: torch.Tensor  # (T,)
    mesh: torch.Tensor  # (T, 478, 3) crop px
    crop_size: int
    n_train: int  # frames [0, n_train) train, the rest held out

    @property
    def factor(self) -> float:
        """Training size / crop size."""
        return self.frames.shape[1] / self.crop_size

    def __len__(self) -> int:
        return self.frames.shape[0]

    def to(self, device: torch.device | str) -> ClipData:
        """The same clip with its tensors on `device`."""
        moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.__dict__.items()}
        return ClipData(**moved)


def pick_speakers(metadata: Path, speakers: list[str]) -> list[str]:
    """The configured speakers, or the first speaker (by clip id) of the train split (any split when it has none)."""
    table = pd.read_parquet(metadata)
    if table.empty:
        raise ValueError(f"{metadata}: no clips")
    known = set(table["speaker"])
    unknown = [s for s in speakers if s not in known]
    if unknown:
        raise ConfigError(f"gaussians.speakers: no accepted clip of {', '.join(unknown)} in {metadata}")
    if speakers:
        return list(speakers)
    train = table[table["split"] == "train"]
    return [str((train if len(train) else table).sort_values("clip")["speaker"].iloc[0])]


def decode_frames(path: Path, frames: int, size: int) -> tuple[torch.Tensor, int]:
    """(frames, size, size, 3) uint8 of a square crop video resized to `size`, and its own size."""
    from talkhead.media.decode import iter_frames_cfr

    rgb = np.stack(list(iter_frames_cfr(path, FPS, frames=frames)))
    if rgb.shape[0] != frames or rgb.shape[1] != rgb.shape[2]:
        raise ValueError(f"{path}: expected {frames} square frames, got {rgb.shape}")
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float()
    if rgb.shape[1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous(), rgb.shape[1]


def load_speaker(metadata: Path, crop_dir: Path, speaker: str, size: int, holdout: float) -> list[ClipData]:
    """Every packed clip of `speaker` with its crop frames at `size` px, sorted by clip id."""
    table = pd.read_parquet(metadata)
    rows = table[table["speaker"] == speaker].sort_values("clip")
    if rows.empty:
        raise ValueError(f"{metadata}: no clip of speaker {speaker}")
    out = []
    for _, row in rows.iterrows():
        t, _ = read_features(metadata.parent / row["file"], keys=KEYS)
        n = int(row["frames"])
        frames, crop_size = decode_frames(crop_dir / row["clip"] / "crop.mp4", n, size)
        n_train = n - max(1, math.ceil(holdout * n))
        if n_train < 1:
            raise ValueError(f"clip {row['clip']}: {n} frames leave nothing to train on with holdout {holdout}")
        out.append(ClipData(
            clip=str(row["clip"]), frames=frames, mel=torch.from_numpy(t["audio_mel/mel"]).float(),
            expression=torch.from_numpy(t["blendshapes/coefficients"][:, list(EXPRESSION_INDEX)]).float(),
            rotation=torch.from_numpy(t["head_pose/matrix"]).float(),
            translation=torch.from_numpy(t["head_pose/translation"]).float(),
            scale=torch.from_numpy(t["head_pose/scale"]).float().reshape(-1),
            mesh=torch.from_numpy(t["face_mesh/points"]).float(), crop_size=crop_size, n_train=n_train))
    return out


def canonical_mesh(clips: list[ClipData]) -> torch.Tensor:
    """(478, 3) median over training frames of the mesh with the pose undone: Rᵀ(p − t)/s (canonical units)."""
    pts = []
    for c in clips:
        sl = slice(0, c.n_train)
        p = (c.mesh[sl] - c.translation[sl, None]) @ c.rotation[sl] / c.scale[sl, None, None]  # (T, 478, 3)
        pts.append(p)
    return torch.cat(pts).median(0).values


def mesh_colors(clip: ClipData, frame: int = 0) -> torch.Tensor:
    """(478, 3) colours in [0, 1] of the frame's pixels under its mesh points."""
    xy = (clip.mesh[frame, :, :2] * clip.factor).round().long().clamp(0, clip.frames.shape[1] - 1)
    return clip.frames[frame][xy[:, 1], xy[:, 0]].float() / 255.0


def mouth_box(clip: ClipData, frame: int, margin: float = 0.25) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) training px of the frame's lips box, grown by `margin` of its size on each side."""
    p = clip.mesh[frame, list(LIPS), :2] * clip.factor
    lo, hi = p.min(0).values, p.max(0).values
    pad = (hi - lo) * margin + 1
    s = clip.frames.shape[1]
    x0, y0 = (lo - pad).floor().clamp(0, s - 1).long().tolist()
    x1, y1 = (hi + pad).ceil().clamp(1, s).long().tolist()
    return x0, y0, x1, y1
