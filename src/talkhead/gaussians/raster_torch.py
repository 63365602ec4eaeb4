"""A differentiable 3D Gaussian splatting rasterizer in pure PyTorch: project, sort by depth, composite per tile.

Kerbl et al. 2023, "3D Gaussian Splatting for Real-Time Radiance Field Rendering"
(https://arxiv.org/abs/2308.04079), with the EWA projection of Zwicker et al. 2002: the 3D covariance
R S Sᵀ Rᵀ goes to the image through the camera rotation and the Jacobian of the perspective map, plus
`eps2d` on the diagonal (gsplat's and the reference's 0.3 px² low-pass). Each Gaussian is binned into
the 16 px tiles its 3σ box touches; pairs are sorted by (tile, depth) and every tile alpha-composites
front to back: α = min(0.99, o · exp(−½ dᵀ Σ⁻¹ d)), contributions below 1/255 dropped (as in the
CUDA kernels), C = Σ cᵢ αᵢ Πⱼ<ᵢ (1 − αⱼ). Tiles are taken in order of decreasing load and processed in
chunks padded to their own busiest tile, so the work is a few batched tensor ops rather than a Python
loop per pixel, with little padding; autograd gives the gradients (checked numerically in
tests/unit/gaussians/test_gaussians_raster_torch.py). The one difference to the CUDA kernels: no early
stop once a pixel's transmittance falls below 1e-4 (a negligible change).
Runs on CPU or GPU, in float32 or float64; meant for tests, CPU training and small images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from talkhead.gaussians.camera import Camera
from talkhead.gaussians.raster_base import Gaussians

TILE = 16
ALPHA_MIN, ALPHA_MAX = 1.0 / 255.0, 0.99
CHUNK_ELEMENTS = 1 << 21  # pixel × Gaussian pairs per compositing chunk (memory bound)


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """(N, 4) quaternions w, x, y, z (any norm) → (N, 3, 3) rotation matrices."""
    w, x, y, z = F.normalize(quats, dim=-1).unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(-1, 3, 3)


def project(g: Gaussians, cam: Camera, eps2d: float = 0.3, near: float = 0.01
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """EWA projection: (means2d (N, 2), conics (N, 3) = a, b, c of Σ⁻¹, depths (N,), radii (N,), visible (N,))."""
    R, t = cam.viewmat[:3, :3], cam.viewmat[:3, 3]
    p = g.means @ R.T + t  # (N, 3) camera coordinates
    x, y, z = p.unbind(-1)
    zc = z.clamp(min=near)
    fx, fy, cx, cy = cam.K[0, 0], cam.K[1, 1], cam.K[0, 2], cam.K[1, 2]
    means2d = torch.stack([fx * x / zc + cx, fy * y / zc + cy], -1)  # (N, 2)
    M = quat_to_rotmat(g.quats) * g.scales[:, None, :]  # (N, 3, 3) R S
    cov_cam = R @ (M @ M.transpose(1, 2)) @ R.T  # (N, 3, 3)
    zero = torch.zeros_like(zc)
    J = torch.stack([fx / zc, zero, -fx * x / zc ** 2, zero, fy / zc, -fy * y / zc ** 2], -1).reshape(-1, 2, 3)
    cov2d = J @ cov_cam @ J.transpose(1, 2)  # (N, 2, 2)
    a, b, c = cov2d[:, 0, 0] + eps2d, cov2d[:, 0, 1], cov2d[:, 1, 1] + eps2d
    det = a * c - b * b
    visible = (z > near) & (det > 0)
    det = torch.where(visible, det, torch.ones_like(det))
    conics = torch.stack([c / det, -b / det, a / det], -1)  # (N, 3)
    with torch.no_grad():
        mid = 0.5 * (a + c)
        lam = mid + torch.sqrt((mid * mid - det).clamp(min=0.1))
        radii = torch.ceil(3.0 * torch.sqrt(lam))
    return means2d, conics, z, radii, visible


def _bin(means2d: torch.Tensor, radii: torch.Tensor, depths: torch.Tensor, visible: torch.Tensor,
         width: int, height: int, tile: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """The (tiles, M) table of Gaussian indices per tile, front to back, padded with N (a dummy), and (tiles,)
    counts."""
    n = means2d.shape[0]
    tw, th = math.ceil(width / tile), math.ceil(height / tile)
    with torch.no_grad():
        u, v = means2d[:, 0], means2d[:, 1]
        inside = visible & (u + radii >= 0) & (u - radii < width) & (v + radii >= 0) & (v - radii < height)
        x0 = torch.floor((u - radii) / tile).clamp(0, tw - 1).long()
        x1 = torch.floor((u + radii) / tile).clamp(0, tw - 1).long()
        y0 = torch.floor((v - radii) / tile).clamp(0, th - 1).long()
        y1 = torch.floor((v + radii) / tile).clamp(0, th - 1).long()
        nx = x1 - x0 + 1
        count = torch.where(inside, nx * (y1 - y0 + 1), torch.zeros_like(nx))  # (N,) tiles touched
        gid = torch.repeat_interleave(torch.arange(n, device=count.device), count)  # (P,) pairs
        local = torch.arange(gid.numel(), device=count.device) - torch.repeat_interleave(count.cumsum(0) - count,
                                                                                          count)
        tiles = (y0[gid] + local // nx[gid]) * tw + x0[gid] + local % nx[gid]
        rank = torch.empty(n, dtype=torch.long, device=count.device)
        rank[torch.argsort(depths)] = torch.arange(n, device=count.device)
        order = torch.argsort(tiles * n + rank[gid])
        gid, tiles = gid[order], tiles[order]
        per_tile = torch.bincount(tiles, minlength=tw * th)
        width_m = max(int(per_tile.max()) if per_tile.numel() else 0, 1)
        pos = torch.arange(gid.numel(), device=count.device) - (per_tile.cumsum(0) - per_tile)[tiles]
        table = torch.full((tw * th, width_m), n, dtype=torch.long, device=count.device)
        table[tiles, pos] = gid
    return table, per_tile, tw, th


def rasterize(g: Gaussians, cam: Camera, tile: int = TILE, eps2d: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Render `g` seen by `cam`: (rgb (H, W, 3) composited over black, alpha (H, W, 1))."""
    W, H = cam.width, cam.height
    means2d, conics, depths, radii, visible = project(g, cam, eps2d)
    table, counts, tw, th = _bin(means2d, radii, depths, visible, W, H, tile)
    dev, dt = means2d.device, means2d.dtype
    # a dummy Gaussian N with zero opacity pads the table
    m2 = torch.cat([means2d, means2d.new_zeros(1, 2)])
    con = torch.cat([conics, conics.new_zeros(1, 3)])
    opa = torch.cat([torch.where(visible, g.opacities, torch.zeros_like(g.opacities)), g.opacities.new_zeros(1)])
    col = torch.cat([g.colors, g.colors.new_zeros(1, 3)])
    ty, tx = torch.meshgrid(torch.arange(th, device=dev), torch.arange(tw, device=dev), indexing="ij")
    py, px = torch.meshgrid(torch.arange(tile, device=dev), torch.arange(tile, device=dev), indexing="ij")
    pix = torch.stack([(tx.reshape(-1, 1) * tile + px.reshape(1, -1)).to(dt) + 0.5,
                       (ty.reshape(-1, 1) * tile + py.reshape(1, -1)).to(dt) + 0.5], -1)  # (tiles, P, 2)
    # tiles in order of decreasing load, each chunk padded only to its own busiest tile
    order = torch.argsort(counts, descending=True, stable=True)
    n_pix, done, rgbs, alphas = tile * tile, 0, [], []
    while done < len(order):
        m = max(int(counts[order[done]]), 1)
        ids = order[done:done + max(1, CHUNK_ELEMENTS // (n_pix * m))]
        done += len(ids)
        idx = table[ids, :m]  # (k, m)
        d = pix[ids][:, :, None, :] - m2[idx][:, None, :, :]  # (k, P, m, 2)
        a, b, c = con[idx].unbind(-1)  # (k, m) each
        power = -0.5 * (a[:, None] * d[..., 0] ** 2 + c[:, None] * d[..., 1] ** 2) - b[:, None] * d[..., 0] * d[..., 1]
        alpha = (opa[idx][:, None, :] * torch.exp(power.clamp(max=0.0))).clamp(max=ALPHA_MAX)  # (k, P, m)
        alpha = torch.where(alpha < ALPHA_MIN, torch.zeros_like(alpha), alpha)
        trans = torch.cumprod(1.0 - alpha, dim=-1)  # (k, P, m) transmittance after each Gaussian
        before = torch.cat([torch.ones_like(trans[..., :1]), trans[..., :-1]], -1)
        rgbs.append(torch.einsum("kpm,kmc->kpc", alpha * before, col[idx]))  # (k, P, 3)
        alphas.append(1.0 - trans[..., -1:])  # (k, P, 1)
    back = torch.argsort(order)  # chunk order → tile order

    def image(tiles: list[torch.Tensor], ch: int) -> torch.Tensor:
        x = torch.cat(tiles)[back].reshape(th, tw, tile, tile, ch).permute(0, 2, 1, 3, 4)
        return x.reshape(th * tile, tw * tile, ch)[:H, :W]
    return image(rgbs, 3), image(alphas, 1)
