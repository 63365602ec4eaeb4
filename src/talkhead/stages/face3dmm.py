"""Stage `face3dmm`: a clip's mesh → FLAME-style parameters per frame (data/features/{clip}/face3dmm.safetensors).

Parses the arguments and runs talkhead.features.face3dmm_backend.face3dmm_clip, whose module docstring describes
the two backends (the landmark 3DMM with --basis, imported EMOCA/DECA parameters) and the tensors written.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import Face3dmmConfig
from talkhead.features.face3dmm_backend import face3dmm_clip
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    cfg = Face3dmmConfig.from_json(args.cfg)
    meta = face3dmm_clip(Path(args.mesh), Path(args.basis) if args.basis else None, Path(args.out), cfg)
    return (f"face3dmm {meta['clip']}: {meta['frames']} frames, {meta['n_expression']} expression coefficients "
            f"({meta['extractor']})")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.face3dmm --mesh FILE [--basis DIR] --out FILE [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.face3dmm", __doc__.splitlines()[0])
    parser.add_argument("--mesh", required=True, help="data/features/{clip}/face_mesh.safetensors")
    parser.add_argument("--basis", default="", help="data/models/face3dmm_basis (ignored with backend import)")
    parser.add_argument("--out", required=True, help="data/features/{clip}/face3dmm.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
