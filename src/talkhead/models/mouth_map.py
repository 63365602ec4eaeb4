"""The mouth driver's map: V3 Face's lipsync blendshapes → the motion's mouth, lip, cheek and jaw keypoints.

V3 Face's lipsync branch follows natural speech (jawOpen's best-lag r with loudness 0.54–0.65 on
real English and Chinese recordings with the demo's model) where the motion DiT, trained on the same
few clips, hardly moves the mouth. So `talkhead generate` can drive the mouth's keypoints from the
lipsync output through a linear map learned from the training split, where both are measured on
every frame: the MediaPipe blendshapes (what V3 Face learns to predict) and the 70-d motion.

    Δmotion[MOUTH_DIMS] = (b − b_rest) · W      b: (31,) lipsync channels, W: (31, 33)

Fit (`fit_mouth_map`): ridge regression of the motion's mouth dims on the lipsync channels, both
centred per clip (so a speaker's identity offsets and resting mouth are not part of W), over every
frame of the train split. The ridge weight is relative to the mean eigenvalue of XᵀX, so it does not
depend on the corpus size. R² on the train split and, when there are val clips, on them is recorded
beside W (talkhead.train.motion_dit.fit_mouth adds the training speech's level).

Apply (`mouth_delta`, used by talkhead.infer.mouth_driver): the mouth dims of the generated motion
become the source face's plus the mapped deviation of the predicted blendshapes from those V3 Face
predicts on silence (`b_rest`): the portrait's own mouth is the mouth at rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from talkhead.models.arkit_channels import LIPSYNC_INDEX

MAP_FILE = "mouth_map.safetensors"
MOUTH_KEYPOINTS = range(10, 21)  # lips 61, 291, 0, 17, 13, 14; cheeks 205, 425; jaw 152, 172, 397
MOUTH_DIMS = np.array([3 * k + a for k in MOUTH_KEYPOINTS for a in range(3)])  # (33,) exp dims 30..62
RIDGE = 1e-2  # ridge weight relative to the mean eigenvalue of XᵀX


def _centred(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x - x.mean(0)


def fit_mouth_map(train: Iterable[tuple[np.ndarray, np.ndarray]],
                  held_out: Iterable[tuple[np.ndarray, np.ndarray]] = (),
                  ridge: float = RIDGE) -> dict[str, np.ndarray]:
    """(blendshapes (T, 52), motion (T, 70)) pairs per clip → {"weight": (31, 33), "r2_train", "r2_held_out"}."""
    pairs = [(_centred(b[:, LIPSYNC_INDEX]), _centred(m[:, MOUTH_DIMS])) for b, m in train]
    if not pairs:
        raise ValueError("no training clips to fit the mouth map on")
    x, y = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])  # (N, 31), (N, 33)
    gram = x.T @ x
    lam = ridge * max(np.trace(gram) / len(gram), 1e-12)
    weight = np.linalg.solve(gram + lam * np.eye(len(gram)), x.T @ y)  # (31, 33)
    held = [(_centred(b[:, LIPSYNC_INDEX]), _centred(m[:, MOUTH_DIMS])) for b, m in held_out]
    out = {"weight": weight.astype(np.float32), "r2_train": np.array([_r2(x, y, weight)], np.float32)}
    if held:
        hx, hy = np.concatenate([h[0] for h in held]), np.concatenate([h[1] for h in held])
        out["r2_held_out"] = np.array([_r2(hx, hy, weight)], np.float32)
    return out


def _r2(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> float:
    """Variance of the (centred) mouth dims explained by x · weight, pooled over dims."""
    return float(1.0 - ((y - x @ weight) ** 2).sum() / max((y ** 2).sum(), 1e-12))


def mouth_delta(blendshapes: np.ndarray, rest: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(T, 52) blendshapes, the (52,) blendshapes at rest, W (31, 33) → (T, 33) raw deviation of MOUTH_DIMS."""
    idx = list(LIPSYNC_INDEX)
    return ((blendshapes[:, idx] - rest[idx]) @ weight).astype(np.float32)


def save_mouth_map(path: str | Path, fitted: dict[str, np.ndarray]) -> None:
    """Write a fitted map (weight and its R² figures) atomically."""
    from safetensors.numpy import save_file

    from talkhead.atomic import atomic_path

    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in fitted.items()}, str(tmp))


def load_mouth_map(path: str | Path) -> dict[str, np.ndarray]:
    """A saved map; ValueError when its weight is not (31, 33)."""
    from safetensors.numpy import load_file

    fitted = load_file(str(path))
    shape = fitted.get("weight", np.empty(0)).shape
    if shape != (len(LIPSYNC_INDEX), len(MOUTH_DIMS)):
        raise ValueError(f"{path}: mouth map weight {shape}, expected ({len(LIPSYNC_INDEX)}, {len(MOUTH_DIMS)})")
    return fitted
