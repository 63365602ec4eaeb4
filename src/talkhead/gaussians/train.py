"""Training a per-identity Gaussian head: a coarse stage (static canonical head, densified) then a fine stage (audio).

GaussianTalker's schedule (Cho et al. 2024, https://arxiv.org/abs/2404.16012, §3.4): the coarse stage
fits the canonical Gaussians alone, posed by each frame's head pose (talkhead.features.pose) — with
3DGS adaptive density control, so hair and shoulders grow from pixels rather than only the mesh
area; the fine stage turns on the deformation field (audio + expression blendshapes) and weighs the
mouth box `1 + mouth_weight` in the L1 term. Loss: 0.8·L1 + 0.2·(1 − SSIM), as in 3DGS. One frame
per step, drawn from the training frames by a generator seeded with (seed, iteration), so a resumed
run draws what the uninterrupted one would have.
Held-out evaluation (the tail of each clip, never trained on): PSNR and SSIM (talkhead.eval.image)
at the start (the initialisation), every `eval_every` iterations and at the end → metrics.csv (a DVC
plot); at the end also `lmd_mediapipe` of every held-out frame rendered from its own audio against
the real frames, next to the same for the static (coarse) head — lip sync has to beat a closed-mouth
baseline to count. A run folder: head.safetensors, config.json, reference.safetensors (the first
clip's pose and expression track: the idle motion for new speech), metrics.csv, metrics.json, and
the undeclared resume files last.safetensors, state.safetensors, densify.safetensors, state.json
(written every `checkpoint_every` iterations by the shared harness, talkhead.train.harness; state.json
last). After densification the Adam moments of the scene restart (the Gaussians changed); those of the
field and background carry on.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from talkhead.atomic import write_json, write_text
from talkhead.config import ConfigError, GaussiansConfig
from talkhead.eval.image import psnr, ssim
from talkhead.gaussians.data import ClipData, canonical_mesh, load_speaker, mesh_colors, mouth_box, pick_speakers
from talkhead.gaussians.deform import DeformationField, DeformSpec, mel_window
from talkhead.gaussians.head import FrameCond, GaussianHead, build_head, flat_background, save_head
from talkhead.gaussians.raster_base import Rasterizer, get_rasterizer
from talkhead.gaussians.scene import GaussianScene, densify_and_prune
from talkhead.train.harness import EpochResult, fresh_state, run_epochs, run_fingerprint
from talkhead.train.run_files import data_digest, read_run, restore_run, rounded, save_tensors

log = logging.getLogger(__name__)

CSV_HEADER = "iteration,stage,loss,psnr,ssim,gaussians\n"
SCENE_LR = {"means": 0.1, "log_scales": 0.5, "quats": 0.1, "opacity_logits": 5.0, "color_logits": 2.5}  # × lr


def frame_cond(clip: ClipData, frame: int, context: int) -> FrameCond:
    """The conditions of one frame of a clip."""
    return FrameCond(mel_window(clip.mel, frame, context), clip.expression[frame], clip.rotation[frame],
                     clip.translation[frame], clip.scale[frame])


def new_head(clips: list[ClipData], cfg: GaussiansConfig) -> GaussianHead:
    """The initial head: Gaussians on the speaker's canonical mesh + skull shell, a zero field, a flat background."""
    if cfg.dim % 4:
        raise ConfigError(f"gaussians.dim must be divisible by the 4 attention heads, got {cfg.dim}")
    torch.manual_seed(cfg.seed)
    canon = canonical_mesh(clips)
    scene = GaussianScene.from_mesh(canon, mesh_colors(clips[0]), cfg.shell, cfg.seed)
    pts = scene.means.detach()
    margin = 0.25 * (pts.max(0).values - pts.min(0).values)
    spec = DeformSpec(cfg.plane_res, cfg.plane_dim, cfg.dim, 4, cfg.audio_context)
    deform = DeformationField(spec, pts.min(0).values - margin, pts.max(0).values + margin)
    frames = torch.cat([c.frames[:c.n_train] for c in clips])
    return GaussianHead(scene, deform, flat_background(frames), clips[0].crop_size)


def make_optimizer(head: GaussianHead, cfg: GaussiansConfig, old: torch.optim.Optimizer | None = None
                   ) -> torch.optim.Optimizer:
    """Adam over the scene (per-attribute rates), the background and the field; carries `old`'s state of kept params."""
    groups = [{"params": [getattr(head.scene, k)], "lr": cfg.lr * f, "name": k} for k, f in SCENE_LR.items()]
    groups += [{"params": [head.background], "lr": cfg.lr, "name": "background"},
               {"params": list(head.deform.parameters()), "lr": cfg.deform_lr, "name": "deform"}]
    opt = torch.optim.Adam(groups, eps=1e-15)
    if old is not None:
        for p, st in old.state.items():
            if any(p is q for g in groups[len(SCENE_LR):] for q in g["params"]):
                opt.state[p] = st
    return opt


def image_loss(pred: torch.Tensor, target: torch.Tensor, box: tuple[int, int, int, int] | None,
               mouth_weight: float) -> torch.Tensor:
    """0.8 · weighted L1 (mouth box ×(1 + mouth_weight) when given) + 0.2 · (1 − SSIM) of (S, S, 3) images."""
    w = torch.ones(pred.shape[:2], dtype=pred.dtype, device=pred.device)
    if box is not None and mouth_weight > 0:
        x0, y0, x1, y1 = box
        w[y0:y1, x0:x1] += mouth_weight
    l1 = ((pred - target).abs().mean(-1) * w).sum() / w.sum()
    return 0.8 * l1 + 0.2 * (1.0 - ssim(pred, target))


def heldout_picks(clips: list[ClipData], n: int) -> list[tuple[int, int]]:
    """Up to `n` held-out (clip index, frame) pairs, evenly spaced over every clip's held-out tail."""
    every = [(ci, f) for ci, c in enumerate(clips) for f in range(c.n_train, len(c))]
    if len(every) <= n:
        return every
    return [every[i] for i in np.linspace(0, len(every) - 1, n).round().astype(int)]


@torch.no_grad()
def evaluate(head: GaussianHead, rasterize: Rasterizer, clips: list[ClipData], picks: list[tuple[int, int]],
             deform: bool, context: int) -> tuple[float, float]:
    """Mean PSNR (dB) and SSIM of the picked held-out frames."""
    p, s = [], []
    for ci, f in picks:
        pred = head.render(frame_cond(clips[ci], f, context), rasterize, deform)
        target = clips[ci].frames[f].float() / 255.0
        p.append(float(psnr(pred, target)))
        s.append(float(ssim(pred, target)))
    return float(np.mean(p)), float(np.mean(s))


@torch.no_grad()
def heldout_lmd(head: GaussianHead, rasterize: Rasterizer, clips: list[ClipData], context: int) -> dict:
    """lmd_mediapipe of every held-out frame rendered from its own audio (and of the static head) vs the real frames."""
    from talkhead.eval.landmarks import extract_landmarks, lmd

    def frames(deform: bool) -> list[np.ndarray]:
        return [(head.render(frame_cond(c, f, context), rasterize, deform) * 255).round().byte().cpu().numpy()
                for c in clips for f in range(c.n_train, len(c))]

    real = extract_landmarks([c.frames[f].cpu().numpy() for c in clips for f in range(c.n_train, len(c))])
    out = {"lmd_mediapipe": lmd(extract_landmarks(frames(True)), real),
           "lmd_mediapipe_static": lmd(extract_landmarks(frames(False)), real),
           "lmd_frames": int(np.isfinite(real[:, 0, 0]).sum())}
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


DENSIFY_FILE = "densify.safetensors"  # the densification accumulators: a resume file of the Gaussian heads only


@dataclasses.dataclass
class _Run:
    """What iterations change: the head (its Gaussians change on densification), its optimizer and the
    densification accumulators."""

    head: GaussianHead
    opt: torch.optim.Optimizer
    acc: torch.Tensor  # (N, 2) per Gaussian: grad-norm sum, count


def _start(clips: list[ClipData], cfg: GaussiansConfig, rasterize: Rasterizer, picks: list[tuple[int, int]],
           fingerprint: dict, speaker: str) -> tuple[_Run, dict]:
    """A new head, its optimizer and the run's state with the initialisation's held-out row."""
    head = new_head(clips, cfg).to(cfg.device)
    run = _Run(head, make_optimizer(head, cfg), torch.zeros(len(head.scene), 2, device=cfg.device))
    p0, s0 = evaluate(head, rasterize, clips, picks, False, cfg.audio_context)
    log.info("%s: init %d Gaussians, held-out PSNR %.2f dB, SSIM %.3f", speaker, len(head.scene), p0, s0)
    row = {"iteration": 0, "stage": "init", "loss": 0.0, "psnr": p0, "ssim": s0, "gaussians": len(head.scene)}
    return run, fresh_state(fingerprint, iteration=0, rows=[row], densify=[], losses=[], model=head.config())


def _resume(out: Path, fingerprint: dict, cfg: GaussiansConfig) -> tuple[_Run, dict] | None:
    """The run and state of a matching interrupted run, its head rebuilt at the size it had reached; else None."""
    found = read_run(out, fingerprint)
    if found is None or not (out / DENSIFY_FILE).is_file():
        return None
    state, weights = found
    head = build_head(weights, state["model"]).to(cfg.device)
    opt = make_optimizer(head, cfg)
    restore_run(out, state, opt)
    log.info("%s: resuming after iteration %d (%d Gaussians)", out, state["iteration"], len(head.scene))
    return _Run(head, opt, load_file(str(out / DENSIFY_FILE))["acc"].to(cfg.device)), state


def _write_curve(out: Path, rows: list[dict]) -> None:
    lines = [f"{r['iteration']},{r['stage']},{r['loss']:.6f},{r['psnr']:.4f},{r['ssim']:.5f},{r['gaussians']}\n"
             for r in rows]
    write_text(out / "metrics.csv", CSV_HEADER + "".join(lines))


def train_speaker(clips: list[ClipData], cfg: GaussiansConfig, out: Path, speaker: str, digest: str) -> dict:
    """Train one speaker's head into `out` (resuming a matching interrupted run); returns its metrics.

    The shared harness (talkhead.train.harness) runs the iterations in blocks of `checkpoint_every`; after each
    block the head, Adam, the densification accumulators and the state (held-out rows, the losses since the last
    row, the head's size) are written, so a killed run redoes at most one block and ends with the bytes of an
    uninterrupted one. The head kept is the last iteration's (no best: the held-out rows are a curve, not a pick).
    """
    out.mkdir(parents=True, exist_ok=True)
    start_time = time.perf_counter()
    clips = [c.to(cfg.device) for c in clips]
    rasterize = get_rasterizer(cfg.rasterizer, cfg.device)
    fingerprint = run_fingerprint(cfg, (), data=digest, speaker=speaker)
    picks = heldout_picks(clips, cfg.eval_frames)
    total = cfg.coarse_iterations + cfg.fine_iterations
    run, state = _resume(out, fingerprint, cfg) or _start(clips, cfg, rasterize, picks, fingerprint, speaker)
    train_frames = [(ci, f) for ci, c in enumerate(clips) for f in range(c.n_train)]
    rows, densified, losses = list(state["rows"]), list(state["densify"]), list(state["losses"])

    def iteration(it: int) -> float:
        fine = it >= cfg.coarse_iterations
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + it)
        ci, f = train_frames[int(torch.randint(len(train_frames), (1,), generator=g))]
        clip = clips[ci]
        pred = run.head.render(frame_cond(clip, f, cfg.audio_context), rasterize, fine)
        loss = image_loss(pred, clip.frames[f].float() / 255.0, mouth_box(clip, f) if fine else None,
                          cfg.mouth_weight)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        densifying = not fine and cfg.densify_from <= it < min(cfg.densify_until, cfg.coarse_iterations)
        if densifying:
            gn = run.head.scene.means.grad.norm(dim=-1)
            run.acc += torch.stack([gn, (gn > 0).float()], -1)
        run.opt.step()
        if densifying and (it + 1) % cfg.densify_every == 0:
            grad_mean = run.acc[:, 0] / run.acc[:, 1].clamp(min=1)
            scene, counts = densify_and_prune(run.head.scene, grad_mean, cfg.densify_grad, 0.05, 0.005, 1.0,
                                              cfg.max_gaussians, cfg.seed + it)
            run.head.scene = scene
            run.opt = make_optimizer(run.head, cfg, run.opt)
            run.acc = torch.zeros(len(scene), 2, device=cfg.device)
            densified.append({"iteration": it + 1, **counts})
            log.debug("iteration %d: densify %s", it + 1, counts)
        return loss.item()

    def run_block(block: int) -> EpochResult:
        first, end = block * cfg.checkpoint_every, min((block + 1) * cfg.checkpoint_every, total)
        block_losses = []
        for it in range(first, end):
            block_losses.append(iteration(it))
            losses.append(block_losses[-1])
            done, fine = it + 1, it >= cfg.coarse_iterations
            if done % cfg.eval_every == 0 or done == total or done == cfg.coarse_iterations:
                p, s = evaluate(run.head, rasterize, clips, picks, fine, cfg.audio_context)
                rows.append({"iteration": done, "stage": "fine" if fine else "coarse",
                             "loss": float(np.mean(losses)) if losses else 0.0, "psnr": p, "ssim": s,
                             "gaussians": len(run.head.scene)})
                losses.clear()
                log.info("%s: iteration %d/%d (%s) held-out PSNR %.2f dB, SSIM %.3f, %d Gaussians", speaker, done,
                         total, "fine" if fine else "coarse", p, s, len(run.head.scene))
        mean = float(np.mean(block_losses))
        return EpochResult({"loss": mean, "gaussians": len(run.head.scene)}, None,
                           f"iterations {end}/{total}, loss {mean:.4f}",
                           {"iteration": end, "rows": list(rows), "densify": list(densified), "losses": list(losses),
                            "model": run.head.config()})

    def checkpoint() -> tuple[GaussianHead, torch.optim.Optimizer]:
        save_tensors(out / DENSIFY_FILE, {"acc": run.acc})  # before state.json, which the harness writes last
        return run.head, run.opt

    blocks = -(-total // cfg.checkpoint_every)
    state, _ = run_epochs(out, state, blocks, f"gaussians {speaker}", run_block, checkpoint,
                          lambda st: _write_curve(out, st["rows"]))
    return _finish(out, run.head, rasterize, clips, cfg, state, speaker, time.perf_counter() - start_time)


def _finish(out: Path, head: GaussianHead, rasterize: Rasterizer, clips: list[ClipData], cfg: GaussiansConfig,
            state: dict, speaker: str, seconds: float) -> dict:
    """The declared outputs: head + config, the idle reference track, metrics.csv / metrics.json."""
    head.eval()
    rows = state["rows"]
    coarse = [r for r in rows if r["stage"] == "coarse"]
    metrics = {"speaker": speaker, "psnr_init": rows[0]["psnr"], "ssim_init": rows[0]["ssim"],
               "psnr_coarse": coarse[-1]["psnr"] if coarse else None, "psnr": rows[-1]["psnr"],
               "ssim": rows[-1]["ssim"], "gaussians": len(head.scene), "iterations": state["iteration"],
               "frames_train": sum(c.n_train for c in clips), "frames_heldout": sum(len(c) - c.n_train for c in clips),
               "rasterizer": cfg.rasterizer}
    if cfg.lmd:
        metrics.update(heldout_lmd(head, rasterize, clips, cfg.audio_context))
    ref = clips[0]
    save_tensors(out / "reference.safetensors", {"rotation": ref.rotation, "translation": ref.translation,
                                                 "scale": ref.scale, "expression": ref.expression})
    save_head(out, head, {"speaker": speaker, "clips": [c.clip for c in clips], "audio_context": cfg.audio_context,
                          "reference_clip": ref.clip, "densify": state["densify"]})
    _write_curve(out, rows)
    metrics = rounded(metrics)
    write_json(out / "metrics.json", metrics)  # no wall time in it: the same data and params give the same bytes
    log.info("%s: held-out PSNR %.2f → %.2f dB (init → final), %d Gaussians, %.0f s", speaker, metrics["psnr_init"],
             metrics["psnr"], metrics["gaussians"], seconds)
    return metrics | {"train_s": round(seconds, 1)}


def train(metadata: Path, crop_dir: Path, cfg: GaussiansConfig, out_dir: Path, speaker: str | None = None) -> dict:
    """Train one speaker's head (default: gaussians.speakers' first, else the train split's first) into out_dir."""
    torch.manual_seed(cfg.seed)
    speaker = speaker or pick_speakers(metadata, list(cfg.speakers))[0]
    clips = load_speaker(metadata, crop_dir, speaker, cfg.size, cfg.holdout)
    return train_speaker(clips, cfg, out_dir, speaker, data_digest(metadata))
