"""FID and FVD: generated vs real frames (clips) compared through a pretrained feature network.

FID (Heusel et al. 2017, https://arxiv.org/abs/1706.08500) embeds single frames with Inception-v3
(Szegedy et al. 2016, https://arxiv.org/abs/1512.00567); FVD (Unterthiner et al. 2018,
https://arxiv.org/abs/1812.01717) embeds clips with I3D (Carreira & Zisserman 2017,
https://arxiv.org/abs/1705.07750). Both report the Fréchet distance of the two feature sets
(`talkhead.eval.frechet`). The networks are never bundled or downloaded: each is a TorchScript
file (`torch.jit.load`) whose path the params give; with no path the metric is absent.

What goes into the network (our side of the contract; `NetSpec` documents each default):
- frames: (N, 3, H, W) uint8 in [0, 255] or float in [0, 1] (anything else is an error), resized to
  `size`² (299 Inception, 224 I3D) by bilinear interpolation (align_corners=False, no antialias,
  as pytorch-fid), then mapped to the range the network expects: `uint8` → [0, 255] (float32, not
  rounded), `unit` → [0, 1], `symmetric` → [−1, 1];
- clips: (N, 3, T, H, W), each frame prepared as above, T ≥ `min_frames` (16 by default for I3D,
  the clip length FVD is usually reported on);
- `native` instead passes uint8 frames unchanged, at their own size: the network resizes and
  rescales itself. This is how StyleGAN-V feeds its I3D (`i3d_torchscript.pt` called with
  `rescale=True, resize=True, return_features=True`: `STYLEGANV_I3D_KWARGS`) and how pytorch-fid's
  InceptionV3 resizes inside the network;
- the call is `net(x, **call_kwargs)`; the output (a tensor, or a tuple/list whose first element
  is one) is flattened to (N, D). Published TorchScript exports often need a keyword such as
  `return_features=True` to return the pool features instead of logits: set `call_kwargs`.

Statistics follow each metric's reference (docs/evaluation.md, parity tests tests/unit/eval/test_*parity*):
FID as pytorch-fid (unbiased covariance, `np.cov`), FVD as StyleGAN-V (biased 1/N covariance of the
features, `FeatureStats.get_mean_cov`). Clips for FVD are cut by a named protocol (`FVD_PROTOCOLS`):
`styleganv`: 16-frame clips (every non-overlapping 16-frame window of each video, from its first
frame); `latentsync`: LatentSync's variant, one clip per face-crop video, frames 20–35 (`[20:36]`),
videos shorter than 36 frames left out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from talkhead.eval.frechet import frechet_from_features
from talkhead.eval.metrics import network_sha256
from talkhead.models.checkpoint import file_digest

log = logging.getLogger(__name__)

RANGES = {"uint8": (0.0, 255.0), "unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}  # name -> (low, high)
NATIVE = "native"  # uint8 frames at their own size: the network resizes and rescales
STYLEGANV_I3D_KWARGS = {"rescale": True, "resize": True, "return_features": True}  # StyleGAN-V's detector_kwargs
FEW_CLIPS = 256  # below this FVD is strongly biased and noisy (a warning, not an error)


@dataclass(frozen=True)
class NetSpec:
    """What one kind of feature network is fed: spatial size, value range, minimum clip length."""

    size: int
    input_range: str
    min_frames: int  # 0 for image networks


SPECS = {"inception": NetSpec(299, "uint8", 0), "i3d": NetSpec(224, "symmetric", 16)}


@dataclass
class FeatureNet:
    """A loaded TorchScript feature network and how to call it."""

    module: torch.jit.ScriptModule
    kind: str  # "inception" | "i3d"
    spec: NetSpec
    path: str
    digest: str  # short `sha256:<16 hex>` of the file (talkhead.models.checkpoint.file_digest), for logs
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    sha256: str = ""  # full sha256 of the file: recorded next to the metric (`<metric>_sha256`)


def load_feature_net(path: str | Path, kind: str, input_range: str | None = None, min_frames: int | None = None,
                     call_kwargs: Mapping[str, Any] | None = None, device: str = "cpu") -> FeatureNet:
    """A TorchScript Inception / I3D from `path`, in eval mode; clear errors for a bad path or file."""
    if kind not in SPECS:
        raise ValueError(f"feature network kind must be one of {sorted(SPECS)}, got {kind!r}")
    spec = SPECS[kind]
    spec = NetSpec(spec.size, input_range or spec.input_range, spec.min_frames if min_frames is None else min_frames)
    if spec.input_range not in RANGES and spec.input_range != NATIVE:
        raise ValueError(f"input_range must be one of {sorted([*RANGES, NATIVE])}, got {spec.input_range!r}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{kind} feature network not found: {path} (a TorchScript file, torch.jit.save)")
    try:
        module = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"{path} is not a TorchScript file torch.jit.load can read: {exc}") from exc
    module.eval()
    digest = file_digest([path])
    log.info("%s feature network %s (%s), input %d² %s", kind, path, digest, spec.size, spec.input_range)
    return FeatureNet(module, kind, spec, str(path), digest, dict(call_kwargs or {}), device, network_sha256(path))


def _to_unit(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 [0, 255] or float [0, 1] -> float32 [0, 1]; other ranges raise."""
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    x = x.float()
    if x.numel() and (x.min() < -1e-3 or x.max() > 1.0 + 1e-3):
        raise ValueError(f"float frames must be in [0, 1] (or pass uint8), got [{x.min():.3g}, {x.max():.3g}]")
    return x.clamp(0.0, 1.0)


def _native(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 frames passed through unchanged (input_range `native`); anything else raises."""
    x = torch.as_tensor(x)
    if x.dtype != torch.uint8:
        raise ValueError(f"input_range 'native' feeds uint8 frames as they are, got {x.dtype}")
    return x


def prepare_images(images: torch.Tensor | np.ndarray, spec: NetSpec) -> torch.Tensor:
    """(N, 3, H, W) uint8 / [0, 1] frames -> (N, 3, size, size) float32 in the net's range (native: unchanged)."""
    if spec.input_range == NATIVE:
        x = _native(images)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(x.shape)}")
        return x
    x = _to_unit(images)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got {tuple(x.shape)}")
    if x.shape[-2:] != (spec.size, spec.size):
        x = F.interpolate(x, size=(spec.size, spec.size), mode="bilinear", align_corners=False)
    low, high = RANGES[spec.input_range]
    return x * (high - low) + low


def prepare_videos(videos: torch.Tensor | np.ndarray, spec: NetSpec) -> torch.Tensor:
    """(N, 3, T, H, W) uint8 / [0, 1] clips -> (N, 3, T, size, size) float32 in the net's range."""
    x = torch.as_tensor(videos)
    if x.ndim != 5 or x.shape[1] != 3:
        raise ValueError(f"videos must be (N, 3, T, H, W), got {tuple(x.shape)}")
    n, _, t, h, w = x.shape
    if t < spec.min_frames:
        raise ValueError(f"clips have {t} frames; this network needs at least {spec.min_frames}")
    if spec.input_range == NATIVE:
        return _native(x)
    frames = x.permute(0, 2, 1, 3, 4).reshape(n * t, 3, h, w)  # (N·T, 3, H, W)
    frames = prepare_images(frames, spec)
    return frames.reshape(n, t, 3, spec.size, spec.size).permute(0, 2, 1, 3, 4)  # (N, 3, T, S, S)


def embed(net: FeatureNet, samples: torch.Tensor | np.ndarray, batch_size: int) -> np.ndarray:
    """(N, D) float64 features of prepared-on-the-fly images (inception) or clips (i3d), `batch_size` at a time."""
    prepare = prepare_videos if net.kind == "i3d" else prepare_images
    out = []
    with torch.inference_mode():
        for i in range(0, len(samples), batch_size):
            x = prepare(samples[i:i + batch_size], net.spec).to(net.device)
            y = net.module(x, **net.call_kwargs)
            if isinstance(y, (tuple, list)):
                y = y[0]
            out.append(y.reshape(len(x), -1).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def _check_counts(name: str, real: int, fake: int) -> None:
    """ValueError unless both sets have the 2 samples a covariance needs."""
    if min(real, fake) < 2:
        raise ValueError(f"{name} needs at least 2 real and 2 generated samples (a covariance), got {real} and {fake}")


def _warn_rank(name: str, n: int, dim: int) -> None:
    """Warn when the covariance cannot have full rank (fewer samples than feature dimensions)."""
    if n <= dim:
        log.warning("%s: %d samples for %d-dim features: the covariance is singular and the value is biased "
                    "upward; compare it only with values computed on the same number of samples", name, n, dim)


@dataclass(frozen=True)
class FvdProtocol:
    """How FVD cuts clips out of videos: `frames` frames from `start`, every window (`all_windows`) or one."""

    name: str
    frames: int = 16
    start: int = 0
    all_windows: bool = True  # True: every non-overlapping window from `start`; False: only the first


FVD_PROTOCOLS = {
    "styleganv": FvdProtocol("styleganv"),  # StyleGAN-V fvd2048_16f: 16 consecutive frames per clip
    "latentsync": FvdProtocol("latentsync", 16, 20, False),  # LatentSync: face crops, frames [20:36]
}


def fvd_clips(video: torch.Tensor | np.ndarray, protocol: str | FvdProtocol = "styleganv") -> torch.Tensor:
    """(N, 3, L, H, W) clips of one video (T, H, W, 3) under an FVD protocol; N = 0 when the video is too short."""
    p = FVD_PROTOCOLS[protocol] if isinstance(protocol, str) else protocol
    x = torch.as_tensor(video)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"a video must be (T, H, W, 3), got {tuple(x.shape)}")
    usable = max(len(x) - p.start, 0) // p.frames
    n = usable if p.all_windows else min(usable, 1)
    clips = x[p.start:p.start + n * p.frames].reshape(n, p.frames, *x.shape[1:])  # (N, L, H, W, 3)
    return clips.permute(0, 4, 1, 2, 3)  # (N, 3, L, H, W)


def fid_inception(real_frames: torch.Tensor | np.ndarray, fake_frames: torch.Tensor | np.ndarray,
                  net: FeatureNet, batch_size: int = 32) -> float:
    """FID between real (N, 3, H, W) and generated (M, 3, H, W) frames through a TorchScript Inception."""
    if net.kind != "inception":
        raise ValueError(f"fid_inception needs an inception network, got {net.kind}")
    _check_counts("fid_inception", len(real_frames), len(fake_frames))
    real, fake = embed(net, real_frames, batch_size), embed(net, fake_frames, batch_size)
    _warn_rank("fid_inception", min(len(real), len(fake)), real.shape[1])
    return frechet_from_features(real, fake, ddof=1)  # pytorch-fid: np.cov


def fvd_i3d(real_clips: torch.Tensor | np.ndarray, fake_clips: torch.Tensor | np.ndarray,
            net: FeatureNet, batch_size: int = 8) -> float:
    """FVD between real (N, 3, T, H, W) and generated (M, 3, T, H, W) clips through a TorchScript I3D."""
    if net.kind != "i3d":
        raise ValueError(f"fvd_i3d needs an i3d network, got {net.kind}")
    _check_counts("fvd_i3d", len(real_clips), len(fake_clips))
    if min(len(real_clips), len(fake_clips)) < FEW_CLIPS:
        log.warning("fvd_i3d from %d real / %d generated clips: FVD is unreliable below ~%d clips per set "
                    "(biased and noisy); report the clip count with it", len(real_clips), len(fake_clips), FEW_CLIPS)
    real, fake = embed(net, real_clips, batch_size), embed(net, fake_clips, batch_size)
    _warn_rank("fvd_i3d", min(len(real), len(fake)), real.shape[1])
    return frechet_from_features(real, fake, ddof=0)  # StyleGAN-V: biased 1/N covariance


def fvd_videos(real_videos: Sequence[torch.Tensor | np.ndarray], fake_videos: Sequence[torch.Tensor | np.ndarray],
               net: FeatureNet, protocol: str | FvdProtocol = "styleganv", batch_size: int = 8) -> float:
    """FVD between two sets of videos (each (T, H, W, 3) uint8), clips cut by `protocol` (`FVD_PROTOCOLS`)."""
    real = [c for v in real_videos for c in fvd_clips(v, protocol)]
    fake = [c for v in fake_videos for c in fvd_clips(v, protocol)]
    _check_counts("fvd_i3d", len(real), len(fake))
    return fvd_i3d(torch.stack(real), torch.stack(fake), net, batch_size)
