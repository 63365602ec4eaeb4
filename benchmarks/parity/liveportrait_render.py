"""Parity fixture for LivePortrait's one-frame render (F → W → G) and its stitching MLPs, made by the reference.

    python benchmarks/parity/liveportrait_render.py --reference /tmp/lp_ref_render
        [--out tests/fixtures/parity/liveportrait_render.npz]

`--reference` is an extracted checkout of https://github.com/KwaiVGI/LivePortrait (its `src/`
folder; e.g. `git archive HEAD src | tar -x -C /tmp/lp_ref_render`). Nothing of it is copied into
talkhead: this script imports it from there, builds its appearance feature extractor, warping
module, SPADE generator and stitching/retargeting MLPs at the released config
(src/config/models.yaml), fills them with the seeded weights of tests/parity/seeded.py, and runs
one frame through LivePortraitWrapper's own methods (extract_feature_3d, transform_keypoint,
stitching, warp_decode, retarget_eye, retarget_lip) on the CPU in float32, one thread.

Spectral norm: a released checkpoint's `weight_u`/`weight_v` are converged power-iteration vectors,
so uᵀWv is W's largest singular value; seeded random unit vectors would give a near-zero uᵀWv of
random sign and blow the generator up. `settle_spectral` (applied here and in the test, a pure
function of the seeded state) replaces them by `POWER_STEPS` float64 power iterations from the
seeded u, as training would have.

Saved (< 800 kB):
- `image` (256, 256, 3) uint8: a real portrait of the shared fixtures, resized; the input is
  image / 255 as float32 NCHW (LivePortraitWrapper.prepare_source).
- `kp_*`: canonical keypoints, pose in degrees, expression, scale and translation of a seeded source
  and driving frame (`src_*`, `drv_*`), their transformed keypoints `kp_source`, `kp_driving`
  (transform_keypoint) and `kp_stitched` (stitching); `eye_ratio`, `lip_ratio` and the eye and lip
  retargeting offsets `eye_delta`, `lip_delta`.
- big outputs as a fixed subset (`*_index`: flat indices, 8,192 each) plus float64 per-channel sums:
  `feature_3d` (1, 32, 16, 64, 64), `deformation` (1, 16, 64, 64, 3), `warped` (1, 256, 64, 64) and
  `out` (1, 3, 512, 512); `occlusion` (1, 1, 64, 64) in full.
- `note`: JSON with the reference commit, seed, gain, the torch version and every network's state-dict
  keys and shapes (`state_dicts`, the stitching file's flattened as `retarget_shoulder.mlp.0.weight` …).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import types
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # tests.parity: the seeded weights and the fixture scripts' helpers

import tests.parity.seeded as seeded_weights  # noqa: E402
from tests.parity.reference import reference_args, write_fixture  # noqa: E402

SEED = 20  # weights seed (issue 20)
GAIN = 1.0  # fan-in scale of the seeded weights
POWER_STEPS = 20  # power iterations that settle each spectral-norm (u, v) pair
SUBSET = 8192  # entries kept of each big output
REAL_IMAGE = REPO.parent / "shared" / "fixtures" / "real" / "images" / "LivePortrait__source_s25.jpg"
BIG_OUTPUTS = {"feature_3d": 1, "deformation": 4, "warped": 1, "out": 1}  # name → channel axis of its sums
STITCHING_PARTS = {"retarget_shoulder": "stitching", "retarget_mouth": "lip", "retarget_eye": "eye"}  # file → MLP
log = logging.getLogger("liveportrait_render")


def settle_spectral(state: dict[str, torch.Tensor], steps: int = POWER_STEPS) -> dict[str, torch.Tensor]:
    """`state` with every spectral-norm (weight_u, weight_v) replaced by `steps` float64 power iterations on
    weight_orig (as (out, -1)) from the stored u: the converged vectors a trained checkpoint holds."""
    out = dict(state)
    for key in state:
        if not key.endswith(".weight_orig"):
            continue
        base = key.removesuffix("_orig")
        w = state[key].double().reshape(state[key].shape[0], -1).numpy()  # (out, in·k·k)
        u = state[f"{base}_u"].double().numpy()
        v = w.T @ u
        for _ in range(steps):
            v = w.T @ u
            v /= max(np.linalg.norm(v), 1e-12)
            u = w @ v
            u /= max(np.linalg.norm(u), 1e-12)
        out[f"{base}_u"] = torch.from_numpy(u).to(state[f"{base}_u"].dtype)
        out[f"{base}_v"] = torch.from_numpy(v).to(state[f"{base}_v"].dtype)
    return out


def keypoint_inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Seeded source (`src_*`) and driving (`drv_*`) keypoint info of a plausible scale, float32.

    Canonical keypoints spread over the face ([-0.5, 0.5]², depth ±0.25, as the released M gives),
    pose in degrees (source near frontal, driving turned), small expression offsets, scale ≈ 1.2.
    """
    kp = np.concatenate([rng.uniform(-0.5, 0.5, (1, 21, 2)), rng.uniform(-0.25, 0.25, (1, 21, 1))], axis=2)
    out = {}
    for name, pose, t in (("src", (2.0, -3.0, 1.0), (0.01, -0.02, 0.0)),
                          ("drv", (-6.0, 12.0, 4.0), (0.03, 0.01, 0.02))):
        out[f"{name}_kp"] = kp
        out[f"{name}_pitch"], out[f"{name}_yaw"], out[f"{name}_roll"] = (np.array([[a]]) for a in pose)
        out[f"{name}_exp"] = 0.02 * rng.standard_normal((1, 21, 3))
        out[f"{name}_scale"] = np.array([[1.2 + 0.05 * rng.standard_normal()]])
        out[f"{name}_t"] = np.array([t])
    return {k: v.astype(np.float32) for k, v in out.items()}


def subset(tensor: torch.Tensor, axis: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flat indices, values there, float64 sums over all but the channel `axis`) of a big output."""
    flat = tensor.reshape(-1).numpy()
    index = np.sort(rng.choice(flat.size, SUBSET, replace=False)).astype(np.int64)
    sums = tensor.double().sum(dim=tuple(d for d in range(tensor.ndim) if d != axis)).numpy()
    return index, flat[index], sums


def _fill(module: torch.nn.Module, seeded, prefix: str = "") -> torch.nn.Module:
    """Seeded (spectral-norm settled) weights into `module`, strictly; eval mode."""
    state = seeded.seeded_state_dict({prefix + k: v for k, v in module.state_dict().items()}, SEED, GAIN)
    state = {k.removeprefix(prefix): v for k, v in settle_spectral(state).items()}
    module.load_state_dict(state, strict=True)
    return module.eval()


def main(argv: list[str] | None = None) -> int:
    args = reference_args(__doc__.split("\n")[0], REPO / "tests" / "fixtures" / "parity" / "liveportrait_render.npz",
                          argv, "extracted LivePortrait checkout (holds src/)")
    from PIL import Image
    from src.live_portrait_wrapper import LivePortraitWrapper as Wrapper  # the reference
    from src.modules.appearance_feature_extractor import AppearanceFeatureExtractor
    from src.modules.spade_generator import SPADEDecoder
    from src.modules.stitching_retargeting_network import StitchingRetargetingNetwork
    from src.modules.warping_network import WarpingNetwork

    seeded = seeded_weights
    params = yaml.safe_load((args.reference / "src" / "config" / "models.yaml").read_text())["model_params"]
    sr = params["stitching_retargeting_module_params"]
    # the stitching file's parts, seeded under the keys of the flattened file (retarget_shoulder.mlp.0.weight …)
    mlps = {name: _fill(StitchingRetargetingNetwork(**sr[name]), seeded, f"{part}.")
            for part, name in STITCHING_PARTS.items()}
    ref = types.SimpleNamespace(
        appearance_feature_extractor=_fill(AppearanceFeatureExtractor(**params["appearance_feature_extractor_params"]),
                                           seeded),
        warping_module=_fill(WarpingNetwork(**params["warping_module_params"]), seeded),
        spade_generator=_fill(SPADEDecoder(**params["spade_generator_params"]), seeded),
        stitching_retargeting_module=mlps, compile=False, inference_ctx=contextlib.nullcontext,
        inference_cfg=types.SimpleNamespace(flag_use_half_precision=False))
    ref.stitch = lambda s, d: Wrapper.stitch(ref, s, d)

    rng = np.random.default_rng(SEED)
    image = np.asarray(Image.open(REAL_IMAGE).convert("RGB").resize((256, 256), Image.BICUBIC), np.uint8)
    inputs = keypoint_inputs(rng)
    info = {side: {k: torch.from_numpy(inputs[f"{side}_{k}"]) for k in ("kp", "pitch", "yaw", "roll", "exp",
                                                                       "scale", "t")} for side in ("src", "drv")}
    eye_ratio = rng.uniform(0.1, 0.4, (1, 3)).astype(np.float32)
    lip_ratio = rng.uniform(0.0, 0.5, (1, 2)).astype(np.float32)
    x = torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None]  # (1, 3, 256, 256)
    with torch.no_grad():
        feature_3d = Wrapper.extract_feature_3d(ref, x)  # (1, 32, 16, 64, 64)
        kp_source = Wrapper.transform_keypoint(ref, info["src"])  # (1, 21, 3)
        kp_driving = Wrapper.transform_keypoint(ref, info["drv"])
        kp_stitched = Wrapper.stitching(ref, kp_source, kp_driving)
        eye_delta = Wrapper.retarget_eye(ref, kp_source, torch.from_numpy(eye_ratio))
        lip_delta = Wrapper.retarget_lip(ref, kp_source, torch.from_numpy(lip_ratio))
        seen = {}  # the generator's input: W's warped features, which warp_decode replaces by G's output
        hook = ref.spade_generator.register_forward_pre_hook(lambda m, a, kw: seen.update(kw), with_kwargs=True)
        frame = Wrapper.warp_decode(ref, feature_3d, kp_source, kp_stitched)
        hook.remove()
        warped = seen["feature"]
    big = {"feature_3d": feature_3d, "deformation": frame["deformation"], "warped": warped, "out": frame["out"]}
    for k, v in big.items():
        log.info("%s %s |max| %.4g mean %.4g", k, tuple(v.shape), float(v.abs().max()), float(v.mean()))
    log.info("out: %.1f%% of pixels saturated (<0.01 or >0.99)",
             100 * float(((frame["out"] < 0.01) | (frame["out"] > 0.99)).float().mean()))
    arrays = {"image": image, "eye_ratio": eye_ratio, "lip_ratio": lip_ratio, "kp_source": kp_source.numpy(),
              "kp_driving": kp_driving.numpy(), "kp_stitched": kp_stitched.numpy(), "eye_delta": eye_delta.numpy(),
              "lip_delta": lip_delta.numpy(), "occlusion": frame["occlusion_map"].numpy()} | inputs
    for k, v in big.items():
        arrays[f"{k}_index"], arrays[f"{k}_values"], arrays[f"{k}_sums"] = subset(v, BIG_OUTPUTS[k], rng)
    note = {"reference": "https://github.com/KwaiVGI/LivePortrait", "commit": args.commit,
            "seed": SEED, "gain": GAIN, "power_steps": POWER_STEPS, "torch": torch.__version__,
            "real_image": REAL_IMAGE.name, "dtype": "float32", "threads": 1,
            "shapes": {k: list(v.shape) for k, v in big.items()},
            "state_dicts": {name: {k: list(v.shape) for k, v in module.state_dict().items()} for name, module in (
                ("appearance_feature_extractor", ref.appearance_feature_extractor),
                ("warping_module", ref.warping_module), ("spade_generator", ref.spade_generator))}
            | {"stitching_retargeting_module": {f"{part}.{k}": list(v.shape) for part, name in STITCHING_PARTS.items()
                                                for k, v in mlps[name].state_dict().items()}}}
    arrays["note"] = np.array(json.dumps(note))
    write_fixture(args.out, arrays)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
