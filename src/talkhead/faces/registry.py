"""Face detector backends by name, as `faces.detector` in params.yaml chooses them; the shard job's shared models."""

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


def shared_mesh(min_confidence: float = 0.5):
    """The face mesh (MediaPipe, tracking mode) built once per process, with no face tracked: a shard job's crop
    phase meshes every frame of hundreds of clips, and a new graph per clip paid ~0.04 s to start its models.

    `FaceMesh.forget` clears what the previous clip left, so a clip's landmarks are a fresh graph's. Do not close
    it; the process's exit frees it."""
    mesh = _cached_mesh(float(min_confidence))
    mesh.forget()
    return mesh


@lru_cache(maxsize=1)
def _cached_mesh(min_confidence: float):
    from talkhead.faces.mediapipe_backend import FaceMesh

    return FaceMesh(min_confidence)
