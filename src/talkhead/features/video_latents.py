"""Video latents of the face crop: train the offline video VAE, load an encoder backend, encode a clip.

Two backends produce per-frame latents (the posterior mean, times a scaling factor, as latent
diffusion does: https://arxiv.org/abs/2112.10752): `video_vae`, the small video autoencoder of
talkhead.models.video_vae trained here on the accepted crops (the offline default), and
`autoencoder_kl`, a diffusers AutoencoderKL loaded from a local save_pretrained folder (e.g. the
Stable Diffusion VAE). Latents are one per video frame. Clips are encoded in batches of frames, so
memory does not grow with their length; the video VAE's causal temporal mixing gets the frames
before each batch as context, so a batched clip encodes as a single pass would.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from talkhead.atomic import write_json, write_text
from talkhead.config import ConfigError, VideoLatentsConfig, VideoVaeConfig
from talkhead.features.precision import DTYPES, autocast, compute_dtype
from talkhead.media.decode import count_frames_cfr, iter_frames_cfr
from talkhead.media.probe import probe
from talkhead.models.checkpoint import deterministic, file_digest, read_checkpoint  # noqa: F401 (re-exported)
from talkhead.models.video_vae import VideoVAE, VideoVAESpec, kl_divergence

log = logging.getLogger(__name__)

VERSION = "video-latents-1"
MODEL_FORMAT = "talkhead-video-vae-1"
MAX_WINDOWS = 250  # training windows kept per clip (evenly spaced)
CACHE_BYTES = 2 << 30  # bound on the uint8 frame cache of training, over all clips
SCALE_WINDOWS = 256  # windows encoded after training to measure the latents' spread


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 → (N, size, size, 3) uint8 (area filter when shrinking, bilinear otherwise)."""
    if frames.shape[1:3] == (size, size):
        return frames
    interp = cv2.INTER_AREA if min(frames.shape[1:3]) >= size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (size, size), interpolation=interp) for f in frames])


def to_tensor(frames: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(..., H, W, 3) uint8 → (..., 3, H, W) float32 in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return (x.movedim(-1, -3).float() / 127.5 - 1.0).contiguous()


# --- training ------------------------------------------------------------------------------------------

def _window_starts(n_frames: int, frames: int, cap: int) -> np.ndarray:
    """Start indices of at most `cap` evenly spaced windows of `frames` consecutive frames."""
    n = n_frames - frames + 1
    if n <= cap:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, cap)).astype(np.int64))


def _cache_clip(path: Path, size: int, frames: int, cap: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(the frames the windows need (K, size, size, 3) uint8, window starts into them), or None if too short."""
    rate = (probe(path)["video"] or {}).get("fps")
    if not rate:
        raise ValueError(f"{path}: no video frame rate to decode the crop at")
    fps = int(round(rate))
    total = count_frames_cfr(path, fps)
    if total < frames:
        log.warning("%s: %d frames, fewer than a %d-frame window; not used for training", path, total, frames)
        return None
    starts = _window_starts(total, frames, cap)
    needed = np.unique((starts[:, None] + np.arange(frames)).reshape(-1))  # sorted frame indices
    keep = np.zeros(total, bool)
    keep[needed] = True
    kept = []
    frames_iter = iter_frames_cfr(path, fps, frames=total)
    for i, rgb in enumerate(frames_iter):
        if keep[i]:
            kept.append(resize_frames(rgb[None], size)[0])
        if i == needed[-1]:
            break
    frames_iter.close()  # closes the container now rather than when collected
    return np.stack(kept), np.searchsorted(needed, starts)  # a window's frames are contiguous in `kept`


def _batches(cache: list[tuple[np.ndarray, np.ndarray]], cfg: VideoVaeConfig,
             rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless training batches (B, T, S, S, 3) uint8: random clip, random window, random horizontal flip."""
    while True:
        batch = []
        for _ in range(cfg.batch_size):
            clip_frames, starts = cache[rng.integers(len(cache))]
            s = starts[rng.integers(len(starts))]
            window = clip_frames[s:s + cfg.frames]  # (T, S, S, 3)
            batch.append(window[:, :, ::-1] if rng.random() < 0.5 else window)
        yield np.stack(batch)


def _scaling_factor(model: VideoVAE, cache: list[tuple[np.ndarray, np.ndarray]], frames: int,
                    device: torch.device) -> float:
    """1 / std of the posterior means over up to SCALE_WINDOWS evenly spaced training windows."""
    windows = [(c, s) for c, (_, starts) in enumerate(cache) for s in starts]
    pick = np.unique(np.round(np.linspace(0, len(windows) - 1, min(SCALE_WINDOWS, len(windows)))).astype(int))
    total, total_sq, count = 0.0, 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(pick), 16):
            batch = np.stack([cache[windows[j][0]][0][windows[j][1]:windows[j][1] + frames] for j in pick[i:i + 16]])
            mean = model.encode(to_tensor(batch, device))[0].double()  # (b, T, C, h, w)
            total, total_sq = total + mean.sum().item(), total_sq + mean.pow(2).sum().item()
            count += mean.numel()
    std = math.sqrt(max(total_sq / count - (total / count) ** 2, 1e-12))
    return 1.0 / std


def _save_weights(model: VideoVAE, path: Path) -> None:
    """The state dict (sorted keys, CPU, contiguous) as safetensors: weights only, no pickle."""
    state = {k: v.detach().cpu().contiguous() for k, v in sorted(model.state_dict().items())}
    save_file(state, str(path), metadata={"format": "pt"})


def _build_cache(crop_files: list[Path], size: int, frames: int) -> tuple[list[str], list, int]:
    """(clip names, per-clip (frames, window starts), the per-clip window cap) of the crops long enough."""
    per_clip = CACHE_BYTES // max(1, len(crop_files) * frames * size * size * 3)
    cap = int(min(MAX_WINDOWS, max(1, per_clip)))
    named = [(Path(p).parent.name, _cache_clip(Path(p), size, frames, cap)) for p in crop_files]
    clips, cache = [n for n, c in named if c is not None], [c for _, c in named if c is not None]
    if not cache:
        raise ConfigError(f"no crop has {frames} frames to train the video VAE on ({len(crop_files)} given; video_vae.frames)")
    log.info("video VAE: %d clips, %d windows of %d frames at %d px (%.0f MB cached)", len(cache),
             sum(len(s) for _, s in cache), frames, size, sum(f.nbytes for f, _ in cache) / 2**20)
    return clips, cache, cap


def _fit(model: VideoVAE, cache: list, cfg: VideoVaeConfig, device: torch.device, log_every: int) -> list[tuple]:
    """cfg.steps AdamW steps on L1 + MSE + kl_weight · KL; rows (step, loss, recon, kl), means since the last row."""
    rng = np.random.default_rng(cfg.seed)
    noise = torch.Generator(device=device).manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    bf16_on_gpu = torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda")
    rows: list[tuple] = []
    acc = np.zeros(3)
    batches = _batches(cache, cfg, rng)
    bar = tqdm(range(1, cfg.steps + 1), desc="video_vae", unit="step", disable=not sys.stderr.isatty())
    model.train()
    for step in bar:
        x = to_tensor(next(batches), device)  # (B, T, 3, S, S)
        with bf16_on_gpu:
            mean, logvar = model.encode(x)  # (B, T, C, h, w)
            eps = torch.randn(mean.shape, generator=noise, device=device, dtype=mean.dtype)
            recon = model.decode(mean + torch.exp(0.5 * logvar) * eps).float()  # (B, T, 3, S, S)
        err = recon - x
        rec = err.abs().mean() + err.pow(2).mean()
        kl = kl_divergence(mean.float(), logvar.float())
        loss = rec + cfg.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc += [loss.item(), rec.item(), kl.item()]
        if step % log_every == 0 or step == cfg.steps:
            since = step - (rows[-1][0] if rows else 0)
            rows.append((step, *(acc / since).tolist()))
            acc[:] = 0.0
            bar.set_postfix(loss=f"{rows[-1][1]:.4f}")
            log.info("step %d/%d: loss %.4f (recon %.4f, kl %.2f)", step, cfg.steps, *rows[-1][1:])
    return rows


def train_video_vae(crop_files: list[Path], spec: VideoVAESpec, cfg: VideoVaeConfig, out_dir: Path,
                    log_every: int = 10) -> dict:
    """Train the video VAE on crop videos; write config.json, model.safetensors and loss.csv to `out_dir`."""
    t0 = time.monotonic()
    device = torch.device(cfg.device)
    clips, cache, cap = _build_cache(crop_files, spec.size, cfg.frames)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        model = VideoVAE(spec).to(device)
    rows = _fit(model, cache, cfg, device, max(1, log_every))
    model.eval()
    scale = _scaling_factor(model, cache, cfg.frames, device)
    model.scaling_factor.fill_(scale)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_weights(model, out_dir / "model.safetensors")
    write_text(out_dir / "loss.csv", "step,loss,recon,kl\n" + "".join(
        f"{s},{a:.6f},{b:.6f},{c:.6f}\n" for s, a, b, c in rows))
    n_windows = sum(len(s) for _, s in cache)
    train = {k: getattr(cfg, k) for k in ("steps", "batch_size", "frames", "lr", "kl_weight", "seed", "device")}
    write_json(out_dir / "config.json", {
        "format": MODEL_FORMAT, "version": VERSION, "spec": spec.to_dict(), "train": train | {"log_every": log_every},
        "data": {"clips": clips, "windows": n_windows, "windows_per_clip_cap": cap},
        "losses": dict(zip(("loss", "recon", "kl"), (round(v, 6) for v in rows[-1][1:]))), "scaling_factor": scale})
    return {"clips": len(clips), "windows": n_windows, "steps": cfg.steps, "first_loss": rows[0][1],
            "final_loss": rows[-1][1], "scaling_factor": scale, "seconds": time.monotonic() - t0}


# --- encoders -----------------------------------------------------------------------------------------

class LatentEncoder(ABC):
    """A frame encoder: uint8 RGB frames → per-frame latents (scaled posterior means)."""

    name: str  # the `extractor` written into feature files
    identity: str  # identifies the weights: sha256:<16 hex>
    size: int  # frames are resized to size × size
    context: int = 0  # frames before a batch that the first latent of the batch depends on
    scaling_factor: float = 1.0

    @abstractmethod
    def encode(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 consecutive frames → (N, C, h, w) float32 latents."""


class VideoVAEEncoder(LatentEncoder):
    """The trained talkhead video VAE."""

    name = "talkhead-video-vae"

    def __init__(self, model: VideoVAE, identity: str, device: str = "cpu", dtype: str = "float32") -> None:
        self.model, self.identity, self.device = model.eval(), identity, torch.device(device)
        self.dtype = compute_dtype(dtype, device, "video_latents")
        self.size, self.context = model.spec.size, model.temporal_context
        self.scaling_factor = float(model.scaling_factor)

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 → (N, C, h, w) float32; the N frames are one sequence (temporal mixing)."""
        x = to_tensor(resize_frames(frames, self.size), self.device)[None]  # (1, N, 3, S, S)
        with torch.inference_mode(), autocast(self.device, self.dtype):
            mean = self.model.encode(x)[0][0].float()  # (N, C, h, w)
        return (mean * self.scaling_factor).cpu().numpy()


class AutoencoderKLEncoder(LatentEncoder):
    """A diffusers AutoencoderKL (image VAE: frames are encoded independently)."""

    name = "diffusers-autoencoder-kl"

    def __init__(self, vae: torch.nn.Module, identity: str, size: int, device: str = "cpu",
                 dtype: str = "float32") -> None:
        self.vae, self.identity, self.size = vae.eval(), identity, size
        self.device, self.dtype = torch.device(device), compute_dtype(dtype, device, "video_latents")
        self.scaling_factor = float(vae.config.scaling_factor)
        self.shift_factor = float(getattr(vae.config, "shift_factor", None) or 0.0)  # SD3/FLUX VAEs; 0 for SD

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 → (N, C, size/f, size/f) float32: (mean − shift) · scaling_factor."""
        x = to_tensor(resize_frames(frames, self.size), self.device)  # (N, 3, S, S)
        with torch.inference_mode(), autocast(self.device, self.dtype):
            mean = self.vae.encode(x).latent_dist.mean.float()  # (N, C, h, w)
        return ((mean - self.shift_factor) * self.scaling_factor).cpu().numpy()


def load_video_vae(model_dir: str | Path, device: str = "cpu", dtype: str = "float32") -> VideoVAEEncoder:
    """The video VAE written by train_video_vae (config.json + model.safetensors), in eval mode on `device`."""
    meta, state, weights = read_checkpoint(model_dir, "model.safetensors", MODEL_FORMAT, "a trained video VAE")
    model = VideoVAE(VideoVAESpec.from_dict(meta["spec"]))
    model.load_state_dict(state, strict=True)
    encoder = VideoVAEEncoder(model.to(device), file_digest([weights]), device, dtype)
    log.info("video VAE %s (%s) on %s/%s", model_dir, encoder.identity, device, dtype)
    return encoder


def autoencoder_kl_folder(checkpoint: str) -> Path:
    """The folder holding the AutoencoderKL config.json: `checkpoint` itself or its `vae/` subfolder."""
    if not checkpoint:
        raise ConfigError("video_latents.checkpoint is empty: set it to an AutoencoderKL save_pretrained folder")
    path = Path(checkpoint).expanduser()
    if not path.is_dir():
        raise ConfigError(f"AutoencoderKL checkpoint folder not found: {path}")
    for folder in (path, path / "vae"):
        if (folder / "config.json").is_file():
            return folder
    raise ConfigError(f"{path}: no config.json in it or in {path / 'vae'}: not an AutoencoderKL save_pretrained folder")


def load_autoencoder_kl(checkpoint: str | Path, size: int, device: str = "cpu",
                        dtype: str = "float32") -> AutoencoderKLEncoder:
    """A diffusers AutoencoderKL from a local folder (or its `vae/` subfolder), offline, in eval mode."""
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    folder = autoencoder_kl_folder(str(checkpoint))
    from diffusers import AutoencoderKL  # heavy and optional: only this backend needs it

    try:
        vae = AutoencoderKL.from_pretrained(str(folder), local_files_only=True, low_cpu_mem_usage=False)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"cannot load an AutoencoderKL from {folder}: {exc}") from exc
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    if size % factor:
        raise ConfigError(f"video_latents.size {size} is not a multiple of the VAE's downsampling factor {factor}")
    weights = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
    encoder = AutoencoderKLEncoder(vae.to(device), file_digest(weights), size, device, dtype)
    log.info("AutoencoderKL %s (%s, scaling %.5f) on %s/%s", folder, encoder.identity, encoder.scaling_factor,
             device, dtype)
    return encoder


BACKENDS: dict[str, Callable[[VideoLatentsConfig, Path | None], LatentEncoder]] = {
    "video_vae": lambda cfg, model_dir: load_video_vae(model_dir, cfg.device, cfg.dtype),
    "autoencoder_kl": lambda cfg, _: load_autoencoder_kl(cfg.checkpoint, cfg.size, cfg.device, cfg.dtype),
}


def load_encoder(cfg: VideoLatentsConfig, model_dir: str | Path | None = None) -> LatentEncoder:
    """The encoder of `cfg.backend` (the trained video VAE in `model_dir`, or cfg.checkpoint)."""
    if cfg.backend == "video_vae" and model_dir is None:
        raise ConfigError("video_latents backend video_vae needs the trained model folder (--model)")
    return BACKENDS[cfg.backend](cfg, None if model_dir is None else Path(model_dir))


# --- per clip -----------------------------------------------------------------------------------------

def encode_clip(encoder: LatentEncoder, crop_mp4: str | Path, fps: int, frames: int,
                batch_frames: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(latents (T, C, h, w) float16, first-frame latent (C, h, w) float16) of a crop, `batch_frames` at a time."""
    if frames < 1 or batch_frames < 1:
        raise ValueError(f"{crop_mp4}: frames ({frames}) and batch_frames ({batch_frames}) must be >= 1")
    out: np.ndarray | None = None
    pending: list[np.ndarray] = []
    carry: list[np.ndarray] = []  # the frames before `pending` that the encoder needs as context
    done = 0

    def flush() -> None:
        nonlocal out, done, carry
        lat = encoder.encode(np.stack(carry + pending))[len(carry):]  # (n, C, h, w)
        if out is None:
            out = np.empty((frames, *lat.shape[1:]), np.float16)
        out[done:done + len(lat)] = lat
        done += len(lat)
        carry = (carry + pending)[-encoder.context:] if encoder.context else []
        pending.clear()

    n = 0
    for rgb in iter_frames_cfr(crop_mp4, fps):
        n += 1
        if n > frames:
            raise ValueError(f"{crop_mp4}: more than the {frames} frames the clip has")
        pending.append(rgb)
        if len(pending) == batch_frames:
            flush()
    if n != frames:
        raise ValueError(f"{crop_mp4}: {n} frames decoded for a {frames}-frame clip")
    if pending:
        flush()
    if not np.isfinite(out).all():
        raise ValueError(f"{crop_mp4}: latents overflow float16 (or are NaN) with {encoder.name} {encoder.identity}")
    return out, out[0].copy()
