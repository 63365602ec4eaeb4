"""Text → valence, arousal, dominance with the trained MicroAlbert, and VAD → the faces' emotion conditioning.

`VadPredictor` runs a model folder (torch) or an exported graph (onnxruntime, the folder's tokenizer.json
beside it). `emotion_weights` turns a VAD point into weights over MoDA's eight emotions: a Gaussian kernel
on the distance to each emotion's VAD point (talkhead.vocab.EMOTION_VAD), normalised; `emotion_label` is
the heaviest. With the model's calibration (the mean and standard deviation of the teacher's scores over
the training text, in config.json), the point is first placed relative to what is typical for the teacher,
0.5 + (v − mean) / (4 · std) per axis, clipped to [0, 1]: the corpus's ±2 standard deviations span the
emotion space. A teacher whose scores crowd the middle (the default's do) would otherwise call most texts
neutral or sad. `--emotion auto` uses them: the motion DiT (MoDA) takes the label, V3 Face takes the
weighted mean of its emotion embeddings as its `cond` vector (talkhead.infer.v3face; docs/microalbert.md).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from talkhead.vocab import EMOTION_VAD, VAD_AXES

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path("data/models/microalbert")  # what `make demo` trains
KERNEL_WIDTH = 0.12  # σ of the VAD → emotion kernel, in VAD units ([0, 1] per axis)


class VadPredictor:
    """A trained MicroAlbert (model folder, torch) or its ONNX export (a .onnx file with tokenizer.json beside it)."""

    def __init__(self, source: str | Path = DEFAULT_MODEL, threads: int = 1) -> None:
        from talkhead.models.microalbert_tokenizer import load_tokenizer

        source = Path(source)
        if source.suffix == ".onnx":
            from talkhead.export.microalbert_onnx import session

            record = json.loads((source.parent / "export.json").read_text(encoding="utf-8")) \
                if (source.parent / "export.json").is_file() else {}
            self.max_tokens = int(record.get("max_tokens", 64))
            self.session, self.model = session(source, threads), None
            self.tokenizer = load_tokenizer(source.parent)
            self.teacher = record.get("teacher", "unknown")
            self.calibration = calibration_of(record)
        else:
            from talkhead.models.microalbert import load_model

            if not (source / "config.json").is_file():
                raise FileNotFoundError(f"{source}: no trained MicroAlbert there (config.json, best.safetensors, "
                                        "tokenizer.json); `make demo` trains one into data/models/microalbert")
            self.model, meta = load_model(source)
            self.session, self.max_tokens = None, int(meta["spec"]["max_tokens"])
            self.tokenizer = load_tokenizer(source)
            self.teacher = meta.get("teacher", "unknown")
            self.calibration = calibration_of(meta)

    def predict(self, texts: list[str]) -> np.ndarray:
        """(N, 3) valence, arousal, dominance in [0, 1]."""
        from talkhead.models.microalbert_tokenizer import encode

        if not texts:
            return np.zeros((0, len(VAD_AXES)), np.float32)
        ids, mask = encode(self.tokenizer, texts, self.max_tokens)
        if self.session is not None:
            return self.session.run(["vad"], {"input_ids": ids, "attention_mask": mask})[0]
        import torch

        with torch.no_grad():
            return self.model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

    def vad(self, text: str) -> dict[str, float]:
        """{valence, arousal, dominance} of one text."""
        if not text.strip():
            raise ValueError("talkhead vad: empty text")
        return dict(zip(VAD_AXES, (round(float(x), 4) for x in self.predict([text])[0])))


Calibration = tuple[np.ndarray, np.ndarray] | None  # (mean (3,), std (3,)) of the teacher's training scores


def calibration_of(record: dict) -> Calibration:
    """(mean, std) from a config.json / export.json, or None (a model trained before they were recorded)."""
    if record.get("vad_mean") is None or record.get("vad_std") is None:
        return None
    return np.asarray(record["vad_mean"], np.float64), np.maximum(np.asarray(record["vad_std"], np.float64), 1e-3)


def calibrated(vad: dict[str, float] | np.ndarray, calibration: Calibration = None) -> np.ndarray:
    """(3,) VAD placed relative to the teacher's typical scores (see the module doc); unchanged without one."""
    point = np.array([vad[a] for a in VAD_AXES] if isinstance(vad, dict) else vad, np.float64)
    if calibration is None:
        return point
    mean, std = calibration
    return np.clip(0.5 + (point - mean) / (4 * std), 0.0, 1.0)


def emotion_weights(vad: dict[str, float] | np.ndarray, calibration: Calibration = None,
                    width: float = KERNEL_WIDTH) -> dict[str, float]:
    """Weights over MoDA's eight emotions (summing to 1) of a VAD point (calibrated first when a calibration is
    given): exp(−d² / 2σ²) of its distance d to each EMOTION_VAD point."""
    point = calibrated(vad, calibration)
    names = list(EMOTION_VAD)
    d2 = ((np.array([EMOTION_VAD[n] for n in names]) - point) ** 2).sum(1)
    w = np.exp(-(d2 - d2.min()) / (2 * width * width))
    return dict(zip(names, (float(x) for x in w / w.sum())))


def emotion_label(vad: dict[str, float] | np.ndarray, calibration: Calibration = None) -> str:
    """The emotion with the largest weight (the nearest EMOTION_VAD point)."""
    weights = emotion_weights(vad, calibration)
    return max(weights, key=weights.get)
