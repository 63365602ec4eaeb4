"""V3 Face's export (phase `export_v3face`): the trained model + its calibrated streaming crisp_mouth → one ONNX graph.

In export (layer 5): it calibrates on talkhead.infer.v3face's predictions (layer 5), then runs
talkhead.export.v3face_onnx, the deployable graph's module, which stays free of the dataset and params.

Reads data/models/v3face/expression (config.json, best.safetensors) and the packed dataset; writes
data/export/v3face/: `v3face.onnx` (inputs audio, cond, prev_smoothed, prev_audio, prev_cond;
outputs blendshapes, next_smoothed, next_audio, next_cond; dynamic batch and time), its int8
twin `v3face.int8.onnx` when the fp32 file is larger than `quantize_above_mb`, and `export.json`
(calibration, sizes, and the emotion embedding table: the graph takes `cond` as a vector).

The streaming filter's α, edge0 and edge1 are calibrated on the model's own predictions for the
dataset's clips (real speech): they are chosen so that the causal, stateful filter matches the
offline `crisp` filter (Gaussian pre-smoothing + a gate relative to the utterance's peak) as
closely as it can; the remaining mean absolute difference ε is recorded. The ONNX graph is checked
against torch in onnxruntime at two chunk lengths and batch sizes (max abs diff ≤ 1e-4, else the
stage fails).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from talkhead.atomic import atomic_dir, write_json
from talkhead.config import V3faceExportConfig
from talkhead.data.featurefile import read_features

log = logging.getLogger(__name__)

MAX_DIFF = 1e-4  # ONNX vs torch, the export's acceptance bound
STREAMING_EPSILON = 0.02  # stated bound on mean |streaming crisp − offline crisp| over the lipsync channels
CALIBRATION_CLIPS = 32  # predicted tracks used to calibrate the streaming filter (bounded cost)


def predict_tracks(model, metadata: Path, audio: str, limit: int = CALIBRATION_CLIPS) -> dict[str, np.ndarray]:
    """clip → (T, 52) offline model predictions for up to `limit` packed clips of the dataset."""
    from talkhead.infer.v3face import run_model
    from talkhead.models.v3face import audio_features
    from talkhead.vocab import AUDIO_KEYS

    key = AUDIO_KEYS[audio]
    table = pd.read_parquet(metadata).sort_values("clip").head(limit)
    tracks = {}
    for _, row in table.iterrows():
        tensors, _ = read_features(metadata.parent / row["file"], keys=[key])
        x = audio_features(torch.from_numpy(tensors[key].astype(np.float32))[None], audio)[0]  # (rows·T, D)
        tracks[row["clip"]] = run_model(model, x, str(row["emotion"]))  # (T, 52)
    return tracks


def export_v3face(model_dir: Path, metadata: Path, out: Path, cfg: V3faceExportConfig) -> dict:
    """Calibrate, export, verify and (when large) quantize; write the folder `out`; return export.json."""
    from talkhead.export import crisp, v3face_onnx
    from talkhead.models.v3face import load_model

    meta = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    model = load_model(model_dir)
    tracks = predict_tracks(model, metadata, meta["audio"])
    if not tracks:
        raise ValueError(f"{metadata}: no packed clip to calibrate the streaming filter on")
    fit = crisp.calibrate_streaming(list(tracks.values()), cfg.crisp_sigma, cfg.crisp_threshold, cfg.crisp_scale)
    log.info("streaming crisp calibrated on %d clips: alpha %.3f, edges %.3f-%.3f, mean |stream - offline| %.4f",
             len(tracks), fit["alpha"], fit["edge0"], fit["edge1"], fit["error"])
    if fit["error"] > STREAMING_EPSILON:
        log.warning("streaming crisp differs from the offline filter by %.4f on average (stated bound %.2f)",
                    fit["error"], STREAMING_EPSILON)
    deployable = v3face_onnx.V3FaceDeployable(model, fit["alpha"], fit["edge0"], fit["edge1"], cfg.crisp_scale).eval()
    audio_dim, cond_dim = int(meta["audio_dim"]), int(meta["cond_dim"])
    with atomic_dir(out) as tmp:
        onnx_path = v3face_onnx.export_onnx(deployable, tmp / "v3face.onnx", audio_dim, cond_dim, cfg.opset)
        diff = v3face_onnx.verify_onnx(onnx_path, deployable, audio_dim, cond_dim)
        if diff > MAX_DIFF:
            raise RuntimeError(f"ONNX output differs from torch by {diff:.2e} (> {MAX_DIFF})")
        int8 = v3face_onnx.quantize_if_large(onnx_path, cfg.quantize_above_mb)
        record = {"model": str(model_dir), "model_config": meta.get("spec_name"), "audio": meta["audio"],
                  "audio_dim": audio_dim, "audio_rows": model.audio_rows, "cond_dim": cond_dim,
                  "context_frames": model.context, "latency_frames": model.lookahead,
                  "emotion_cond": [[round(float(v), 8) for v in row] for row in model.emotion.embed.weight.tolist()],
                  "streaming_crisp": {k: round(float(fit[k]), 6) for k in ("alpha", "edge0", "edge1")} |
                  {"scale": cfg.crisp_scale, "mean_abs_error_vs_offline": round(float(fit["error"]), 6),
                   "epsilon": STREAMING_EPSILON,
                   "calibration_clips": sorted(tracks)},
                  "offline_crisp": {"sigma": cfg.crisp_sigma, "threshold": cfg.crisp_threshold,
                                    "scale": cfg.crisp_scale},
                  "onnx": {"file": onnx_path.name, "mb": round(onnx_path.stat().st_size / 2**20, 3),
                           "max_abs_diff_vs_torch": float(diff), "opset": cfg.opset},
                  "int8": None if int8 is None else {"file": int8.name, "mb": round(int8.stat().st_size / 2**20, 3)}}
        write_json(tmp / "export.json", record)
    return record
