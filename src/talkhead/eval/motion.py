"""The motion DiT on the held-out speakers: motion error, mouth-to-speech coupling, rendered LMD, sync, FID/FVD.

MoDA (https://arxiv.org/abs/2507.03256) is scored as a generator, not a regressor. Every packed clip
of the val split (the train split, recorded as such, when the dataset has none) is generated whole
from its log-mel, its first-frame motion (the reference: the model's training convention) and its
emotion label, three times with one seed:

  guided   the model's own guidance scale (config.json, MoDA: 1.2)
  cfg0     guidance scale 0: the velocity of the null-audio branch only (audio conditioning off)
  silence  the guided model on digital silence (log-mel of zeros) instead of the clip's speech
  driven   guided, with the mouth moved by the mouth driver (talkhead.infer.mouth_driver: V3 Face's
           lipsync model beside the motion model), as `talkhead generate` does by default; only
           when there is a driver (else `val_l1_driven` and `mouth_env_r_driven` are in `absent`)

Scores (flat names, DVC metrics; docs/generate.md has the table):
- `val_l1`, `val_l1_exp`, `val_l1_pose`: mean |generated − ground truth| of the guided motion in
  normalised units (the model folder's training-split statistics), over all 70, the 63 exp and the 7
  pose channels, frame-weighted over clips; `val_l1_cfg0`, `val_l1_silence`, `val_l1_driven` the same over all 70, and
  `val_l1_static` for the reference frame held still (the face that does not move).
- `mouth_env_r_<source>`: Pearson r between the mouth opening (exp y of the lower minus the upper
  inner-lip keypoint, KEYPOINTS 15 and 13/14 of talkhead.features.motion, canonical units, y down so
  open is positive) and the speech envelope (log of the mean over the frame's 4 mel rows of
  Σ exp(mel) over the 80 bands), the best r over lags of ±MAX_LAG frames (mouth at t + lag against
  the envelope at t, so a positive lag is a mouth that follows the sound), for guided, cfg0, silence, driven
  and the ground truth; a plain mean over clips (each clip counts once). Every source is correlated
  with the clip's real envelope, so silence and cfg0 give the chance level of a mouth that hears
  nothing.
- `lmd_mediapipe`: the guided motion rendered on the clip's reference image by the mesh warp
  (talkhead.render, expression relative to the portrait's own motion, no scheduled blinks), the
  rendered frames' MediaPipe mesh (gaps filled and smoothed with σ MESH_SIGMA frames, as the
  features phase treats the ground truth) against the clip's `face_mesh/points`;
  `lmd_mediapipe_static` the reference image's own mesh held still. Frame-weighted over the clips
  whose reference image has a face; the others are counted in `lmd_skipped` and named, with the
  reason, in `lmd_skipped_reason` (and in `absent` when no clip could be rendered).
- `sync_{c,d}_selftrained`, `av_offset_selftrained` (+ `_static`, `_ground_truth`): the self-trained
  scorer on the rendered mesh, the still mesh and the clip's own mesh, against the clip's log-mel;
  plain means over clips. Only with the scorer's folder.
- `fid_inception`, `fvd_i3d`, `fvd_i3d_latentsync`, `{sync_c,sync_d,av_offset}_syncnet`: rendered frames
  against the clip's crop video (FID: all frames; FVD: non-overlapping i3d_min_frames windows, and
  LatentSync's frames 20–35) and the published SyncNet on the rendered frames with the clip's
  A/V-aligned audio, with `*_syncnet_ground_truth` (the crop video's own frames, same audio) beside
  it; `<network>_sha256` names each network file; only when configured (docs/evaluation.md).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from talkhead.config import EvaluateConfig
from talkhead.data.featurefile import read_features
from talkhead.eval.landmarks import extract_landmarks, lmd
from talkhead.eval.metrics import Means, absent_metrics, network_sha256, val_l1
from talkhead.eval.sync import score_selftrained
from talkhead.eval.video_scores import VideoScores
from talkhead.features import mel as melspec
from talkhead.features import motion as mo

log = logging.getLogger(__name__)

UPPER_LIP, LOWER_LIP = 14, 15  # KEYPOINTS indices of mesh 13 / 14, the inner-lip midline
MAX_LAG = 3  # frames searched each way for the mouth-envelope correlation
MESH_SIGMA = 0.7  # frames: the features phase's face_mesh.sigma_frames default
SAMPLES_PER_FRAME = 16000 // 25
GROUPS = {"exp": range(0, 63), "pose": range(63, 70)}
SOURCES = ("guided", "cfg0", "silence")
KEYS = ["audio_mel/mel", "motion/motion", "face_mesh/points", "reference/image"]


def mouth_opening(motion: np.ndarray) -> np.ndarray:
    """(T, 70) motion → (T,) exp y of the lower minus the upper inner lip (canonical units, open > 0)."""
    m = np.asarray(motion, np.float64)
    return m[:, 3 * LOWER_LIP + 1] - m[:, 3 * UPPER_LIP + 1]


def speech_envelope(mel: np.ndarray) -> np.ndarray:
    """(4T, 80) log-mel → (T,) log of the frame's mean over its 4 rows of the summed mel power."""
    return melspec.frame_log_power(mel)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two equally long series; NaN when either is constant or shorter than 3."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3:
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 * max(len(a), 1) else float("nan")


def best_lag_r(mouth: np.ndarray, envelope: np.ndarray, max_lag: int = MAX_LAG) -> tuple[float, int]:
    """(best r, its lag) over lags −max_lag..max_lag: mouth[t + lag] against envelope[t] (lag > 0: mouth late)."""
    n = min(len(mouth), len(envelope))
    best, best_lag = float("nan"), 0
    for lag in range(-max_lag, max_lag + 1):
        lo, hi = max(0, -lag), min(n, n - lag)  # t with both t and t + lag inside the clip
        r = pearson(mouth[lo + lag:hi + lag], envelope[lo:hi]) if hi > lo else float("nan")
        if np.isfinite(r) and not (np.isfinite(best) and r <= best):
            best, best_lag = r, lag
    return best, best_lag


@dataclass(frozen=True)
class MotionClip:
    """One held-out clip: log-mel (4T, 80), raw motion (T, 70), mesh (T, 478, 3), reference image, emotion."""

    clip: str
    mel: np.ndarray
    motion: np.ndarray
    mesh: np.ndarray
    image: np.ndarray
    emotion: str


def iter_clips(metadata: Path, split: str) -> Iterator[MotionClip]:
    """The split's packed clips in clip order, one at a time."""
    table = pd.read_parquet(metadata)
    for _, row in table[table["split"] == split].sort_values("clip").iterrows():
        t, _ = read_features(metadata.parent / row["file"], keys=KEYS)
        yield MotionClip(str(row["clip"]), t["audio_mel/mel"].astype(np.float32), t["motion/motion"].astype(np.float32),
                         t["face_mesh/points"].astype(np.float32), t["reference/image"], str(row["emotion"]))


@dataclass
class Generator:
    """The trained motion DiT with its statistics and the evaluation's guided / cfg0 settings."""

    model: torch.nn.Module
    meta: dict
    stats: dict[str, np.ndarray]
    settings: object  # talkhead.infer.motion.GenerateSettings
    driver: object = None  # talkhead.infer.mouth_driver.MouthDriver: V3 Face beside the model moves the mouth

    @classmethod
    def load(cls, model_dir: Path) -> Generator:
        """The model folder's model, its own sampling settings and seed."""
        from talkhead.infer.generate import settings_for
        from talkhead.models.motion_dit import load_model

        from talkhead.infer.mouth_driver import load_driver

        model, meta, stats = load_model(model_dir)
        if meta["audio"] != "audio_mel":
            raise ValueError(f"{model_dir}: evaluate_motion_dit scores log-mel models only, not {meta['audio']}")
        settings = settings_for(meta, None, int(meta["train"]["seed"]))
        return cls(model, meta, stats, settings, load_driver("auto", model_dir))

    def run(self, clip: MotionClip) -> dict[str, np.ndarray]:
        """{guided, cfg0, silence[, driven]: raw (T, 70)} generated from the clip's audio, reference = motion[0];
        driven = guided with the mouth driver (talkhead generate's default), when there is one."""
        from talkhead.infer.motion import generate_motion
        from talkhead.vocab import emotion_id

        frames = len(clip.motion)
        silence = melspec.log_mel(np.zeros(frames * SAMPLES_PER_FRAME, np.float32), frames)  # (4T, 80)
        runs = {"guided": (clip.mel, self.settings), "silence": (silence, self.settings),
                "cfg0": (clip.mel, dataclasses.replace(self.settings, cfg_scale=0.0))}
        out = {name: generate_motion(self.model, self.meta, self.stats, torch.from_numpy(audio), clip.motion[0],
                                     emotion_id(clip.emotion), settings)[:frames]
               for name, (audio, settings) in runs.items()}
        if self.driver is not None:
            out["driven"] = generate_motion(self.model, self.meta, self.stats, torch.from_numpy(clip.mel),
                                            clip.motion[0], emotion_id(clip.emotion), self.settings,
                                            self.driver.delta(clip.mel))[:frames]
        return out


def rendered(renderer, clip: MotionClip, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """(frames (T, H, W, 3), their mesh (T, 478, 3), the still image's mesh (478, 3)), or why there are none."""
    from talkhead.features.mesh import fill_and_smooth
    from talkhead.render import MultipleFacesError, NoFaceError

    try:
        source = renderer.prepare(np.ascontiguousarray(clip.image))
    except (NoFaceError, MultipleFacesError) as exc:
        return f"{clip.clip}: {exc}"
    still = extract_landmarks([clip.image])[0]  # (478, 3)
    if not np.isfinite(still).all():
        return f"{clip.clip}: no face mesh in the reference image"
    frames = np.stack([f.copy() for f in renderer.render(source, motion)])  # (T, H, W, 3)
    try:
        mesh, _ = fill_and_smooth(extract_landmarks(frames), MESH_SIGMA)
    except ValueError:
        return f"{clip.clip}: no face mesh in the rendered frames"
    return frames, mesh, still


def _coupling(acc: Means, clip: MotionClip, gen: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add each source's mouth-envelope r; return the (T,) tracks (envelope and mouth openings)."""
    tracks = {"envelope": speech_envelope(clip.mel)[:len(clip.motion)],
              "mouth_ground_truth": mouth_opening(clip.motion),
              **{f"mouth_{name}": mouth_opening(m) for name, m in gen.items()}}
    for name, track in tracks.items():
        if name != "envelope":
            acc.add(f"mouth_env_r_{name[len('mouth_'):]}", best_lag_r(track, tracks["envelope"])[0])
    return tracks


def _errors(acc: Means, clip: MotionClip, gen: dict[str, np.ndarray], stats: dict[str, np.ndarray]) -> None:
    """Add the frame-weighted L1 of each source and of the held reference in normalised units (groups: guided)."""
    target = mo.normalise(clip.motion, stats)
    frames = len(clip.motion)
    still = np.repeat(clip.motion[:1], frames, axis=0)  # (T, 70) the reference held: a face that does not move
    for name, pred in (gen | {"static": still}).items():
        scores = val_l1(mo.normalise(pred, stats), target, GROUPS if name == "guided" else None)
        for key, value in scores.items():
            acc.add(key if name == "guided" else f"{key}_{name}", value, frames)


def _rendered_scores(acc: Means, clip: MotionClip, render: tuple, scorer, max_offset: int) -> None:
    """Add LMD (guided, static) and, with a scorer, self-trained sync of the rendered, still and real meshes."""
    _, mesh, still = render
    frames = len(clip.motion)
    static = np.repeat(still[None], frames, axis=0)  # (T, 478, 3)
    acc.add("lmd_mediapipe", lmd(mesh, clip.mesh), frames)
    acc.add("lmd_mediapipe_static", lmd(static, clip.mesh), frames)
    if scorer is not None:
        for suffix, m in (("", mesh), ("_static", static)):
            for key, value in score_selftrained(scorer, m, clip.mel, max_offset).metrics("selftrained").items():
                acc.add(key + suffix, value)


def _header(split: str, clips: list[str], frames: int, gen: Generator) -> dict:
    """The metrics' description of what was scored."""
    return {"split": split, "split_note": "val" if split == "val" else "no val clips: scored on train",
            "clips": len(clips), "frames": frames, "cfg_scale": float(gen.settings.cfg_scale),
            "seed": int(gen.settings.seed), "sample_steps": int(gen.settings.steps), "max_lag_frames": MAX_LAG,
            "plotted_clip": clips[0]}


def score(model_dir: Path, metadata: Path, cfg: EvaluateConfig, syncnet_dir: Path | None = None,
          crop_root: Path | None = None, quality_root: Path | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """(metrics, the first clip's tracks {frame-wise envelope and mouth openings}) of the motion DiT."""
    from talkhead.eval.v3face import eval_split
    from talkhead.render import make_renderer

    gen = Generator.load(model_dir)
    absent = absent_metrics({"inception_path": cfg.inception_path, "i3d_path": cfg.i3d_path,
                             "syncnet_path": cfg.syncnet_path,
                             "selftrained_syncnet": str(syncnet_dir) if syncnet_dir else ""})
    if syncnet_dir is None:
        absent |= {k: "no self-trained scorer folder given (--syncnet data/models/syncnet)"
                   for k, v in absent.items() if k.endswith("_selftrained")}
    scorer = None
    if "sync_c_selftrained" not in absent:
        from talkhead.eval.sync import load_selftrained

        scorer = load_selftrained(syncnet_dir)
    video = VideoScores(cfg, absent, crop_root, quality_root)
    renderer = make_renderer("mesh_warp", blink="motion")
    split = eval_split(metadata)
    acc, clips, skipped, first, frames = Means(), [], [], {}, 0
    try:
        for clip in iter_clips(metadata, split):
            out = gen.run(clip)
            tracks = _coupling(acc, clip, out)
            _errors(acc, clip, out, gen.stats)
            if scorer is not None:
                for key, value in score_selftrained(scorer, clip.mesh, clip.mel, cfg.sync_max_offset).metrics(
                        "selftrained").items():
                    acc.add(key + "_ground_truth", value)
            render = rendered(renderer, clip, out["guided"])
            if isinstance(render, str):
                log.warning("evaluate_motion_dit: no render scores for %s", render)
                skipped.append(render)
            else:
                _rendered_scores(acc, clip, render, scorer, cfg.sync_max_offset)
                video.add(clip.clip, render[0])
            first = first or tracks
            clips.append(clip.clip)
            frames += len(clip.motion)
    finally:
        renderer.close()
    if not clips:
        raise ValueError(f"{metadata}: no {split} clip to evaluate")
    metrics = _header(split, clips, frames, gen) | acc.result() | video.result()
    if scorer is not None:  # the self-trained scorer's weights file, as every network-backed metric records
        metrics["selftrained_sha256"] = network_sha256(Path(syncnet_dir) / "model.safetensors")
    metrics["lmd_clips"], metrics["lmd_skipped"] = len(clips) - len(skipped), len(skipped)
    _absent_reasons(metrics, absent, skipped, video.absent)
    return metrics, first


def _absent_reasons(metrics: dict, absent: dict[str, str], skipped: list[str], video_absent: dict[str, str]) -> None:
    """metrics['absent']: why each unavailable metric is missing; clips without a render are named."""
    reasons = dict(absent) | video_absent
    if skipped:
        metrics["lmd_skipped_reason"] = "; ".join(skipped)
    rendered_names = ("lmd_mediapipe", "lmd_mediapipe_static", "sync_c_selftrained", "sync_d_selftrained",
                      "av_offset_selftrained", "fid_inception", "fvd_i3d", "fvd_i3d_latentsync", "sync_c_syncnet",
                      "sync_d_syncnet", "av_offset_syncnet")
    for name in rendered_names:
        if name not in metrics and name not in reasons:
            reasons[name] = "no clip could be rendered: " + "; ".join(skipped)
    for name in (f"mouth_env_r_{s}" for s in ("ground_truth", *SOURCES)):
        if name not in metrics:
            reasons[name] = "the mouth opening or the speech envelope is constant in every clip"
    for name in ("val_l1_driven", "mouth_env_r_driven"):
        if name not in metrics:
            reasons[name] = ("no mouth driver: no V3 Face lipsync model beside the motion model, or no "
                             "mouth_map.safetensors in it")
    metrics["absent"] = {k: v for k, v in sorted(reasons.items()) if k not in metrics}


def describe(metrics: dict) -> str:
    """One summary line of the main numbers."""
    keys = ("val_l1", "mouth_env_r_guided", "mouth_env_r_cfg0", "mouth_env_r_silence", "mouth_env_r_ground_truth",
            "lmd_mediapipe", "lmd_mediapipe_static", "sync_c_selftrained")
    return json.dumps({k: metrics[k] for k in keys if k in metrics})
