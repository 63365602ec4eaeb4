"""Stage `blendshapes`: one clip's mesh + its speaker's calibration → 52 ARKit coefficients per frame.

Writes data/features/{clip}/blendshapes.safetensors
with `coefficients` (T, 52) float32 in [0, 1] in ARKit order (names in the metadata), and
`targets` (T, 52), the smoothed ground truth, when blendshapes.smooth_targets is on.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from talkhead.config import BlendshapesConfig
from talkhead.data.featurefile import read_features, write_features
from talkhead.features import blendshapes as bs
from talkhead.stages.common import run_stage, stage_parser


def blendshapes_clip(mesh_file: Path, calibration: Path, out: Path, cfg: BlendshapesConfig) -> dict:
    """Solve one clip's blendshapes with its speaker's calibration; return the metadata."""
    tensors, meta = read_features(mesh_file, keys=["points"])
    cal = bs.Calibration.from_dict(json.loads(calibration.read_text(encoding="utf-8")))
    coeffs = bs.solve(bs.raw_measures(tensors["points"]), cal)  # (T, 52)
    out_tensors = {"coefficients": coeffs}
    if cfg.smooth_targets:
        out_tensors["targets"] = bs.smooth_targets(coeffs, cfg.gamma, cfg.sigma, cfg.fade).astype(np.float32)
    info = {"clip": meta["clip"], "modality": "blendshapes", "rate_hz": meta["rate_hz"], "frames": meta["frames"],
            "extractor": "geometric-arkit-52", "version": bs.VERSION, "checkpoint": f"calibration:{calibration.name}",
            "names": ",".join(bs.ARKIT_NAMES)}
    write_features(out, out_tensors, info)
    return info


def _clip_main(args: argparse.Namespace) -> str:
    info = blendshapes_clip(Path(args.mesh), Path(args.calibration), Path(args.out),
                            BlendshapesConfig.from_json(args.cfg))
    return f"blendshapes {info['clip']}: {info['frames']} × 52 → {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.blendshapes --mesh FILE --calibration JSON --out FILE [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.blendshapes", __doc__.splitlines()[0])
    parser.add_argument("--mesh", required=True, help="data/features/{clip}/face_mesh.safetensors")
    parser.add_argument("--calibration", required=True, help="data/features/_calibration/{speaker}.json")
    parser.add_argument("--out", required=True, help="data/features/{clip}/blendshapes.safetensors")
    return run_stage(_clip_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
