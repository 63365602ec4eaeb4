"""face3dmm: a clip's mesh → FLAME-style parameters per frame (data/features/{clip}/face3dmm.safetensors).

In features (layer 3), beside the two backends it chooses between (talkhead.features.face3dmm, flame_import),
in a module of its own so that each backend's module stays one model.

With `backend: landmark` the landmark 3DMM of talkhead.features.face3dmm (fitted to the mesh with
the basis of rule face3dmm_basis; a landmark model, not FLAME, Li et al. 2017) gives
`global_pose` (T, 3), `jaw_pose` (T, 3), `expression` (T, K), `clip_shape` (468, 3),
`clip_jaw_rest` (1,) and `found` (T,). With `backend: import`, FLAME parameters produced by EMOCA
(Danecek et al. 2022) or DECA (Feng et al. 2021) for the clip named in the mesh file are read from
`import_dir` (talkhead.features.flame_import) under the same names (`clip_shape_coefficients`
(S,) instead of `clip_shape`), `found` passed on from the mesh; --basis is then ignored.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from talkhead.config import ConfigError, Face3dmmConfig
from talkhead.data.featurefile import read_features, write_features
from talkhead.features import face3dmm, flame_import

log = logging.getLogger(__name__)


def _landmark(points: np.ndarray, found: np.ndarray, basis_dir: Path | None,
              cfg: Face3dmmConfig) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """The landmark model's tensors and provenance for one clip."""
    if basis_dir is None:
        raise ConfigError("face3dmm: backend landmark needs --basis (data/models/face3dmm_basis)")
    basis = face3dmm.Basis.load(basis_dir)
    if basis.n_components > cfg.n_expression:
        log.info("face3dmm: using the first %d of the basis's %d components", cfg.n_expression, basis.n_components)
        basis = basis.truncated(cfg.n_expression)
    tensors = face3dmm.fit_clip(points, found, basis)
    meta = {"extractor": "landmark-3dmm", "version": face3dmm.VERSION,
            "checkpoint": face3dmm.checkpoint_id(basis_dir), "n_expression": basis.n_components}
    return tensors, meta


def _imported(clip: str, frames: int, found: np.ndarray,
              cfg: Face3dmmConfig) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """EMOCA/DECA parameters of one clip and their provenance."""
    if not cfg.import_dir:
        raise ConfigError("face3dmm: backend import needs import_dir (the folder of EMOCA/DECA outputs)")
    imported = flame_import.read_flame_params(cfg.import_dir, clip, frames)
    tensors = dict(imported.tensors) | {"found": found.astype(np.uint8)}
    meta = {"extractor": imported.extractor, "version": flame_import.VERSION,
            "checkpoint": str(imported.source), "n_expression": imported.tensors["expression"].shape[1]}
    return tensors, meta


def face3dmm_clip(mesh: Path, basis_dir: Path | None, out: Path, cfg: Face3dmmConfig) -> dict:
    """Fit (or import) one clip's FLAME-style parameters and write its feature file; return the metadata."""
    tensors, mmeta = read_features(mesh, keys=["points", "found"])
    frames = int(mmeta["frames"])
    points, found = tensors["points"], tensors["found"].reshape(-1)
    if len(points) != frames or len(found) != frames:
        raise ValueError(f"{mesh}: {len(points)} mesh rows for a {frames}-frame clip")
    if cfg.backend == "import":
        params, provenance = _imported(mmeta["clip"], frames, found, cfg)
    else:
        params, provenance = _landmark(points, found, basis_dir, cfg)
    meta = {"clip": mmeta["clip"], "modality": "face3dmm", "rate_hz": mmeta["rate_hz"], "frames": frames,
            **provenance}
    write_features(out, params, meta)
    return meta
