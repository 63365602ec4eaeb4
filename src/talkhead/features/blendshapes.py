"""ARKit-style blendshape targets measured geometrically from the 478-point MediaPipe face mesh.

Each of Apple's 52 ARFaceAnchor blendshapes gets one raw, scale-free measure of the mesh
(`raw_measures`); a per-speaker `Calibration` maps it to a [0, 1] coefficient (`solve`), and
`smooth_targets` is the optional ground-truth smoothing (γ, σ, fade) of the V3 face notes. The blendshapes
phase on one clip (`blendshapes_clip`) writes data/features/{clip}/blendshapes.safetensors
with `coefficients` (T, 52) float32 in [0, 1] in ARKit order (names in the metadata), and
`targets` (T, 52), the smoothed ground truth, when blendshapes.smooth_targets is on.

Face frame. Every frame is put in a face-aligned 2D frame before anything is measured: the origin
is the midpoint of the outer eye corners 33 and 263, the x axis runs from 33 to 263 (towards the
subject's left), y points down (chin side), and the unit is the outer-eye-corner distance |33-263|.
So the measures do not change with the crop's scale, translation or in-plane rotation (roll); yaw
and pitch are not undone (the per-speaker calibration absorbs a speaker's usual pose). z is unused.

Left/Right are the SUBJECT's, as in ARKit: in an un-mirrored frame the subject's left eye (263,
362, 386/374, iris 473) is on the image's right, the right eye (33, 133, 159/145, iris 468) on the
image's left. Below, `h(i) = -y(i)` is the height of point i above the eye line (which passes
through 33 and 263), s = -1 for Right and +1 for Left (so `s*x` points outwards), points are
given as Right / Left, and "mid" = mean of the inner lip midpoints 13 and 14.

| blendshape           | raw measure, bigger = more activated (landmarks R / L)                        |
|----------------------|-------------------------------------------------------------------------------|
| eyeBlink{R,L}        | -EAR: minus the mean gap of 3 lid pairs over the eye width: R 160-144,        |
|                      |   159-145, 158-153 over 33-133 / L 387-373, 386-374, 385-380 over 263-362     |
| eyeWide{R,L}         | upper lid above the eye's corner line, / eye width (159 / 386)                |
| eyeSquint{R,L}       | minus lower-lid depth below the corner line, / eye width (145 / 374)          |
| eyeLookDown{R,L}     | iris centre below the corner line, / eye width (468 / 473)                    |
| eyeLookUp{R,L}       | minus the eyeLookDown measure                                                 |
| eyeLookOut{R,L}      | s * (iris x - eye-centre x) / eye width (468 vs 33,133 / 473 vs 263,362)      |
| eyeLookIn{R,L}       | minus the eyeLookOut measure                                                  |
| jawOpen              | chin below the subnasale: y(152) - y(2)                                       |
| jawLeft / jawRight   | +x(152) / -x(152): the chin off the eye-corner midpoint                       |
| jawForward           | 0: NOT MEASURED (needs reliable depth; the mesh's z is a monocular guess)     |
| mouthClose           | the jawOpen measure minus the inner lip gap y(14) - y(13)                     |
| mouthFunnel          | inner lip gap / inner mouth width, 13-14 over 78-308 (also rises with "ah")   |
| mouthPucker          | outer lip thickness (0-13 plus 14-17) / corner width 61-291                   |
| mouthLeft/Right      | +/-(x(mid) - x(152)): the lips off the chin, so a jaw shift does not count    |
| mouthSmile{R,L}      | corner lift above the lip centre: y(mid) - y(corner) (61 / 291)               |
| mouthFrown{R,L}      | minus the mouthSmile measure                                                  |
| mouthDimple{R,L}     | corner half-width: s * (x(corner) - x(mid)) (61 / 291)                        |
| mouthStretch{R,L}    | corner half-width minus corner lift: out and down (61 / 291)                  |
| mouthRollLower       | minus lower-lip thickness y(17) - y(14)                                       |
| mouthRollUpper       | minus upper-lip thickness y(13) - y(0)                                        |
| mouthShrugLower      | lower lip above the chin: y(152) - y(17)                                      |
| mouthShrugUpper      | upper lip up towards the nose: -(y(0) - y(2))                                 |
| mouthPress{R,L}      | minus side lip thickness, outer height minus inner gap:                       |
|                      |   -((y(lo) - y(up)) - (y(ilo) - y(iup))), R 39,181,81,178 / L 269,405,311,402 |
| mouthLowerDown{R,L}  | side lower lip down towards the chin: -(y(152) - y(lo)) (181 / 405)           |
| mouthUpperUp{R,L}    | side upper lip up towards the nose: -(y(up) - y(2)) (39 / 269)                |
| browDown{R,L}        | minus mean height of inner and middle brow (107,66,105,55,65,52 / 336,296,    |
|                      |   334,285,295,282)                                                            |
| browInnerUp          | mean height of the inner brow ends, both sides (107, 55, 336, 285)            |
| browOuterUp{R,L}     | mean height of the outer brow end (70,46 / 300,276)                           |
| cheekPuff            | 0: NOT MEASURED (puffing is depth; the 2D face contour is too weak a cue)     |
| cheekSquint{R,L}     | height of the upper cheek under the eye (117 / 346)                           |
| noseSneer{R,L}       | height of the nose wing, ala (129 / 358)                                      |
| tongueOut            | 0: NOT MEASURED (the mesh has no tongue)                                      |

`calibrate` sets, per shape, neutral = a low percentile of the speaker's raw measure for shapes
whose rest pose is one end of what speech does (jaw and lip opening), or the median for shapes
whose rest is in the middle of their axis (gaze, brows, lip corners, ...), and span = a high
percentile minus neutral, floored by `SPAN_FLOOR` (so a speaker who never smiles does not get a
huge gain). `solve` is then clip((raw - neutral) / span, 0, 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from talkhead.config import BlendshapesConfig
from talkhead.data.featurefile import read_features, write_features
from talkhead.vocab import ARKIT_NAMES

VERSION = "geometric-1"
N_POINTS = 478

INDEX = {name: i for i, name in enumerate(ARKIT_NAMES)}

# Shapes with no landmark measure: their raw measure is 0 and so is their coefficient.
UNMEASURED = frozenset({"jawForward", "cheekPuff", "tongueOut"})
# Shapes whose rest pose is the low end of what the speaker does: neutral = NEUTRAL_PCT_REST_END.
REST_AT_END = frozenset({"jawOpen", "mouthClose", "mouthFunnel"})
NEUTRAL_PCT_REST_END = 5.0  # percentile of the speaker's raw measure taken as neutral (rest at one end)
NEUTRAL_PCT_AXIS = 50.0  # the same for every other shape (rest in the middle of its axis)
PEAK_PCT = 98.0  # percentile taken as full activation: span = peak - neutral

# Smallest span per shape, in the raw measure's units (face units or ratios): about the calmest
# range (98th percentile minus neutral) among eight real talking clips; for eyeBlink about 60% of a
# full closure. A shape a speaker barely uses so stays small instead of amplified noise. The
# unmeasured shapes get 1.0, which only keeps the division finite (their raw measure is 0).
_FLOOR_BY_PREFIX = {
    "eyeBlink": 0.15, "eyeWide": 0.04, "eyeSquint": 0.04, "eyeLookDown": 0.05, "eyeLookUp": 0.05,
    "eyeLookIn": 0.06, "eyeLookOut": 0.06, "jawOpen": 0.08, "jawLeft": 0.04, "jawRight": 0.04,
    "mouthClose": 0.04, "mouthFunnel": 0.15, "mouthPucker": 0.05, "mouthLeft": 0.04, "mouthRight": 0.04,
    "mouthSmile": 0.04, "mouthFrown": 0.04, "mouthDimple": 0.04, "mouthStretch": 0.05,
    "mouthRoll": 0.03, "mouthShrug": 0.03, "mouthPress": 0.03, "mouthLowerDown": 0.04,
    "mouthUpperUp": 0.03, "browDown": 0.03, "browInnerUp": 0.03, "browOuterUp": 0.03,
    "cheekSquint": 0.03, "noseSneer": 0.02, "jawForward": 1.0, "cheekPuff": 1.0, "tongueOut": 1.0,
}
SPAN_FLOOR = np.array(  # (52,)
    [next(v for k, v in _FLOOR_BY_PREFIX.items() if n.startswith(k)) for n in ARKIT_NAMES], np.float64)

# Landmarks per side (the subject's), outward sign s: the subject's left is +x in the face frame.
_SIDES = {
    "Right": dict(s=-1.0, outer=33, inner=133, lids=((160, 144), (159, 145), (158, 153)), iris=468,
                  brow=(107, 66, 105, 55, 65, 52), brow_inner=(107, 55), brow_outer=(70, 46),
                  corner=61, up=39, lo=181, iup=81, ilo=178, cheek=117, ala=129),
    "Left": dict(s=1.0, outer=263, inner=362, lids=((387, 373), (386, 374), (385, 380)), iris=473,
                 brow=(336, 296, 334, 285, 295, 282), brow_inner=(336, 285), brow_outer=(300, 276),
                 corner=291, up=269, lo=405, iup=311, ilo=402, cheek=346, ala=358),
}


def _align(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 478, 3) pixels -> (T, 478) x and (T, 478) y in the face frame (unit = |33-263|)."""
    xy = points[..., :2].astype(np.float64)  # (T, 478, 2)
    origin = (xy[:, 33] + xy[:, 263]) / 2  # (T, 2)
    axis = xy[:, 263] - xy[:, 33]  # (T, 2)
    size = np.linalg.norm(axis, axis=1, keepdims=True)  # (T, 1)
    size[size <= 0] = np.nan
    ux = axis / size  # (T, 2) unit vector towards the subject's left
    uy = np.stack([-ux[:, 1], ux[:, 0]], axis=1)  # (T, 2) perpendicular, towards the chin
    rel = xy - origin[:, None]  # (T, 478, 2)
    x = np.einsum("tpc,tc->tp", rel, ux) / size
    y = np.einsum("tpc,tc->tp", rel, uy) / size
    return x, y


def _eye(x: np.ndarray, y: np.ndarray, k: dict) -> dict[str, np.ndarray]:
    """Blink, wide, squint and gaze measures of one eye, each (T,)."""
    width = np.hypot(x[:, k["outer"]] - x[:, k["inner"]], y[:, k["outer"]] - y[:, k["inner"]])  # (T,)
    gap = np.mean([y[:, lo] - y[:, up] for up, lo in k["lids"]], axis=0)  # (T,)
    line = (y[:, k["outer"]] + y[:, k["inner"]]) / 2  # (T,) the eye's corner line
    centre = (x[:, k["outer"]] + x[:, k["inner"]]) / 2  # (T,)
    upper, lower = k["lids"][1]
    down = (y[:, k["iris"]] - line) / width
    out = k["s"] * (x[:, k["iris"]] - centre) / width
    return {"eyeBlink": -gap / width, "eyeWide": (line - y[:, upper]) / width,
            "eyeSquint": -(y[:, lower] - line) / width, "eyeLookDown": down, "eyeLookUp": -down,
            "eyeLookOut": out, "eyeLookIn": -out}


def _mouth_side(x: np.ndarray, y: np.ndarray, k: dict) -> dict[str, np.ndarray]:
    """Lip-corner, side-lip, brow, cheek and nose measures of one side, each (T,)."""
    mid_x = (x[:, 13] + x[:, 14]) / 2  # (T,)
    mid_y = (y[:, 13] + y[:, 14]) / 2  # (T,)
    c = k["corner"]
    lift = mid_y - y[:, c]
    half = k["s"] * (x[:, c] - mid_x)
    side_thickness = (y[:, k["lo"]] - y[:, k["up"]]) - (y[:, k["ilo"]] - y[:, k["iup"]])
    return {
        "mouthSmile": lift, "mouthFrown": -lift, "mouthDimple": half, "mouthStretch": half - lift,
        "mouthPress": -side_thickness, "mouthLowerDown": -(y[:, 152] - y[:, k["lo"]]),
        "mouthUpperUp": -(y[:, k["up"]] - y[:, 2]),
        "browDown": np.mean([y[:, i] for i in k["brow"]], axis=0),
        "browOuterUp": -np.mean([y[:, i] for i in k["brow_outer"]], axis=0),
        "cheekSquint": -y[:, k["cheek"]], "noseSneer": -y[:, k["ala"]],
    }


def _central(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Jaw, central-lip and inner-brow measures, each (T,)."""
    jaw = y[:, 152] - y[:, 2]  # (T,) chin below the subnasale
    lip_gap = y[:, 14] - y[:, 13]
    inner_width = np.hypot(x[:, 308] - x[:, 78], y[:, 308] - y[:, 78])
    corner_width = np.hypot(x[:, 291] - x[:, 61], y[:, 291] - y[:, 61])
    lips = (y[:, 13] - y[:, 0]) + (y[:, 17] - y[:, 14])  # outer lip thickness, both lips
    shift = (x[:, 13] + x[:, 14]) / 2 - x[:, 152]
    inner_brows = [y[:, i] for side in _SIDES.values() for i in side["brow_inner"]]
    return {
        "jawOpen": jaw, "jawLeft": x[:, 152], "jawRight": -x[:, 152],
        "mouthClose": jaw - lip_gap, "mouthFunnel": lip_gap / inner_width,
        "mouthPucker": lips / corner_width, "mouthLeft": shift, "mouthRight": -shift,
        "mouthRollLower": -(y[:, 17] - y[:, 14]), "mouthRollUpper": -(y[:, 13] - y[:, 0]),
        "mouthShrugLower": y[:, 152] - y[:, 17], "mouthShrugUpper": -(y[:, 0] - y[:, 2]),
        "browInnerUp": -np.mean(inner_brows, axis=0),
    }


def raw_measures(points: np.ndarray) -> np.ndarray:
    """(T, 478, 3) landmarks -> (T, 52) raw geometric measures, one per ARKit name, scale-free."""
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[1:] != (N_POINTS, 3):
        raise ValueError(f"expected (T, {N_POINTS}, 3) landmarks, got {points.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        x, y = _align(points)
        measures = _central(x, y)
        for side, k in _SIDES.items():
            measures.update({name + side: v for name, v in {**_eye(x, y, k), **_mouth_side(x, y, k)}.items()})
    out = np.zeros((len(points), len(ARKIT_NAMES)), np.float64)  # (T, 52)
    for name, value in measures.items():
        out[:, INDEX[name]] = value
    out[~np.isfinite(out).all(axis=1)] = np.nan  # a lost (or degenerate) mesh is a NaN row
    return out.astype(np.float32)


@dataclass(frozen=True)
class Calibration:
    """One speaker's neutral raw measure and activation span per ARKit shape, each (52,)."""

    neutral: np.ndarray  # (52,)
    span: np.ndarray  # (52,) > 0
    frames: int = 0  # how many frames it was estimated from
    version: str = VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (lists of floats, keyed in ARKIT_NAMES order)."""
        return {"version": self.version, "frames": int(self.frames), "names": list(ARKIT_NAMES),
                "neutral": [float(v) for v in self.neutral], "span": [float(v) for v in self.span]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """Inverse of to_dict; refuses another formula version or another shape list."""
        if data.get("version") != VERSION:
            raise ValueError(f"calibration is for blendshapes {data.get('version')!r}, not {VERSION!r}")
        if list(data.get("names", ARKIT_NAMES)) != list(ARKIT_NAMES):
            raise ValueError("calibration shape names differ from ARKIT_NAMES")
        neutral = np.asarray(data["neutral"], np.float64)
        span = np.asarray(data["span"], np.float64)
        if neutral.shape != (len(ARKIT_NAMES),) or span.shape != neutral.shape or not (span > 0).all():
            raise ValueError("calibration needs 52 neutral values and 52 positive spans")
        return cls(neutral=neutral, span=span, frames=int(data.get("frames", 0)), version=VERSION)


def calibrate(raw: np.ndarray) -> Calibration:
    """Per-speaker neutral and range from the raw measures of that speaker's frames (T, 52)."""
    raw = np.asarray(raw, np.float64)
    if raw.ndim != 2 or raw.shape[1] != len(ARKIT_NAMES):
        raise ValueError(f"expected (T, {len(ARKIT_NAMES)}) raw measures, got {raw.shape}")
    good = raw[np.isfinite(raw).all(axis=1)]  # (N, 52)
    if not len(good):
        raise ValueError("no frame with a face mesh to calibrate from")
    rest_end = np.array([n in REST_AT_END for n in ARKIT_NAMES])
    low, mid, peak = np.percentile(good, [NEUTRAL_PCT_REST_END, NEUTRAL_PCT_AXIS, PEAK_PCT], axis=0)
    neutral = np.where(rest_end, low, mid)  # (52,)
    span = np.maximum(peak - neutral, SPAN_FLOOR)  # (52,)
    return Calibration(neutral=neutral, span=span, frames=len(good))


def solve(raw: np.ndarray, cal: Calibration) -> np.ndarray:
    """(T, 52) raw measures -> (T, 52) float32 coefficients in [0, 1] (NaN rows stay NaN)."""
    raw = np.asarray(raw, np.float64)
    coeffs = np.clip((raw - cal.neutral) / cal.span, 0.0, 1.0)  # (T, 52); NaN passes through clip
    coeffs[~np.isfinite(raw).all(axis=1)] = np.nan
    return coeffs.astype(np.float32)


def smooth_targets(coeffs: np.ndarray, gamma: float, sigma: float, fade: int) -> np.ndarray:
    """Optional ground-truth smoothing: Gaussian of `sigma` frames, then c ** gamma, then end fades.

    Implemented (the V3 notes name γ, σ and fade with defaults 0.3, 30, 96 but do not define them):
    1. NaN rows are filled by linear interpolation between found frames (held at the ends);
    2. every channel is smoothed over time with a Gaussian of std `sigma` frames (0 = off);
    3. the result is clipped to [0, 1] and raised to the power `gamma` (1 = off; < 1 lifts small
       values, e.g. 0.1 ** 0.3 = 0.50, > 1 suppresses them);
    4. it is multiplied by a linear ramp min(1, t / fade, (T - 1 - t) / fade), so the first and
       last frames are 0 and full strength is reached `fade` frames in from each end (0 = off);
    5. the rows that were NaN are NaN again. Returns float32 (T, 52).
    """
    if gamma <= 0 or sigma < 0 or fade < 0:
        raise ValueError(f"need gamma > 0, sigma >= 0, fade >= 0; got {gamma}, {sigma}, {fade}")
    coeffs = np.asarray(coeffs, np.float64)  # (T, C)
    lost = np.isnan(coeffs).any(axis=1)  # (T,)
    if lost.all():
        return coeffs.astype(np.float32)
    out = coeffs.copy()
    if lost.any():
        t = np.arange(len(out))
        for c in range(out.shape[1]):
            out[:, c] = np.interp(t, t[~lost], coeffs[~lost, c])
    if sigma > 0:
        out = gaussian_filter1d(out, sigma, axis=0, mode="nearest")
    out = np.clip(out, 0.0, 1.0) ** gamma
    if fade > 0:
        t = np.arange(len(out), dtype=np.float64)
        ramp = np.minimum(1.0, np.minimum(t, len(out) - 1 - t) / fade)  # (T,)
        out *= ramp[:, None]
    out[lost] = np.nan
    return out.astype(np.float32)


def blendshapes_clip(mesh_file: Path, calibration: Path, out: Path, cfg: BlendshapesConfig) -> dict:
    """Solve one clip's blendshapes with its speaker's calibration; return the metadata."""
    tensors, meta = read_features(mesh_file, keys=["points"])
    cal = Calibration.from_dict(json.loads(calibration.read_text(encoding="utf-8")))
    coeffs = solve(raw_measures(tensors["points"]), cal)  # (T, 52)
    out_tensors = {"coefficients": coeffs}
    if cfg.smooth_targets:
        out_tensors["targets"] = smooth_targets(coeffs, cfg.gamma, cfg.sigma, cfg.fade).astype(np.float32)
    info = {"clip": meta["clip"], "modality": "blendshapes", "rate_hz": meta["rate_hz"], "frames": meta["frames"],
            "extractor": "geometric-arkit-52", "version": VERSION, "checkpoint": f"calibration:{calibration.name}",
            "names": ",".join(ARKIT_NAMES)}
    write_features(out, out_tensors, info)
    return info
