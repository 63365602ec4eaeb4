"""One face mesh per process: after `forget`, a used graph gives the landmarks a new graph gives."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from talkhead.faces.mediapipe_backend import FaceMesh
from talkhead.faces.registry import shared_mesh


def _clip(img: np.ndarray, shifts: list[tuple[int, int]], size: int = 256) -> list[np.ndarray]:
    """Frames of `img` (a face photo) moved by `shifts` pixels: a short 'clip' the mesh tracks through."""
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return [cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, dy]]), (size, size),
                           borderMode=cv2.BORDER_REFLECT_101) for dx, dy in shifts]


def _mesh(mesh: FaceMesh, frames: list[np.ndarray]) -> list[np.ndarray | None]:
    return [mesh.landmarks(f) for f in frames]


@pytest.fixture(scope="module")
def clips() -> tuple[list[np.ndarray], list[np.ndarray]]:
    face = np.ascontiguousarray(skdata.astronaut()[20:320, 100:400])  # the astronaut's face and shoulders
    return (_clip(face, [(0, 0), (2, 1), (4, 2), (6, 2), (8, 3)]),
            _clip(face[:, ::-1].copy(), [(-6, 0), (-3, -2), (0, -4), (3, -5)], size=320))


def test_a_forgetting_mesh_gives_a_new_graphs_landmarks(clips):
    first, second = clips
    fresh = FaceMesh()
    want = _mesh(fresh, second)
    fresh.close()
    assert all(lm is not None for lm in want), "the test clip must show a face the mesh finds"
    used = FaceMesh()
    _mesh(used, first)  # tracking the first clip's face when the second begins
    stale = _mesh(used, second)
    used.forget()
    got = _mesh(used, second)
    used.close()
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
    assert any(not np.array_equal(s, w) for s, w in zip(stale, want)), \
        "without forget the first clip's track carries over (else this test shows nothing)"


def test_the_shared_mesh_is_one_graph_that_has_forgotten(clips):
    first, second = clips
    mesh = shared_mesh()
    assert shared_mesh() is mesh and shared_mesh(0.7) is not mesh
    _mesh(mesh, first)
    again = shared_mesh()  # what the next clip's crop pass does
    fresh = FaceMesh()
    want = _mesh(fresh, second)
    fresh.close()
    for w, g in zip(want, _mesh(again, second)):
        np.testing.assert_array_equal(g, w)
