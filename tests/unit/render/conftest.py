"""Shared render fixtures: the mesh-warp renderer and the prepared astronaut portrait (MediaPipe runs once)."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.render.deform import keypoint_slot

# The jaw-opening direction: lower lip, chin, jaw sides drop (canonical y), the jaw sides less.
JAW_OPEN = ((14, 1.0), (17, 1.0), (152, 1.0), (172, 0.45), (397, 0.45))


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """skimage's astronaut photo, (512, 512, 3) uint8."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def renderer():
    """The mesh-warp renderer, no blinks (tests add them explicitly)."""
    from talkhead.render import make_renderer

    return make_renderer("mesh_warp", blink="off")


@pytest.fixture(scope="session")
def source(renderer, astronaut):
    """The astronaut prepared once per session."""
    return renderer.prepare(astronaut)


def _open_jaw(motion: np.ndarray, amount: float) -> np.ndarray:
    """A copy of a (70,) motion with the jaw opened by `amount` canonical units at the lower lip."""
    out = np.array(motion, np.float64, copy=True)
    for index, share in JAW_OPEN:
        out[3 * keypoint_slot(index) + 1] += amount * share
    return out


@pytest.fixture(scope="session")
def open_jaw():
    """The jaw-opening helper: (motion (70,), amount) → opened copy."""
    return _open_jaw
