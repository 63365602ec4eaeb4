"""Training the MoDA-style motion generator with flow matching on the packed dataset.

Each training window holds n_prev + n_pred frames of a train-split clip: the first n_prev frames
are the previous motion, the last n_pred the target; the audio of the target frames, the clip's
first-frame motion (the reference) and its emotion label are the other conditions. Motion is
normalised with the training split's statistics (data/dataset/motion_stats.safetensors, copied into
the model folder), and the model generates it as the residual to the normalised reference: the
reference stays a condition, but the identity it carries (the keypoints' offsets from the generic
face, the head's place in the crop) is not something the model must reproduce, which is what lets
a model trained on few speakers drive a new face. Loss: MSE between the predicted and the straight-path velocity
(talkhead.models.flow_matching), with classifier-free-guidance dropout of audio and emotion.

The folder is written like V3 Face's (talkhead.train.v3face, whose resume helpers are reused):
config.json, best.safetensors (best val L1), last/state.safetensors + state.json (resume),
metrics.csv (per epoch) and metrics.json. Validation: `sample_steps`-step guided samples of fixed
windows of the val split (the train split, recorded, when there is none) against the ground
truth: mean L1 in normalised units over all 70 channels (the best-checkpoint score), over the 63
exp channels and over the 7 pose channels. Deterministic on CPU: window picks, flow times, noise
and dropout masks depend only on (seed, epoch, step).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from talkhead.atomic import write_json, write_text
from talkhead.config import ConfigError, MotionDitConfig
from talkhead.data.dataset import WindowDataset, collate, train_val, val_picks
from talkhead.data.featurefile import read_features
from talkhead.features.mel import speech_level
from talkhead.models import flow_matching as fm
from talkhead.models.checkpoint import STATS_FILE, file_digest, load_motion_stats
from talkhead.models.mouth_map import MAP_FILE as MOUTH_MAP_FILE
from talkhead.models.mouth_map import fit_mouth_map, save_mouth_map
from talkhead.models.motion_dit import (MODEL_FORMAT, MOTION_DIT_SIZES, MotionCond, MotionDiT, model_from_config,
                                        sample)
from talkhead.train.harness import (EpochResult, epoch_draws, fresh_state, optimizer_step, run_epochs, run_fingerprint,
                                    seeded_run)
from talkhead.train.run_files import data_digest, resume_run
from talkhead.vocab import AUDIO_KEYS, NULL_EMOTION, ROWS_PER_FRAME, emotion_id

log = logging.getLogger(__name__)

#                                           with training statistics (buffers) instead of a per-frame LayerNorm
VAL_DRAWS = 2  # fixed validation windows per val clip
EXP, POSE = slice(0, 63), slice(63, 70)  # exp keypoints | scale, t, pitch/yaw/roll
CSV_HEADER = "epoch,train_loss,val_l1,val_l1_exp,val_l1_pose\n"


class _Data:
    """Train and validation windows, the clips' reference motions and the fixed validation batches."""

    def __init__(self, metadata: Path, stats: dict[str, np.ndarray], cfg: MotionDitConfig) -> None:
        self.cfg, self.audio_key = cfg, AUDIO_KEYS[cfg.audio]
        self.mean, self.std = torch.from_numpy(stats["mean"]), torch.from_numpy(stats["std"])
        keys, window = [self.audio_key, "motion/motion"], cfg.n_prev + cfg.n_pred
        self.train, self.val, self.val_split = train_val(metadata, window, keys, cfg.seed, "n_prev + n_pred")
        self.refs = {ds.clips.iloc[i]["clip"]: self._first_frame(ds, i) for ds in (self.train, self.val)
                     for i in range(len(ds))}
        self.val_batches = [self.batch(self.val, p) for p in val_picks(len(self.val), VAL_DRAWS, cfg.batch_size)]

    def normalise(self, motion: torch.Tensor) -> torch.Tensor:
        """(…, 70) raw → normalised motion."""
        return (motion.float() - self.mean) / self.std

    def _first_frame(self, ds: WindowDataset, index: int) -> torch.Tensor:
        """(70,) normalised motion of the clip's first frame: the reference (the source face)."""
        tensors, _ = read_features(ds.root / ds.clips.iloc[index]["file"], keys=["motion/motion"])
        return self.normalise(torch.from_numpy(tensors["motion/motion"][0]))

    def batch(self, ds: WindowDataset, picks: list[tuple[int, int]]) -> tuple[MotionCond, torch.Tensor]:
        """(conditions, target (B, n_pred, 70) residual) of (clip index, draw) picks: previous and target motion
        are normalised motion minus the normalised reference, so a face's identity is not part of what is learned."""
        items = []
        for index, draw in picks:
            ds.set_epoch(draw)
            items.append(ds[index])
        b = collate(items)
        ref = torch.stack([self.refs[c] for c in b["clip"]])  # (B, 70)
        motion = self.normalise(b["motion/motion"]) - ref[:, None]  # (B, P + N, 70) residual to the reference
        rows = ROWS_PER_FRAME[self.cfg.audio]
        audio = b[self.audio_key][:, rows * self.cfg.n_prev:].float()  # (B, rows·N, D) or (B, rows·N, L, D)
        emotion = torch.tensor([emotion_id(str(ds.clips.iloc[i]["emotion"])) for i, _ in picks])
        p = self.cfg.n_prev
        return MotionCond(audio, ref, motion[:, :p], emotion), motion[:, p:]

    def clips(self) -> dict[str, list[str]]:
        """The clips of both datasets."""
        return {"train": self.train.clips["clip"].tolist(), "val": self.val.clips["clip"].tolist()}


def _to(cond: MotionCond, device: torch.device) -> MotionCond:
    """The conditions on `device`."""
    drop = None if cond.drop_audio is None else cond.drop_audio.to(device)
    return MotionCond(cond.audio.to(device), cond.ref.to(device), cond.prev.to(device), cond.emotion.to(device), drop)


def cfg_dropout(cond: MotionCond, cfg: MotionDitConfig, g: torch.Generator) -> MotionCond:
    """Classifier-free-guidance dropout: null audio, emotion → none, previous motion → the reference (zero residual)."""
    b = cond.ref.shape[0]
    drop_audio = torch.rand(b, generator=g) < cfg.audio_drop
    emotion = torch.where(torch.rand(b, generator=g) < cfg.emotion_drop, NULL_EMOTION, cond.emotion)
    drop_prev = torch.rand(b, generator=g) < cfg.prev_drop
    prev = torch.where(drop_prev[:, None, None], torch.zeros_like(cond.prev), cond.prev)
    return MotionCond(cond.audio, cond.ref, prev, emotion, drop_audio)


def flow_loss(model: MotionDiT, cond: MotionCond, x1: torch.Tensor, cfg: MotionDitConfig,
              g: torch.Generator) -> torch.Tensor:
    """MSE between the model's and the straight path's velocity at random times (noise and times from `g`)."""
    t = fm.train_times(x1.shape[0], cfg.time_sampling, cfg.time_shift, g).to(x1.device)
    x0 = torch.randn(x1.shape, generator=g).to(x1.device)
    v = model(fm.interpolate(x0, x1, t), t, cond)
    return F.mse_loss(v.float(), fm.target_velocity(x0, x1))


def _train_epoch(model: MotionDiT, opt: torch.optim.Optimizer, data: _Data, epoch: int,
                 device: torch.device) -> float:
    """cfg.steps_per_epoch AdamW steps on freshly drawn windows; the mean training loss."""
    cfg = data.cfg
    model.train()
    total = 0.0
    for picks, g in epoch_draws([cfg.seed, 6], epoch, cfg.steps_per_epoch, cfg.batch_size, len(data.train)):
        cond, x1 = data.batch(data.train, picks)
        total += optimizer_step(opt, flow_loss(model, _to(cfg_dropout(cond, cfg, g), device), x1.to(device), cfg, g))
    return total / cfg.steps_per_epoch


@torch.no_grad()
def _validate(model: MotionDiT, data: _Data, device: torch.device) -> tuple[float, float, float]:
    """Mean L1 (normalised units) of guided samples vs ground truth: all 70, exp and pose channels."""
    cfg = data.cfg
    model.eval()
    g = torch.Generator().manual_seed(cfg.seed)  # the same noise every epoch
    sums, count = np.zeros(3), 0
    for cond, target in data.val_batches:
        pred = sample(model, _to(cond, device), target.shape[1], cfg.sample_steps, cfg.cfg_scale, cfg.time_shift,
                      g).float().cpu()
        err = (pred - target).abs()  # (B, N, 70)
        sums += [err.mean(-1).sum().item(), err[..., EXP].mean(-1).sum().item(), err[..., POSE].mean(-1).sum().item()]
        count += err.shape[0] * err.shape[1]
    return tuple(float(s / count) for s in sums)


def _write_metrics(out_dir: Path, state: dict, val_split: str) -> None:
    """metrics.csv (every epoch so far) and metrics.json (the latest and the best) from the run's state."""
    rows = state["history"]
    write_text(out_dir / "metrics.csv", CSV_HEADER + "".join(
        f"{r['epoch']},{r['train_loss']:.6f},{r['val_l1']:.6f},{r['val_l1_exp']:.6f},{r['val_l1_pose']:.6f}\n"
        for r in rows))
    write_json(out_dir / "metrics.json", {**rows[-1], "best_epoch": state["best_epoch"], "best_val_l1": state["best"],
                                          "val_split": val_split})


def _build(cfg: MotionDitConfig, data: _Data, stats_path: Path) -> tuple[MotionDiT, dict]:
    """The seeded initial model and its config.json header."""
    if cfg.size not in MOTION_DIT_SIZES:
        raise ConfigError(f"motion_dit.size {cfg.size!r} not in {sorted(MOTION_DIT_SIZES)}")
    audio = data.batch(data.train, [(0, 0)])[0].audio
    arch = {"format": MODEL_FORMAT, "spec_name": cfg.size, "spec": MOTION_DIT_SIZES[cfg.size].to_dict(),
            "audio": cfg.audio, "audio_dim": int(audio.shape[-1]), "audio_rows": ROWS_PER_FRAME[cfg.audio],
            "audio_layers": int(audio.shape[2]) if audio.dim() == 4 else 0, "n_pred": cfg.n_pred,
            "n_prev": cfg.n_prev, "sample_steps": cfg.sample_steps, "cfg_scale": cfg.cfg_scale,
            "time_shift": cfg.time_shift, "stats": file_digest([stats_path])}
    torch.manual_seed(cfg.seed)
    model = model_from_config(arch)
    model.set_audio_stats(*data.train.feature_stats(data.audio_key))
    return model, arch


def fit_mouth(metadata: Path, out_dir: Path) -> dict | None:
    """Fit the mouth driver's map (talkhead.models.mouth_map) on the train split's blendshapes and motion, check
    it on the val split, write `mouth_map.safetensors`; None (and no file) when the clips carry no blendshapes."""
    import pandas as pd

    table = pd.read_parquet(metadata)
    if "blendshapes_extractor" not in table or table["blendshapes_extractor"].isna().any():
        log.warning("mouth map: the dataset's clips carry no blendshapes; `talkhead generate` will move the mouth "
                    "with the motion DiT alone")
        (out_dir / MOUTH_MAP_FILE).unlink(missing_ok=True)
        return None
    pairs: dict[str, list] = {"train": [], "val": []}
    levels = []  # the train clips' speaking levels (talkhead.features.mel.speech_level)
    for file, split in zip(table["file"], table["split"]):
        if split in pairs:
            keys = ["blendshapes/coefficients", "motion/motion"] + (["audio_mel/mel"] if split == "train" else [])
            tensors, _ = read_features(Path(metadata).parent / file, keys=keys)
            pairs[split].append((tensors["blendshapes/coefficients"], tensors["motion/motion"]))
            if split == "train":
                levels.append(speech_level(tensors["audio_mel/mel"]))
    fitted = fit_mouth_map(pairs["train"], pairs["val"])
    fitted["speech_level"] = np.array([np.median(levels)], np.float32)
    save_mouth_map(out_dir / MOUTH_MAP_FILE, fitted)
    summary = {k: round(float(v[0]), 4) for k, v in fitted.items() if k != "weight"}
    log.info("mouth map (lipsync blendshapes → mouth keypoints): R² %s", summary)
    return summary


def train(metadata: Path, stats_path: Path, cfg: MotionDitConfig, out_dir: Path) -> dict:
    """Train into `out_dir` (resuming it if interrupted); return a summary."""
    t0 = time.monotonic()
    metadata, stats_path, out_dir = Path(metadata), Path(stats_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(cfg.device)
    with seeded_run(cfg.seed):
        data = _Data(metadata, load_motion_stats(stats_path), cfg)
        model, arch = _build(cfg, data, stats_path)
        model.to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        shutil.copyfile(stats_path, out_dir / STATS_FILE)
        mouth = fit_mouth(metadata, out_dir)
        write_json(out_dir / "config.json", arch | {"train": dataclasses.asdict(cfg), "clips": data.clips(),
                                                    "val_split": data.val_split, "mouth_map": mouth})
        fingerprint = run_fingerprint(cfg, data=data_digest(metadata), stats=arch["stats"])
        state = resume_run(out_dir, fingerprint, model, opt) or fresh_state(fingerprint)

        def run_epoch(epoch: int) -> EpochResult:
            train_loss = _train_epoch(model, opt, data, epoch, device)
            val, val_exp, val_pose = _validate(model, data, device)
            return EpochResult({"train_loss": train_loss, "val_l1": val, "val_l1_exp": val_exp,
                                "val_l1_pose": val_pose}, val,
                               f"train {train_loss:.4f}, val L1 {val:.4f} (exp {val_exp:.4f}, pose {val_pose:.4f})")

        state, resumed = run_epochs(out_dir, state, cfg.epochs, "motion_dit", run_epoch, lambda: (model, opt),
                                    lambda st: _write_metrics(out_dir, st, data.val_split))
    hist = state["history"]
    return {"epochs": cfg.epochs, "resumed_after": resumed, "clips": len(data.train),
            "first_val": hist[0]["val_l1"] if hist else None, "best_val": state["best"],
            "best_epoch": state["best_epoch"], "seconds": time.monotonic() - t0}
