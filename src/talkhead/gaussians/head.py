"""A trained Gaussian talking head: canonical Gaussians + deformation field + background, and how a frame renders.

One frame = canonical Gaussians (talkhead.gaussians.scene) → + the frame's Deltas from audio and
expression (talkhead.gaussians.deform; skipped in the coarse stage) → posed by the frame's head pose
→ rasterised (talkhead.gaussians.raster_base) → composited over a learned background image (the
crop's static surroundings: shoulders, backdrop). Saved as head.safetensors + config.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from talkhead.atomic import write_json
from talkhead.gaussians.camera import Camera, crop_camera
from talkhead.gaussians.deform import DeformationField, DeformSpec
from talkhead.gaussians.raster_base import Gaussians, Rasterizer
from talkhead.gaussians.scene import GaussianScene, pose_gaussians
from talkhead.train.run_files import save_tensors

MODEL_FORMAT = "talkhead-gaussians-1"


@dataclass
class FrameCond:
    """What drives one frame: its mel window, expression blendshapes and head pose."""

    mel: torch.Tensor  # (rows, 80)
    expression: torch.Tensor  # (21,)
    rotation: torch.Tensor  # (3, 3)
    translation: torch.Tensor  # (3,) crop px
    scale: torch.Tensor  # ()


class GaussianHead(nn.Module):
    """Scene + deformation field + background of one speaker at `size` px (crop of `crop_size` px)."""

    def __init__(self, scene: GaussianScene, deform: DeformationField, background: torch.Tensor, crop_size: int
                 ) -> None:
        super().__init__()
        self.scene, self.deform = scene, deform
        self.background = nn.Parameter(background.float().clone())  # (S, S, 3) in [0, 1]
        self.size, self.crop_size = background.shape[0], crop_size
        self.camera: Camera = crop_camera(self.size)

    @property
    def factor(self) -> float:
        """Training size / crop size (crop px → image px)."""
        return self.size / self.crop_size

    def gaussians(self, cond: FrameCond, deform: bool, features: torch.Tensor | None = None) -> Gaussians:
        """The frame's posed, activated Gaussians (`features`: cached deform.query of the canonical means)."""
        s = self.scene
        if deform:
            f = self.deform.query(s.means) if features is None else features
            d = self.deform.deform(f, self.deform.tokens(cond.mel[None], cond.expression[None]))
            g = Gaussians(s.means + d.means, s.quats + d.quats, torch.exp(s.log_scales + d.log_scales),
                          torch.sigmoid(s.opacity_logits + d.opacity_logits), torch.sigmoid(s.color_logits))
        else:
            g = s.canonical()
        return pose_gaussians(g, cond.rotation, cond.translation, cond.scale, self.factor)

    def composite(self, rgb: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """(S, S, 3) image: the Gaussians over the background."""
        return rgb + (1.0 - alpha) * self.background.clamp(0, 1)

    def render(self, cond: FrameCond, rasterize: Rasterizer, deform: bool,
               features: torch.Tensor | None = None) -> torch.Tensor:
        """(S, S, 3) RGB in [0, 1] of one frame."""
        rgb, alpha = rasterize(self.gaussians(cond, deform, features), self.camera.to(cond.rotation.device))
        return self.composite(rgb, alpha).clamp(0, 1)

    def config(self) -> dict:
        """The architecture a checkpoint needs to be rebuilt (config.json's `model`)."""
        return {"gaussians": len(self.scene), "size": self.size, "crop_size": self.crop_size,
                "deform": self.deform.spec.to_dict()}


def build_head(tensors: dict[str, torch.Tensor], model: dict) -> GaussianHead:
    """A GaussianHead with the shapes of `tensors` (a head state dict) and `model` (its config), weights loaded."""
    scene = GaussianScene({k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("scene.")})
    deform = DeformationField(DeformSpec(**model["deform"]), tensors["deform.lo"], tensors["deform.hi"])
    head = GaussianHead(scene, deform, tensors["background"], int(model["crop_size"]))
    head.load_state_dict(tensors, strict=True)
    return head


def save_head(out_dir: Path, head: GaussianHead, extra: dict, name: str = "head.safetensors") -> None:
    """head.safetensors (+ config.json with `extra`: speaker, clips, metrics) in `out_dir`."""
    save_tensors(out_dir / name, head.state_dict())
    write_json(out_dir / "config.json", {"format": MODEL_FORMAT, "model": head.config(), **extra})


def load_head(model_dir: str | Path, device: str = "cpu") -> tuple[GaussianHead, dict]:
    """(the head in eval mode, its config.json) of a trained gaussians folder."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    cfg_path, weights = model_dir / "config.json", model_dir / "head.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise FileNotFoundError(f"{model_dir}: not a trained gaussians model (config.json + head.safetensors)")
    meta = json.loads(cfg_path.read_text(encoding="utf-8"))
    if meta.get("format") != MODEL_FORMAT:
        raise ValueError(f"{model_dir}: format {meta.get('format')!r}, expected {MODEL_FORMAT!r}")
    head = build_head(load_file(str(weights)), meta["model"])
    return head.to(device).eval(), meta


def flat_background(frames: torch.Tensor, border: int = 4) -> torch.Tensor:
    """(S, S, 3) the mean colour of the frames' border pixels, everywhere (the background's initial value)."""
    f = frames.float() / 255.0  # (T, S, S, 3)
    edge = torch.cat([f[:, :border].reshape(-1, 3), f[:, -border:].reshape(-1, 3),
                      f[:, :, :border].reshape(-1, 3), f[:, :, -border:].reshape(-1, 3)])
    return edge.mean(0).expand(f.shape[1], f.shape[2], 3).clone()
