"""Video latents of the face crop: load an encoder backend, encode a clip (training: talkhead.train.video_vae).

Two backends produce per-frame latents (the posterior mean, times a scaling factor, as latent
diffusion does: https://arxiv.org/abs/2112.10752): `video_vae`, the small video autoencoder of
talkhead.models.video_vae trained on the accepted crops (talkhead.train.video_vae) (the offline default), and
`autoencoder_kl`, a diffusers AutoencoderKL loaded from a local save_pretrained folder (e.g. the
Stable Diffusion VAE). Latents are one per video frame. Clips are encoded in batches of frames, so
memory does not grow with their length; the video VAE's causal temporal mixing gets the frames
before each batch as context, so a batched clip encodes as a single pass would.

The video_latents phase on one clip (`video_latents_clip`): reads data/crop/{clip}/crop.mp4,
data/quality/{clip}/quality.json and (backend video_vae) the trained data/models/video_vae/; writes
data/features/{clip}/video_latents.safetensors with `latents` (T, C, h, w) float16, one per video
frame, and `clip_first_frame` (C, h, w) float16 (the `clip_` prefix marks a per-clip tensor without a
time axis). The metadata's `checkpoint` is the sha256 of the encoder's weights, so latents from
different weights are never mixed up.
"""

from __future__ import annotations

import itertools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from talkhead.config import ConfigError, VideoLatentsConfig
from talkhead.data.featurefile import write_features
from talkhead.data.status import accepted_measures
from talkhead.features.precision import DTYPES, autocast, compute_dtype
from talkhead.media.decode import iter_frames_cfr
from talkhead.models.checkpoint import deterministic, file_digest, read_checkpoint
from talkhead.models.video_vae import MODEL_FORMAT, VideoVAE, VideoVAESpec

log = logging.getLogger(__name__)

VERSION = "video-latents-1"
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

    def encode_batch(self, windows: Sequence[np.ndarray]) -> list[np.ndarray]:
        """[(N_i, H_i, W_i, 3) uint8 consecutive frames of clip i] → [(N_i, C, h, w) float32], in one pass.

        Here frames are encoded independently (an image VAE): every clip's frames on one batch axis."""
        lat = self.encode(np.concatenate([resize_frames(w, self.size) for w in windows]))  # (ΣN_i, C, h, w)
        return np.split(lat, np.cumsum([len(w) for w in windows])[:-1])


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

    def encode_batch(self, windows: Sequence[np.ndarray]) -> list[np.ndarray]:
        """[(N_i, H_i, W_i, 3) uint8] → [(N_i, C, h, w) float32]: the clips as the model's batch axis B.

        Sequences must have one length: a shorter one is padded at its end by repeating its last frame, and those
        latents are dropped; the temporal mixing is causal, so frames after a latent's frame cannot change it."""
        n = max(len(w) for w in windows)
        padded = [np.concatenate([r, np.repeat(r[-1:], n - len(r), axis=0)])
                  for r in (resize_frames(w, self.size) for w in windows)]  # B × (n, S, S, 3)
        x = to_tensor(np.stack(padded), self.device)  # (B, n, 3, S, S)
        with torch.inference_mode(), autocast(self.device, self.dtype):
            mean = self.model.encode(x)[0].float()  # (B, n, C, h, w)
        lat = (mean * self.scaling_factor).cpu().numpy()
        return [lat[i, :len(w)] for i, w in enumerate(windows)]


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

class _ClipStream:
    """One clip of `encode_clips`: its decoder, the frames pending and carried as context, the latents so far."""

    def __init__(self, crop_mp4: str | Path, fps: int, frames: int, batch_frames: int) -> None:
        if frames < 1 or batch_frames < 1:
            raise ValueError(f"{crop_mp4}: frames ({frames}) and batch_frames ({batch_frames}) must be >= 1")
        self.crop, self.frames, self.batch_frames = crop_mp4, frames, batch_frames
        self.decoder = iter_frames_cfr(crop_mp4, fps)
        self.pending: list[np.ndarray] = []
        self.carry: list[np.ndarray] = []  # the frames before `pending` that the encoder needs as context
        self.out: np.ndarray | None = None
        self.decoded = self.done = 0

    def fill(self) -> bool:
        """Decode the next (up to) batch_frames frames into `pending`; False once the clip has none left."""
        for rgb in itertools.islice(self.decoder, self.batch_frames):
            self.decoded += 1
            if self.decoded > self.frames:
                raise ValueError(f"{self.crop}: more than the {self.frames} frames the clip has")
            self.pending.append(rgb)
        if not self.pending and self.decoded != self.frames:
            raise ValueError(f"{self.crop}: {self.decoded} frames decoded for a {self.frames}-frame clip")
        return bool(self.pending)

    def window(self) -> np.ndarray:
        """(len(carry) + len(pending), H, W, 3): what the encoder runs for the pending frames."""
        return np.stack(self.carry + self.pending)

    def store(self, lat: np.ndarray, context: int) -> None:
        """Keep the pending frames' latents of the window's (N, C, h, w) `lat`; carry the context on."""
        lat = lat[len(self.carry):]  # (n, C, h, w)
        if self.out is None:
            self.out = np.empty((self.frames, *lat.shape[1:]), np.float16)
        self.out[self.done:self.done + len(lat)] = lat
        self.done += len(lat)
        self.carry = (self.carry + self.pending)[-context:] if context else []
        self.pending = []

    def result(self, encoder: LatentEncoder) -> tuple[np.ndarray, np.ndarray]:
        if not np.isfinite(self.out).all():
            raise ValueError(f"{self.crop}: latents overflow float16 (or are NaN) with {encoder.name} "
                             f"{encoder.identity}")
        return self.out, self.out[0].copy()


def encode_clips(encoder: LatentEncoder, clips: Sequence[tuple[str | Path, int, int]],
                 batch_frames: int = 16) -> list[tuple[np.ndarray, np.ndarray]]:
    """`encode_clip` of several clips [(crop_mp4, fps, frames)], one forward pass per `batch_frames` window for all
    the clips with frames left (`LatentEncoder.encode_batch`); a window with one clip left is `encode` itself."""
    streams = [_ClipStream(crop, fps, frames, batch_frames) for crop, fps, frames in clips]
    active = streams
    while active := [s for s in active if s.fill()]:
        windows = [s.window() for s in active]  # B × (N_i, H, W, 3)
        lats = [encoder.encode(windows[0])] if len(active) == 1 else encoder.encode_batch(windows)
        for stream, lat in zip(active, lats):
            stream.store(lat, encoder.context)
    return [s.result(encoder) for s in streams]


def encode_clip(encoder: LatentEncoder, crop_mp4: str | Path, fps: int, frames: int,
                batch_frames: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(latents (T, C, h, w) float16, first-frame latent (C, h, w) float16) of a crop, `batch_frames` at a time."""
    return encode_clips(encoder, [(crop_mp4, fps, frames)], batch_frames)[0]


def video_latents_clip(crop_dir: Path, quality_dir: Path, model_dir: Path | None, out: Path,
                       cfg: VideoLatentsConfig, encoder: LatentEncoder | None = None) -> dict:
    """Encode one accepted clip's crop (loading the encoder unless one is given); return its metadata."""
    return video_latents_clips([(crop_dir, quality_dir)], model_dir, [out], cfg, encoder)[0]


def video_latents_clips(dirs: Sequence[tuple[Path, Path]], model_dir: Path | None, outs: Sequence[Path | None],
                        cfg: VideoLatentsConfig, encoder: LatentEncoder | None = None) -> list[dict | None]:
    """Encode several accepted clips [(crop dir, quality dir)] in one batch (`encode_clips`); write each clip whose
    `outs` entry is not None (a shard job encodes a fixed batch whole and writes only its unfinished clips)."""
    measures = [accepted_measures(quality_dir) for _, quality_dir in dirs]
    encoder = encoder or load_encoder(cfg, model_dir)
    with deterministic():
        encoded = encode_clips(encoder, [(crop_dir / "crop.mp4", m["fps"], m["frames"])
                                         for (crop_dir, _), m in zip(dirs, measures)],
                               cfg.batch_frames)  # [((T, C, h, w), (C, h, w)) float16]
    return [None if out is None else _write_clip(out, latents, first, m, encoder)
            for out, (latents, first), m in zip(outs, encoded, measures)]


def _write_clip(out: Path, latents: np.ndarray, first: np.ndarray, m: dict, encoder: LatentEncoder) -> dict:
    meta = {"clip": m["clip"], "modality": "video_latents", "rate_hz": m["fps"], "frames": m["frames"],
            "extractor": encoder.name, "version": VERSION, "checkpoint": encoder.identity,
            "latent_shape": ",".join(map(str, latents.shape[1:])), "size": encoder.size,
            "scaling_factor": f"{encoder.scaling_factor:.6g}"}
    write_features(out, {"latents": latents, "clip_first_frame": first}, meta)
    return meta
