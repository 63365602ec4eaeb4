"""Rectified flow (flow matching) for the motion generator: training pairs, the loss target and the Euler sampler.

Flow matching with straight paths (Lipman et al., https://arxiv.org/abs/2210.02747; Liu et al.,
rectified flow, https://arxiv.org/abs/2209.03003), as MoDA (https://arxiv.org/abs/2507.03256) uses it.

Convention (MoDA's): t = 0 is noise, t = 1 is data. With x0 ~ N(0, I) and x1 the (normalised) data,
    x_t = t · x1 + (1 − t) · x0,    target velocity v = dx_t/dt = x1 − x0,
and sampling integrates dx/dt = v(x, t) from t = 0 to 1 with Euler steps.

Time shift (SD3, https://arxiv.org/abs/2403.03206): SD3 shifts the noise level σ = 1 − t as
σ' = s·σ / (1 + (s − 1)·σ); in our t this is t' = t / (s − (s − 1)·t). s > 1 spends more of the
steps (and of the training draws) near the noise end; s = 1 is no shift. The same shift is applied
to the training draws and to the sampling grid, so training sees the times sampling visits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x (B, N, C), t (B,)) → v (B, N, C)


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """SD3's time shift in the t = 0 noise convention: t' = t / (s − (s − 1)·t); s = 1 leaves t as is."""
    if shift <= 0:
        raise ValueError(f"time shift must be > 0, got {shift}")
    if shift == 1.0:
        return t
    return t / (shift - (shift - 1.0) * t)


def train_times(n: int, kind: str, shift: float, generator: torch.Generator) -> torch.Tensor:
    """(n,) training times in [0, 1]: uniform or logit-normal (SD3: sigmoid of a standard normal), then shifted."""
    if kind == "uniform":
        t = torch.rand(n, generator=generator)
    elif kind == "logit_normal":
        t = torch.sigmoid(torch.randn(n, generator=generator))
    else:
        raise ValueError(f"unknown time sampling {kind!r} (uniform or logit_normal)")
    return shift_time(t, shift)


def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = t·x1 + (1 − t)·x0 with t (B,) broadcast over the other axes."""
    tb = t.reshape(-1, *([1] * (x1.dim() - 1)))
    return tb * x1 + (1.0 - tb) * x0


def target_velocity(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """The straight path's velocity, x1 − x0."""
    return x1 - x0


def sample_times(steps: int, shift: float) -> torch.Tensor:
    """(steps + 1,) the Euler grid from 0 (noise) to 1 (data), shifted."""
    if steps < 1:
        raise ValueError(f"need at least one sampling step, got {steps}")
    return shift_time(torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64), shift).float()


def euler_sample(velocity: Velocity, x0: torch.Tensor, steps: int, shift: float = 1.0) -> torch.Tensor:
    """Integrate dx/dt = velocity(x, t) from x0 at t = 0 to t = 1 in `steps` Euler steps."""
    grid = sample_times(steps, shift)
    x = x0
    for i in range(steps):
        t = grid[i].expand(x.shape[0])  # (B,)
        x = x + (grid[i + 1] - grid[i]) * velocity(x, t)
    return x


def guided(v_uncond: torch.Tensor | None, v_cond: torch.Tensor | None, scale: float) -> torch.Tensor:
    """Classifier-free guidance v_u + scale·(v_c − v_u); scale 1 returns v_c and 0 returns v_u exactly."""
    if scale == 1.0:
        return v_cond
    if scale == 0.0:
        return v_uncond
    return v_uncond + scale * (v_cond - v_uncond)
