"""FID / FVD against the real crop videos and the published SyncNet on generated frames: the video scores both
generators' evaluations share (talkhead.eval.motion for the motion DiT's rendered video, the DualForce evaluation
for its decoded frames), each network's file named by its sha256 (docs/evaluation.md)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from talkhead.config import EvaluateConfig
from talkhead.eval.metrics import Means, network_sha256


def crop_frames(crop_root: Path, clip: str, frames: int) -> np.ndarray:
    """(T, H, W, 3) uint8: the first `frames` frames of a clip's crop video (data/crop/<clip>/crop.mp4) at 25 fps."""
    from talkhead.media.decode import iter_frames_cfr

    return np.stack([f.copy() for f in iter_frames_cfr(crop_root / clip / "crop.mp4", 25, frames=frames)])


class VideoScores:
    """FID / FVD against the crop videos and the published SyncNet on rendered frames, where configured.

    Each network's file is named in the metrics by its sha256 (`fid_inception_sha256`, `fvd_i3d_sha256`,
    `syncnet_sha256`). FVD is computed under StyleGAN-V's protocol (`fvd_i3d`: non-overlapping
    i3d_min_frames windows, biased covariance) and LatentSync's (`fvd_i3d_latentsync`: frames 20–35 of
    each crop, clips of at least 36 frames); an I3D with input range `native` is called as StyleGAN-V
    calls its i3d_torchscript.pt. SyncNet also scores the real crop frames with the same audio: the
    ground-truth row (`*_syncnet_ground_truth`) that papers report beside the generated one.
    """

    def __init__(self, cfg: EvaluateConfig, absent: dict[str, str], crop_root: Path | None,
                 quality_root: Path | None) -> None:
        from talkhead.eval.feature_nets import STYLEGANV_I3D_KWARGS, load_feature_net

        self.cfg, self.crop_root, self.quality_root = cfg, crop_root, quality_root
        self.absent: dict[str, str] = {}
        self.nets, self.feats, self.sync = {}, {}, Means()
        self.sha256: dict[str, str] = {}
        device = "cuda" if torch.cuda.is_available() else "cpu"  # float32 on CUDA, as the references run them
        for name, (path, kind, rng, least) in {
                "fid_inception": (cfg.inception_path, "inception", cfg.inception_input_range, None),
                "fvd_i3d": (cfg.i3d_path, "i3d", cfg.i3d_input_range, cfg.i3d_min_frames)}.items():
            if name in absent:
                continue
            if crop_root is None:
                self.absent[name] = "needs the real crop videos (--crop-root data/crop)"
                if name == "fvd_i3d":
                    self.absent["fvd_i3d_latentsync"] = self.absent[name]
                continue
            kwargs = STYLEGANV_I3D_KWARGS if kind == "i3d" and rng == "native" else None
            self.nets[name] = load_feature_net(path, kind, rng, least, call_kwargs=kwargs, device=device)
            self.sha256[name] = self.nets[name].sha256
            self.feats[name] = ([], [])  # real, generated (N, D) per clip
            if name == "fvd_i3d":
                self.feats["fvd_i3d_latentsync"] = ([], [])
        self.syncnet = None
        if "sync_c_syncnet" not in absent:
            if quality_root is None:
                self.absent |= {f"{m}_syncnet{s}": "needs the clips' audio (--quality-root data/quality)"
                                for m in ("sync_c", "sync_d", "av_offset") for s in ("", "_ground_truth")}
            else:
                from talkhead.models.syncnet import load_syncnet

                self.syncnet = load_syncnet(cfg.syncnet_path, device)
                self.sha256["syncnet"] = network_sha256(cfg.syncnet_path)
                if crop_root is None:
                    self.absent |= {f"{m}_syncnet_ground_truth": "needs the real crop videos (--crop-root data/crop)"
                                    for m in ("sync_c", "sync_d", "av_offset")}

    def _real(self, clip: str, frames: int) -> np.ndarray:
        """(T, H, W, 3) uint8 frames of the clip's crop video."""
        return crop_frames(self.crop_root, clip, frames)

    def add(self, clip: str, fake: np.ndarray, real: np.ndarray | None = None) -> None:
        """Score one clip's generated frames (T, H, W, 3) uint8; `real`: its crop video's frames at their own size
        when the caller has decoded them already (else decoded here when a score needs them)."""
        import cv2

        from talkhead.eval.feature_nets import FVD_PROTOCOLS, embed, fvd_clips

        if real is None and (self.nets or (self.syncnet is not None and self.crop_root is not None)):
            real = self._real(clip, len(fake))  # (T, H, W, 3)
        if self.nets:
            if real.shape[1:3] != fake.shape[1:3]:
                size = (real.shape[2], real.shape[1])
                fake = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in fake])
            for name, net in self.nets.items():
                for i, x in enumerate((real, fake)):
                    if name == "fvd_i3d":
                        styleganv = dataclasses.replace(FVD_PROTOCOLS["styleganv"], frames=net.spec.min_frames or 16)
                        for key, protocol in (("fvd_i3d", styleganv), ("fvd_i3d_latentsync", "latentsync")):
                            clips = fvd_clips(x, protocol)  # (N, 3, L, H, W)
                            if len(clips):
                                self.feats[key][i].append(embed(net, clips, 8))
                    elif len(x):
                        self.feats[name][i].append(embed(net, torch.from_numpy(x).permute(0, 3, 1, 2), 8))
        if self.syncnet is not None:
            import soundfile as sf

            from talkhead.eval.sync import score_syncnet

            samples, rate = sf.read(self.quality_root / clip / "audio.wav", dtype="int16")
            if rate != 16000:
                raise ValueError(f"{self.quality_root / clip / 'audio.wav'}: {rate} Hz, SyncNet reads 16 kHz")
            for frames, suffix in ((fake, ""), (real, "_ground_truth")):
                if frames is None:
                    continue
                result = score_syncnet(self.syncnet, frames, samples, self.cfg.sync_max_offset)
                for key, value in result.metrics("syncnet").items():
                    self.sync.add(key + suffix, value)

    def result(self) -> dict[str, float]:
        """The Fréchet distances (≥ 2 samples per side), the mean SyncNet scores and the networks' sha256."""
        from talkhead.eval.frechet import frechet_from_features

        out = self.sync.result()
        for name, (real, fake) in self.feats.items():
            if sum(map(len, real)) < 2 or sum(map(len, fake)) < 2:
                self.absent[name] = "fewer than 2 real or generated samples from the rendered clips" + (
                    " (LatentSync's protocol takes frames 20-35: clips of at least 36 frames)"
                    if name == "fvd_i3d_latentsync" else "")
            else:  # covariance as each reference: pytorch-fid np.cov (ddof 1), StyleGAN-V FVD 1/N (ddof 0)
                ddof = 1 if name == "fid_inception" else 0
                out[name] = round(frechet_from_features(np.concatenate(real), np.concatenate(fake), ddof=ddof), 6)
                out[f"{name}_samples"] = int(sum(map(len, fake)))
        for name, digest in self.sha256.items():
            metric = name if name != "syncnet" else "sync_c_syncnet"
            if metric in out or (name == "fvd_i3d" and "fvd_i3d_latentsync" in out):
                out[f"{name}_sha256"] = digest
        return out
