"""The canonical Gaussians of one speaker: initialised from the face mesh, posed per frame, densified and pruned.

Canonical frame = talkhead.features.pose's (origin between the outer eye corners, x to the subject's
left, y to the chin, z away from the camera, unit = the outer eye-corner distance). Initialisation:
one Gaussian per point of the speaker's median canonical face mesh (coloured from the first frame),
plus `shell` Gaussians on the back half of an ellipsoid around the skull, faint and grey, so hair,
ears and the top of the head have something to grow from — the mesh covers only the face (the lesson
of the GaussianTalker run, docs/gaussians.md). Adaptive density control follows Kerbl et al. 2023
(https://arxiv.org/abs/2308.04079, §5.2): Gaussians whose accumulated positional gradient is large are
cloned (small) or split in two (large); nearly transparent or huge ones are pruned.
A frame's pose (rotation R, translation t, scale s of talkhead.features.pose: mesh ≈ s R p + t in crop
pixels) maps canonical Gaussians into the crop's pixel frame at the training size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from talkhead.gaussians.raster_base import Gaussians
from talkhead.gaussians.raster_torch import quat_to_rotmat

PARAMS = ("means", "log_scales", "quats", "opacity_logits", "color_logits")
SHELL_CENTRE, SHELL_RADII = (0.0, 0.35, 0.75), (1.15, 1.55, 0.95)  # canonical units: a skull around the face


def rotmat_to_quat(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices → (..., 4) unit quaternions w, x, y, z (w ≥ 0)."""
    m = R.reshape(-1, 3, 3)
    t = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    a, b, c = m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]
    cand = torch.stack([
        torch.stack([1 + t, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1),
        torch.stack([m[:, 2, 1] - m[:, 1, 2], 1 + 2 * a - t, m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], -1),
        torch.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0], 1 + 2 * b - t, m[:, 1, 2] + m[:, 2, 1]], -1),
        torch.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 + 2 * c - t], -1),
    ], 1)  # (B, 4 candidates, 4); candidate k is best when its k-th entry is largest
    diag = torch.stack([t, a, b, c], -1)
    q = cand[torch.arange(m.shape[0], device=m.device), diag.argmax(-1)]
    q = F.normalize(q, dim=-1)
    q = torch.where(q[:, :1] < 0, -q, q)
    return q.reshape(*R.shape[:-2], 4)


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a ⊗ b of (..., 4) quaternions w, x, y, z (rotation b first, then a)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


def knn_spacing(points: torch.Tensor, k: int = 3) -> torch.Tensor:
    """(N,) mean distance of each point to its k nearest neighbours (the initial Gaussian size)."""
    d = torch.cdist(points, points)
    d.fill_diagonal_(float("inf"))
    return d.topk(min(k, len(points) - 1), largest=False).values.mean(1).clamp(min=1e-4)


def shell_points(n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 3) points spread evenly over the back half (z ≥ centre) of the skull ellipsoid (canonical units)."""
    if n <= 0:
        return torch.zeros(0, 3)
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = i / n  # Fibonacci sphere restricted to the hemisphere facing away from the camera
    phi = i * math.pi * (3.0 - math.sqrt(5.0)) + float(torch.rand((), generator=generator)) * 2 * math.pi
    r = torch.sqrt(1 - z * z)
    unit = torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], -1)
    return (unit * torch.tensor(SHELL_RADII, dtype=torch.float64) + torch.tensor(SHELL_CENTRE,
                                                                                  dtype=torch.float64)).float()


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-4, 1 - 1e-4)
    return torch.log(p / (1 - p))


class GaussianScene(nn.Module):
    """N canonical Gaussians: means, log-scales, quaternions, opacity and colour logits (colour = SH degree 0)."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        super().__init__()
        missing = [k for k in PARAMS if k not in tensors]
        if missing:
            raise ValueError(f"GaussianScene needs {', '.join(missing)}")
        for k in PARAMS:
            self.register_parameter(k, nn.Parameter(tensors[k].detach().float().clone()))
        Gaussians(self.means, self.quats, self.log_scales, self.opacity_logits, self.color_logits)  # shape check

    def __len__(self) -> int:
        return self.means.shape[0]

    @classmethod
    def from_mesh(cls, canonical: torch.Tensor, colors: torch.Tensor, shell: int, seed: int = 0) -> GaussianScene:
        """Gaussians at the (P, 3) canonical mesh points with their (P, 3) colours in [0, 1] + `shell` skull points."""
        if canonical.ndim != 2 or canonical.shape[1] != 3 or colors.shape != canonical.shape:
            raise ValueError(f"expected (P, 3) points and colours, got {tuple(canonical.shape)}, {tuple(colors.shape)}")
        g = torch.Generator().manual_seed(seed)
        skull = shell_points(shell, g)
        means = torch.cat([canonical.detach().float().cpu(), skull])
        rgb = torch.cat([colors.detach().float().cpu(), torch.full((len(skull), 3), 0.5)])
        opacity = torch.cat([torch.full((len(canonical),), 0.8), torch.full((len(skull),), 0.1)])
        n = len(means)
        return cls({"means": means, "log_scales": torch.log(knn_spacing(means))[:, None].repeat(1, 3),
                    "quats": torch.tensor([1.0, 0, 0, 0]).repeat(n, 1), "opacity_logits": _logit(opacity),
                    "color_logits": _logit(rgb)})

    def canonical(self) -> Gaussians:
        """The activated canonical Gaussians (canonical units)."""
        return Gaussians(self.means, self.quats, torch.exp(self.log_scales), torch.sigmoid(self.opacity_logits),
                         torch.sigmoid(self.color_logits))

    def tensors(self) -> dict[str, torch.Tensor]:
        """The parameters as plain tensors (for checkpoints and densification)."""
        return {k: getattr(self, k).detach().clone() for k in PARAMS}


def pose_gaussians(g: Gaussians, R: torch.Tensor, t: torch.Tensor, s: torch.Tensor, factor: float) -> Gaussians:
    """Canonical Gaussians placed by a frame's pose: x ↦ factor·(s R x + t); `factor` = training size / crop size."""
    qR = rotmat_to_quat(R)[None]  # (1, 4)
    quats = quat_multiply(qR.expand_as(g.quats), F.normalize(g.quats, dim=-1))
    return Gaussians(factor * (s * g.means @ R.T + t), quats,
                     factor * s * g.scales, g.opacities, g.colors)


def densify_and_prune(scene: GaussianScene, grad_mean: torch.Tensor, grad_threshold: float, split_scale: float,
                      min_opacity: float, max_scale: float, max_gaussians: int, seed: int
                      ) -> tuple[GaussianScene, dict]:
    """3DGS adaptive density control on the mean positional gradient (N,): a new scene and counts of what changed."""
    device = scene.means.device
    t = {k: v.cpu() for k, v in scene.tensors().items()}  # on the CPU: the split samples use a CPU generator
    grad_mean = grad_mean.cpu()
    n = len(scene)
    scale = torch.exp(t["log_scales"]).amax(1)  # (N,)
    grow = grad_mean >= grad_threshold
    room = max(0, max_gaussians - n)
    if int(grow.sum()) > room:  # keep the largest gradients within the budget
        keep = grad_mean.masked_fill(~grow, -1).topk(room).indices
        grow = torch.zeros_like(grow)
        grow[keep] = True
    clone, split = grow & (scale <= split_scale), grow & (scale > split_scale)
    g = torch.Generator().manual_seed(seed)
    parts = [{k: v for k, v in t.items()}]
    if clone.any():  # a copy at the same place; the optimiser moves them apart
        parts.append({k: v[clone] for k, v in t.items()})
    if split.any():  # two samples from the parent's distribution, scales / 1.6
        std = torch.exp(t["log_scales"][split])
        rot = quat_to_rotmat(t["quats"][split])
        for _ in range(2):
            offset = (rot @ (torch.randn(std.shape, generator=g) * std)[..., None])[..., 0]
            parts.append({**{k: v[split] for k, v in t.items()}, "means": t["means"][split] + offset,
                          "log_scales": t["log_scales"][split] - math.log(1.6)})
    merged = {k: torch.cat([p[k] for p in parts]) for k in PARAMS}
    alive = torch.ones(len(merged["means"]), dtype=torch.bool)
    alive[:n] = ~split  # split parents are replaced by their children
    alive &= torch.sigmoid(merged["opacity_logits"]) >= min_opacity
    alive &= torch.exp(merged["log_scales"]).amax(1) <= max_scale
    new = GaussianScene({k: v[alive] for k, v in merged.items()}).to(device)
    stats = {"cloned": int(clone.sum()), "split": int(split.sum()), "pruned": int((~alive).sum()) - int(split.sum()),
             "gaussians": len(new)}
    return new, stats
