"""Sync-C / Sync-D and the AV offset from SyncNet-style embeddings: one computation, two scorers.

The offset search of SyncNet (Chung & Zisserman 2016, "Out of time",
https://www.robots.ox.ac.uk/~vgg/publications/2016/Chung16a/chung16a.pdf) as run by
joonson/syncnet_python (`calc_pdist` in SyncNetInstance.py), which is also what talking-head
papers report as LSE-D / LSE-C (Prajwal et al. 2020, Wav2Lip, https://arxiv.org/abs/2008.10010):

- window i covers video frames [i, i + 5) and audio 100 Hz rows [4i, 4i + 20) (the same 0.2 s);
  v_i and a_i are its video and audio embeddings;
- for each offset s in −S..S (S = 15 frames): curve[s] = mean over i of ||v_i − a_{i+s}||₂, where
  audio outside the clip is a zero vector (syncnet_python pads with zeros; `edges="valid"` instead
  averages over the windows whose shifted audio exists);
- Sync-D = min curve, Sync-C = median curve − min curve, AV offset = argmin s.

Sign: the offset follows the project's convention (docs/qc.md): positive = audio LATE; the sound
of video frame i is found at audio frame i + offset. syncnet_python prints the opposite sign
(its `offset = vshift − argmin` is −s).

Scorers (metric names carry the network, design §4): `*_syncnet` — the published weights
(`talkhead.models.syncnet.SyncNetOfficial`, MFCC + 224² face crops); `*_selftrained` — the
pipeline's own `SelfSyncNet` (log-mel + face-mesh lip points), whose numbers are on another
scale and are never comparable with published Sync-C/D.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from talkhead.eval.landmarks import mouth_points
from talkhead.eval.mfcc import syncnet_mfcc
from talkhead.models.syncnet import SelfSyncConfig, SelfSyncNet, SyncNetOfficial

log = logging.getLogger(__name__)

WINDOW = 5  # video frames per embedding window
ROWS = 4  # 100 Hz audio rows per 25 fps video frame
MAX_OFFSET = 15  # frames searched each way (syncnet_python's vshift)
SELFSYNC_FORMAT = "talkhead-selfsync-1"


@dataclass(frozen=True)
class SyncResult:
    """Sync-D, Sync-C, the AV offset and the mean-distance curve of one clip."""

    sync_d: float  # min of the curve
    sync_c: float  # median − min of the curve
    av_offset: int  # frames, + = audio late
    curve: np.ndarray  # (2 * max_offset + 1,) mean distance at offsets −max..max
    windows: int  # embedding windows averaged

    def metrics(self, scorer: str) -> dict[str, float | int]:
        """{'sync_c_<scorer>', 'sync_d_<scorer>', 'av_offset_<scorer>'}: the names this scorer reports."""
        return {f"sync_c_{scorer}": self.sync_c, f"sync_d_{scorer}": self.sync_d, f"av_offset_{scorer}": self.av_offset}


def distance_curve(video: np.ndarray, audio: np.ndarray, max_offset: int = MAX_OFFSET,
                   edges: str = "zeros") -> np.ndarray:
    """(2S+1,) mean over windows i of ||video[i] − audio[i + s]|| for s = −S..S; video, audio (N, D)."""
    if edges not in ("zeros", "valid"):
        raise ValueError(f"edges must be 'zeros' (syncnet_python) or 'valid', got {edges!r}")
    v, a = np.asarray(video, np.float64), np.asarray(audio, np.float64)
    n = min(len(v), len(a))
    if n < 1:
        raise ValueError("no embedding windows: the clip is shorter than 5 frames")
    v, a = v[:n], a[:n]
    s = int(max_offset)
    padded = np.concatenate([np.zeros((s, a.shape[1])), a, np.zeros((s, a.shape[1]))])  # (N + 2S, D)
    curve = np.empty(2 * s + 1)
    for j in range(2 * s + 1):  # offset j − S
        d = np.linalg.norm(v - padded[j:j + n], axis=1)  # (N,)
        if edges == "valid":
            lo, hi = max(0, s - j), min(n, n + s - j)  # windows whose audio i + j − S lies in [0, N)
            d = d[lo:hi] if hi > lo else np.array([np.nan])
        curve[j] = d.mean()
    return curve


def sync_scores(video: np.ndarray, audio: np.ndarray, max_offset: int = MAX_OFFSET, edges: str = "zeros") -> SyncResult:
    """Sync-D, Sync-C and AV offset (+ = audio late) from per-window embeddings (N, D)."""
    curve = distance_curve(video, audio, max_offset, edges)
    best = int(np.nanargmin(curve))
    low = float(curve[best])
    return SyncResult(low, float(np.nanmedian(curve)) - low, best - int(max_offset), curve,
                      min(len(video), len(audio)))


def _batched(fn, windows: list[torch.Tensor], batch_size: int, device: torch.device | str = "cpu") -> np.ndarray:
    """Apply an embedding function to stacked windows in batches (on `device`) -> (N, D) float64 on the CPU."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(windows), batch_size):
            out.append(fn(torch.stack(windows[i:i + batch_size]).to(device)).double().cpu().numpy())
    return np.concatenate(out)


def syncnet_embeddings(model: SyncNetOfficial, frames: np.ndarray, samples: np.ndarray,
                       batch_size: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(video (N, 1024), audio (N, 1024)) of RGB face crops (T, H, W, 3) uint8 and 16 kHz audio, as syncnet_python.

    Frames are resized to 224² (bilinear) and fed BGR as float 0..255; N = min(T, samples // 640) − 5,
    syncnet_python's window count.
    """
    import cv2

    frames = np.asarray(frames)
    n_frames = min(len(frames), len(samples) // 640)
    n = n_frames - WINDOW
    if n < 1:
        raise ValueError(f"SyncNet needs at least {WINDOW + 1} frames with audio, got {n_frames}")
    bgr = np.stack([cv2.resize(f, (224, 224), interpolation=cv2.INTER_LINEAR)[:, :, ::-1] for f in frames[:n_frames]])
    video = torch.from_numpy(np.ascontiguousarray(bgr.transpose(3, 0, 1, 2))).float()  # (3, T, 224, 224)
    mfcc = torch.from_numpy(syncnet_mfcc(samples))[None]  # (1, 13, F)
    lips = [video[:, i:i + WINDOW] for i in range(n)]  # N × (3, 5, 224, 224)
    auds = [mfcc[:, :, ROWS * i:ROWS * i + 20] for i in range(n)]  # N × (1, 13, 20)
    device = next(model.parameters()).device  # the model may sit on a GPU; windows are built on the CPU
    return (_batched(model.forward_lip, lips, batch_size, device),
            _batched(model.forward_aud, auds, batch_size, device))


def score_syncnet(model: SyncNetOfficial, frames: np.ndarray, samples: np.ndarray,
                  max_offset: int = MAX_OFFSET, batch_size: int = 20) -> SyncResult:
    """Sync-C / Sync-D / offset with the published SyncNet (report with `.metrics('syncnet')`); `batch_size`
    five-frame windows per forward pass (syncnet_python's 20)."""
    return sync_scores(*syncnet_embeddings(model, frames, samples, batch_size), max_offset=max_offset)


def selftrained_windows(mesh: np.ndarray, mel: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(mouth (N, 5, 40, 2), mel (N, 20, 80)) windows of a (T, 478, ≥2) mesh and (4T, 80) log-mel; N = T − 4."""
    lips = torch.from_numpy(mouth_points(mesh).astype(np.float32))  # (T, 40, 2)
    mel_t = torch.from_numpy(np.asarray(mel, np.float32))  # (4T, 80)
    n = min(len(lips), len(mel_t) // ROWS) - WINDOW + 1
    if n < 1:
        raise ValueError(f"the self-trained scorer needs at least {WINDOW} frames, got {len(lips)}")
    mouth = lips.unfold(0, WINDOW, 1)[:n].permute(0, 3, 1, 2)  # (N, 5, 40, 2)
    audio = mel_t.unfold(0, ROWS * WINDOW, ROWS)[:n].transpose(1, 2)  # (N, 20, 80)
    return mouth, audio


def selftrained_embeddings(model: SelfSyncNet, mesh: np.ndarray, mel: np.ndarray,
                           batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(video (N, D), audio (N, D)) of the self-trained scorer on a mesh (T, 478, ≥2) and log-mel (4T, 80)."""
    mouth, audio = selftrained_windows(mesh, mel)
    return (_batched(model.forward_lip, list(mouth), batch_size),
            _batched(model.forward_aud, list(audio), batch_size))


def score_selftrained(model: SelfSyncNet, mesh: np.ndarray, mel: np.ndarray,
                      max_offset: int = MAX_OFFSET) -> SyncResult:
    """Sync-C / Sync-D / offset with the self-trained scorer (report with `.metrics('selftrained')`)."""
    return sync_scores(*selftrained_embeddings(model, mesh, mel), max_offset=max_offset)


def score_selftrained_video(model: SelfSyncNet, frames: np.ndarray, samples: np.ndarray, fps: int = 25,
                            sigma_frames: float = 0.7, max_offset: int = MAX_OFFSET) -> SyncResult:
    """The self-trained scorer on RGB face crops (T, H, W, 3) and 16 kHz audio (mesh and log-mel as the features
    phase)."""
    from talkhead.eval.landmarks import extract_landmarks
    from talkhead.features.mel import log_mel
    from talkhead.features.mesh import fill_and_smooth

    mesh, _ = fill_and_smooth(extract_landmarks(frames), sigma_frames)
    return score_selftrained(model, mesh, log_mel(samples, len(frames), fps), max_offset)


def load_selftrained(model_dir: str | Path) -> SelfSyncNet:
    """The self-trained scorer from its model folder (config.json + model.safetensors), in eval mode."""
    from talkhead.models.checkpoint import read_checkpoint

    meta, state, path = read_checkpoint(model_dir, "model.safetensors", SELFSYNC_FORMAT, "a self-trained SyncNet")
    model = SelfSyncNet(SelfSyncConfig(**meta["model"]))
    model.load_state_dict(state, strict=True)
    log.info("self-trained SyncNet %s", path)
    return model.eval()
