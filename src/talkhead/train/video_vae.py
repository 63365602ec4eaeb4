"""Training the offline video VAE (talkhead.models.video_vae) on the accepted face crops.

In train (layer 4), beside the trainer it wraps: the phase `video_vae` (video_vae_train: spec and crop checks,
the resumable run folder of run_folder) imports models.video_vae, models.checkpoint and atomic, nothing above.

Windows of `frames` consecutive frames, evenly spaced in every crop long enough (at most MAX_WINDOWS per
clip, the frames they need cached as uint8 at the model's size), are drawn at random with a random
horizontal flip; the loss is L1 + MSE of the reconstruction plus `kl_weight` · KL. After training, the
latents' scaling factor (1 / std of the posterior means, as latent diffusion does) is measured on up to
SCALE_WINDOWS windows and stored with the weights. Writes config.json, model.safetensors and loss.csv.

video_vae_train reads data/crop/{clip}/crop.mp4 of every clip given; writes data/models/video_vae/ atomically:
config.json (architecture, training settings, clips, final losses, latent scaling factor),
model.safetensors (the weights) and loss.csv (step, loss, recon, kl: a DVC plot). The training checkpoints
every 100 steps in data/models/.video_vae.run/ (removed once the folder is written), so a killed job
started again goes on from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from talkhead.atomic import atomic_dir, write_json, write_text
from talkhead.config import ConfigError, VideoVaeConfig
from talkhead.features.video_latents import VERSION, resize_frames, to_tensor
from talkhead.media.decode import count_frames_cfr, iter_frames_cfr
from talkhead.media.probe import probe
from talkhead.models.video_vae import MODEL_FORMAT, VideoVAE, VideoVAESpec, kl_divergence
from talkhead.train.harness import EpochResult, fresh_state, optimizer_step, run_epochs
from talkhead.train.run_files import resume_run

log = logging.getLogger(__name__)

MAX_WINDOWS = 250  # training windows kept per clip (evenly spaced)
CACHE_BYTES = 2 << 30  # bound on the uint8 frame cache of training, over all clips
SCALE_WINDOWS = 256  # windows encoded after training to measure the latents' spread
STEPS_PER_BLOCK = 100  # optimizer steps between checkpoints of a resumable run (the harness's "epoch")


def _window_starts(n_frames: int, frames: int, cap: int) -> np.ndarray:
    """Start indices of at most `cap` evenly spaced windows of `frames` consecutive frames."""
    n = n_frames - frames + 1
    if n <= cap:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, cap)).astype(np.int64))


def _cache_clip(path: Path, size: int, frames: int, cap: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(the frames the windows need (K, size, size, 3) uint8, window starts into them), or None if too short."""
    rate = (probe(path)["video"] or {}).get("fps")
    if not rate:
        raise ValueError(f"{path}: no video frame rate to decode the crop at")
    fps = int(round(rate))
    total = count_frames_cfr(path, fps)
    if total < frames:
        log.warning("%s: %d frames, fewer than a %d-frame window; not used for training", path, total, frames)
        return None
    starts = _window_starts(total, frames, cap)
    needed = np.unique((starts[:, None] + np.arange(frames)).reshape(-1))  # sorted frame indices
    keep = np.zeros(total, bool)
    keep[needed] = True
    kept = []
    frames_iter = iter_frames_cfr(path, fps, frames=total)
    for i, rgb in enumerate(frames_iter):
        if keep[i]:
            kept.append(resize_frames(rgb[None], size)[0])
        if i == needed[-1]:
            break
    frames_iter.close()  # closes the container now rather than when collected
    return np.stack(kept), np.searchsorted(needed, starts)  # a window's frames are contiguous in `kept`


def _batches(cache: list[tuple[np.ndarray, np.ndarray]], cfg: VideoVaeConfig,
             rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless training batches (B, T, S, S, 3) uint8: random clip, random window, random horizontal flip."""
    while True:
        batch = []
        for _ in range(cfg.batch_size):
            clip_frames, starts = cache[rng.integers(len(cache))]
            s = starts[rng.integers(len(starts))]
            window = clip_frames[s:s + cfg.frames]  # (T, S, S, 3)
            batch.append(window[:, :, ::-1] if rng.random() < 0.5 else window)
        yield np.stack(batch)


def _scaling_factor(model: VideoVAE, cache: list[tuple[np.ndarray, np.ndarray]], frames: int,
                    device: torch.device) -> float:
    """1 / std of the posterior means over up to SCALE_WINDOWS evenly spaced training windows."""
    windows = [(c, s) for c, (_, starts) in enumerate(cache) for s in starts]
    pick = np.unique(np.round(np.linspace(0, len(windows) - 1, min(SCALE_WINDOWS, len(windows)))).astype(int))
    total, total_sq, count = 0.0, 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(pick), 16):
            batch = np.stack([cache[windows[j][0]][0][windows[j][1]:windows[j][1] + frames] for j in pick[i:i + 16]])
            mean = model.encode(to_tensor(batch, device))[0].double()  # (b, T, C, h, w)
            total, total_sq = total + mean.sum().item(), total_sq + mean.pow(2).sum().item()
            count += mean.numel()
    std = math.sqrt(max(total_sq / count - (total / count) ** 2, 1e-12))
    return 1.0 / std


def _save_weights(model: VideoVAE, path: Path) -> None:
    """The state dict (sorted keys, CPU, contiguous) as safetensors: weights only, no pickle."""
    state = {k: v.detach().cpu().contiguous() for k, v in sorted(model.state_dict().items())}
    save_file(state, str(path), metadata={"format": "pt"})


def _build_cache(crop_files: list[Path], size: int, frames: int) -> tuple[list[str], list, int]:
    """(clip names, per-clip (frames, window starts), the per-clip window cap) of the crops long enough."""
    per_clip = CACHE_BYTES // max(1, len(crop_files) * frames * size * size * 3)
    cap = int(min(MAX_WINDOWS, max(1, per_clip)))
    named = [(Path(p).parent.name, _cache_clip(Path(p), size, frames, cap)) for p in crop_files]
    clips, cache = [n for n, c in named if c is not None], [c for _, c in named if c is not None]
    if not cache:
        raise ConfigError(f"no crop has {frames} frames to train the video VAE on ({len(crop_files)} given; "
                          "video_vae.frames)")
    log.info("video VAE: %d clips, %d windows of %d frames at %d px (%.0f MB cached)", len(cache),
             sum(len(s) for _, s in cache), frames, size, sum(f.nbytes for f, _ in cache) / 2**20)
    return clips, cache, cap


def _crops_digest(crop_files: list[Path]) -> str:
    """sha256 (16 hex) of the crops' paths and sizes: a run resumes only on the same training crops."""
    h = hashlib.sha256()
    for p in crop_files:
        h.update(f"{p}:{p.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def _fit(model: VideoVAE, cache: list, cfg: VideoVaeConfig, device: torch.device, log_every: int,
         run_dir: Path, fingerprint: dict) -> list[tuple]:
    """cfg.steps AdamW steps on L1 + MSE + kl_weight · KL; rows (step, loss, recon, kl), means since the last row.

    Run by the shared harness in blocks of STEPS_PER_BLOCK steps, checkpointed in `run_dir` (weights, AdamW, the
    batch and noise generators, the rows): a killed run started again goes on after its last block, as if never
    stopped."""
    rng = np.random.default_rng(cfg.seed)
    noise = torch.Generator(device=device).manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    state = resume_run(run_dir, fingerprint, model, opt)
    if state is None:
        state = fresh_state(fingerprint, rows=[], acc=[0.0, 0.0, 0.0])
    else:
        rng.bit_generator.state = state["rng"]
        noise.set_state(torch.tensor(state["noise"], dtype=torch.uint8))
    rows: list[tuple] = [tuple(r) for r in state["rows"]]
    acc = np.array(state["acc"])
    bf16_on_gpu = torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda")
    batches = _batches(cache, cfg, rng)
    bar = tqdm(total=cfg.steps, initial=min((state["epoch"] + 1) * STEPS_PER_BLOCK, cfg.steps), desc="video_vae",
               unit="step",
               disable=not sys.stderr.isatty())

    def run_block(block: int) -> EpochResult:
        model.train()
        losses = []
        for step in range(block * STEPS_PER_BLOCK + 1, min((block + 1) * STEPS_PER_BLOCK, cfg.steps) + 1):
            x = to_tensor(next(batches), device)  # (B, T, 3, S, S)
            with bf16_on_gpu:
                mean, logvar = model.encode(x)  # (B, T, C, h, w)
                eps = torch.randn(mean.shape, generator=noise, device=device, dtype=mean.dtype)
                recon = model.decode(mean + torch.exp(0.5 * logvar) * eps).float()  # (B, T, 3, S, S)
            err = recon - x
            rec = err.abs().mean() + err.pow(2).mean()
            kl = kl_divergence(mean.float(), logvar.float())
            losses.append(optimizer_step(opt, rec + cfg.kl_weight * kl))
            acc[:] += [losses[-1], rec.item(), kl.item()]
            bar.update()
            if step % log_every == 0 or step == cfg.steps:
                since = step - (rows[-1][0] if rows else 0)
                rows.append((step, *(acc / since).tolist()))
                acc[:] = 0.0
                bar.set_postfix(loss=f"{rows[-1][1]:.4f}")
                log.info("step %d/%d: loss %.4f (recon %.4f, kl %.2f)", step, cfg.steps, *rows[-1][1:])
        mean_loss = float(np.mean(losses))
        return EpochResult({"loss": mean_loss}, mean_loss, f"loss {mean_loss:.4f}",
                           {"rows": [list(r) for r in rows], "acc": acc.tolist(), "rng": rng.bit_generator.state,
                            "noise": noise.get_state().tolist()})

    blocks = -(-cfg.steps // STEPS_PER_BLOCK)
    run_epochs(run_dir, state, blocks, "video_vae", run_block, lambda: (model, opt), lambda st: None)
    bar.close()
    model.eval()
    return rows


def train_video_vae(crop_files: list[Path], spec: VideoVAESpec, cfg: VideoVaeConfig, out_dir: Path,
                    log_every: int = 10, run_dir: Path | None = None) -> dict:
    """Train the video VAE on crop videos; write config.json, model.safetensors and loss.csv to `out_dir`.

    `run_dir` holds the resumable run (the stage keeps it beside the model folder): a killed training started
    again with the same settings and crops goes on after its last checkpointed block and ends with the same
    files. Without it the run is checkpointed in a temporary folder and cannot resume."""
    t0 = time.monotonic()
    device = torch.device(cfg.device)
    clips, cache, cap = _build_cache(crop_files, spec.size, cfg.frames)
    fingerprint = {"config": dataclasses.asdict(cfg), "spec": spec.to_dict(), "log_every": log_every,
                   "crops": _crops_digest(crop_files)}
    with contextlib.ExitStack() as stack:
        run_dir = Path(run_dir) if run_dir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        run_dir.mkdir(parents=True, exist_ok=True)
        with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the caller's RNG
            torch.manual_seed(cfg.seed)
            model = VideoVAE(spec).to(device)
            rows = _fit(model, cache, cfg, device, max(1, log_every), run_dir, fingerprint)
    scale = _scaling_factor(model, cache, cfg.frames, device)
    model.scaling_factor.fill_(scale)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_weights(model, out_dir / "model.safetensors")
    write_text(out_dir / "loss.csv", "step,loss,recon,kl\n" + "".join(
        f"{s},{a:.6f},{b:.6f},{c:.6f}\n" for s, a, b, c in rows))
    n_windows = sum(len(s) for _, s in cache)
    train = {k: getattr(cfg, k) for k in ("steps", "batch_size", "frames", "lr", "kl_weight", "seed", "device")}
    write_json(out_dir / "config.json", {
        "format": MODEL_FORMAT, "version": VERSION, "spec": spec.to_dict(), "train": train | {"log_every": log_every},
        "data": {"clips": clips, "windows": n_windows, "windows_per_clip_cap": cap},
        "losses": dict(zip(("loss", "recon", "kl"), (round(v, 6) for v in rows[-1][1:]))), "scaling_factor": scale})
    return {"clips": len(clips), "windows": n_windows, "steps": cfg.steps, "first_loss": rows[0][1],
            "final_loss": rows[-1][1], "scaling_factor": scale, "seconds": time.monotonic() - t0}


def video_vae_train(crop_dirs: Sequence[Path], out: Path, cfg: VideoVaeConfig, log_every: int = 10) -> dict:
    """Train on the crops in `crop_dirs` and write the model folder `out`; return the training summary."""
    from talkhead.models.checkpoint import deterministic

    try:
        spec = VideoVAESpec.from_dict(dataclasses.asdict(cfg))
    except ValueError as exc:
        raise ConfigError(f"video_vae: {exc}") from None
    files = [Path(d) / "crop.mp4" for d in crop_dirs]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"video_vae: crop videos not found: {', '.join(missing)}")
    run_dir = run_folder(out)  # beside the model folder: a workflow manager deletes a failed job's outputs
    with deterministic(), atomic_dir(out) as tmp:
        summary = train_video_vae(files, spec, cfg, tmp, log_every, run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)  # the model folder is complete: nothing left to resume
    return summary


def run_folder(out: Path) -> Path:
    """Where the resumable training of model folder `out` keeps its checkpoints: `.<name>.run` beside it."""
    return Path(out).parent / f".{Path(out).name}.run"
