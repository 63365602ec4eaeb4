"""A landmark 3DMM with FLAME-style parameters: head rotation, jaw rotation and PCA expression per frame.

This is NOT FLAME (Li et al. 2017, "Learning a model of facial shape and expression from 4D scans",
https://flame.is.tue.mpg.de): there is no FLAME template, no skinning and no scan-learned basis
here. It is a linear model of the 468 non-iris points of the MediaPipe face mesh whose parameters
are laid out like FLAME's, so downstream code can take either this or real FLAME parameters
imported from EMOCA (Danecek et al. 2022) or DECA (Feng et al. 2021; talkhead.features.flame_import).

The face3dmm_basis phase (`face3dmm_basis`): the basis is learned on the found frames of the training
split's data/features/{clip}/face_mesh.safetensors and written, atomically, to
data/models/face3dmm_basis/ (basis.safetensors: mean, components, variance; basis.json: counts,
explained variance, clips, version). It is versioned like a model: feature files name it by hash.

Per frame (the mesh is first put in the canonical face frame by the head pose of
talkhead.features.pose: origin outer-eye midpoint, x to the subject's left, y down, z away from
the camera, unit = outer-eye distance):
- `global_pose` (T, 3): the head rotation as an axis-angle vector in radians, in FLAME's axes.
  Our rotation R (Pose.matrix) lives in image axes (x right, y down, z away from the camera);
  FLAME's model and camera axes are x to the viewer's right, y up, z towards the camera. The two
  differ by C = diag(1, -1, -1) (a proper rotation by 180° about x), so R_flame = C R C and
  global_pose = rotvec(R_flame). A frontal, upright face has global_pose 0.
- `jaw_pose` (T, 3): rotation about the canonical x axis only (y, z = 0), in radians, positive =
  mouth opening (as FLAME's jaw joint: +x rotation swings the chin down and back). The angle is
  measured at a jaw pivot standing in for the temporomandibular joint: the midpoint of the
  ear-level face sides 234/454 of the clip's identity shape, moved `PIVOT_OFFSET` = 0.1 down and
  0.25 back (eye-distance units), i.e. behind and below the face contour. The chin 152 is taken
  to move on the circle about that pivot through the clip's identity chin, and its angle is read
  from the chin's canonical height alone: φ = asin((y_chin − y_pivot) / r), r the pivot-to-chin
  distance in the y-z plane of the identity shape. The monocular depth z of a single frame's chin
  is not used: on real clips it is noisier than the drop it would measure (with z, the angle
  followed the loudness at r ≈ 0 on two of six real speakers; from the height, 0.04–0.66).
  jaw_pose is φ minus the clip's `JAW_REST_PERCENTILE`-th percentile (stored as `clip_jaw_rest`),
  so a closed mouth is ≈ 0 and opening is positive; the few frames below the percentile stay
  slightly negative (not clipped).
- `expression` (T, K): coefficients of x = mean + clip_shape + B e, B an orthonormal PCA basis
  (K, 468·3) of the flattened canonical mesh. As FLAME separates shape from expression, the
  identity is a per-clip shape: `clip_shape` (468, 3) = the clip's median canonical mesh (found
  frames) minus the basis mean, and e = B^T (x_t - median) codes each frame's deviation from it.
  e = 0 is therefore the clip's typical face (close to neutral for speech), not FLAME's neutral.

The basis (`fit_basis`, rule face3dmm_basis, versioned like a model) is the PCA of those
deviations over every found frame of the training clips, taken about the clip medians (not
centred again); `mean` is the average of the training clips' median shapes. K = min(n_expression,
frames − 1, rank): directions whose variance is below `RANK_TOL` of the largest are float noise.
Each component is sign-fixed (its largest-|value| entry positive), so fitting is deterministic.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open
from scipy.spatial.transform import Rotation

from talkhead.atomic import atomic_dir
from talkhead.config import Face3dmmConfig
from talkhead.data.featurefile import read_features, serialize
from talkhead.features.pose import fit_pose

log = logging.getLogger(__name__)

VERSION = "face3dmm-landmark-1"
N_MESH = 468  # the face mesh without the 10 iris points
DIM = N_MESH * 3
FLAME_FROM_IMAGE = np.diag([1.0, -1.0, -1.0])  # image axes (x right, y down, z away) → FLAME's
JAW_SIDES = (234, 454)  # ear-level face contour, subject's right / left
CHIN = 152
PIVOT_OFFSET = np.array([0.0, 0.1, 0.25])  # pivot below (y) and behind (z) the sides' midpoint
JAW_REST_PERCENTILE = 5.0
RANK_TOL = 1e-10  # a component counts when its variance exceeds this fraction of the largest
BASIS_TENSORS = "basis.safetensors"
BASIS_JSON = "basis.json"


@dataclass(frozen=True)
class Basis:
    """The PCA expression basis of the landmark 3DMM, learned on the training clips."""

    mean: np.ndarray  # (468, 3) mean identity shape, canonical frame
    components: np.ndarray  # (K, 1404) orthonormal rows
    variance: np.ndarray  # (K,) per-frame variance along each component
    total_variance: float  # per-frame variance of the deviations over all directions
    clips: tuple[str, ...]
    frames: int
    version: str = VERSION

    @property
    def n_components(self) -> int:
        """K, the number of expression components."""
        return int(len(self.components))

    def explained_variance_ratio(self) -> list[float]:
        """Fraction of the deviations' variance along each component."""
        return [float(v) / self.total_variance for v in self.variance.astype(np.float64)]

    def truncated(self, k: int) -> Basis:
        """The first k components (PCA bases are nested, so this is the k-component basis)."""
        k = min(k, self.n_components)
        return Basis(self.mean, self.components[:k], self.variance[:k], self.total_variance,
                     self.clips, self.frames, self.version)

    def save(self, folder: str | Path) -> None:
        """Write basis.safetensors and basis.json into `folder` (deterministic bytes)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"mean": self.mean.astype(np.float32), "components": self.components.astype(np.float32),
                   "variance": self.variance.astype(np.float32)}
        meta = {"version": self.version, "n_components": str(self.n_components)}
        (folder / BASIS_TENSORS).write_bytes(serialize(tensors, meta))
        record = {"version": self.version, "n_components": self.n_components, "clips": list(self.clips),
                  "frames": self.frames, "total_variance": round(self.total_variance, 12),
                  "explained_variance_ratio": [round(r, 8) for r in self.explained_variance_ratio()]}
        (folder / BASIS_JSON).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> Basis:
        """Read a basis folder written by `save`."""
        folder = Path(folder)
        record = json.loads((folder / BASIS_JSON).read_text(encoding="utf-8"))
        with safe_open(str(folder / BASIS_TENSORS), framework="numpy") as fh:
            t = {k: fh.get_tensor(k) for k in ("mean", "components", "variance")}
        if t["mean"].shape != (N_MESH, 3) or t["components"].shape[1:] != (DIM,):
            raise ValueError(f"{folder}: not a face3dmm basis (mean {t['mean'].shape}, "
                             f"components {t['components'].shape})")
        return cls(t["mean"], t["components"], t["variance"], float(record["total_variance"]),
                   tuple(record["clips"]), int(record["frames"]), record["version"])


def checkpoint_id(folder: str | Path) -> str:
    """The basis identity written into feature files: 'sha256:' + 16 hex digits of basis.safetensors."""
    digest = hashlib.sha256((Path(folder) / BASIS_TENSORS).read_bytes()).hexdigest()
    return f"sha256:{digest[:16]}"


def canonical_mesh(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 478, 3) crop-pixel mesh → ((T, 468, 3) float64 canonical mesh, (T, 3, 3) head rotations)."""
    points = np.asarray(points, np.float32)
    if points.ndim != 3 or points.shape[1] < N_MESH or points.shape[2] != 3:
        raise ValueError(f"expected (T, 478, 3) face-mesh points, got {points.shape}")
    pose = fit_pose(points)
    canon = pose.to_canonical(points.astype(np.float64))[:, :N_MESH]
    return canon, pose.matrix.astype(np.float64)


def global_pose(matrix: np.ndarray) -> np.ndarray:
    """(T, 3, 3) image-axes head rotations → (T, 3) FLAME global_pose, axis-angle radians (R_f = C R C)."""
    flame = FLAME_FROM_IMAGE @ np.asarray(matrix, np.float64) @ FLAME_FROM_IMAGE
    return Rotation.from_matrix(flame).as_rotvec()


def jaw_pivot(shape: np.ndarray) -> np.ndarray:
    """(3,) the jaw pivot of a canonical identity shape (468, 3): behind and below the 234/454 midpoint."""
    return shape[list(JAW_SIDES)].mean(0) + PIVOT_OFFSET


def jaw_angle(canon: np.ndarray, pivot: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """(T,) angle in radians of the chin about `pivot`, below the forward direction, from its canonical height.

    The chin is taken to lie on the circle about `pivot` (in the y-z plane) through the identity
    shape's chin, so its height y alone gives the angle: asin((y − y_pivot) / r).
    """
    rest = shape[CHIN] - pivot  # (3,)
    radius = float(np.hypot(rest[1], rest[2]))
    return np.arcsin(np.clip((canon[:, CHIN, 1] - pivot[1]) / radius, -1.0, 1.0))


def _found_rows(found: np.ndarray, frames: int) -> np.ndarray:
    """Bool mask of found frames; every frame when none is flagged found."""
    mask = np.asarray(found).astype(bool).reshape(-1)
    if len(mask) != frames:
        raise ValueError(f"found has {len(mask)} rows for {frames} mesh frames")
    return mask if mask.any() else np.ones(frames, bool)


def clip_identity(canon: np.ndarray, found: np.ndarray) -> np.ndarray:
    """(468, 3) the clip's identity shape: the per-coordinate median of its found canonical frames."""
    return np.median(canon[_found_rows(found, len(canon))], axis=0)


def fit_clip(points: np.ndarray, found: np.ndarray, basis: Basis) -> dict[str, np.ndarray]:
    """FLAME-style parameters of one clip's mesh (T, 478, 3): the tensors of its face3dmm file."""
    canon, matrix = canonical_mesh(points)
    mask = _found_rows(found, len(canon))
    shape = np.median(canon[mask], axis=0)  # (468, 3)
    angle = jaw_angle(canon, jaw_pivot(shape), shape)  # (T,)
    rest = float(np.percentile(angle[mask], JAW_REST_PERCENTILE))
    jaw = np.zeros((len(canon), 3))
    jaw[:, 0] = angle - rest
    deviation = (canon - shape).reshape(len(canon), DIM)  # (T, 1404)
    expression = deviation @ basis.components.astype(np.float64).T  # (T, K)
    return {"global_pose": global_pose(matrix).astype(np.float32),
            "jaw_pose": jaw.astype(np.float32),
            "expression": np.ascontiguousarray(expression, np.float32),
            "clip_shape": (shape - basis.mean).astype(np.float32),
            "clip_jaw_rest": np.array([rest], np.float32),
            "found": np.asarray(found).astype(np.uint8).reshape(-1)}


def reconstruct(expression: np.ndarray, clip_shape: np.ndarray, basis: Basis) -> np.ndarray:
    """(T, K) expression and (468, 3) clip_shape → (T, 468, 3) canonical mesh mean + clip_shape + B e."""
    expression = np.asarray(expression, np.float64)
    k = expression.shape[1]
    offsets = expression @ basis.components[:k].astype(np.float64)  # (T, 1404)
    return basis.mean.astype(np.float64) + np.asarray(clip_shape, np.float64) + offsets.reshape(-1, N_MESH, 3)


def _clip_statistics(points: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(identity shape (468, 3), deviation second moment (1404, 1404), found frames) of one clip."""
    canon, _ = canonical_mesh(points)
    found = np.asarray(found).astype(bool).reshape(-1)
    if len(found) != len(canon):
        raise ValueError(f"found has {len(found)} rows for {len(canon)} mesh frames")
    rows = canon[found]
    if not len(rows):
        return np.zeros((N_MESH, 3)), np.zeros((DIM, DIM)), 0
    shape = np.median(rows, axis=0)
    dev = (rows - shape).reshape(len(rows), DIM)  # (F, 1404)
    return shape, dev.T @ dev, len(rows)


def basis_from_clips(clips: Iterable[tuple[str, np.ndarray, np.ndarray]], n_expression: int) -> Basis:
    """Fit the basis from (clip name, points (T, 478, 3), found (T,)) triples, in the order given."""
    names, shapes, frames = [], [], 0
    moment = np.zeros((DIM, DIM))
    for name, points, found in clips:
        shape, m, n = _clip_statistics(points, found)
        if n == 0:
            log.warning("clip %s has no found mesh frame; left out of the basis", name)
            continue
        names.append(name)
        shapes.append(shape)
        moment += m
        frames += n
    if not frames:
        raise ValueError("no found mesh frame in any training clip: cannot fit the face3dmm basis")
    eig, vec = np.linalg.eigh(moment / frames)
    eig, vec = eig[::-1], vec[:, ::-1]  # descending
    total = float(np.clip(eig, 0.0, None).sum())
    rank = int((eig > max(eig[0], 0.0) * RANK_TOL).sum()) if eig[0] > 0 else 0
    k = min(n_expression, frames - 1, rank)
    if k < 1:
        raise ValueError(f"the training frames ({frames} of {len(names)} clips) show no expression variation")
    if k < n_expression:
        log.info("face3dmm basis: %d of the %d requested components (frames %d, rank %d)",
                 k, n_expression, frames, rank)
    comps = vec[:, :k].T.copy()  # (K, 1404)
    pick = np.abs(comps).argmax(1)
    comps *= np.sign(comps[np.arange(k), pick])[:, None]  # largest-|value| entry positive
    mean = np.mean(shapes, axis=0)
    return Basis(mean.astype(np.float32), comps.astype(np.float32), eig[:k].astype(np.float32),
                 total, tuple(names), frames)


def fit_basis(mesh_files: Sequence[str | Path], n_expression: int) -> Basis:
    """Fit the expression basis on the training clips' face_mesh files (found frames only), sorted by clip."""
    entries = []
    for path in mesh_files:
        entries.append((read_features(path, keys=[])[1]["clip"], Path(path)))
    entries.sort()
    names = [name for name, _ in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"a clip appears twice among the basis's mesh files: {names}")

    def clips() -> Iterable[tuple[str, np.ndarray, np.ndarray]]:
        for name, path in entries:
            tensors, _ = read_features(path, keys=["points", "found"])
            yield name, tensors["points"], tensors["found"]

    basis = basis_from_clips(clips(), n_expression)
    log.info("face3dmm basis: %d components explain %.1f%% of %d frames of %d clips", basis.n_components,
             100 * sum(basis.explained_variance_ratio()), basis.frames, len(basis.clips))
    return basis


def face3dmm_basis(mesh_files: Sequence[Path], out: Path, cfg: Face3dmmConfig) -> Basis:
    """Fit the basis on the training clips' mesh files and write the folder `out` atomically."""
    basis = fit_basis(mesh_files, cfg.n_expression)
    with atomic_dir(out) as tmp:
        basis.save(tmp)
    return basis
