"""The canonical neutral face: a left/right-symmetric 478-point MediaPipe mesh in a face-fixed frame.

Head pose is the similarity transform that carries this face onto each frame's mesh
(talkhead.features.pose). MediaPipe's own canonical model (`canonical_face_model.obj`) is not in the
mediapipe wheel, so this one is built from material an installed package ships: the face mesh
of `skimage.data.astronaut()`, a frontal portrait, made exactly symmetric and put in a frame defined
by the face itself. `python -m talkhead.features.canonical` rebuilds the packaged file.

Construction:
1. Mirror the mesh (x -> -x) and pair every point with its mirror twin by an optimal assignment
   (Hungarian) alternated with a rigid fit of the mirrored mesh onto the original (a few rounds:
   the pairing is an involution; midline points pair with themselves).
2. Average the mesh with its aligned, re-indexed mirror image: the result is exactly symmetric.
3. Frame: origin = midpoint of the outer eye corners 33 and 263; x = from 33 (subject's right) to
   263 (subject's left), i.e. towards the image's right for an un-mirrored frontal face; y = the
   direction from the origin to the chin 152, made orthogonal to x (down in the image); z = x × y
   (away from the camera, as MediaPipe's depth). Unit = the outer-eye-corner distance.
So a frontal, upright face in an image (x right, y down, z into the image) has identity rotation;
"pitch 0" means the eye-midpoint-to-chin line lies in the image plane's vertical.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

log = logging.getLogger(__name__)

N_POINTS = 478
FILE = "canonical_face.npy"
EYE_OUTER = (33, 263)  # subject's right, left
CHIN = 152


def rigid_fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R (3, 3), t (3,)) minimising |R src + t - dst|² over rotations (Kabsch); src, dst (N, 3)."""
    ms, md = src.mean(0), dst.mean(0)
    u, _, vt = np.linalg.svd((dst - md).T @ (src - ms))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    return rot, md - rot @ ms


def mirror_pairs(points: np.ndarray, rounds: int = 6) -> np.ndarray:
    """(N,) index of each point's mirror twin in a roughly symmetric mesh (N, 3)."""
    mirrored = points * np.array([-1.0, 1.0, 1.0])
    centre = (points[EYE_OUTER[0]] + points[EYE_OUTER[1]]) / 2
    aligned = mirrored + np.array([2 * centre[0], 0.0, 0.0])  # first guess: reflect about the eye midpoint
    pairs = np.arange(len(points))
    for _ in range(rounds):
        cost = ((aligned[:, None, :] - points[None]) ** 2).sum(-1)  # (N, N)
        _, pairs = linear_sum_assignment(cost)
        rot, t = rigid_fit(mirrored, points[pairs])
        aligned = mirrored @ rot.T + t
    return pairs


def face_frame(points: np.ndarray) -> np.ndarray:
    """The mesh (N, 3) expressed in its own face frame (origin eye midpoint, unit eye distance)."""
    right, left = points[EYE_OUTER[0]], points[EYE_OUTER[1]]
    origin = (right + left) / 2
    x = (left - right) / np.linalg.norm(left - right)
    v = points[CHIN] - origin
    y = v - (v @ x) * x
    y /= np.linalg.norm(y)
    axes = np.stack([x, y, np.cross(x, y)])  # rows: the frame's axes in input coordinates
    return (points - origin) @ axes.T / np.linalg.norm(left - right)


def symmetrize(points: np.ndarray) -> np.ndarray:
    """An exactly left/right symmetric version (N, 3) of a roughly symmetric mesh, in its face frame."""
    points = np.asarray(points, np.float64)
    pairs = mirror_pairs(points)
    mirrored = points * np.array([-1.0, 1.0, 1.0])
    rot, t = rigid_fit(mirrored, points[pairs])
    twin = np.empty_like(points)
    twin[pairs] = mirrored @ rot.T + t  # twin[j]: the mirror image of j's partner, placed at j
    framed = face_frame((points + twin) / 2)
    # remove the float residue of the averaging: x of a pair is exactly opposite, y and z equal
    sym = framed.copy()
    sym[:, 0] = (framed[:, 0] - framed[pairs, 0]) / 2
    sym[:, 1:] = (framed[:, 1:] + framed[pairs, 1:]) / 2
    return sym


def build() -> np.ndarray:
    """The canonical face (478, 3) float32 from the astronaut portrait's MediaPipe mesh."""
    from skimage import data

    from talkhead.faces.mediapipe_backend import FaceMesh

    mesh = FaceMesh()
    try:
        points = mesh.landmarks(data.astronaut())
    finally:
        mesh.close()
    if points is None:
        raise RuntimeError("MediaPipe found no face in skimage.data.astronaut()")
    return symmetrize(points).astype(np.float32)


@lru_cache(maxsize=1)
def canonical_face() -> np.ndarray:
    """The packaged canonical face (478, 3) float32 (read-only)."""
    with resources.files("talkhead.features").joinpath(FILE).open("rb") as fh:
        face = np.load(fh, allow_pickle=False)
    face.setflags(write=False)
    return face


def main() -> int:
    """Rebuild src/talkhead/features/canonical_face.npy."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = Path(__file__).with_name(FILE)
    face = build()
    np.save(path, face, allow_pickle=False)
    log.info("wrote %s: %s, nose tip z %.3f", path, face.shape, face[1, 2])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
