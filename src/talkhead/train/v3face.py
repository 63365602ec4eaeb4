"""The two training phases of V3 Face: lipsync first, then expression with the lipsync branch frozen.

One phase writes its folder in place, so that a run started again on the same folder resumes from
the last finished epoch and ends with byte-identical files: config.json (architecture, training
settings, clips), best.safetensors (weights of the best validation epoch), last.safetensors and
state.safetensors (weights and AdamW moments after the last epoch), state.json (epoch, best, RNG
state, optimizer scalars, history), metrics.csv (one row per epoch: a DVC plot) and metrics.json
(latest + best: a DVC metrics file). Window draws depend only on (seed, phase, epoch, step).

Under torchrun (talkhead.train.distributed) every process draws the same global batch and trains on
its disjoint share with DDP averaging the gradients, so N processes take the steps one process takes
with the same batch_size (to float rounding); rank 0 alone writes the folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from talkhead.atomic import write_json, write_text
from talkhead.config import ConfigError, V3faceConfig
from talkhead.data.dataset import WindowDataset, collate, train_val, val_picks
from talkhead.models.arkit_channels import BROW_CHANNELS, EXPRESSION_INDEX, LIPSYNC_INDEX
from talkhead.models.checkpoint import file_digest
from talkhead.models.v3face import (MODEL_FORMAT, V3FACE_SIZES, V3Face, audio_features, audio_rows, load_model,
                                    model_from_config)
from talkhead.train import distributed
from talkhead.train.distributed import World
from talkhead.train.harness import (EpochResult, epoch_draws, fresh_state, optimizer_step, run_epochs, run_fingerprint,
                                    seeded_run)
from talkhead.train.run_files import data_digest, resume_run
from talkhead.vocab import ARKIT_NAMES, AUDIO_KEYS, emotion_id

log = logging.getLogger(__name__)

PHASES: dict[str, tuple[int, ...]] = {"lipsync": LIPSYNC_INDEX, "expression": EXPRESSION_INDEX}
PHASE_SEED = {"lipsync": 1, "expression": 2}  # keeps the two phases' window draws apart
VAL_DRAWS = 4  # fixed validation windows per val clip
CSV_HEADER = "epoch,train_loss,val_l1_lipsync,val_l1_expression,velocity_weight\n"


def velocity_ramp(cfg: V3faceConfig, epoch: int) -> float:
    """The velocity-loss weight of 0-based `epoch`: linear 0 → velocity_weight over the warm-up."""
    if cfg.velocity_warmup_epochs <= 0:
        return float(cfg.velocity_weight)
    return float(cfg.velocity_weight) * min(1.0, epoch / cfg.velocity_warmup_epochs)


def phase_loss(pred: torch.Tensor, target: torch.Tensor, channels: torch.Tensor, vel_channel_w: torch.Tensor,
               vel_w: float, kind: str) -> torch.Tensor:
    """Per-frame loss (l1 | mse) on `channels` + vel_w · per-channel-weighted loss on frame differences."""
    p, t = pred.index_select(-1, channels), target.index_select(-1, channels)  # (B, T, C)
    f = torch.abs if kind == "l1" else torch.square
    rec = f(p - t).mean()
    vel = (f(p.diff(dim=1) - t.diff(dim=1)) * vel_channel_w).mean()  # (B, T-1, C) weighted
    return rec + vel_w * vel


class _Data:
    """The train and validation datasets of a phase, with the fixed validation batches."""

    def __init__(self, metadata: Path, cfg: V3faceConfig) -> None:
        self.cfg, self.audio_key = cfg, AUDIO_KEYS[cfg.audio]
        keys = [self.audio_key, f"blendshapes/{cfg.target}"]
        self.train, self.val, self.val_split = train_val(metadata, cfg.window, keys, cfg.seed, "v3face.window")
        self.val_batches = [self.batch(self.val, p) for p in val_picks(len(self.val), VAL_DRAWS, cfg.batch_size)]

    def batch(self, ds: WindowDataset, picks: list[tuple[int, int]]) -> tuple[torch.Tensor, ...]:
        """(audio (B, rows·W, D), emotion ids (B,), target (B, W, 52)) of (clip index, draw) picks."""
        items = []
        for index, draw in picks:
            ds.set_epoch(draw)
            items.append(ds[index])
        b = collate(items)
        labels = torch.tensor([emotion_id(str(ds.clips.iloc[i]["emotion"])) for i, _ in picks])
        return audio_features(b[self.audio_key], self.cfg.audio), labels, b[f"blendshapes/{self.cfg.target}"].float()

    def clips(self) -> dict[str, list[str]]:
        """The clips of both datasets."""
        return {"train": self.train.clips["clip"].tolist(), "val": self.val.clips["clip"].tolist()}


def _build_model(phase: str, cfg: V3faceConfig, data: _Data, init: Path | None) -> tuple[V3Face, dict]:
    """The phase's starting model (seeded init, or phase 1's best frozen) and its config.json header."""
    if cfg.size not in V3FACE_SIZES:
        raise ConfigError(f"v3face.size {cfg.size!r} not in {sorted(V3FACE_SIZES)}")
    audio_dim = int(data.batch(data.train, [(0, 0)])[0].shape[-1])
    arch = {"format": MODEL_FORMAT, "spec_name": cfg.size, "spec": V3FACE_SIZES[cfg.size].to_dict(),
            "audio": cfg.audio, "audio_dim": audio_dim, "audio_rows": audio_rows(cfg.audio),
            "cond_dim": cfg.cond_dim, "lookahead": cfg.lookahead}
    if phase == "lipsync":
        torch.manual_seed(cfg.seed)
        return model_from_config(arch), arch | {"init": None}
    if init is None:
        raise ConfigError("the expression phase needs --init (the lipsync model folder)")
    init_meta = json.loads((Path(init) / "config.json").read_text(encoding="utf-8"))
    for key in ("spec", "audio", "audio_dim", "audio_rows", "cond_dim", "lookahead"):
        if init_meta.get(key) != arch[key]:
            raise ConfigError(f"v3face: {key} {arch[key]!r} differs from the lipsync model's {init_meta.get(key)!r}")
    model = load_model(init)
    model.freeze_lipsync()
    return model, arch | {"init": file_digest([Path(init) / "best.safetensors"])}


class _Step(nn.Module):
    """The training forward as one module (emotion conditioning included), the unit DDP wraps."""

    def __init__(self, model: V3Face) -> None:
        super().__init__()
        self.model = model

    def forward(self, audio: torch.Tensor, labels: torch.Tensor, frames: int) -> torch.Tensor:
        """audio (B, rows·W, D), labels (B,) → blendshapes (B, W, 52)."""
        return self.model(audio, self.model.emotion.cond(labels, frames))


@torch.no_grad()
def _validate(model: V3Face, data: _Data, device: torch.device) -> tuple[float, float]:
    """Mean L1 on the lipsync and on the expression channels over the fixed validation windows."""
    model.eval()
    sums, count = np.zeros(2), 0
    for audio, labels, target in data.val_batches:
        pred = model(audio.to(device), model.emotion.cond(labels.to(device), target.shape[1])).float().cpu()
        err = (pred - target).abs()  # (B, W, 52)
        sums += [err[..., list(LIPSYNC_INDEX)].sum().item() / len(LIPSYNC_INDEX),
                 err[..., list(EXPRESSION_INDEX)].sum().item() / len(EXPRESSION_INDEX)]
        count += err.shape[0] * err.shape[1]
    return float(sums[0] / count), float(sums[1] / count)


def _train_epoch(step_fn: nn.Module, opt: torch.optim.Optimizer, data: _Data, phase: str, epoch: int, epochs: int,
                 device: torch.device, world: World) -> float:
    """cfg.steps_per_epoch AdamW steps on freshly drawn windows (this rank's share of each); the mean loss."""
    cfg = data.cfg
    channels = torch.tensor(PHASES[phase], device=device)
    vel_channel_w = torch.tensor([cfg.brow_velocity_weight if ARKIT_NAMES[i] in BROW_CHANNELS else 1.0
                                  for i in PHASES[phase]], device=device)
    vel_w = velocity_ramp(cfg, epoch)
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda")
    step_fn.train()
    total = 0.0
    draws = epoch_draws([cfg.seed, PHASE_SEED[phase]], epoch, cfg.steps_per_epoch, cfg.batch_size, len(data.train),
                        generators=False)
    bar = tqdm(draws, total=cfg.steps_per_epoch, desc=f"{phase} {epoch + 1}/{epochs}", unit="step",
               disable=not (sys.stderr.isatty() and world.main))
    for picks, _ in bar:
        picks = distributed.shard(picks, world)  # every rank drew the same global batch; this rank's share
        audio, labels, target = (t.to(device) for t in data.batch(data.train, picks))
        with autocast:
            pred = step_fn(audio, labels, target.shape[1]).float()  # (B / world, W, 52)
        loss = optimizer_step(opt, phase_loss(pred, target, channels, vel_channel_w, vel_w, cfg.loss))
        total += loss
        bar.set_postfix(loss=f"{loss:.4f}")
    return distributed.mean_over_ranks(total) / cfg.steps_per_epoch  # equal shares: the global batch's mean


def _write_metrics(out_dir: Path, state: dict, val_split: str, phase: str) -> None:
    """metrics.csv (every epoch so far) and metrics.json (the latest and the best) from the run's state."""
    rows = state["history"]
    write_text(out_dir / "metrics.csv", CSV_HEADER + "".join(
        f"{r['epoch']},{r['train_loss']:.6f},{r['val_l1_lipsync']:.6f},{r['val_l1_expression']:.6f},"
        f"{r['velocity_weight']:.6f}\n" for r in rows))
    write_json(out_dir / "metrics.json", {**rows[-1], "phase": phase, "best_epoch": state["best_epoch"],
                                          "best_val_l1": state["best"], "val_split": val_split})


def train_phase(metadata: Path, phase: str, cfg: V3faceConfig, out_dir: Path, init: Path | None = None) -> dict:
    """Train one phase ("lipsync" | "expression") into `out_dir` (resuming it if interrupted); return a summary."""
    if phase not in PHASES:
        raise ConfigError(f"unknown V3 Face phase {phase!r} (lipsync or expression)")
    t0 = time.monotonic()
    out_dir = Path(out_dir)
    world, device = distributed.init(cfg.device)
    if world.size != cfg.nproc:
        log.warning("v3face.nproc is %d but %d process(es) run; training with %d", cfg.nproc, world.size, world.size)
    if cfg.batch_size % world.size:
        raise ConfigError(f"v3face.batch_size {cfg.batch_size} does not split over {world.size} processes")
    if world.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    epochs = cfg.epochs_lipsync if phase == "lipsync" else cfg.epochs_expression
    with seeded_run(cfg.seed + PHASE_SEED[phase]):
        data = _Data(Path(metadata), cfg)
        model, arch = _build_model(phase, cfg, data, init)
        model.to(device)
        params = model.expression_parameters() if phase == "expression" else [
            p for m in model.lipsync_modules() for p in m.parameters()]
        opt = torch.optim.AdamW(params, lr=cfg.lr)
        fingerprint = run_fingerprint(cfg, ("epochs_lipsync", "epochs_expression", "nproc"),  # nproc: how, not what
                                      phase=phase, init=arch["init"], data=data_digest(Path(metadata)))
        if world.main:
            write_json(out_dir / "config.json", arch | {"phase": phase, "train": dataclasses.asdict(cfg),
                                                        "clips": data.clips(), "val_split": data.val_split})
        state = resume_run(out_dir, fingerprint, model, opt) or fresh_state(fingerprint)
        distributed.barrier()  # every rank has read the folder before rank 0 writes the next epoch into it
        step_fn = distributed.wrap_model(_Step(model), "ddp", world, device)

        def run_epoch(epoch: int) -> EpochResult:
            train_loss = _train_epoch(step_fn, opt, data, phase, epoch, epochs, device, world)
            val_lip, val_expr = _validate(model, data, device)
            return EpochResult({"train_loss": train_loss, "val_l1_lipsync": val_lip, "val_l1_expression": val_expr,
                                "velocity_weight": velocity_ramp(cfg, epoch)},
                               val_lip if phase == "lipsync" else val_expr,
                               f"train {train_loss:.4f}, val L1 lipsync {val_lip:.4f}, expression {val_expr:.4f}")

        state, resumed = run_epochs(out_dir, state, epochs, phase, run_epoch,
                                    lambda: (model, opt) if world.main else None,
                                    lambda st: _write_metrics(out_dir, st, data.val_split, phase), world.main)
        distributed.barrier()  # the folder is complete when any rank returns
    hist = state["history"]
    return {"phase": phase, "epochs": epochs, "resumed_after": resumed, "clips": len(data.train),
            "first_val": hist[0][f"val_l1_{phase}"] if hist else None, "best_val": state["best"],
            "best_epoch": state["best_epoch"], "seconds": time.monotonic() - t0}
