"""Face detector backends by name, as `faces.detector` in params.yaml chooses them."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Protocol

import numpy as np

from talkhead.faces.types import Detection


class FaceDetector(Protocol):
    """What every backend provides."""

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in one (H, W, 3) uint8 RGB frame, best score first."""


BACKENDS = ("mediapipe", "retinaface")


def make_detector(name: str, score_threshold: float, retinaface: dict | None = None) -> FaceDetector:
    """Build the backend `name`; `retinaface` holds its params (weights, network, device)."""
    if name == "mediapipe":
        from talkhead.faces.mediapipe_backend import MediaPipeDetector

        return MediaPipeDetector(score_threshold=score_threshold)
    if name == "retinaface":
        from talkhead.faces.retinaface import RetinaFaceDetector

        opts = dict(retinaface or {})
        if not opts.get("weights"):
            raise ValueError("faces.detector is 'retinaface' but faces.retinaface.weights is empty: "
                             "set it to the path of mobilenet0.25_Final.pth or Resnet50_Final.pth")
        return RetinaFaceDetector(opts["weights"], network=opts.get("network", "mobilenet0.25"),
                                  device=opts.get("device", "cpu"), score_threshold=score_threshold)
    raise ValueError(f"unknown face detector {name!r}; choose one of {', '.join(BACKENDS)}")


def shared_detector(name: str, score_threshold: float, retinaface: dict | None = None) -> FaceDetector:
    """The backend `name`, built once per process for the same settings (and the same weights file, by size and
    modification time): a shard job runs the faces phase on hundreds of clips and loads its detector once.

    Detection is per image (no state carries from one frame or clip to the next), so a shared detector finds
    what a fresh one finds. Do not close it; the process's exit frees it."""
    opts = dict(retinaface or {})
    if name != "retinaface":  # the other backends ship inside their wheel: nothing on disk to watch
        return _cached(name, score_threshold, (), None)
    weights = str(opts.get("weights") or "")
    stat = os.stat(weights) if weights and os.path.isfile(weights) else None
    key = tuple(sorted((k, str(v)) for k, v in opts.items()))
    return _cached(name, score_threshold, key, (stat.st_size, stat.st_mtime_ns) if stat else None)


@lru_cache(maxsize=2)
def _cached(name: str, score_threshold: float, key: tuple, stamp: tuple | None) -> FaceDetector:
    return make_detector(name, score_threshold, dict(key) or None)
