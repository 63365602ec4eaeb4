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
model, fsdp shards it (the cluster sizes).
Under FSDP the weights are gathered for every checkpoint, and a resumed FSDP run restarts the
optimizer moments (its weights and history resume).
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
from talkhead.data.dataset import WindowDataset, collate
from talkhead.data.featurefile import read_features
from talkhead.models.checkpoint import deterministic, file_digest, read_checkpoint
from talkhead.models.layers import parameter_count
from talkhead.models.video_df import DUALFORCE_SIZES, DFCond, DualForce, DualForceSpec
from talkhead.models.video_df_attention import Bridge, TowerBlock
from talkhead.models.video_df_forcing import LossWeights, forcing_loss, speech_weight
from talkhead.train import distributed
from talkhead.train.distributed import World
from talkhead.train.motion_dit import STATS_FILE, load_stats
from talkhead.train.run_files import RESUME_BEST, data_digest, resume_run, rounded, write_epoch_files
from talkhead.vocab import AUDIO_KEYS, ROWS_PER_FRAME

log = logging.getLogger(__name__)

MODEL_FORMAT = "talkhead-dualforce-1"  # structure = normalised motion − the normalised first frame's
VAL_DRAWS = 2  # fixed validation windows per val clip
LATENT_KEY, FIRST_KEY, MOTION_KEY = "video_latents/latents", "video_latents/clip_first_frame", "motion/motion"
CSV_HEADER = "epoch,train_loss,val_loss,val_video,val_struct,val_lip\n"


def model_from_config(meta: dict) -> DualForce:
    """An untrained DualForce with the architecture recorded in a config.json."""
    return DualForce(DualForceSpec.from_dict(meta["spec"]), int(meta["latent_channels"]), int(meta["latent_size"]),
                     int(meta["audio_dim"]), int(meta["audio_rows"]), int(meta["audio_layers"]),
                     int(meta["bridge_layers"]))


def load_model(model_dir: str | Path, device: str = "cpu") -> tuple[DualForce, dict, dict[str, np.ndarray]]:
    """(the model in eval mode, its config.json, its motion statistics) of a dualforce folder."""
    meta, state, _ = read_checkpoint(model_dir, "best.safetensors", MODEL_FORMAT, "a DualForce model")
    model = model_from_config(meta)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), meta, load_stats(Path(model_dir) / STATS_FILE)


class _Data:
    """Train and validation windows, each clip's first-frame motion and the fixed validation batches."""

    def __init__(self, metadata: Path, stats: dict[str, np.ndarray], cfg: DualforceConfig) -> None:
        self.cfg, self.audio_key = cfg, AUDIO_KEYS[cfg.audio]
        self.mean, self.std = torch.from_numpy(stats["mean"]), torch.from_numpy(stats["std"])
        keys = [self.audio_key, LATENT_KEY, FIRST_KEY, MOTION_KEY]
        self.train = WindowDataset(metadata, "train", cfg.window, keys, cfg.seed)
        if len(self.train) == 0:
            raise ConfigError(f"{metadata}: no train clip has a {cfg.window}-frame segment (dualforce.window)")
        val = WindowDataset(metadata, "val", cfg.window, keys, cfg.seed)
        self.val_split = "val" if len(val) else "train (no val clips)"
        self.val = val if len(val) else WindowDataset(metadata, "train", cfg.window, keys, cfg.seed)
        self.refs = {ds.clips.iloc[i]["clip"]: self.first_motion(ds.root / ds.clips.iloc[i]["file"])
                     for ds in (self.train, self.val) for i in range(len(ds))}
        picks = [(i, d) for i in range(len(self.val)) for d in range(VAL_DRAWS)]
        self.val_picks = [picks[s:s + cfg.batch_size] for s in range(0, len(picks), cfg.batch_size)]

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
    rng = np.random.default_rng([cfg.seed, 8, epoch])
    step_model.train()
    total = 0.0
    for step in range(cfg.steps_per_epoch):
        first = (epoch * cfg.steps_per_epoch + step) * cfg.batch_size  # a fresh draw per window
        picks = [(int(i), first + j) for j, i in enumerate(rng.integers(len(data.train), size=cfg.batch_size))]
        g = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))  # dropout, times, noise of the global batch
        cond, latents, motion, speech = data.batch(data.train, distributed.shard(picks, world))
        share = (world.rank * len(latents), cfg.batch_size)  # this rank's rows of the global batch
        drop = torch.rand(cfg.batch_size, generator=g) < cfg.audio_drop  # CFG dropout, drawn for the global batch
        cond.drop_audio = drop[share[0]:share[0] + len(latents)]
        loss = _loss(step_model, data, cond, latents, motion, speech, g, device, share)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item()
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


def _build(cfg: DualforceConfig, data: _Data, stats_digest: str) -> tuple[DualForce, dict]:
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
            "cfg_scale": cfg.cfg_scale, "time_shift": cfg.time_shift, "stats": stats_digest}
    torch.manual_seed(cfg.seed)
    model = model_from_config(arch)
    model.set_audio_stats(*data.train.feature_stats(data.audio_key))
    return model, arch


def _fingerprint(cfg: DualforceConfig, data_digest_: str, stats_digest: str) -> dict:
    """What must match for a folder to be resumed: the cfg except epochs and evaluation, the data, the stats."""
    d = dataclasses.asdict(cfg)
    for key in ("epochs", "eval_lengths", "eval_clips"):
        d.pop(key)
    return {**d, "data": data_digest_, "stats": stats_digest}


def _checkpoint_model(model: DualForce, wrapped: torch.nn.Module, fsdp: bool,
                      replica: DualForce | None) -> DualForce | None:
    """The module whose state_dict rank 0 writes: the model itself, or under FSDP a CPU replica (rank 0 only)
    loaded with the weights gathered from every rank (FSDP's default FULL_STATE_DICT: a collective)."""
    if not fsdp:
        return model
    full = wrapped.state_dict()  # every rank takes part in the gather
    if replica is not None:
        replica.load_state_dict({k.replace("_fsdp_wrapped_module.", ""): v.cpu() for k, v in full.items()},
                                strict=True)
    return replica


def train(metadata: Path, stats_path: Path, cfg: DualforceConfig, out_dir: Path) -> dict:
    """Train into `out_dir` (resuming it if interrupted); return a summary."""
    t0 = time.monotonic()
    metadata, stats_path, out_dir = Path(metadata), Path(stats_path), Path(out_dir)
    if cfg.strategy == "fsdp" and distributed.env_world().distributed and not cfg.device.startswith("cuda"):
        raise ConfigError("dualforce.strategy fsdp needs CUDA devices (PyTorch FSDP); use ddp on the CPU")
    world, device = distributed.init(cfg.device)
    if cfg.batch_size % world.size:
        raise ConfigError(f"dualforce.batch_size {cfg.batch_size} does not split over {world.size} processes")
    if world.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]), deterministic():
        torch.manual_seed(cfg.seed)
        stats_digest = file_digest([stats_path])
        data = _Data(metadata, load_stats(stats_path), cfg)
        model, arch = _build(cfg, data, stats_digest)
        model.to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        if world.main:
            shutil.copyfile(stats_path, out_dir / STATS_FILE)
            write_json(out_dir / "config.json", arch | {"train": dataclasses.asdict(cfg), "clips": data.clips(),
                                                        "val_split": data.val_split})
        fingerprint = _fingerprint(cfg, data_digest(metadata), stats_digest)
        state = resume_run(out_dir, fingerprint, model, opt)
        if state is None:
            initial = _validate(model, data, device)["val_loss"]
            state = {"epoch": -1, "best": None, "best_epoch": None, "history": [], "fingerprint": fingerprint,
                     "initial": round(initial, 8), "parameters": parameter_count(model)}
        distributed.barrier()
        fsdp = cfg.strategy == "fsdp" and world.distributed
        replica = copy.deepcopy(model).cpu() if fsdp and world.main else None  # what rank 0 writes under FSDP
        wrapped = distributed.wrap_model(model, cfg.strategy, world, device,
                                         shard_units=(TowerBlock, Bridge))  # FSDP: one unit per layer
        if fsdp:  # FSDP owns the parameters now: the optimizer must be built on the wrapped module
            opt = torch.optim.AdamW(wrapped.parameters(), lr=cfg.lr)
        resumed = state["epoch"] + 1
        for epoch in range(resumed, cfg.epochs):
            train_loss = _train_epoch(wrapped, opt, data, epoch, device, world)
            val = _validate(wrapped, data, device)
            improved = state["best"] is None or round(val["val_loss"], 8) < state["best"]
            row = rounded({"epoch": epoch + 1, "train_loss": train_loss, **val})
            state = {**state, "epoch": epoch, "history": [*state["history"], row]}
            if improved:
                state |= {"best": round(val["val_loss"], 8), "best_epoch": epoch + 1}
            saved = _checkpoint_model(model, wrapped, fsdp, replica)
            if world.main:
                save_opt = opt if not fsdp else torch.optim.AdamW(saved.parameters(), lr=cfg.lr)
                write_epoch_files(out_dir, saved, save_opt, state, improved,
                                  lambda: _write_metrics(out_dir, state, data.val_split))
            log.info("dualforce epoch %d/%d: train %.4f, val %.4f (video %.4f, struct %.4f, lip %.4f)%s", epoch + 1,
                     cfg.epochs, train_loss, val["val_loss"], val["val_video"], val["val_struct"], val["val_lip"],
                     " (best)" if improved else "")
        if resumed and state["history"] and world.main:  # restore what a workflow manager may have deleted
            shutil.copyfile(out_dir / RESUME_BEST, out_dir / "best.safetensors")
            _write_metrics(out_dir, state, data.val_split)
        distributed.barrier()
    log.info("dualforce: validation loss %.4f untrained → best %s", state["initial"], state["best"])
    if state["best"] is not None and state["best"] >= state["initial"]:
        log.warning("dualforce: training did not lower the validation loss below the untrained model's %.4f",
                    state["initial"])
    return {"epochs": cfg.epochs, "resumed_after": resumed, "clips": len(data.train), "first_val": state["initial"],
            "best_val": state["best"], "best_epoch": state["best_epoch"], "parameters": state["parameters"],
            "seconds": time.monotonic() - t0}
