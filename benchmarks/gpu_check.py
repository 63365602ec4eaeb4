"""Every CUDA path of talkhead in one run: does it work, does it agree with the CPU, how fast is it.

    python benchmarks/gpu_check.py [--device cuda] [--out benchmarks/results/gpu_check.json]
                                   [--gaussians-model data/models/gaussians/<speaker>]

benchmarks/gpu_check.sh runs this after the `gpu`-marked tests, on a GPU node, in one call (a few minutes
on one H100). Each check runs on its own; a failure is recorded with its error and the others go on:

  environment        torch / CUDA / GPU name, bf16 support, gsplat's version
  rasterizer         talkhead's PyTorch rasterizer vs gsplat's CUDA kernels on one random scene: mean/max
                     difference and milliseconds per frame of each
  dualforce_harness  DualForce trained on the device through the shared harness (a tiny packed dataset):
                     2 epochs, then an interrupted run (1 epoch) resumed to 2: whether the files are identical
                     (CUDA kernels are not all deterministic: recorded, not assumed), seconds per step
  dualforce_bf16     one DualForce loss + backward under bf16 autocast against float32 on the same batch
  fsdp_one_process   a one-process group (nccl on CUDA, gloo on CPU), the model sharded by FSDP2, two AdamW
                     steps; weights and moments gathered (`distributed.gather_state`) and compared with the
                     unsharded model's two steps; the moments sharded back (`scatter_optimizer`)
  gaussians_generate the Gaussian head's end-to-end frames per second (benchmarks/gaussians_fps.py's measure):
                     --gaussians-model, else a tiny head trained here on a synthetic speaker (stated as such)
  batching           the shard jobs' batch sizes (RetinaFace probes, SyncNet windows, HuBERT clips): ms per item
                     alone vs batched and the largest difference, random weights of the real architectures

With --device cpu the same checks run on the CPU (the CUDA-only parts say "skipped"): that is how this
script is tested where there is no GPU (tests/unit/test_gpu_check.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "unit" / "train"), str(REPO / "benchmarks")]


class Skipped(Exception):
    """A check that does not apply on this machine (the reason is recorded)."""


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn: Callable, device: str, repeats: int = 1) -> tuple[object, float]:
    """fn's result and the best of `repeats` wall times in seconds (device-synchronised)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return out, best


def check_environment(device: str, args: argparse.Namespace) -> dict:
    """Versions and the device."""
    info = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(), "device": device,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}
    if device.startswith("cuda"):
        info |= {"gpu": torch.cuda.get_device_name(), "capability": list(torch.cuda.get_device_capability()),
                 "bf16_supported": torch.cuda.is_bf16_supported(), "cuda": torch.version.cuda}
    try:
        import gsplat

        info["gsplat"] = gsplat.__version__
    except ImportError as err:
        info["gsplat"] = f"not installed ({err})"
    return info


def check_rasterizer(device: str, args: argparse.Namespace) -> dict:
    """PyTorch rasterizer vs gsplat on one random scene."""
    from talkhead.gaussians.camera import crop_camera
    from talkhead.gaussians.raster_base import Gaussians, get_rasterizer

    n, size = 20000, 256
    g = torch.Generator().manual_seed(3)
    means = torch.rand(n, 3, generator=g) * torch.tensor([size, size, 8.0]) - torch.tensor([0, 0, 4.0])
    scene = Gaussians(means.to(device), torch.randn(n, 4, generator=g).to(device),
                      (torch.rand(n, 3, generator=g) * 2 + 0.5).to(device), torch.rand(n, generator=g).to(device),
                      torch.rand(n, 3, generator=g).to(device))
    cam = crop_camera(size).to(device)
    torch_raster = get_rasterizer("torch")
    (ref_rgb, _), t_torch = _timed(lambda: torch_raster(scene, cam), device, 3)
    out = {"gaussians": n, "size": size, "torch_ms": round(1000 * t_torch, 2)}
    if not device.startswith("cuda"):
        return out | {"gsplat": "skipped: needs CUDA"}
    gs = get_rasterizer("gsplat", device)
    (rgb, _), t_gs = _timed(lambda: gs(scene, cam), device, 3)
    diff = (rgb - ref_rgb).abs()
    return out | {"gsplat_ms": round(1000 * t_gs, 2), "mean_abs_diff": float(diff.mean()),
                  "max_abs_diff": float(diff.max())}


def _dualforce_cfg(device: str, **over):
    from test_dualforce_train import CFG

    from talkhead.config import DualforceConfig

    return DualforceConfig.from_dict({**CFG, "epochs": 2, "steps_per_epoch": 3, "device": device, **over})


def check_dualforce_harness(device: str, args: argparse.Namespace) -> dict:
    """Train on the device; an interrupted run resumed vs an uninterrupted one."""
    from test_dualforce_train import packed_dataset

    from talkhead.train.dualforce import train

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        metadata, stats = packed_dataset(root / "data")
        summary, seconds = _timed(lambda: train(metadata, stats, _dualforce_cfg(device), root / "full"), device)
        train(metadata, stats, _dualforce_cfg(device, epochs=1), root / "resumed")
        train(metadata, stats, _dualforce_cfg(device), root / "resumed")
        same = {name: (root / "full" / name).read_bytes() == (root / "resumed" / name).read_bytes()
                for name in ("last.safetensors", "state.safetensors", "metrics.csv")}
    return {"seconds": round(seconds, 2), "seconds_per_step": round(seconds / 6, 4), "best_val": summary["best_val"],
            "first_val": summary["first_val"], "resume_identical": same}


def _dualforce_batch(device: str):
    """A seeded tiny DualForce and one training batch on the device."""
    from test_dualforce_train import packed_dataset

    from talkhead.models.checkpoint import load_motion_stats
    from talkhead.train import dualforce as df

    tmp = tempfile.mkdtemp()
    metadata, stats = packed_dataset(Path(tmp) / "data")
    cfg = _dualforce_cfg(device)
    data = df._Data(metadata, load_motion_stats(stats), cfg)
    torch.manual_seed(0)
    model, _ = df._build(cfg, data, stats)
    return model.to(device), data, data.batch(data.train, [(0, 0), (1, 1), (0, 2), (1, 3)])


def check_dualforce_bf16(device: str, args: argparse.Namespace) -> dict:
    """The loss and gradients of one batch under bf16 autocast vs float32."""
    if not device.startswith("cuda"):
        raise Skipped("bf16 autocast is a GPU choice (docs/features.md, Precision)")
    from talkhead.train import dualforce as df

    model, data, batch = _dualforce_batch(device)

    def step(dtype: torch.dtype | None) -> tuple[float, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            loss = df._loss(model, data, *batch, torch.Generator().manual_seed(1), torch.device(device))["loss"]
        loss.backward()
        return loss.item(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    (loss32, grad32), t32 = _timed(lambda: step(None), device, 3)
    (loss16, grad16), t16 = _timed(lambda: step(torch.bfloat16), device, 3)
    cos = torch.nn.functional.cosine_similarity(grad32.float(), grad16.float(), dim=0)
    return {"loss_fp32": loss32, "loss_bf16": loss16, "loss_rel_diff": abs(loss16 - loss32) / abs(loss32),
            "grad_cosine": float(cos), "fp32_ms": round(1000 * t32, 2), "bf16_ms": round(1000 * t16, 2)}


def check_fsdp_one_process(device: str, args: argparse.Namespace) -> dict:
    """FSDP2 on a one-process group: two steps equal the unsharded model's; gather and scatter the state."""
    import copy

    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from talkhead.models.video_df_attention import Bridge, TowerBlock
    from talkhead.train import distributed
    from talkhead.train import dualforce as df

    model, data, batch = _dualforce_batch(device)
    plain = copy.deepcopy(model)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29531")
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", rank=0, world_size=1)
    try:
        mesh = init_device_mesh(torch.device(device).type, (1,))
        for module in reversed(list(model.modules())):
            if isinstance(module, (TowerBlock, Bridge)):
                fully_shard(module, mesh=mesh)
        fully_shard(model, mesh=mesh)
        losses = {}
        for name, m in (("fsdp", model), ("plain", plain)):
            opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
            for step in range(2):
                loss = df._loss(m, data, *batch, torch.Generator().manual_seed(step), torch.device(device))["loss"]
                losses.setdefault(name, []).append(loss.item())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if name == "fsdp":
                (weights, moments), t_gather = _timed(lambda: distributed.gather_state(model, opt), device)
                distributed.scatter_optimizer(model, opt, moments)
        ref = plain.state_dict()
        diff = max(float((weights[k].float() - ref[k].detach().cpu().float()).abs().max()) for k in ref)
    finally:
        dist.destroy_process_group()
    return {"losses": losses, "max_weight_diff_vs_unsharded": diff, "gather_ms": round(1000 * t_gather, 2),
            "moment_tensors": len(moments["state"])}


def check_gaussians_generate(device: str, args: argparse.Namespace) -> dict:
    """End-to-end frames per second of the Gaussian head on the device."""
    import gaussians_fps

    model = Path(args.gaussians_model) if args.gaussians_model else None
    note = "the given head"
    if model is None:
        sys.path.insert(0, str(REPO / "tests" / "unit" / "gaussians"))
        import test_gaussians_train as tg

        from talkhead.config import GaussiansConfig
        from talkhead.gaussians.train import train_speaker

        model = Path(tempfile.mkdtemp()) / "synthetic"
        train_speaker([tg.synthetic_clip()], GaussiansConfig.from_dict(tg.CFG), model, "spk", "digest")
        note = "a tiny head trained here on a synthetic speaker (32 px): not the demo's"
    rasterizer = "gsplat" if device.startswith("cuda") else "torch"
    return {**gaussians_fps.measure(model, 50, device, rasterizer, repeats=2), "model_note": note}


def _per_item_ms(seconds: float, items: int) -> float:
    return round(1000 * seconds / items, 3)


def check_batching(device: str, args: argparse.Namespace) -> dict:
    """The shard jobs' batch sizes on the device: ms per item one at a time vs batched, and the largest difference
    of the batched result (RetinaFace probes: faces.batch_probes; SyncNet windows: quality.syncnet_batch; HuBERT
    clips: audio_hubert.batch_clips). Random weights of the real architectures on CUDA (HuBERT-base's size), tiny
    ones on the CPU, so this measures speed and agreement, not detections."""
    import numpy as np

    from talkhead.eval.sync import syncnet_embeddings
    from talkhead.faces.retinaface import RetinaFaceDetector, build_retinaface, preprocess
    from talkhead.features import hubert, hubert_batch
    from talkhead.models.syncnet import SyncNetOfficial

    cuda = device.startswith("cuda")
    rng = np.random.default_rng(0)
    out: dict[str, dict] = {}
    tmp = Path(tempfile.mkdtemp())
    # RetinaFace: probe frames of one clip, each alone vs all in one pass (raw network outputs compared).
    torch.manual_seed(0)
    network, side, n = ("resnet50", 640, 32) if cuda else ("mobilenet0.25", 160, 4)
    torch.save(build_retinaface(network).state_dict(), tmp / "retina.pth")
    det = RetinaFaceDetector(tmp / "retina.pth", network, device, score_threshold=0.99, max_side=side)
    frames = [rng.integers(0, 255, (side * 9 // 16, side, 3), np.uint8) for _ in range(n)]
    det.detect_batch(frames[:2])  # warm-up (cuDNN autotuning, allocator)
    _, one = _timed(lambda: [det.detect(f) for f in frames], device, 2)
    _, many = _timed(lambda: det.detect_batch(frames), device, 2)
    x = torch.from_numpy(np.stack([preprocess(f, side) for f in frames])).to(device)  # (n, 3, h, w)
    with torch.inference_mode():
        single = torch.cat([det.model(x[i:i + 1])[1] for i in range(n)])
        batched = det.model(x)[1]
    out["retinaface_probes"] = {"network": network, "frames": n, "ms_each_alone": _per_item_ms(one, n),
                                "ms_each_batched": _per_item_ms(many, n), "speedup": round(one / many, 2),
                                "max_score_diff": float((single - batched).abs().max())}
    # SyncNet: a clip's five-frame windows, 20 (syncnet_python) vs 128 per pass.
    torch.manual_seed(0)
    model = SyncNetOfficial().to(device).eval()
    t, size = (150, 224) if cuda else (12, 48)
    video = rng.integers(0, 255, (t, size, size, 3), np.uint8)
    audio = rng.normal(0, 0.1, t * 640).astype(np.float32)
    syncnet_embeddings(model, video[:8], audio[:8 * 640], 4)  # warm-up
    ref, a = _timed(lambda: syncnet_embeddings(model, video, audio, 20), device, 2)
    big, b = _timed(lambda: syncnet_embeddings(model, video, audio, 128), device, 2)
    windows = len(ref[0])
    out["syncnet_windows"] = {"windows": windows, "ms_each_batch20": _per_item_ms(a, windows),
                              "ms_each_batch128": _per_item_ms(b, windows), "speedup": round(a / b, 2),
                              "max_embedding_diff": float(max(np.abs(ref[0] - big[0]).max(),
                                                              np.abs(ref[1] - big[1]).max()))}
    # HuBERT: clips of 3-8 s, each alone vs one padded batch (base size on CUDA, tiny on the CPU).
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    config = HubertConfig() if cuda else HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                      intermediate_size=64, conv_dim=(16,) * 7)
    HubertModel(config).save_pretrained(tmp / "hubert")
    encoder = hubert.load_audio_encoder(str(tmp / "hubert"), device)
    clips = [(rng.normal(0, 0.1, int(s * 16000)).astype(np.float32), int(s * 25))
             for s in ((3.0, 4.5, 6.0, 8.0, 3.5, 5.0, 7.0, 4.0) if cuda else (1.0, 1.6, 2.0))]
    hubert_batch.encode_batch(encoder, clips[:2])  # warm-up
    alone, c = _timed(lambda: [hubert.encode(encoder, w, f) for w, f in clips], device, 2)
    together, d = _timed(lambda: hubert_batch.encode_batch(encoder, clips), device, 2)
    scale = max(float(np.abs(x.astype(np.float32)).max()) for x in alone)
    out["hubert_clips"] = {"clips": len(clips), "layers": config.num_hidden_layers,
                           "ms_each_alone": _per_item_ms(c, len(clips)), "ms_each_batched": _per_item_ms(d, len(clips)),
                           "speedup": round(c / d, 2),
                           "max_diff_over_scale": float(max(np.abs(x.astype(np.float32) - y.astype(np.float32)).max()
                                                            for x, y in zip(alone, together)) / scale)}
    return out


CHECKS: dict[str, Callable[[str, argparse.Namespace], dict]] = {
    "environment": check_environment, "rasterizer": check_rasterizer,
    "dualforce_harness": check_dualforce_harness, "dualforce_bf16": check_dualforce_bf16,
    "fsdp_one_process": check_fsdp_one_process, "gaussians_generate": check_gaussians_generate,
    "batching": check_batching,
}


def main(argv: list[str] | None = None) -> int:
    """Run every check (or --only some); write the JSON; exit 1 when one failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", nargs="*", choices=sorted(CHECKS), help="run these checks only")
    parser.add_argument("--gaussians-model", default="", help="a trained data/models/gaussians/<speaker> folder")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "gpu_check.json"))
    args = parser.parse_args(argv)
    results: dict[str, dict] = {}
    for name in args.only or CHECKS:
        t0 = time.perf_counter()
        try:
            results[name] = {"status": "ok", **CHECKS[name](args.device, args)}
        except Skipped as why:
            results[name] = {"status": "skipped", "reason": str(why)}
        except Exception as err:  # noqa: BLE001 (one failed check must not hide the others' results)
            results[name] = {"status": "failed", "error": f"{type(err).__name__}: {err}",
                             "traceback": traceback.format_exc(limit=4)}
        results[name]["check_seconds"] = round(time.perf_counter() - t0, 2)
        sys.stdout.write(f"{name}: {results[name]['status']} ({results[name]['check_seconds']} s)\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": args.device, "checks": results}, indent=2, sort_keys=True, default=str) + "\n")
    return 1 if any(r["status"] == "failed" for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
