"""Training DualForce with diffusion forcing on the packed dataset (video latents + motion + audio).

Each training window holds `window` frames of a train-split clip: its video latents
(`video_latents/latents`, already scaled by the VAE's factor), its motion normalised with the training
split's statistics (data/dataset/motion_stats.safetensors, copied into the model folder) as the
residual to the clip's normalised first-frame motion (the structure the tower generates), the audio
of those frames, and the clip's first-frame latent and motion (the identity condition). Loss: the
diffusion-forcing flow-matching loss of talkhead.models.video_df_forcing (video + structure + lip
terms, weights in params), with classifier-free-guidance dropout of the audio.

The folder is written like the other trainers' (talkhead.train.run_files, so an interrupted run resumes
after its last finished epoch): config.json, best.safetensors (best validation loss), last/state
files, metrics.csv (per epoch: train loss, validation loss and its terms) and metrics.json (latest,
best, and the validation loss of the untrained model — `loss_decreased` says whether training
lowered it). Validation: the same loss on fixed windows, times and noise of the val split (the train
split, recorded, when it has no windows). Deterministic on CPU: picks, times, noise and dropout depend
only on (seed, epoch, step).

Multi-process: under torchrun (talkhead.train.distributed) every rank draws the same global batch
(windows, CFG dropout, context prefixes, times and noise) and trains on its share, so N processes
take the optimizer steps one process takes (up to float rounding); `strategy` ddp replicates the
model, fsdp shards it (PyTorch's fully_shard; CUDA or, for tests, the CPU). Under FSDP the weights and
the AdamW moments are gathered on rank 0 for every checkpoint and written as one process writes them,
so an FSDP run resumes exactly (and on any number of processes).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from talkhead.atomic import write_json, write_text
from talkhead.config import ConfigError, DualforceConfig
from talkhead.data.dataset import WindowDataset, collate, train_val, val_picks
from talkhead.data.featurefile import read_features
from talkhead.models.checkpoint import STATS_FILE, file_digest, load_motion_stats
from talkhead.models.layers import parameter_count
from talkhead.models.video_df import DUALFORCE_SIZES, MODEL_FORMAT, DFCond, DualForce, model_from_config
from talkhead.models.video_df_attention import Bridge, TowerBlock
from talkhead.models.video_df_forcing import LossWeights, forcing_loss, speech_weight
from talkhead.train import distributed
from talkhead.train.distributed import World
from talkhead.train.harness import (EpochResult, epoch_draws, fresh_state, optimizer_step, run_epochs, run_fingerprint,
                                    seeded_run)
from talkhead.train.run_files import data_digest, resume_run
from talkhead.vocab import AUDIO_KEYS, ROWS_PER_FRAME

log = logging.getLogger(__name__)

VAL_DRAWS = 2  # fixed validation windows per val clip
LATENT_KEY, FIRST_KEY, MOTION_KEY = "video_latents/latents", "video_latents/clip_first_frame", "motion/motion"
CSV_HEADER = "epoch,train_loss,val_loss,val_video,val_struct,val_lip\n"


class _Data:
    """Train and validation windows, each clip's first-frame motion and the fixed validation batches."""

    def __init__(self, metadata: Path, stats: dict[str, np.ndarray], cfg: DualforceConfig) -> None:
        self.cfg, self.audio_key = cfg, AUDIO_KEYS[cfg.audio]
        self.mean, self.std = torch.from_numpy(stats["mean"]), torch.from_numpy(stats["std"])
        keys = [self.audio_key, LATENT_KEY, FIRST_KEY, MOTION_KEY]
        self.train, self.val, self.val_split = train_val(metadata, cfg.window, keys, cfg.seed, "dualforce.window")
        self.refs = {ds.clips.iloc[i]["clip"]: self.first_motion(ds.root / ds.clips.iloc[i]["file"])
                     for ds in (self.train, self.val) for i in range(len(ds))}
        self.val_picks = val_picks(len(self.val), VAL_DRAWS, cfg.batch_size)

    def normalise(self, motion: torch.Tensor) -> torch.Tensor:
        """(…, 70) raw → normalised motion."""
        return (motion.float() - self.mean) / self.std

    def first_motion(self, path: Path) -> torch.Tensor:
        """(70,) normalised motion of a packed clip's first frame (the structure reference)."""
        tensors, _ = read_features(path, keys=[MOTION_KEY])
        return self.normalise(torch.from_numpy(tensors[MOTION_KEY][0]))

    def batch(self, ds: WindowDataset, picks: list[tuple[int, int]]) -> tuple[DFCond, torch.Tensor, torch.Tensor,
                                                                               torch.Tensor]:
        """(conditions, latents (B, W, C, h, w), structure (B, W, 70), speech weight (B, W)) of (clip, draw) picks; the
        structure is the normalised motion minus the normalised first frame's, so a face's identity is a
        condition, not something the structure tower must reproduce (as in talkhead.train.motion_dit)."""
        items = []
        for index, draw in picks:
            ds.set_epoch(draw)
            items.append(ds[index])
        b = collate(items)
        audio = b[self.audio_key].float()  # (B, rows·W, D) or (B, rows·W, L, D)
        rows = ROWS_PER_FRAME[self.cfg.audio]
        speech = speech_weight(audio, rows) if audio.dim() == 3 else torch.ones(audio.shape[0], self.cfg.window)
        ref_s = torch.stack([self.refs[c] for c in b["clip"]])  # (B, 70)
        cond = DFCond(b[FIRST_KEY].float(), ref_s, audio)
        return cond, b[LATENT_KEY].float(), self.normalise(b[MOTION_KEY]) - ref_s[:, None], speech

    def clips(self) -> dict[str, list[str]]:
        """The clips of both datasets."""
        return {"train": self.train.clips["clip"].tolist(), "val": self.val.clips["clip"].tolist()}


def _to(cond: DFCond, device: torch.device) -> DFCond:
    """The conditions on `device`."""
    drop = None if cond.drop_audio is None else cond.drop_audio.to(device)
    return DFCond(cond.ref_latent.to(device), cond.ref_struct.to(device), cond.audio.to(device), cond.audio_start,
                  drop)


def _loss(model: torch.nn.Module, data: _Data, cond: DFCond, latents: torch.Tensor, motion: torch.Tensor,
          speech: torch.Tensor, g: torch.Generator, device: torch.device,
          share: tuple[int, int] | None = None) -> dict[str, torch.Tensor]:
    """The diffusion-forcing loss terms of one batch (this rank's `share` of a global batch)."""
    cfg = data.cfg
    weights = LossWeights(cfg.loss_video, cfg.loss_struct, cfg.loss_lip)
    return forcing_loss(model, latents.to(device), motion.to(device), _to(cond, device), speech, weights,
                        cfg.time_sampling, cfg.time_shift, cfg.context_prob, g, share)


def _train_epoch(step_model: torch.nn.Module, opt: torch.optim.Optimizer, data: _Data, epoch: int,
                 device: torch.device, world: World) -> float:
    """cfg.steps_per_epoch AdamW steps on freshly drawn windows (this rank's share); the mean training loss."""
    cfg = data.cfg
    step_model.train()
    total = 0.0
    for picks, g in epoch_draws([cfg.seed, 8], epoch, cfg.steps_per_epoch, cfg.batch_size, len(data.train)):
        # g: dropout, times and noise of the global batch; this rank computes its share of the rows
        cond, latents, motion, speech = data.batch(data.train, distributed.shard(picks, world))
        share = (world.rank * len(latents), cfg.batch_size)  # this rank's rows of the global batch
        drop = torch.rand(cfg.batch_size, generator=g) < cfg.audio_drop  # CFG dropout, drawn for the global batch
        cond.drop_audio = drop[share[0]:share[0] + len(latents)]
        total += optimizer_step(opt, _loss(step_model, data, cond, latents, motion, speech, g, device, share)["loss"])
    return distributed.mean_over_ranks(total) / cfg.steps_per_epoch


@torch.no_grad()
def _validate(model: torch.nn.Module, data: _Data, device: torch.device) -> dict[str, float]:
    """Mean loss terms on the fixed validation windows, times and noise (the same every epoch)."""
    model.eval()
    sums, count = {}, 0
    for i, picks in enumerate(data.val_picks):
        g = torch.Generator().manual_seed(data.cfg.seed * 1000 + i)
        terms = _loss(model, data, *data.batch(data.val, picks), g, device)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v.item() * len(picks)
        count += len(picks)
    return {f"val_{k}" if k != "loss" else "val_loss": v / count for k, v in sums.items()}


def _write_metrics(out_dir: Path, state: dict, val_split: str) -> None:
    """metrics.csv (every epoch so far) and metrics.json (latest, best, initial) from the run's state."""
    rows = state["history"]
    write_text(out_dir / "metrics.csv", CSV_HEADER + "".join(
        f"{r['epoch']},{r['train_loss']:.6f},{r['val_loss']:.6f},{r['val_video']:.6f},{r['val_struct']:.6f},"
        f"{r['val_lip']:.6f}\n" for r in rows))
    write_json(out_dir / "metrics.json", {
        **rows[-1], "best_epoch": state["best_epoch"], "best_val_loss": state["best"], "val_split": val_split,
        "initial_val_loss": state["initial"], "loss_decreased": bool(state["best"] < state["initial"]),
        "parameters": state["parameters"]})


def _build(cfg: DualforceConfig, data: _Data, stats_path: Path) -> tuple[DualForce, dict]:
    """The seeded initial model and its config.json header."""
    if cfg.size not in DUALFORCE_SIZES:
        raise ConfigError(f"dualforce.size {cfg.size!r} not in {sorted(DUALFORCE_SIZES)}")
    spec = DUALFORCE_SIZES[cfg.size]
    if not 1 <= cfg.stride < cfg.window:
        raise ConfigError(f"dualforce.stride {cfg.stride} must be in 1 … window − 1 = {cfg.window - 1}")
    if cfg.bridge_layers > spec.depth:
        raise ConfigError(f"dualforce.bridge_layers {cfg.bridge_layers} exceeds the {cfg.size} depth {spec.depth}")
    cond, latents, _, _ = data.batch(data.train, [(0, 0)])
    audio = cond.audio
    arch = {"format": MODEL_FORMAT, "spec_name": cfg.size, "spec": spec.to_dict(), "bridge_layers": cfg.bridge_layers,
            "latent_channels": int(latents.shape[2]), "latent_size": int(latents.shape[-1]), "audio": cfg.audio,
            "audio_dim": int(audio.shape[-1]), "audio_rows": ROWS_PER_FRAME[cfg.audio],
            "audio_layers": int(audio.shape[2]) if audio.dim() == 4 else 0, "window": cfg.window,
            "stride": cfg.stride, "sample_steps": cfg.sample_steps, "sample_lag": cfg.sample_lag,
            "cfg_scale": cfg.cfg_scale, "time_shift": cfg.time_shift, "stats": file_digest([stats_path])}
    torch.manual_seed(cfg.seed)
    model = model_from_config(arch)
    model.set_audio_stats(*data.train.feature_stats(data.audio_key))
    return model, arch


def _gathered(model: DualForce, opt: torch.optim.Optimizer, replica: DualForce | None,
              lr: float) -> tuple[DualForce, torch.optim.Optimizer] | None:
    """Under FSDP, what rank 0 writes: a CPU replica with the weights and an AdamW with the moments gathered
    from every rank (a collective: every rank calls it); None on the other ranks."""
    weights, moments = distributed.gather_state(model, opt)
    if replica is None:
        return None
    replica.load_state_dict(weights, strict=True)
    replica_opt = torch.optim.AdamW(replica.parameters(), lr=lr)
    replica_opt.load_state_dict(moments)
    return replica, replica_opt


def train(metadata: Path, stats_path: Path, cfg: DualforceConfig, out_dir: Path) -> dict:
    """Train into `out_dir` (resuming it if interrupted); return a summary."""
    t0 = time.monotonic()
    metadata, stats_path, out_dir = Path(metadata), Path(stats_path), Path(out_dir)
    world, device = distributed.init(cfg.device)
    if cfg.batch_size % world.size:
        raise ConfigError(f"dualforce.batch_size {cfg.batch_size} does not split over {world.size} processes")
    if world.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    with seeded_run(cfg.seed):
        data = _Data(metadata, load_motion_stats(stats_path), cfg)
        model, arch = _build(cfg, data, stats_path)
        model.to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        if world.main:
            shutil.copyfile(stats_path, out_dir / STATS_FILE)
            write_json(out_dir / "config.json", arch | {"train": dataclasses.asdict(cfg), "clips": data.clips(),
                                                        "val_split": data.val_split})
        fingerprint = run_fingerprint(cfg, ("epochs", "eval_lengths", "eval_clips"), data=data_digest(metadata),
                                      stats=arch["stats"])
        state = resume_run(out_dir, fingerprint, model, opt)
        if state is None:
            initial = _validate(model, data, device)["val_loss"]
            state = fresh_state(fingerprint, initial=round(initial, 8), parameters=parameter_count(model))
        distributed.barrier()
        fsdp = cfg.strategy == "fsdp" and world.distributed
        replica = copy.deepcopy(model).cpu() if fsdp and world.main else None  # what rank 0 writes under FSDP
        moments = opt.state_dict()  # a resumed run's AdamW state (index layout), to shard under FSDP
        wrapped = distributed.wrap_model(model, cfg.strategy, world, device,
                                         shard_units=(TowerBlock, Bridge))  # FSDP: one unit per layer
        if fsdp:  # FSDP replaced the parameters with shards: the optimizer is built on them, its state sharded
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
            if moments["state"]:
                distributed.scatter_optimizer(model, opt, moments)

        def run_epoch(epoch: int) -> EpochResult:
            train_loss = _train_epoch(wrapped, opt, data, epoch, device, world)
            val = _validate(wrapped, data, device)
            return EpochResult({"train_loss": train_loss, **val}, val["val_loss"],
                               f"train {train_loss:.4f}, val {val['val_loss']:.4f} (video {val['val_video']:.4f}, "
                               f"struct {val['val_struct']:.4f}, lip {val['val_lip']:.4f})")

        def checkpoint() -> tuple[torch.nn.Module, torch.optim.Optimizer] | None:
            if fsdp:
                return _gathered(model, opt, replica, cfg.lr)
            return (model, opt) if world.main else None

        state, resumed = run_epochs(out_dir, state, cfg.epochs, "dualforce", run_epoch, checkpoint,
                                    lambda st: _write_metrics(out_dir, st, data.val_split), world.main)
        distributed.barrier()
    log.info("dualforce: validation loss %.4f untrained → best %s", state["initial"], state["best"])
    if state["best"] is not None and state["best"] >= state["initial"]:
        log.warning("dualforce: training did not lower the validation loss below the untrained model's %.4f",
                    state["initial"])
    return {"epochs": cfg.epochs, "resumed_after": resumed, "clips": len(data.train), "first_val": state["initial"],
            "best_val": state["best"], "best_epoch": state["best_epoch"], "parameters": state["parameters"],
            "seconds": time.monotonic() - t0}
