"""V3 Face inference: any audio file → 52 ARKit blendshapes per frame, from the torch model or the ONNX graph.

Audio of any format, sample rate and channel count that FFmpeg (PyAV) reads is decoded to 16 kHz
mono, turned into the log-mel the model was trained on (talkhead.features.mel: 4 rows per 25 fps
frame) and run through either
- the trained model folder (data/models/v3face/expression): one offline pass, then optionally the
  offline `crisp_mouth` filter (Gaussian pre-smoothing + peak-relative gate), or
- the exported graph (data/export/v3face/v3face.onnx with its export.json): streamed in 40 ms
  chunks as a deployment would, its streaming crisp_mouth already inside; the graph's fixed
  latency (lookahead frames) is flushed with silence and removed, so frame k is frame k.
The 25 fps result is resampled to the requested rate by linear interpolation in time.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import torch

from talkhead.features import mel
from talkhead.media.decode import decode_audio
from talkhead.vocab import ARKIT_NAMES, EMOTIONS, emotion_id

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path("data/models/v3face/expression")  # what `make demo` trains (the expression phase)
FPS = 25  # the model's frame rate
SAMPLE_RATE = 16000
CHUNK_FRAMES = 1  # ONNX streaming chunk: one 40 ms frame


def audio_mel(path: str | Path) -> tuple[np.ndarray, int]:
    """(log-mel (4T, 80) float32, T video frames at 25 fps) of an audio (or video) file."""
    samples = decode_audio(path, SAMPLE_RATE)
    if samples is None:
        raise ValueError(f"{path}: no audio stream")
    frames = len(samples) * FPS // SAMPLE_RATE
    if frames < 1:
        raise ValueError(f"{path}: shorter than one 40 ms frame ({len(samples)} samples at 16 kHz)")
    return mel.log_mel(samples, frames), frames


def emotion_mix(emotion: str | dict[str, float]) -> np.ndarray:
    """(9,) weights over talkhead.vocab.EMOTIONS of a label (one-hot) or of {label: weight} (e.g. from
    talkhead.infer.vad.emotion_weights, MicroAlbert's VAD), normalised to sum 1."""
    w = np.zeros(len(EMOTIONS), np.float64)
    if isinstance(emotion, str):
        w[emotion_id(emotion)] = 1.0
        return w
    for label, weight in emotion.items():
        w[emotion_id(label)] += float(weight)
    if w.sum() <= 0:
        raise ValueError(f"emotion weights {emotion!r} sum to zero")
    return w / w.sum()


def cond_vector(table: np.ndarray, emotion: str | dict[str, float]) -> np.ndarray:
    """(C,) V3 Face `cond` of an emotion: the weighted mean of the rows of its (9, C) emotion embedding table (a
    label gives its own row exactly)."""
    w = emotion_mix(emotion)
    if isinstance(emotion, str):
        return np.asarray(table[int(np.argmax(w))], np.float32)
    return (w @ np.asarray(table, np.float64)).astype(np.float32)


def run_model(model, audio: torch.Tensor, emotion: str | dict[str, float] = "none") -> np.ndarray:
    """One offline pass of a loaded V3Face: audio (rows·T, D) float32 features → (T, 52) blendshapes; `emotion` a
    label or weights over labels (talkhead.infer.vad)."""

    frames = audio.shape[0] // model.audio_rows
    with torch.inference_mode():
        if isinstance(emotion, str):
            cond = model.emotion.cond(torch.tensor([emotion_id(emotion)]), frames)  # (1, T, C)
        else:
            vec = torch.from_numpy(cond_vector(model.emotion.embed.weight.detach().numpy(), emotion))  # (C,)
            cond = vec[None, None].expand(1, frames, -1)
        return model(audio[None], cond)[0].numpy()  # (T, 52)


def predict_model(model_dir: str | Path, mel_rows: np.ndarray, emotion: str | dict[str, float] = "none") -> np.ndarray:
    """(4T, 80) log-mel → (T, 52) blendshapes from a trained V3 Face folder (one offline pass)."""
    from talkhead.models.v3face import load_model

    meta = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    if meta.get("audio") != "audio_mel":
        raise ValueError(f"{model_dir}: the model reads {meta.get('audio')}; this tool computes log-mel only")
    return run_model(load_model(model_dir), torch.from_numpy(mel_rows), emotion)


def onnx_session(onnx_path: str | Path):
    """A one-thread onnxruntime session of an exported graph (as a deployment runs it)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def predict_onnx(onnx_path: str | Path, mel_rows: np.ndarray, emotion: str | dict[str, float] = "none",
                 chunk_frames: int = CHUNK_FRAMES,
                 session=None, record: dict | None = None) -> np.ndarray:
    """(rows·T, D) audio features → (T, 52) streamed through the exported graph (streaming crisp_mouth inside).

    `record` is the export's export.json (read beside the graph when None); `session` may be reused
    across calls. The result does not depend on `chunk_frames` (the graph carries its state).
    """
    from talkhead.export.v3face_onnx import stream_onnx

    onnx_path = Path(onnx_path)
    if record is None:
        record = json.loads((onnx_path.parent / "export.json").read_text(encoding="utf-8"))
    rows, latency = int(record["audio_rows"]), int(record["latency_frames"])
    frames = len(mel_rows) // rows
    cond_vec = cond_vector(np.asarray(record["emotion_cond"], np.float32), emotion)  # (C,)
    audio = np.concatenate([mel_rows, np.zeros((rows * latency, mel_rows.shape[1]), np.float32)])  # flush
    cond = np.repeat(cond_vec[None], frames + latency, axis=0)
    out = stream_onnx(session or onnx_session(onnx_path), audio, cond, chunk_frames)  # (T + L, 52)
    return out[latency:latency + frames]


def resample(blendshapes: np.ndarray, fps: int) -> np.ndarray:
    """(T, 52) at 25 fps → (round(T · fps / 25), 52) by linear interpolation in time."""
    if fps == FPS:
        return blendshapes
    n = max(1, int(round(len(blendshapes) * fps / FPS)))
    src = np.arange(len(blendshapes)) / FPS
    dst = np.arange(n) / fps
    return np.stack([np.interp(dst, src, blendshapes[:, c]) for c in range(blendshapes.shape[1])], 1)


def write_csv(path: str | Path, blendshapes: np.ndarray, fps: int) -> None:
    """One row per frame: frame, time_s and the 52 ARKit names as columns; written atomically (a killed
    run leaves the previous file, or none, never a truncated one)."""
    from talkhead.atomic import atomic_path

    with atomic_path(path, suffix=".csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["frame", "time_s", *ARKIT_NAMES])
        for i, row in enumerate(blendshapes):
            writer.writerow([i, f"{i / fps:.4f}", *(f"{v:.5f}" for v in row)])
