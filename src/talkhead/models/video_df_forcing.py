"""Diffusion forcing for DualForce: per-frame noise levels, the training losses and sliding-window sampling.

Diffusion Forcing (Chen et al., https://arxiv.org/abs/2407.01392) trains a causal sequence denoiser
with an independent noise level per token group (here: per frame and per tower), so one model can
denoise the next frames while the earlier ones are clean, and generate sequences of any length
window by window. Flow matching with straight paths (talkhead.models.flow_matching; t = 0 noise,
t = 1 data, σ = 1 − t): x_t = t·x1 + (1 − t)·x0, target velocity x1 − x0.

Training draws, per sample, with probability `context_prob` a clean prefix of frames (t = 1 in both
towers: the context a sliding window sees) and independent logit-normal (or uniform) times for the
other frames of each tower. Losses: velocity MSE of the video latents and of the structure over the
frames that are not context, and a lip term: MSE of the predicted clean lip keypoints
(x̂1 = x_t + (1 − t)·v̂) on frames with speech, from the features (talkhead.features.motion's lip points).

Sampling: a window of W frames slides by S: its first W − S frames are context (already generated,
clean), the S new frames start from noise and follow a per-frame "pyramid" schedule
(frame j of the block starts `lag`·j steps later, so later frames stay noisier, as in diffusion
forcing's causal uncertainty), with classifier-free guidance on audio. The first frame is the
reference itself. With the KV cache, one clean pass per window caches the context's keys and values
and every denoising step then runs the S new frames only; the cache is rebuilt when the window slides,
so each window sees exactly what a training window sees (no keys computed from frames that have left
it). `use_cache=False` runs the same schedule with full attention over the whole window each step:
both give the same result (tests check it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from talkhead.models import flow_matching as fm
from talkhead.models.video_df import LIP_CHANNELS, DFCond, DualForce
from talkhead.models.video_df_attention import KVCache


def frame_times(b: int, t: int, kind: str, shift: float, g: torch.Generator) -> torch.Tensor:
    """(B, T) independent per-frame training times (uniform or logit-normal, SD3-shifted)."""
    return fm.train_times(b * t, kind, shift, g).reshape(b, t)


def context_prefix(b: int, t: int, prob: float, g: torch.Generator) -> torch.Tensor:
    """(B, T) bool: a clean prefix of 1 … T − 1 frames for a `prob` share of the samples, else none."""
    has = torch.rand(b, generator=g) < prob
    length = torch.randint(1, max(t, 2), (b,), generator=g) * has  # (B,)
    return torch.arange(t)[None, :] < length[:, None]


def noised(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = t·x1 + (1 − t)·x0 with per-frame t (B, T) broadcast over the trailing axes of x (B, T, …)."""
    tb = t.reshape(*t.shape, *([1] * (x1.dim() - 2)))
    return tb * x1 + (1.0 - tb) * x0


@dataclass(frozen=True)
class LossWeights:
    """Weights of the video, structure and lip-sync terms (params: dualforce.loss_video, loss_struct, loss_lip)."""

    video: float
    struct: float
    lip: float


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted squared error per frame (B, T) (mean over the other axes), averaged over all B·T frames.

    Dividing by B·T rather than by the weights' sum keeps a batch's loss the mean of its samples' losses,
    so data-parallel shards average to exactly the full batch's loss."""
    err = (pred.float() - target.float()).pow(2).flatten(2).mean(-1)  # (B, T)
    return (err * weight).mean()


def forcing_loss(model: DualForce, latents: torch.Tensor, motion: torch.Tensor, cond: DFCond, speech: torch.Tensor,
                 weights: LossWeights, kind: str, shift: float, context_prob: float, g: torch.Generator,
                 share: tuple[int, int] | None = None) -> dict[str, torch.Tensor]:
    """The weighted loss and its terms for clean latents (B, T, C, h, w), motion (B, T, 70), speech (B, T) in [0, 1].

    `share` = (offset, global batch): the batch is rows offset … offset + B of a global batch whose
    context, times and noise are drawn whole from `g` (every data-parallel rank draws the same)."""
    b, t = motion.shape[:2]
    first, whole = share or (0, b)
    rows = slice(first, first + b)
    ctx = context_prefix(whole, t, context_prob, g)[rows]  # (B, T) clean context frames
    tv = torch.where(ctx, 1.0, frame_times(whole, t, kind, shift, g)[rows]).to(latents.device)
    ts = torch.where(ctx, 1.0, frame_times(whole, t, kind, shift, g)[rows]).to(latents.device)
    x0v = torch.randn((whole, *latents.shape[1:]), generator=g)[rows].to(latents.device)
    x0s = torch.randn((whole, *motion.shape[1:]), generator=g)[rows].to(latents.device)
    xv, xs = noised(x0v, latents, tv), noised(x0s, motion, ts)
    vv, vs = model(xv, xs, tv, ts, cond)
    live = (~ctx).float().to(latents.device)  # (B, T) frames the model must denoise
    video = _masked_mse(vv, latents - x0v, live)
    struct = _masked_mse(vs, motion - x0s, live)
    x1_hat = xs + (1.0 - ts)[..., None] * vs  # (B, T, 70) predicted clean structure
    lip = _masked_mse(x1_hat[..., LIP_CHANNELS], motion[..., LIP_CHANNELS], live * speech.to(live.device))
    loss = weights.video * video + weights.struct * struct + weights.lip * lip
    return {"loss": loss, "video": video, "struct": struct, "lip": lip}


def pyramid_schedule(steps: int, frames: int, lag: int, shift: float) -> torch.Tensor:
    """(steps + (frames − 1)·lag + 1, frames) flow times: frame j runs its `steps` Euler steps starting at j·lag."""
    if steps < 1 or frames < 1 or lag < 0:
        raise ValueError(f"bad schedule: steps {steps}, frames {frames}, lag {lag}")
    total = steps + (frames - 1) * lag
    k = torch.arange(total + 1, dtype=torch.float64)[:, None] - lag * torch.arange(frames, dtype=torch.float64)
    return fm.shift_time((k / steps).clamp(0.0, 1.0), shift).float()


@dataclass(frozen=True)
class SampleSettings:
    """Sliding-window sampling: window W, stride S (new frames per window), steps, lag, shift, CFG scale (from the
    model's config.json: talkhead.infer.dualforce.settings_for)."""

    window: int
    stride: int
    steps: int
    lag: int
    shift: float
    cfg_scale: float

    def __post_init__(self) -> None:
        if not 1 <= self.stride <= self.window - 1:
            raise ValueError(f"stride {self.stride} must be in 1 … window − 1 = {self.window - 1} (context ≥ 1)")


Velocity = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def _guided(model: DualForce, settings: SampleSettings, cond: DFCond) -> Velocity:
    """The model with CFG on audio: v_u + s·(v_c − v_u) for both towers (one batched pass holding both)."""
    s = settings.cfg_scale
    b = cond.ref_latent.shape[0]
    drop = torch.ones(b, dtype=torch.bool, device=cond.ref_latent.device)
    paired = cond.repeat(drop) if s not in (0.0, 1.0) else DFCond(
        cond.ref_latent, cond.ref_struct, cond.audio, cond.audio_start, drop if s == 0.0 else ~drop)

    def velocity(xv, xs, tv, ts, cache, start):
        if s in (0.0, 1.0):
            return model(xv, xs, tv, ts, paired, cache, start)
        two = [torch.cat([z, z]) for z in (xv, xs, tv, ts)]
        vv, vs = model(*two, paired, cache, start)
        (vvc, vvu), (vsc, vsu) = vv.chunk(2), vs.chunk(2)
        return fm.guided(vvu, vvc, s), fm.guided(vsu, vsc, s)

    return velocity


@torch.no_grad()
def generate(model: DualForce, cond: DFCond, frames: int, settings: SampleSettings, generator: torch.Generator,
             use_cache: bool = True, first_struct: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents (B, frames, C, h, w), structure (B, frames, 70)): frame 0 is the reference, then window by window.

    Frame 0's structure is `first_struct` (B, 70) (default: cond.ref_struct; zeros for a model of the
    structure as the residual to the reference)."""
    if frames < 1:
        raise ValueError(f"need at least one frame, got {frames}")
    velocity = _guided(model, settings, cond)
    b, dev = cond.ref_latent.shape[0], cond.ref_latent.device
    first_struct = cond.ref_struct if first_struct is None else first_struct
    out_v, out_s = [cond.ref_latent[:, None]], [first_struct[:, None]]  # frame 0: the reference, clean
    done, context = 1, settings.window - settings.stride
    while done < frames:
        new = min(settings.stride, frames - done)
        grid = pyramid_schedule(settings.steps, new, settings.lag, settings.shift).to(dev)  # (K + 1, new)
        xv = torch.randn(b, new, *out_v[0].shape[2:], generator=generator).to(dev)
        xs = torch.randn(b, new, out_s[0].shape[-1], generator=generator).to(dev)
        ctx = min(context, done)
        ctx_v = torch.cat(out_v, 1)[:, done - ctx:done]  # (B, ctx, C, h, w): the window's clean context
        ctx_s = torch.cat(out_s, 1)[:, done - ctx:done]
        ones = torch.ones(b, ctx, device=dev)
        cache = None
        if use_cache:  # one clean pass caches the context's keys and values for all the steps of this block
            cache = KVCache()
            cache.commit = True
            velocity(ctx_v, ctx_s, ones, ones, cache, done - ctx)
            cache.commit = False
        for k in range(len(grid) - 1):
            t = grid[k].expand(b, new)  # (B, new)
            if cache is not None:
                vv, vs = velocity(xv, xs, t, t, cache, done)
            else:
                full_t = torch.cat([ones, t], 1)
                vv, vs = velocity(torch.cat([ctx_v, xv], 1), torch.cat([ctx_s, xs], 1), full_t, full_t, None,
                                  done - ctx)
                vv, vs = vv[:, ctx:], vs[:, ctx:]
            dt = (grid[k + 1] - grid[k]).expand(b, new)  # (B, new) per-frame step
            xv = xv + dt.reshape(b, new, 1, 1, 1) * vv
            xs = xs + dt[..., None] * vs
        out_v.append(xv)
        out_s.append(xs)
        done += new
    return torch.cat(out_v, 1), torch.cat(out_s, 1)


def speech_weight(mel: torch.Tensor, rows: int) -> torch.Tensor:
    """(B, T) in [0, 1]: how loud each frame's log-mel (B, rows·T, 80) is within its window (speech vs pause)."""
    energy = mel.float().reshape(mel.shape[0], -1, rows, mel.shape[-1]).mean((2, 3))  # (B, T)
    lo, hi = energy.amin(1, keepdim=True), energy.amax(1, keepdim=True)
    return ((energy - lo) / (hi - lo).clamp_min(1e-6)).clamp(0.0, 1.0)

