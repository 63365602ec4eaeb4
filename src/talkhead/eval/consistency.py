"""Long-sequence consistency of generated talking heads: identity and structure drift at growing lengths.

DualForce's claim (the user's plan, phase 5: "long-sequence consistency tests, 32/128/256/512 frames")
is that the structure tower keeps the face's 3D shape and identity stable in autoregressive
generation. Measured at each length L on the last `tail` generated frames before L, against the
first frame (the reference the generation started from):
  landmark_shape_drift  mean distance per keypoint between the 21 keypoints of the generated
                        structure (the canonical face's keypoints + the 63 expression offsets of the
                        talkhead.features.motion layout) and the reference's, after removing each
                        shape's centroid and scale (so head motion and zoom do not count; a drifting
                        face shape does), in units of the shape's RMS radius.
  first_frame_psnr      PSNR (dB) of the decoded frames against the first frame: high when the
                        video keeps the reference's appearance (it also drops with honest motion, so
                        compare lengths, not absolute values).
  first_frame_latent_cos cosine similarity of the frames' video latents to the first frame's latent.
The drift of a method is the change of these numbers from the shortest to the longest length; the
real clip's own landmark-shape drift (talking moves the lips) is the floor to read them against.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from talkhead.atomic import atomic_path

EXP = slice(0, 63)  # the 21 expression keypoints × xyz of the 70-d motion
COLUMNS = ("landmark_shape_drift", "first_frame_psnr", "first_frame_latent_cos")


def _check_lengths(lengths: Sequence[int], n: int, tail: int) -> list[int]:
    """Sorted lengths, each within the sequence and at least `tail` + 1 frames long."""
    out = sorted(int(x) for x in lengths)
    if not out or out[0] <= tail or out[-1] > n:
        raise ValueError(f"lengths {out} must lie in ({tail}, {n}] (tail {tail}, {n} frames generated)")
    return out


def normalised_shape(motion: np.ndarray) -> np.ndarray:
    """(…, 70) motion → (…, 21, 3) keypoints in the canonical face (its keypoints + the expression offsets),
    centred and scaled to unit RMS radius."""
    from talkhead.features.canonical import canonical_face
    from talkhead.features.motion import KEYPOINTS

    offsets = np.asarray(motion, np.float64)[..., EXP].reshape(*np.shape(motion)[:-1], 21, 3)
    pts = canonical_face()[KEYPOINTS].astype(np.float64) + offsets
    pts = pts - pts.mean(-2, keepdims=True)
    scale = np.sqrt((pts ** 2).sum(-1).mean(-1))[..., None, None]
    return pts / np.maximum(scale, 1e-9)


def landmark_shape_drift(motion: np.ndarray, lengths: Sequence[int], tail: int = 8) -> dict[int, float]:
    """{L: mean per-keypoint distance of the normalised shapes of frames [L − tail, L) to frame 0's}."""
    lengths = _check_lengths(lengths, len(motion), tail)
    shapes = normalised_shape(motion)  # (N, 21, 3)
    dist = np.linalg.norm(shapes - shapes[0], axis=-1).mean(-1)  # (N,)
    return {n: float(dist[n - tail:n].mean()) for n in lengths}


def first_frame_psnr(frames: np.ndarray, lengths: Sequence[int], tail: int = 8) -> dict[int, float]:
    """{L: mean PSNR (dB) of uint8 frames [L − tail, L) (N, H, W, 3) against frame 0}."""
    lengths = _check_lengths(lengths, len(frames), tail)
    x = np.asarray(frames, np.float64)
    mse = ((x - x[0]) ** 2).reshape(len(x), -1).mean(1)  # (N,)
    psnr = 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-10))
    return {n: float(psnr[n - tail:n].mean()) for n in lengths}


def first_frame_latent_cos(latents: np.ndarray, lengths: Sequence[int], tail: int = 8) -> dict[int, float]:
    """{L: mean cosine similarity of latents [L − tail, L) (N, …) to latent 0}."""
    lengths = _check_lengths(lengths, len(latents), tail)
    z = np.asarray(latents, np.float64).reshape(len(latents), -1)
    cos = z @ z[0] / np.maximum(np.linalg.norm(z, axis=1) * np.linalg.norm(z[0]), 1e-12)  # (N,)
    return {n: float(cos[n - tail:n].mean()) for n in lengths}


def consistency_table(motion: np.ndarray, frames: np.ndarray, latents: np.ndarray, lengths: Sequence[int],
                      tail: int = 8) -> pd.DataFrame:
    """One row per length: length and the three measures of one generated sequence."""
    measures = {"landmark_shape_drift": landmark_shape_drift(motion, lengths, tail),
                "first_frame_psnr": first_frame_psnr(frames, lengths, tail),
                "first_frame_latent_cos": first_frame_latent_cos(latents, lengths, tail)}
    rows = [{"length": n, **{k: round(v[n], 6) for k, v in measures.items()}} for n in sorted(lengths)]
    return pd.DataFrame(rows, columns=["length", *COLUMNS])


def mean_table(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The per-length mean of several sequences' tables (same lengths)."""
    if not tables:
        raise ValueError("no consistency tables to average")
    stacked = pd.concat(tables)
    return stacked.groupby("length", as_index=False)[list(COLUMNS)].mean().round(6)


def drift_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Flat metrics: each measure at each length (`<measure>_<L>`), and its change from the first to the last length."""
    out = {f"{c}_{int(r['length'])}": float(r[c]) for _, r in table.iterrows() for c in COLUMNS}
    for c in COLUMNS:
        out[f"{c}_change"] = float(table[c].iloc[-1] - table[c].iloc[0])
    return out


def plot_consistency(table: pd.DataFrame, out_png: str | Path, title: str = "") -> None:
    """A PNG with one panel per measure against the generated length (log-scaled axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(COLUMNS), figsize=(4 * len(COLUMNS), 3.2))
    for ax, column in zip(axes, COLUMNS):
        ax.plot(table["length"], table[column], marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("generated frames")
        ax.set_title(column, fontsize=9)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)
