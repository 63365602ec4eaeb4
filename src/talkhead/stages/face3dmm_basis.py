"""Stage `face3dmm_basis`: the training clips' face meshes → the landmark 3DMM's PCA expression basis.

Parses the arguments and runs talkhead.features.face3dmm.face3dmm_basis, whose module docstring describes the
basis and the data/models/face3dmm_basis/ folder it writes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import Face3dmmConfig
from talkhead.data.shards import listed_paths
from talkhead.features.face3dmm import face3dmm_basis
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    meshes = [Path(p) for p in args.meshes]
    if args.clips:  # data/qc/train.csv: the accepted training clips
        meshes += listed_paths(args.clips, args.root, "face_mesh.safetensors")
    basis = face3dmm_basis(meshes, Path(args.out), Face3dmmConfig.from_json(args.cfg))
    return (f"face3dmm_basis: {basis.n_components} components explain {sum(basis.explained_variance_ratio()):.1%} "
            f"of {basis.frames} frames of {len(basis.clips)} clips")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.face3dmm_basis --out DIR [--cfg JSON] MESH_FILE..."""
    parser = stage_parser("talkhead.stages.face3dmm_basis", __doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="data/models/face3dmm_basis")
    parser.add_argument("--clips", default="", help="a clip list, data/qc/train.csv: adds each clip's "
                        "<root>/<clip>/face_mesh.safetensors")
    parser.add_argument("--root", default="data/features", help="the features folder (with --clips)")
    parser.add_argument("meshes", nargs="*", help="the training clips' data/features/{clip}/face_mesh.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
