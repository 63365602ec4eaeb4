"""Synthetic modality files and packed clips for the data tests."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.data.featurefile import write_features
from talkhead.data.pack import pack_clip


def _modalities(folder, clip: str, frames: int) -> list:
    """Synthetic modality files whose values encode their own time index (to check alignment)."""
    base = {"clip": clip, "frames": frames, "version": "t", "checkpoint": ""}
    mel = np.repeat(np.arange(4 * frames, dtype=np.float32)[:, None] / 16, 80, axis=1)  # row r holds r / 16
    mesh = np.repeat(np.arange(frames, dtype=np.float32)[:, None, None], 478, 1).repeat(3, 2)
    files = [folder / f"{clip}_mel.safetensors", folder / f"{clip}_mesh.safetensors"]
    write_features(files[0], {"mel": mel}, {**base, "modality": "audio_mel", "rate_hz": 100, "extractor": "m"})
    write_features(files[1], {"points": mesh, "found": np.ones(frames, np.uint8),
                              "clip_rest": np.array([7.0, 8.0], np.float32)},  # a per-clip tensor
                   {**base, "modality": "face_mesh", "rate_hz": 25, "extractor": "f"})
    return files


def _packed(tmp_path, clip="c1", frames=60, speaker="s1", split="train", segments=((0, 30), (30, 60))):
    (tmp_path / "clips").mkdir(exist_ok=True)
    out = tmp_path / "clips" / f"{clip}.safetensors"
    pack_clip(_modalities(tmp_path, clip, frames), np.zeros((8, 8, 3), np.uint8), np.array(segments), out,
              {"clip": clip, "frames": frames, "fps": 25, "speaker": speaker, "split": split, "emotion": "none"})
    return out


@pytest.fixture
def make_modalities():
    """_modalities(folder, clip, frames) -> [mel file, mesh file]."""
    return _modalities


@pytest.fixture
def make_packed():
    """_packed(tmp_path, clip, frames, speaker, split, segments) -> the packed file."""
    return _packed
