"""Motion → the portrait's own mesh: keypoint deformations spread to every point, then posed and projected.

The portrait's mesh, with its fitted pose undone (talkhead.features.pose), is its reference shape
in the canonical frame. A motion frame's 21 keypoint deformations (talkhead.features.motion)
minus a reference motion's give each keypoint's displacement; a fixed linear map `weights`
(468 × 21, computed once per portrait) spreads them to all 468 mesh points. The map is a Gaussian
radial-basis interpolation whose nodes are the 21 keypoints plus the near-rigid landmarks of
talkhead.features.pose.RIGID held at zero (forehead, nose, eye corners, temples, cheekbones stay
put). Distances are measured in the canonical frame plus three "slit" coordinates that pull
apart the two sides of the mouth and of each eye: upper and lower lip (or lid) are close in space
but move independently, so a lower-lip keypoint must not drag the upper lip (Carr et al., 2001,
https://doi.org/10.1145/383259.383266, on RBF interpolation; the slit trick is ours).

The deformed shape is then posed: rotation R_m(t) R_m(ref)ᵀ applied on top of the portrait's
own rotation, scale and translation changed by the motion's relative change (translation
converted to portrait pixels through the scale ratio), each change bounded, and projected
orthographically (x, y) into the work crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkhead.features.canonical import canonical_face
from talkhead.features.motion import KEYPOINTS, N_KEYPOINTS
from talkhead.features.pose import RIGID, Pose, fit_pose, matrix_from_euler

N_FACE = 468  # mesh points used (the 10 iris points are left out)
SIGMA = 0.28  # Gaussian kernel width, canonical units (outer-eye-corner distance)
RIDGE = 1e-6  # Tikhonov term of the kernel solve
DEPTH_SCALE = 0.6  # depth kept when the head turns (see FaceModel.project)
# Slits: (upper contour, lower contour, corners, coordinate scale, edge width, falloff past the corners)
MOUTH = ((191, 80, 81, 82, 13, 312, 311, 310, 415), (95, 88, 178, 87, 14, 317, 402, 318, 324), (78, 308))
EYE_R = ((246, 161, 160, 159, 158, 157, 173), (7, 163, 144, 145, 153, 154, 155), (33, 133))
EYE_L = ((466, 388, 387, 386, 385, 384, 398), (249, 390, 373, 374, 380, 381, 382), (263, 362))
SLITS = ((MOUTH, 0.6, 0.02, 0.12), (EYE_R, 0.35, 0.015, 0.06), (EYE_L, 0.35, 0.015, 0.06))
KP = {int(k): i for i, k in enumerate(KEYPOINTS)}  # mesh index → keypoint slot
UPPER_FACE = {70, 105, 107, 336, 334, 300, 159, 145, 386, 374}  # brow and lid keypoints


def _slit_coordinate(canon: np.ndarray, slit: tuple, scale: float, width: float, falloff: float) -> np.ndarray:
    """(N,) signed side of each point w.r.t. one slit: −scale above, +scale below, 0 far past its corners."""
    upper, lower, corners = slit
    x, y = canon[:, 0], canon[:, 1]
    cl, cr = canon[list(corners), 0].min(), canon[list(corners), 0].max()
    mid = np.concatenate([canon[list(upper)], canon[list(lower)], canon[list(corners)]])[:, :2]
    order = np.argsort(mid[:, 0])
    # midline y(x): average of the contours, sampled at their points, held flat past the corners
    ymid = np.interp(np.clip(x, cl, cr), mid[order, 0], mid[order, 1])
    side = np.tanh((y - ymid) / width)
    side[list(upper)] = -1.0
    side[list(lower)] = 1.0
    side[list(corners)] = 0.0
    past = np.maximum(0.0, np.maximum(cl - x, x - cr))
    return scale * side * np.exp(-((past / falloff) ** 2))


def features(canon: np.ndarray) -> np.ndarray:
    """(N, 3) canonical points → (N, 6) interpolation coordinates: x, y, z/2 and the three slit sides."""
    cols = [canon[:, 0], canon[:, 1], 0.5 * canon[:, 2]]
    cols += [_slit_coordinate(canon, s, scale, w, f) for s, scale, w, f in SLITS]
    return np.stack(cols, 1)


def spread_weights(canon: np.ndarray) -> np.ndarray:
    """(468, 21) linear map from keypoint displacements to mesh-point displacements for this face."""
    feats = features(canon)  # (468, 6)
    anchors = np.array([i for i in RIGID if i not in KP])
    nodes = np.concatenate([KEYPOINTS, anchors])  # (K,)
    f_nodes = feats[nodes]
    kernel = lambda a, b: np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))  # noqa: E731  polyharmonic r
    poly = lambda a: np.concatenate([np.ones((len(a), 1)), a], 1)  # noqa: E731  affine part
    k, p = len(nodes), poly(f_nodes)  # (K, 7)
    system = np.block([[kernel(f_nodes, f_nodes) + RIDGE * np.eye(k), p], [p.T, np.zeros((p.shape[1],) * 2)]])
    values = np.zeros((k + p.shape[1], N_KEYPOINTS))
    values[np.arange(N_KEYPOINTS), np.arange(N_KEYPOINTS)] = 1.0  # keypoint k carries its own displacement
    coef = np.linalg.solve(system, values)  # (K + 7, 21)
    weights = np.concatenate([kernel(feats, f_nodes), poly(feats)], 1) @ coef  # (468, 21)
    weights *= _region_gates(canon)
    _lid_rows(weights, canon)
    weights[KEYPOINTS] = np.eye(N_KEYPOINTS)
    weights[anchors] = 0.0
    return weights.astype(np.float32)


def _lid_rows(weights: np.ndarray, canon: np.ndarray) -> None:
    """Make each eyelid contour follow its lid keypoint in proportion to its own gap (in place).

    A lid keypoint closing the eye by its gap then brings every point of that lid's contour onto
    the other lid (the gap shrinks to zero along the whole eye, not only mid-eye); the RBF alone
    leaves a wavy lid edge, since the corners are pinned.
    """
    for upper, lower, corners in (EYE_R, EYE_L):
        up = [corners[0], *upper, corners[1]]
        lo = [corners[0], *lower, corners[1]]
        ux, uy = canon[up, 0], canon[up, 1]
        lx, ly = canon[lo, 0], canon[lo, 1]
        iu, il = np.argsort(ux), np.argsort(lx)
        key_up = next(i for i in upper if i in KP)
        key_lo = next(i for i in lower if i in KP)
        centre = max(float(canon[key_lo, 1] - canon[key_up, 1]), 1e-6)
        for i in upper:
            gap = max(float(np.interp(canon[i, 0], lx[il], ly[il]) - canon[i, 1]), 0.0)
            weights[i] = 0.0
            weights[i, KP[key_up]] = gap / centre
        for j in lower:
            gap = max(float(canon[j, 1] - np.interp(canon[j, 0], ux[iu], uy[iu])), 0.0)
            weights[j] = 0.0
            weights[j, KP[key_lo]] = gap / centre


def _smoothstep(t: np.ndarray) -> np.ndarray:
    """0 → 1 with zero slope at both ends."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _region_gates(canon: np.ndarray) -> np.ndarray:
    """(468, 21) gates: mouth/jaw keypoints act only below the lower lids, brow/lid keypoints only above the nose.

    The interpolant is global; without the gates a dropping jaw would shift the eyes by a pixel or two.
    """
    y = canon[:, 1]
    eyes = float(canon[[145, 374], 1].mean())  # lower lids
    nose, lip = float(canon[2, 1]), float(canon[0, 1])  # under the nose, upper lip
    lower = _smoothstep((y - eyes) / max(lip - eyes, 1e-6))  # 0 at the lids → 1 at the upper lip
    upper = 1 - _smoothstep((y - eyes) / max(nose - eyes, 1e-6))  # 1 at the lids → 0 under the nose
    gates = np.empty((len(canon), N_KEYPOINTS))
    for slot, index in enumerate(KEYPOINTS):
        gates[:, slot] = upper if index in UPPER_FACE else lower
    return gates


@dataclass(frozen=True)
class Limits:
    """Bounds on the pose change a motion may apply to the portrait."""

    angle_deg: float = 20.0  # per Euler angle
    scale: float = 0.15  # relative, either way
    shift: float = 0.25  # translation, in canonical units (outer-eye-corner distances)


@dataclass(frozen=True)
class FaceModel:
    """The portrait's mesh in its work crop, its pose, canonical shape and spreading weights."""

    points: np.ndarray  # (468, 3) work-crop pixels
    pose: Pose  # the portrait's own pose (T = 1)
    canon: np.ndarray  # (468, 3) the portrait's shape in the canonical frame
    weights: np.ndarray  # (468, 21)

    @classmethod
    def from_points(cls, points: np.ndarray) -> FaceModel:
        """Fit pose and precompute the spread for a (478, 3) or (468, 3) mesh in work pixels."""
        full = np.asarray(points, np.float64)
        if len(full) < 478:  # fit_pose expects the full layout; pad irises (unused by RIGID)
            full = np.concatenate([full, np.repeat(full[:1], 478 - len(full), 0)])
        pose = fit_pose(full[None])
        canon = pose.to_canonical(full[None, :N_FACE])[0]
        return cls(full[:N_FACE].astype(np.float32), pose, canon.astype(np.float64), spread_weights(canon))

    def deform(self, delta_exp: np.ndarray) -> np.ndarray:
        """(T, 21, 3) keypoint displacements (canonical) → (T, 468, 3) deformed canonical shapes."""
        return self.canon[None] + np.einsum("nk,tkc->tnc", self.weights, delta_exp)

    def project(self, canon: np.ndarray, pose_motion: np.ndarray, pose_ref: np.ndarray,
                limits: Limits = Limits()) -> np.ndarray:
        """(T, 468, 3) canonical shapes, (T, 7) / (7,) motion pose columns 63-69 → (T, 468, 3) work pixels.

        x, y are the orthographic projection; z (depth, away from the camera) orders occlusion.
        """
        pm, pr = np.asarray(pose_motion, np.float64), np.asarray(pose_ref, np.float64)
        euler = pr[4:7] + np.clip(pm[:, 4:7] - pr[4:7], -limits.angle_deg, limits.angle_deg)
        delta_rot = matrix_from_euler(euler) @ matrix_from_euler(pr[None, 4:7])[0].T  # (T, 3, 3)
        ref_scale = max(float(pr[0]), 1e-6)
        ratio = np.clip(pm[:, 0] / ref_scale, 1 - limits.scale, 1 + limits.scale)  # (T,)
        s0 = float(self.pose.scale[0])
        shift = np.clip((pm[:, 1:3] - pr[1:3]) / ref_scale, -limits.shift, limits.shift) * s0  # (T, 2) pixels
        # Depth flattened for the turn: the face outline is a silhouette, not a fixed surface line, and
        # the full depth folds the far cheek over the background under yaw (also pitch).
        # Flattened in the camera frame, so a zero change still gives the portrait's mesh exactly.
        cam = np.einsum("ij,tnj->tni", self.pose.matrix[0].astype(np.float64), np.asarray(canon, np.float64))
        cam[..., 2] *= DEPTH_SCALE
        turn = np.einsum("tij,tnj->tni", delta_rot, cam)
        posed = turn * (s0 * ratio)[:, None, None]
        posed[..., :2] += self.pose.translation[0, :2].astype(np.float64) + shift[:, None]
        return posed.astype(np.float32)  # (T, 468, 3)


def keep_apart(delta_exp: np.ndarray, canon: np.ndarray, pairs: tuple[tuple[int, int], ...],
               keep: float = 0.04) -> np.ndarray:
    """Limit (T, 21, 3) displacements so each (upper, lower) keypoint pair never closes past `keep` of its gap.

    Lids or lips that cross fold the mesh over itself; `canon` (468, 3) gives the resting gaps.
    """
    out = np.array(delta_exp, np.float64, copy=True)
    for up, lo in pairs:
        gap = float(canon[lo, 1] - canon[up, 1])
        if gap <= 0:
            continue
        closing = out[:, KP[up], 1] - out[:, KP[lo], 1]  # (T,) how far the pair moved together
        room = (1 - keep) * gap
        over = closing > room
        if over.any():
            k = room / closing[over]
            out[over, KP[up], 1] *= k
            out[over, KP[lo], 1] *= k
    return out


def keypoint_slot(mesh_index: int) -> int:
    """The motion's keypoint slot (0-20) of a mesh landmark index."""
    return KP[mesh_index]


def canonical_keypoints() -> np.ndarray:
    """(21, 3) the keypoints' place on the canonical neutral face."""
    return canonical_face()[KEYPOINTS].astype(np.float64)
