"""Active speaker: among several faces in a clip, the one whose mouth moves with the audio.

While the faces pass runs, every face seen at a probe with two or more faces gets a slot (faces
are matched to slots by box overlap); on every frame after that, each slot's face region is run
through its own face mesh and its mouth opening recorded. At the end, each slot's mouth signal is
scored against the audio with the same held-out audio→mouth prediction as the A/V-offset measure
(talkhead.quality.sync): the speaker's mouth is predicted by the sound, a listener's is not. The
slot with the highest score is the speaker; the identity tracker is then re-run keeping, at every
probe, only the face that overlaps the speaker's slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from talkhead.faces.track import iou
from talkhead.faces.types import Detection

MESH_SIDE = 256  # face regions are resized to this before the mesh
MAX_SLOTS = 4


@dataclass
class Slot:
    """One face position seen at multi-face probes, with its per-frame mouth opening."""

    box: np.ndarray  # (4,) xyxy at the latest probe that saw it
    boxes: dict[int, np.ndarray] = field(default_factory=dict)  # probe frame → box
    mouth: dict[int, float] = field(default_factory=dict)  # frame → mouth opening (NaN: mesh lost)
    mesh: object | None = None


def _region(rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
    """A square region of 1.6× the box around its centre, resized to MESH_SIDE; (patch, scale)."""
    h, w = rgb.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = 0.8 * max(box[2] - box[0], box[3] - box[1])
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
    patch = rgb[y0:y1, x0:x1]
    if patch.shape[0] < 16 or patch.shape[1] < 16:
        return np.zeros((0, 0, 3), np.uint8), 0.0
    return cv2.resize(patch, (MESH_SIDE, MESH_SIDE), interpolation=cv2.INTER_AREA), MESH_SIDE / max(patch.shape[:2])


class SpeakerFinder:
    """Feed probes and frames of one clip in order; `scores(audio)` rates each slot as the speaker."""

    def __init__(self, min_iou: float = 0.3) -> None:
        self.min_iou = min_iou
        self.slots: list[Slot] = []
        self._active = False  # whether the latest probe saw two or more faces

    @property
    def active(self) -> bool:
        """Whether the latest probe saw two or more faces (mouths are measured until one that does not)."""
        return self._active

    def probe(self, frame: int, faces: list[Detection]) -> None:
        """The significant faces found at probe `frame` (from the identity tracker's count)."""
        self._active = len(faces) >= 2
        if not self._active:
            return
        for face in faces:
            best = max(self.slots, key=lambda s: iou(s.box, face.box), default=None)
            if best is not None and iou(best.box, face.box) >= self.min_iou:
                best.box = face.box
                best.boxes[frame] = face.box
            elif len(self.slots) < MAX_SLOTS:
                self.slots.append(Slot(box=face.box, boxes={frame: face.box}))

    def frame(self, index: int, rgb: np.ndarray) -> None:
        """Measure every slot's mouth on this frame while several faces are in view."""
        if not self._active:
            return
        from talkhead.faces.mediapipe_backend import FaceMesh
        from talkhead.quality.sync import mouth_opening

        for slot in self.slots:
            patch, _ = _region(rgb, slot.box)
            if patch.size == 0:
                continue
            if slot.mesh is None:
                slot.mesh = FaceMesh()
            points = slot.mesh.landmarks(patch)
            slot.mouth[index] = float(mouth_opening(points[None])[0]) if points is not None else float("nan")

    def scores(self, audio: np.ndarray, max_lag: int) -> list[float]:
        """Per slot: how well the audio (T, D) features predict its mouth (held-out r at the best lag)."""
        from talkhead.quality.sync import estimate_offset

        out = []
        for slot in self.slots:
            mouth = np.full(len(audio), np.nan, np.float32)
            for f, v in slot.mouth.items():
                if f < len(mouth):
                    mouth[f] = v
            offset = estimate_offset(mouth, audio, max_lag)
            out.append(float(offset.scores.max()) if offset.frames is not None else float("-inf"))
        return out

    def close(self) -> None:
        """Free the meshes."""
        for slot in self.slots:
            if slot.mesh is not None:
                slot.mesh.close()
                slot.mesh = None


def keep_speaker(probes_found: list[tuple[int, list[Detection]]], speaker: Slot,
                 min_iou: float = 0.3) -> list[tuple[int, list[Detection]]]:
    """The probes' detections with, wherever the speaker's slot has a box, only the face overlapping it."""
    out = []
    for frame, found in probes_found:
        ref = speaker.boxes.get(frame)
        if ref is not None and found:
            best = max(found, key=lambda d: iou(d.box, ref))
            found = [best] if iou(best.box, ref) >= min_iou else found
        out.append((frame, found))
    return out
