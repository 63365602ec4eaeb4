"""Feature files: safetensors + required provenance metadata, atomic, byte-stable, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.data.featurefile import FeatureFileError, read_features, read_meta, write_features

META = {"clip": "c1", "modality": "audio_mel", "rate_hz": 100, "frames": 3, "extractor": "log-mel",
        "version": "1", "checkpoint": ""}


def test_round_trip_and_bytes_are_stable(tmp_path):
    tensors = {"mel": np.arange(12 * 80, dtype=np.float32).reshape(12, 80), "found": np.ones(3, np.uint8)}
    write_features(tmp_path / "a.safetensors", tensors, META)
    write_features(tmp_path / "b.safetensors", dict(reversed(tensors.items())), META)
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    back, meta = read_features(tmp_path / "a.safetensors")
    assert np.array_equal(back["mel"], tensors["mel"]) and meta["frames"] == "3" and meta["clip"] == "c1"
    assert read_meta(tmp_path / "a.safetensors")["modality"] == "audio_mel"


def test_missing_metadata_and_bad_files_are_refused(tmp_path):
    with pytest.raises(FeatureFileError, match="checkpoint"):
        write_features(tmp_path / "x.safetensors", {"a": np.zeros(2)},
                       {k: v for k, v in META.items() if k != "checkpoint"})
    write_features(tmp_path / "ok.safetensors", {"a": np.zeros(1000, np.float32)}, META)
    data = (tmp_path / "ok.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(FeatureFileError, match="cut.safetensors"):
        read_features(tmp_path / "cut.safetensors")
    with pytest.raises(FeatureFileError):
        read_features(tmp_path / "missing.safetensors")
