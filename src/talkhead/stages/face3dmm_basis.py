"""Stage `face3dmm_basis`: the training clips' face meshes → the landmark 3DMM's PCA expression basis.

The basis (talkhead.features.face3dmm; a landmark model laid out like FLAME, Li et al. 2017,
https://flame.is.tue.mpg.de, not FLAME itself) is learned on the found frames of the training
split's data/features/{clip}/face_mesh.safetensors and written, atomically, to
data/models/face3dmm_basis/ (basis.safetensors: mean, components, variance; basis.json: counts,
explained variance, clips, version). It is versioned like a model: feature files name it by hash.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.atomic import atomic_dir
from talkhead.config import Face3dmmConfig
from talkhead.data.shards import listed_paths
from talkhead.features.face3dmm import Basis, fit_basis
from talkhead.stages.common import run_stage, stage_parser


def face3dmm_basis(mesh_files: Sequence[Path], out: Path, cfg: Face3dmmConfig) -> Basis:
    """Fit the basis on the training clips' mesh files and write the folder `out` atomically."""
    basis = fit_basis(mesh_files, cfg.n_expression)
    with atomic_dir(out) as tmp:
        basis.save(tmp)
    return basis


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
