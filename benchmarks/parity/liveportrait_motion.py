"""Parity fixture for LivePortrait's motion extractor and keypoint transform, made by the reference implementation.

    python benchmarks/parity/liveportrait_motion.py --reference /tmp/lp_ref
        [--out tests/fixtures/parity/liveportrait_motion.npz]

`--reference` is an extracted checkout of https://github.com/KwaiVGI/LivePortrait (its `src/`
folder; e.g. `git archive HEAD src | tar -x -C /tmp/lp_ref`). Nothing of it is copied into
talkhead: this script imports it from there, builds its MotionExtractor at the released config
(src/config/models.yaml: convnextv2_tiny, 21 keypoints), fills it with the seeded weights of
tests/parity/seeded.py (a value per state-dict key and shape, so talkhead's test rebuilds the
same weights from its own module's keys), and saves:

- `images` (N, 256, 256, 3) uint8: seeded noise (per pixel, and 8×8 blocks) and one real
  portrait (shared fixtures, resized to 256); the network input is images / 255 as float32 NCHW
  (LivePortraitWrapper.prepare_source).
- `out_<key>` for the raw outputs kp, pitch, yaw, roll, t, exp, scale.
- `deg_<angle>`: headpose_pred_to_degree; `rot`: get_rotation_matrix of the degrees;
  `kp_driving`: LivePortraitWrapper.transform_keypoint on the raw outputs.
- `tf_*`: the same transform on a seeded batch of wider poses (bins, kp, exp, t, scale) and its
  result `tf_kp_driving`, so the rotation convention is checked away from the near-frontal poses
  that random weights give.
- `note`: JSON with the reference commit, seed, gain and the torch version.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # tests.parity: the seeded weights and the fixture scripts' helpers

from tests.parity.reference import reference_args, write_fixture  # noqa: E402
from tests.parity.seeded import fill_seeded  # noqa: E402

SEED = 20  # weights seed (issue 20)
GAIN = 1.0  # fan-in scale of the seeded weights: activations stay finite through the 18 blocks
REAL_IMAGE = REPO.parent / "shared" / "fixtures" / "real" / "images" / "AniPortrait__ref_images_Aragaki.png"
OUTPUT_KEYS = ("kp", "pitch", "yaw", "roll", "t", "exp", "scale")
log = logging.getLogger("liveportrait_motion")


def _images(rng: np.random.Generator) -> np.ndarray:
    """(4, 256, 256, 3) uint8: pixel noise, two block-noise images, the real portrait."""
    from PIL import Image

    pixel = rng.integers(0, 256, (1, 256, 256, 3), dtype=np.uint8)
    blocks = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8).repeat(8, axis=1).repeat(8, axis=2)
    real = np.asarray(Image.open(REAL_IMAGE).convert("RGB").resize((256, 256), Image.BICUBIC), np.uint8)[None]
    return np.concatenate([pixel, blocks, real])


def main(argv: list[str] | None = None) -> int:
    args = reference_args(__doc__.split("\n")[0], REPO / "tests" / "fixtures" / "parity" / "liveportrait_motion.npz",
                          argv, "extracted LivePortrait checkout (holds src/)")
    from src.live_portrait_wrapper import LivePortraitWrapper  # the reference
    from src.modules.motion_extractor import MotionExtractor
    from src.utils.camera import get_rotation_matrix, headpose_pred_to_degree

    config = yaml.safe_load((args.reference / "src" / "config" / "models.yaml").read_text())
    params = config["model_params"]["motion_extractor_params"]
    model = fill_seeded(MotionExtractor(**params), SEED, GAIN)
    rng = np.random.default_rng(SEED)
    images = _images(rng)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).permute(0, 3, 1, 2)  # (N, 3, 256, 256)
    with torch.no_grad():
        raw = model(x)
        deg = {a: headpose_pred_to_degree(raw[a]) for a in ("pitch", "yaw", "roll")}  # (N,)
        rot = get_rotation_matrix(deg["pitch"], deg["yaw"], deg["roll"])  # (N, 3, 3)
        kp_driving = LivePortraitWrapper.transform_keypoint(None, {k: v.clone() for k, v in raw.items()})
        n = 8  # wider poses: bin logits with a spread of several bins
        tf = {"pitch": torch.from_numpy(3.0 * rng.standard_normal((n, 66)).astype(np.float32)),
              "yaw": torch.from_numpy(3.0 * rng.standard_normal((n, 66)).astype(np.float32)),
              "roll": torch.from_numpy(3.0 * rng.standard_normal((n, 66)).astype(np.float32)),
              "kp": torch.from_numpy(0.1 * rng.standard_normal((n, 63)).astype(np.float32)),
              "exp": torch.from_numpy(0.02 * rng.standard_normal((n, 63)).astype(np.float32)),
              "t": torch.from_numpy(0.05 * rng.standard_normal((n, 3)).astype(np.float32)),
              "scale": torch.from_numpy(1.0 + 0.2 * rng.standard_normal((n, 1)).astype(np.float32))}
        tf_kp_driving = LivePortraitWrapper.transform_keypoint(None, {k: v.clone() for k, v in tf.items()})
    for k, v in raw.items():
        log.info("%s %s |max| %.4g", k, tuple(v.shape), float(v.abs().max()))
    log.info("degrees %s", {a: [round(float(d), 2) for d in v] for a, v in deg.items()})
    note = {"reference": "https://github.com/KwaiVGI/LivePortrait", "commit": args.commit,
            "model_params": params, "seed": SEED, "gain": GAIN, "torch": torch.__version__,
            "real_image": REAL_IMAGE.name, "dtype": "float32", "threads": 1}
    arrays = {"images": images, "rot": rot.numpy(), "kp_driving": kp_driving.numpy(),
              "tf_kp_driving": tf_kp_driving.numpy(), "note": np.array(json.dumps(note))}
    arrays |= {f"out_{k}": raw[k].numpy() for k in OUTPUT_KEYS}
    arrays |= {f"deg_{a}": v.numpy() for a, v in deg.items()}
    arrays |= {f"tf_{k}": v.numpy() for k, v in tf.items()}
    write_fixture(args.out, arrays)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
