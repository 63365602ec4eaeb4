"""RetinaFace face detector backend: checkpoint loading, prior boxes, decoding, NMS, pre/post-processing.

Loads the biubug6/Pytorch_Retinaface checkpoints (`mobilenet0.25_Final.pth`, `Resnet50_Final.pth`),
plain or wrapped in {"state_dict": ...}, with or without DataParallel's `module.` prefix. The network
itself lives in `retinaface_net`. Preprocessing is the original repo's: BGR order, per-channel mean
(104, 117, 123) subtracted, no scaling. Priors: min sizes [[16, 32], [64, 128], [256, 512]] at
strides [8, 16, 32], variances [0.1, 0.2], no clipping. RetinaFace's 5 landmarks are already in the
image-side order of `types.KEYPOINTS` (its training flip swaps the left/right pairs), so they map 1:1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import torch

from talkhead.faces.retinaface_net import NETWORKS, RetinaFace, canonical_network
from talkhead.faces.types import KEYPOINTS, Detection

MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)
BGR_MEAN = (104.0, 117.0, 123.0)
PRE_NMS_TOP_K = 5000  # the original detect.py's top_k / keep_top_k
KEEP_TOP_K = 750
WEIGHTS_PARAM = "faces.retinaface.weights"
# RetinaFace landmark i -> KEYPOINTS slot: the identity (eye, eye, nose, mouth, mouth, by image side).
RETINA_TO_KEYPOINTS = list(range(len(KEYPOINTS)))


def build_retinaface(network: str) -> torch.nn.Module:
    """A randomly initialised RetinaFace ('mobilenet0.25' or 'resnet50') in eval mode."""
    return RetinaFace(network).eval()


def _unwrap(checkpoint: object, path: Path) -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint, without DataParallel's `module.` prefix."""
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("state_dict"), Mapping):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"{path} is not a RetinaFace state dict (found {type(checkpoint).__name__})")
    return {k.removeprefix("module."): v for k, v in checkpoint.items()}


def _guess_network(keys: set[str]) -> str | None:
    """Which variant a state dict's keys look like, or None."""
    if any(k.startswith("body.layer") for k in keys):
        return "resnet50"
    if any(k.startswith("body.stage") for k in keys):
        return "mobilenet0.25"
    return None


def _key_mismatch(state: dict[str, torch.Tensor], expected: set[str], network: str, path: Path) -> str | None:
    """A readable description of missing/unexpected keys, or None when they agree."""
    missing = sorted(expected - state.keys())
    unexpected = sorted(state.keys() - expected)
    if not missing and not unexpected:
        return None
    guess = _guess_network(set(state))
    other = guess if guess and guess != network else next(n for n in NETWORKS if n != network)
    return (f"{path} does not match RetinaFace network={network!r}: {len(missing)} missing keys "
            f"(e.g. {missing[:4]}), {len(unexpected)} unexpected keys (e.g. {unexpected[:4]}). "
            f"It looks like a {guess or 'different'} checkpoint: try network={other!r} "
            f"(faces.retinaface.network in params.yaml).")


def load_retinaface(weights: str | Path, network: str = "mobilenet0.25", device: str = "cpu") -> torch.nn.Module:
    """RetinaFace with the checkpoint at `weights` loaded strictly, on `device`, in eval mode.

    Raises FileNotFoundError when the file is missing and ValueError when its keys or shapes do
    not fit `network` (the message suggests the other variant).
    """
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"RetinaFace weights not found: {path} (set {WEIGHTS_PARAM} in params.yaml "
                                "to mobilenet0.25_Final.pth or Resnet50_Final.pth)")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"RetinaFace device {device!r} requested but CUDA is not available")
    network = canonical_network(network)
    model = build_retinaface(network)
    state = _unwrap(torch.load(path, map_location=device, weights_only=True), path)
    expected = model.state_dict()
    for key in expected.keys() - state.keys():  # checkpoints from torch < 0.4.1 lack these BN counters
        if key.endswith(".num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.long)
    problem = _key_mismatch(state, set(expected), network, path)
    if problem:
        raise ValueError(problem)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # same keys, different shapes
        raise ValueError(f"{path} does not fit RetinaFace network={network!r}: {err}") from err
    return model.to(device).eval()


def prior_boxes(height: int, width: int) -> torch.Tensor:
    """(N, 4) float32 priors cx, cy, w, h relative to the input size, in the network's output order.

    Order: level (stride 8, 16, 32), then row, column, then anchor size; N = sum ceil(H/s)*ceil(W/s)*2.
    """
    levels = []
    for sizes, step in zip(MIN_SIZES, STEPS):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        cy = (torch.arange(rows, dtype=torch.float64) + 0.5) * step / height  # (rows,)
        cx = (torch.arange(cols, dtype=torch.float64) + 0.5) * step / width  # (cols,)
        s = torch.tensor(sizes, dtype=torch.float64)  # (A,)
        shape = (rows, cols, len(sizes))
        level = torch.stack([cx[None, :, None].expand(shape), cy[:, None, None].expand(shape),
                             (s / width).expand(shape), (s / height).expand(shape)], dim=-1)  # (rows, cols, A, 4)
        levels.append(level.reshape(-1, 4))
    return torch.cat(levels).float()


def decode_boxes(loc: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float] = VARIANCES) -> torch.Tensor:
    """(N, 4) offsets + (N, 4) priors cx, cy, w, h -> (N, 4) boxes x0, y0, x1, y1 (relative units)."""
    centre = priors[:, :2] + loc[:, :2] * variances[0] * priors[:, 2:]
    size = priors[:, 2:] * torch.exp(loc[:, 2:] * variances[1])
    return torch.cat([centre - size / 2, centre + size / 2], dim=1)


def decode_landmarks(pre: torch.Tensor, priors: torch.Tensor,
                     variances: tuple[float, float] = VARIANCES) -> torch.Tensor:
    """(N, 10) offsets + (N, 4) priors -> (N, 5, 2) points x, y (relative units)."""
    offsets = pre.reshape(-1, 5, 2)
    return priors[:, None, :2] + offsets * variances[0] * priors[:, None, 2:]


def box_iou(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """IoU of one (4,) xyxy box with (M, 4) boxes -> (M,)."""
    lt = torch.maximum(box[:2], boxes[:, :2])
    rb = torch.minimum(box[2:], boxes[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area = (box[2:] - box[:2]).clamp(min=0).prod()
    areas = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(dim=1)
    return inter / (area + areas - inter).clamp(min=1e-12)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: (K,) int64 indices of kept boxes, best score first.

    A box is dropped when its IoU with an already kept, higher-scoring box exceeds `iou_threshold`.
    """
    order = torch.sort(scores, descending=True, stable=True).indices
    keep = []
    while order.numel():
        best, rest = order[0], order[1:]
        keep.append(best)
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)


def preprocess(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, h, w) float32 mean-subtracted BGR, downscaled so max(h, w) <= max_side."""
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    bgr = rgb[:, :, ::-1].astype(np.float32) - np.array(BGR_MEAN, np.float32)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1))


class RetinaFaceDetector:
    """RetinaFace (biubug6 checkpoints) behind the `FaceDetector` protocol."""

    name = "retinaface"

    def __init__(self, weights: str | Path, network: str = "mobilenet0.25", device: str = "cpu",
                 score_threshold: float = 0.8, nms_iou: float = 0.4, max_side: int = 640) -> None:
        self.device = torch.device(device)
        self.model = load_retinaface(weights, network, device)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_side = int(max_side)
        self._priors: dict[tuple[int, int], torch.Tensor] = {}

    def _priors_for(self, height: int, width: int) -> torch.Tensor:
        """Cached (N, 4) priors for one network input size, on the model's device."""
        if (height, width) not in self._priors:
            self._priors[(height, width)] = prior_boxes(height, width).to(self.device)
        return self._priors[(height, width)]

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in one (H, W, 3) uint8 RGB frame, best score first, in that frame's pixels (clipped to it)."""
        return self.detect_batch([rgb])[0]

    def detect_batch(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        """`detect` on frames of one size in one forward pass (a GPU fills its batch; the faces pass gathers
        `faces.batch_probes` probe frames of a clip); per frame, its faces best score first."""
        for rgb in frames:
            if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.shape != frames[0].shape:
                raise ValueError(f"expected (H, W, 3) uint8 RGB frames of one size, got {rgb.shape} {rgb.dtype}")
        if not frames:
            return []
        h, w = frames[0].shape[:2]
        x = torch.from_numpy(np.stack([preprocess(rgb, self.max_side) for rgb in frames])).to(self.device)  # (B, 3, ..)
        with torch.inference_mode():
            loc, probs, landm = self.model(x)  # (B, N, 4), (B, N, 2), (B, N, 10)
            priors = self._priors_for(x.shape[2], x.shape[3])
            return [self._postprocess(loc[b], probs[b, :, 1], landm[b], priors, w, h) for b in range(len(frames))]

    def _postprocess(self, loc: torch.Tensor, scores: torch.Tensor, landm: torch.Tensor, priors: torch.Tensor,
                     w: int, h: int) -> list[Detection]:
        """One frame's (N, 4) box offsets, (N,) face scores and (N, 10) landmark offsets → its detections after NMS."""
        idx = torch.nonzero(scores > self.score_threshold).squeeze(1)
        idx = idx[torch.sort(scores[idx], descending=True, stable=True).indices[:PRE_NMS_TOP_K]]
        # Relative coordinates of the (possibly resized) input are relative to the frame too.
        frame = torch.tensor([w, h], dtype=torch.float32, device=self.device)
        boxes = (decode_boxes(loc[idx], priors[idx]).reshape(-1, 2, 2) * frame).reshape(-1, 4)
        points = decode_landmarks(landm[idx], priors[idx]) * frame  # (K, 5, 2)
        boxes, points, scores = boxes.float().cpu(), points.float().cpu(), scores[idx].float().cpu()
        keep = nms(boxes, scores, self.nms_iou)[:KEEP_TOP_K]
        return [self._detection(boxes[i], scores[i], points[i], w, h) for i in keep.tolist()]

    @staticmethod
    def _detection(box: torch.Tensor, score: torch.Tensor, points: torch.Tensor, w: int, h: int) -> Detection:
        """One Detection with box and keypoints clipped to the frame [0, w] x [0, h]."""
        limit = np.array([w, h], np.float32)
        box_np = np.clip(box.numpy().reshape(2, 2), 0, limit).reshape(4).astype(np.float32)
        kps = np.clip(points.numpy()[RETINA_TO_KEYPOINTS], 0, limit).astype(np.float32)  # (5, 2)
        return Detection(box=box_np, score=float(score), keypoints=kps)

    def close(self) -> None:
        """Nothing to free (kept for symmetry with the MediaPipe backend)."""
