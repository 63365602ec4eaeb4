"""Training of the self-trained lip-sync scorer (`SelfSyncNet`) on the pipeline's own packed clips.

The SyncNet recipe (Chung & Zisserman 2016, "Out of time",
https://www.robots.ox.ac.uk/~vgg/publications/2016/Chung16a/chung16a.pdf) on what every packed
clip already holds: `audio_mel/mel` (100 Hz log-mel) and `face_mesh/points` (478-point mesh).
Each step draws `batch` windows of `window` frames (talkhead.data.dataset.WindowDataset, drawn
inside scene-cut-free segments); in each window every mouth position p in [S, window − 5 − S]
is contrasted against the audio at p + s for s = −S..S (S = max_shift) and the other windows'
audio at p (`shift_contrastive_loss`). Input statistics (per-band mel mean/std, mean lip shape,
lip scale) come from the training clips and are stored as buffers with the weights.

Writes `out_dir/`: config.json (format, architecture, training settings, data), model.safetensors,
loss.csv (step, loss: a DVC plot), loss.png, the resumable run's files (last/state/best safetensors,
state.json: talkhead.train.run_files), and metrics.json — the scorer on the held-out clips
(val, else train) in sync and with the audio delayed by `check_shift` frames: the offset it finds
there should be +check_shift (positive = audio late).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from talkhead.atomic import write_json, write_text
from talkhead.config import ConfigError, SyncnetConfig
from talkhead.data.dataset import WindowDataset, collate
from talkhead.data.featurefile import read_features
from talkhead.eval.landmarks import mouth_points
from talkhead.eval.metrics import plot_curve, write_metrics
from talkhead.eval.sync import ROWS, SELFSYNC_FORMAT, WINDOW, score_selftrained
from talkhead.models.checkpoint import file_digest
from talkhead.models.syncnet import SelfSyncConfig, SelfSyncNet, shift_contrastive_loss
from talkhead.train.harness import EpochResult, fresh_state, run_epochs, run_fingerprint, seeded_run
from talkhead.train.run_files import data_digest, resume_run, save_tensors

log = logging.getLogger(__name__)

KEYS = ("audio_mel/mel", "face_mesh/points")
STEPS_PER_BLOCK = 50  # optimizer steps between checkpoints (the harness's "epoch")


def _clip_arrays(metadata: Path, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(mesh (T, 478, 3), mel (4T, 80))] of every packed clip of `split`."""
    table = pd.read_parquet(metadata)
    out = []
    for file in table.loc[table["split"] == split, "file"]:
        tensors, _ = read_features(metadata.parent / file, keys=list(KEYS))
        out.append((tensors["face_mesh/points"], tensors["audio_mel/mel"]))
    return out


def _set_stats(model: SelfSyncNet, clips: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Input normalisation buffers from the training clips."""
    mel = np.concatenate([m for _, m in clips]).astype(np.float64)  # (ΣT·4, 80)
    lips = np.concatenate([mouth_points(p) for p, _ in clips])  # (ΣT, 40, 2)
    model.mel_mean.copy_(torch.from_numpy(mel.mean(0)))
    model.mel_std.copy_(torch.from_numpy(mel.std(0) + 1e-3))
    model.mouth_mean.copy_(torch.from_numpy(lips.mean(0)))
    model.mouth_std.copy_(torch.tensor(float((lips - lips.mean(0)).std()) + 1e-6))


def _batch(ds: WindowDataset, step: int, size: int) -> dict:
    """`size` windows: item k of step t is clip k mod len(ds) drawn at epoch t·size + k."""
    items = []
    for k in range(size):
        ds.set_epoch(step * size + k)
        items.append(ds[k % len(ds)])
    return collate(items)


def _loss(model: SelfSyncNet, batch: dict, cfg: SyncnetConfig) -> torch.Tensor:
    """shift_contrastive_loss of one batch of windows."""
    mesh, mel = batch["face_mesh/points"], batch["audio_mel/mel"]  # (B, L, 478, 3), (B, 4L, 80)
    b, length = mesh.shape[:2]
    lips = torch.from_numpy(mouth_points(mesh.numpy()).astype(np.float32))  # (B, L, 40, 2)
    n_win = length - WINDOW + 1  # audio windows per clip window
    s = cfg.max_shift
    mouth = lips.unfold(1, WINDOW, 1).permute(0, 1, 4, 2, 3)[:, s:n_win - s]  # (B, P, 5, 40, 2)
    audio = mel.unfold(1, ROWS * WINDOW, ROWS)[:, :n_win].transpose(2, 3)  # (B, P + 2S, 20, 80)
    p = mouth.shape[1]
    v = model.forward_lip(mouth.reshape(b * p, *mouth.shape[2:])).reshape(b, p, -1)  # (B, P, D)
    a = model.forward_aud(audio.reshape(b * n_win, *audio.shape[2:])).reshape(b, n_win, -1)  # (B, P + 2S, D)
    return shift_contrastive_loss(v, a, s, cfg.temperature)


def _self_check(model: SelfSyncNet, clips: list[tuple[np.ndarray, np.ndarray]], shift: int) -> dict[str, float]:
    """Mean Sync-C/D and offsets on held-out clips, in sync and with the audio delayed by `shift` frames."""
    rows = []
    for mesh, mel in clips:
        late = np.concatenate([np.repeat(mel[:1], ROWS * shift, 0), mel[:len(mel) - ROWS * shift]])  # audio late
        rows.append((score_selftrained(model, mesh, mel), score_selftrained(model, mesh, late)))
    return {"clips": len(rows),
            "sync_c_selftrained": float(np.mean([r.sync_c for r, _ in rows])),
            "sync_d_selftrained": float(np.mean([r.sync_d for r, _ in rows])),
            "av_offset_selftrained_mean_abs": float(np.mean([abs(r.av_offset) for r, _ in rows])),
            f"av_offset_selftrained_audio_late_{shift}": float(np.mean([d.av_offset for _, d in rows])),
            "sync_c_selftrained_audio_late": float(np.mean([d.sync_c for _, d in rows]))}


def _write_curve(out_dir: Path, losses: list[float]) -> None:
    """loss.csv: every step's loss so far (a DVC plot)."""
    write_text(out_dir / "loss.csv", "step,loss\n" + "".join(f"{i},{v:.6f}\n" for i, v in enumerate(losses)))


def train_selftrained_syncnet(metadata_path: str | Path, out_dir: str | Path,
                              cfg: SyncnetConfig | dict | None = None) -> dict:
    """Train the self-trained scorer on the training split of a packed dataset into out_dir (resuming an
    interrupted run after its last checkpoint); return its metrics.

    AdamW + one-cycle schedule for cfg.steps steps, run by the shared harness (talkhead.train.harness) in blocks
    of STEPS_PER_BLOCK steps: after each block the weights, AdamW and the schedule are checkpointed (last/state
    files, state.json with every step's loss), so a killed run redoes at most one block and ends with the bytes
    of an uninterrupted one. The scorer used is the last step's (model.safetensors).
    """
    cfg = cfg if isinstance(cfg, SyncnetConfig) else SyncnetConfig.from_dict(cfg or {})
    if cfg.window < WINDOW + 2 * cfg.max_shift:
        raise ConfigError(f"syncnet.window {cfg.window} < 5 + 2·syncnet.max_shift = {WINDOW + 2 * cfg.max_shift}")
    metadata, out_dir = Path(metadata_path), Path(out_dir)
    ds = WindowDataset(metadata, "train", cfg.window, KEYS, seed=cfg.seed)
    if len(ds) == 0:
        raise ConfigError(f"{metadata}: no training clip has a segment of {cfg.window} frames (syncnet.window)")
    train_clips = _clip_arrays(metadata, "train")
    out_dir.mkdir(parents=True, exist_ok=True)
    t0, threads = time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        with seeded_run(cfg.seed):
            model = SelfSyncNet(SelfSyncConfig(hidden=cfg.hidden, dim=cfg.dim))
            _set_stats(model, train_clips)
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
            # every setting changes the steps (threads too: torch's CPU sums depend on the thread count)
            fingerprint = run_fingerprint(cfg, (), data=data_digest(metadata))
            state = resume_run(out_dir, fingerprint, model, opt)
            if state is None:
                state = fresh_state(fingerprint, losses=[])
            else:
                sched.load_state_dict(state["scheduler"])
            losses: list[float] = list(state["losses"])

            def run_block(block: int) -> EpochResult:
                first, end = block * STEPS_PER_BLOCK, min((block + 1) * STEPS_PER_BLOCK, cfg.steps)
                model.train()
                for step in range(first, end):
                    loss = _loss(model, _batch(ds, step, cfg.batch), cfg)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    losses.append(loss.detach().item())
                model.eval()
                mean = float(np.mean(losses[first:end]))
                return EpochResult({"loss": mean}, mean, f"steps {end}/{cfg.steps}, loss {mean:.4f}",
                                   {"losses": list(losses), "scheduler": sched.state_dict()})

            blocks = -(-cfg.steps // STEPS_PER_BLOCK)
            state, _ = run_epochs(out_dir, state, blocks, "syncnet", run_block, lambda: (model, opt),
                                  lambda st: _write_curve(out_dir, st["losses"]))
    finally:
        torch.set_num_threads(threads)
    model.eval()
    losses = state["losses"]
    held_out = _clip_arrays(metadata, "val")
    split = "val" if held_out else "train"
    check = _self_check(model, held_out or train_clips, cfg.check_shift)
    log.info("trained in %.1f s", time.perf_counter() - t0)
    metrics = {"split": split, "loss_first": losses[0],
               "loss_last": float(np.mean(losses[-10:])), "chance_loss": float(np.log(2 * cfg.max_shift + cfg.batch)),
               **check}
    save_tensors(out_dir / "model.safetensors", model.state_dict())
    write_json(out_dir / "config.json", {"format": SELFSYNC_FORMAT, "model": model.config_dict(),
                                         "train": dataclasses.asdict(cfg), "data": metadata.name,
                                         "train_clips": len(train_clips),
                                         "weights": file_digest([out_dir / "model.safetensors"])})
    _write_curve(out_dir, losses)
    plot_curve(out_dir / "loss.png", losses, "step", "shift-contrastive loss")
    write_metrics(out_dir / "metrics.json", metrics)
    log.info("self-trained SyncNet: %s", metrics)
    return metrics
