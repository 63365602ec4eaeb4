"""Validation of the packed dataset with Great Expectations: alignment, finiteness, ranges, dtypes, rates.

`feature_table` reads every packed clip and makes one row per (clip, tensor) with its length,
the length its modality must have (rows per video frame × frames), NaN and Inf counts, min, max,
dtype and the modality's declared rate. A file that cannot be read gets one row with
`readable` false. `validate_features` runs the suite on that table and writes Data Docs.

Tolerances (rows): audio_hubert ±1 (2 per video frame), audio_mel ±2 (4 per frame), every face
modality exactly the frame count. Rates: audio_mel 100 Hz, audio_hubert 50 Hz, face modalities
the clip's fps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from talkhead.data.featurefile import FeatureFileError, read_features
from talkhead.gx import run_suites
from talkhead.vocab import ROWS_PER_FRAME

TOLERANCE = {"audio_mel": 2, "audio_hubert": 1}  # rows; face modalities: 0
RATE = {"audio_mel": 100.0, "audio_hubert": 50.0}  # Hz; face modalities: the clip's fps
DTYPES = {"float32", "float16", "uint8", "int32"}
# tensor key → (lowest, highest) plausible value; crop-pixel coordinates may leave the crop a little
RANGES = {"audio_mel/mel": (-24.0, 30.0), "blendshapes/coefficients": (0.0, 1.0), "face_mesh/found": (0, 1),
          "head_pose/euler": (-180.0, 180.0), "head_pose/scale": (0.0, np.inf)}
COLUMNS = ["clip", "file", "key", "modality", "readable", "dtype", "rows", "expected_rows", "aligned",
           "rate_hz", "rate_ok", "nan", "inf", "min", "max", "in_range"]


def _tensor_row(clip: str, file: str, key: str, value: np.ndarray, frames: int, fps: float,
                rates: dict[str, Any]) -> dict[str, Any]:
    """The statistics row of one time-major tensor."""
    modality = key.split("/", 1)[0]
    expected = ROWS_PER_FRAME.get(modality, 1) * frames
    finite = value[np.isfinite(value)] if value.dtype.kind == "f" else value
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (np.nan, np.nan)
    low, high = RANGES.get(key, (-np.inf, np.inf))
    rate = float(rates.get(modality, {}).get("rate_hz", "nan"))
    return {"clip": clip, "file": file, "key": key, "modality": modality, "readable": True, "dtype": str(value.dtype),
            "rows": int(value.shape[0]) if value.ndim else 0, "expected_rows": expected,
            "aligned": bool(value.ndim and abs(value.shape[0] - expected) <= TOLERANCE.get(modality, 0)),
            "rate_hz": rate, "rate_ok": bool(np.isclose(rate, RATE.get(modality, fps))),
            "nan": int(np.isnan(value).sum()) if value.dtype.kind == "f" else 0,
            "inf": int(np.isinf(value).sum()) if value.dtype.kind == "f" else 0,
            "min": lo, "max": hi, "in_range": bool(not finite.size or (lo >= low and hi <= high))}


def feature_table(packed: Sequence[Path]) -> pd.DataFrame:
    """One row per (clip, time-major tensor) of the packed files; unreadable files get a `readable: false` row."""
    rows = []
    for path in packed:
        try:
            tensors, meta = read_features(path)
        except FeatureFileError as exc:
            rows.append({"clip": Path(path).stem, "file": Path(path).name, "key": "", "modality": "",
                         "readable": False, "dtype": str(exc)[:200]})
            continue
        rates = json.loads(meta.get("modalities", "{}"))
        for key in sorted(tensors):
            if "/" not in key or key.startswith("reference/") or key.split("/", 1)[1].startswith("clip_"):
                continue  # segments, the reference image and per-clip tensors are not time series
            rows.append(_tensor_row(meta["clip"], Path(path).name, key, tensors[key], int(meta["frames"]),
                                    float(meta["fps"]), rates))
    return pd.DataFrame(rows, columns=COLUMNS)


def _expectations() -> list[Any]:
    """The contract of every (clip, tensor) row."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeInSet(column="readable", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="aligned", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="rate_ok", value_set=[True]),
        gxe.ExpectColumnValuesToBeBetween(column="nan", min_value=0, max_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="inf", min_value=0, max_value=0),
        gxe.ExpectColumnValuesToBeInSet(column="in_range", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="dtype", value_set=sorted(DTYPES)),
        gxe.ExpectColumnValuesToNotBeNull(column="clip"),
    ]


def validate_features(packed: Sequence[Path], out_dir: str | Path) -> dict[str, Any]:
    """Run the feature suite over the packed files; Data Docs and validation.json in `out_dir`."""
    table = feature_table(packed)
    summary = run_suites({"features": (table, _expectations())}, out_dir)
    summary["tensors"] = len(table)
    summary["modalities"] = modality_checks(table)
    return summary


def modality_checks(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per modality: tensors, and how many are aligned with the frames, at their rate, finite and in range
    (the dataset report's alignment table; written into validation.json)."""
    if table.empty:
        return {}
    unreadable = int((~table["readable"].astype(bool)).sum())
    table = table[table["readable"].astype(bool)]
    finite = (table["nan"].fillna(0) == 0) & (table["inf"].fillna(0) == 0)
    checks = pd.DataFrame({"modality": table["modality"], "tensors": 1, "aligned": table["aligned"].astype(bool),
                           "rate_ok": table["rate_ok"].astype(bool), "finite": finite,
                           "in_range": table["in_range"].astype(bool)})
    summed = checks.groupby("modality", sort=True).sum().astype(int)
    out = {modality: {k: int(v) for k, v in row.items()} for modality, row in summed.to_dict("index").items()}
    if unreadable:  # a packed file that could not be read counts as a tensor that passed nothing
        out["(unreadable file)"] = {"tensors": unreadable, "aligned": 0, "rate_ok": 0, "finite": 0, "in_range": 0}
    return out
