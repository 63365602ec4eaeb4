"""Inference with a trained Gaussian head: new speech → per-frame deformation → rasterised frames → mp4 with audio.

speech (audio file or samples) → 16 kHz log-mel, 4 rows per 25 fps frame (talkhead.infer.generate.speech_mel)
→ per frame: the mel window + an idle pose/expression track → the head (talkhead.gaussians.head) →
H.264/AAC via talkhead.media.encode.VideoWriter, at the trained resolution. The idle track is the
training reference clip's pose and expression blendshapes (reference.safetensors, saved by training),
played forwards and backwards ("ping-pong") so any length loops without a jump; `pose_track` (a
head_pose.safetensors of the features phase) replaces its pose. The mouth is driven by the audio
only: the expression channels carry eyes and brows, never the lips. The triplane query is done once
(the canonical Gaussians do not change), which the FPS benchmark (benchmarks/gaussians_fps.py) also does.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from talkhead.data.featurefile import read_features
from talkhead.gaussians.deform import mel_window
from talkhead.gaussians.head import FrameCond, GaussianHead, load_head
from talkhead.gaussians.raster_base import Rasterizer, get_rasterizer

log = logging.getLogger(__name__)
FPS = 25


def ping_pong(n: int, frames: int) -> np.ndarray:
    """(frames,) indices into a track of n frames, going forwards and backwards (0 1 2 … n-1 n-2 … 1 0 1 …)."""
    if n < 1:
        raise ValueError("an empty idle track")
    if n == 1:
        return np.zeros(frames, dtype=np.int64)
    period = 2 * (n - 1)
    k = np.arange(frames) % period
    return np.where(k < n, k, period - k)


def idle_track(model_dir: Path, pose_track: Path | None = None) -> dict[str, torch.Tensor]:
    """rotation (T, 3, 3), translation (T, 3), scale (T,), expression (T, 21): the reference clip or `pose_track`."""
    from safetensors.torch import load_file

    track = {k: v.float() for k, v in load_file(str(model_dir / "reference.safetensors")).items()}
    if pose_track is not None:
        pose, _ = read_features(pose_track, keys=["matrix", "translation", "scale"])
        n = len(pose["matrix"])
        track = {"rotation": torch.from_numpy(pose["matrix"]).float(),
                 "translation": torch.from_numpy(pose["translation"]).float(),
                 "scale": torch.from_numpy(pose["scale"]).float().reshape(-1),
                 "expression": track["expression"].median(0).values.expand(n, -1)}  # neutral eyes and brows
    return track


@torch.no_grad()
def render_frames(head: GaussianHead, mel: torch.Tensor, frames: int, track: dict[str, torch.Tensor],
                  rasterize: Rasterizer, context: int):
    """Yield `frames` (S, S, 3) uint8 frames of the head speaking the (4·frames, 80) mel."""
    features = head.deform.query(head.scene.means)  # (N, dim), once per model
    device = features.device
    for k, j in enumerate(ping_pong(len(track["rotation"]), frames)):
        cond = FrameCond(mel_window(mel, k, context).to(device), track["expression"][j].to(device),
                         track["rotation"][j].to(device), track["translation"][j].to(device),
                         track["scale"][j].to(device))
        yield (head.render(cond, rasterize, True, features) * 255).round().byte().cpu().numpy()


def generate(model_dir: str | Path, samples: np.ndarray, rate: int, out_mp4: str | Path,
             pose_track: str | Path | None = None, device: str = "cpu", rasterizer: str = "auto") -> dict:
    """Render the head of `model_dir` speaking `samples` (mono float32 at `rate`) into out_mp4 with the audio."""
    from talkhead.infer.generate import speech_mel
    from talkhead.media.encode import VideoWriter

    start = time.perf_counter()
    model_dir = Path(model_dir)
    head, meta = load_head(model_dir, device)
    mel, frames = speech_mel(samples, rate)
    track = idle_track(model_dir, Path(pose_track) if pose_track else None)
    rasterize = get_rasterizer(rasterizer, device)
    per_frame = rate / FPS
    with VideoWriter(out_mp4, FPS, (head.size, head.size), audio_rate=rate) as writer:
        for k, frame in enumerate(render_frames(head, torch.from_numpy(mel).float(), frames, track, rasterize,
                                                int(meta["audio_context"]))):
            writer.write_frame(frame)
            writer.write_audio(samples[int(round(k * per_frame)):int(round((k + 1) * per_frame))])
        if frames * per_frame < len(samples):
            writer.write_audio(samples[int(round(frames * per_frame)):])
    wall = time.perf_counter() - start
    summary = {"frames": frames, "fps": FPS, "size": [head.size, head.size], "audio_s": len(samples) / rate,
               "video_s": frames / FPS, "speaker": meta["speaker"], "gaussians": len(head.scene),
               "wall_s": round(wall, 3), "render_fps": round(frames / wall, 2)}
    log.info("wrote %s: %d frames at %d px of speaker %s in %.1f s (%.1f frames/s end to end)", out_mp4, frames,
             head.size, meta["speaker"], wall, frames / wall)
    return summary
