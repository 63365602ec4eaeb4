"""DualForce on held-out clips (phase `evaluate_dualforce`): fidelity, sync, long-sequence drift (DVC metrics).

In eval (layer 6): it generates with talkhead.infer.dualforce (layer 5) and scores with talkhead.eval.video_scores.

For each of the first `dualforce.eval_clips` held-out clips (the val split; train when it has none),
the model generates max(eval_lengths, clip length) frames from the clip's first frame and its audio
(repeated end to end past the clip's end), by sliding-window diffusion forcing with the KV cache
(talkhead.infer.dualforce), and the video VAE decodes them. Scores (names carry their network, as in
talkhead.eval.metrics):
  on the clip's own frames  latent_l1 (generated vs the clip's latents), structure_l1 (normalised
                            motion), lmd_structure (lip keypoints of the generated structure, canonical
                            units), landmark_shape_drift_ground_truth (the real clip's own shape drift
                            at its last frames: the baseline for the generated drift), lmd_mediapipe
                            (mouth landmarks of the decoded frames vs the crop video's),
                            sync_*_selftrained (decoded frames + audio; + _ground_truth: the crop
                            video's frames), and fid_inception, fvd_i3d (+ fvd_i3d_latentsync),
                            sync_*_syncnet (+ its _ground_truth row on the crop video) where their
                            networks are configured, each with its network file's sha256
                            (`<network>_sha256`, docs/evaluation.md);
  over growing lengths      talkhead.eval.consistency at eval_lengths: landmark-shape drift, first-frame
                            PSNR and latent cosine, per length and their change (mean over clips).
Writes data/eval/dualforce/: metrics.json, consistency.csv (a DVC plot), plots/consistency.png and
samples/<clip>.mp4 (the first clip's longest generation, with its audio when --quality-root is given).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from talkhead.atomic import atomic_dir
from talkhead.config import DualforceConfig, EvaluateConfig

log = logging.getLogger(__name__)


def _resized(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, size, size, 3) uint8: crop frames brought to the generated size."""
    import cv2

    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


def _speech(quality_root: Path | None, clip: str) -> tuple[np.ndarray | None, int | None]:
    """The clip's 16 kHz float32 audio (data/quality/<clip>/audio.wav), or (None, None)."""
    if quality_root is None or not (quality_root / clip / "audio.wav").is_file():
        return None, None
    import soundfile as sf

    samples, rate = sf.read(quality_root / clip / "audio.wav", dtype="float32")
    return samples.reshape(len(samples), -1).mean(1), int(rate)


class _Scorer:
    """The held-out scores of generated clips (means weighted by frames) and the networks they need."""

    def __init__(self, cfg: EvaluateConfig, syncnet: Path | None, crop_root: Path | None,
                 quality_root: Path | None) -> None:
        from talkhead.eval.metrics import absent_metrics
        from talkhead.eval.metrics import Means
        from talkhead.eval.video_scores import VideoScores

        self.absent = absent_metrics({"inception_path": cfg.inception_path, "i3d_path": cfg.i3d_path,
                                      "syncnet_path": cfg.syncnet_path,
                                      "selftrained_syncnet": str(syncnet) if syncnet else ""})
        if syncnet is None:
            self.absent |= {k: "no self-trained scorer folder given (--syncnet data/models/syncnet)"
                            for k in self.absent if k.endswith("_selftrained")}
        self.scorer = None
        if "sync_c_selftrained" not in self.absent:
            from talkhead.eval.sync import load_selftrained

            self.scorer = load_selftrained(syncnet)
            self.selftrained_path = Path(syncnet) / "model.safetensors"
        self.video = VideoScores(cfg, self.absent, crop_root, quality_root)
        self.acc, self.cfg, self.crop_root, self.quality_root = Means(), cfg, crop_root, quality_root
        self.lmd_frames = 0

    def add(self, clip: str, gen: dict, truth: dict, samples: np.ndarray | None) -> None:
        """Score the first T generated frames of a clip against its T real ones."""
        from talkhead.eval import consistency as cons
        from talkhead.eval.landmarks import extract_landmarks, lmd
        from talkhead.models.video_df import LIP_CHANNELS

        n = len(truth["motion"])
        self.acc.add("latent_l1", float(np.abs(gen["latents"][:n] - truth["latents"]).mean()), n)
        self.acc.add("structure_l1", float(np.abs(gen["motion_norm"][:n] - truth["motion_norm"]).mean()), n)
        self.acc.add("landmark_shape_drift_ground_truth",  # the real clip's own drift over its length: a baseline
                     cons.landmark_shape_drift(truth["motion"], [n])[n] if n > 8 else float("nan"))
        lips = (gen["motion"][:n, LIP_CHANNELS] - truth["motion"][:, LIP_CHANNELS]).reshape(n, -1, 3)
        self.acc.add("lmd_structure", float(np.linalg.norm(lips, axis=-1).mean()), n)
        fake, real, native = gen["video"][:n], None, None
        if self.crop_root is not None:  # decoded once: at its own size for VideoScores, resized for the rest
            from talkhead.eval.video_scores import crop_frames

            native = crop_frames(self.crop_root, clip, n)
            real = _resized(native, fake.shape[1])
            gen_mesh = extract_landmarks(fake)
            real_mesh = extract_landmarks(real)
            both = np.isfinite(gen_mesh).all((1, 2)) & np.isfinite(real_mesh).all((1, 2))
            self.acc.add("lmd_mediapipe", lmd(gen_mesh, real_mesh), int(both.sum()))
            self.lmd_frames += int(both.sum())  # frames with a face found in both (lmd's weight)
        self.video.add(clip, fake, native)
        if self.scorer is not None and samples is not None:
            from talkhead.eval.sync import score_selftrained_video

            for frames, suffix in ((fake, ""), (real, "_ground_truth")):  # the real crop: the ground-truth row
                if frames is None:
                    continue
                try:
                    result = score_selftrained_video(self.scorer, frames, samples, max_offset=self.cfg.sync_max_offset)
                except ValueError as exc:  # e.g. no face found in any decoded frame
                    log.warning("evaluate_dualforce: no self-trained sync score%s for %s: %s", suffix, clip, exc)
                else:
                    for key, value in result.metrics("selftrained").items():
                        self.acc.add(key + suffix, value)

    def result(self) -> dict:
        """The scores, and `absent`: why each unavailable one is missing."""
        out = self.acc.result() | self.video.result()
        if self.scorer is not None:  # the self-trained scorer's weights file (docs/evaluation.md)
            from talkhead.eval.metrics import network_sha256

            out["selftrained_sha256"] = network_sha256(self.selftrained_path)
        if self.crop_root is not None:
            out["lmd_mediapipe_frames"] = self.lmd_frames
        reasons = dict(self.absent) | self.video.absent
        if self.crop_root is None:
            reasons["lmd_mediapipe"] = "needs the real crop videos (--crop-root data/crop)"
        if self.scorer is not None and self.quality_root is None:
            reasons |= {f"{m}_selftrained": "needs the clips' audio (--quality-root data/quality)"
                        for m in ("sync_c", "sync_d", "av_offset")}
        for name in ("lmd_mediapipe", "sync_c_selftrained", "sync_d_selftrained", "av_offset_selftrained"):
            if name not in out and name not in reasons:
                reasons[name] = "no face was found in the decoded frames"
        if self.scorer is not None:
            for name in ("sync_c_selftrained", "sync_d_selftrained", "av_offset_selftrained"):
                if name + "_ground_truth" not in out:
                    reasons[name + "_ground_truth"] = ("needs the crop videos (--crop-root data/crop) and the clips' "
                                                       "audio (--quality-root data/quality), and a face in them")
        out["absent"] = {k: v for k, v in sorted(reasons.items()) if k not in out}
        return out


def evaluate_dualforce(model_dir: Path, vae_dir: Path, metadata: Path, out: Path, cfg: EvaluateConfig,
                       dcfg: DualforceConfig, syncnet: Path | None = None, crop_root: Path | None = None,
                       quality_root: Path | None = None) -> dict:
    """Generate, score and write the folder `out` atomically; return the metrics."""
    import pandas as pd

    from talkhead.data.featurefile import read_features
    from talkhead.eval import consistency as cons
    from talkhead.eval.metrics import write_metrics
    from talkhead.eval.v3face import eval_split
    from talkhead.infer.dualforce import decode_latents, extend_audio, extend_samples, generate_latents, load_vae, \
        write_mp4
    from talkhead.vocab import AUDIO_KEYS
    from talkhead.models.video_df import load_model

    model, meta, stats = load_model(model_dir)
    vae = load_vae(vae_dir)
    split = eval_split(metadata)
    table = pd.read_parquet(metadata)
    clips = table[table["split"] == split].sort_values("clip").head(dcfg.eval_clips)
    if clips.empty:
        raise ValueError(f"{metadata}: no {split} clip to evaluate")
    lengths, key = sorted(dcfg.eval_lengths), AUDIO_KEYS[meta["audio"]]
    scorer, tables, sample, longest = _Scorer(cfg, syncnet, crop_root, quality_root), [], None, 0
    for _, row in clips.iterrows():
        t, _ = read_features(metadata.parent / row["file"],
                             keys=[key, "video_latents/latents", "video_latents/clip_first_frame", "motion/motion"])
        n = len(t["motion/motion"])
        total = max(lengths[-1], n)
        longest = max(longest, total)
        latents, motion = generate_latents(model, meta, stats, t["video_latents/clip_first_frame"],
                                           t["motion/motion"][0], extend_audio(t[key], int(meta["audio_rows"]), total),
                                           total, seed=dcfg.seed)
        video = decode_latents(vae, latents)
        gen = {"latents": latents, "motion": motion, "motion_norm": (motion - stats["mean"]) / stats["std"],
               "video": video}
        truth = {"latents": t["video_latents/latents"].astype(np.float32), "motion": t["motion/motion"],
                 "motion_norm": (t["motion/motion"] - stats["mean"]) / stats["std"]}
        samples, rate = _speech(quality_root, row["clip"])
        scorer.add(row["clip"], gen, truth, samples)
        tables.append(cons.consistency_table(motion, video, latents, lengths))
        if sample is None:
            sample = (row["clip"], video, None if samples is None else extend_samples(samples, rate, total), rate)
        log.info("evaluate_dualforce: %s generated %d frames (clip %d, window %d)", row["clip"], total, n,
                 meta["window"])
    mean = cons.mean_table(tables)
    metrics = {"split": split, "clips": len(clips), "eval_lengths": ",".join(map(str, lengths)),
               "window": int(meta["window"]), "stride": int(meta["stride"]), "cfg_scale": float(meta["cfg_scale"]),
               "generated_frames": longest, "sample_clip": sample[0]}
    metrics |= {f"consistency_{k}": v for k, v in cons.drift_metrics(mean).items()} | scorer.result()
    with atomic_dir(out) as tmp:
        write_metrics(tmp / "metrics.json", metrics)
        mean.to_csv(tmp / "consistency.csv", index=False, float_format="%.6f")
        (tmp / "plots").mkdir()
        cons.plot_consistency(mean, tmp / "plots" / "consistency.png", f"DualForce drift ({split} clips)")
        write_mp4(sample[1], sample[2], sample[3], tmp / "samples" / f"{sample[0]}.mp4")
    return metrics
