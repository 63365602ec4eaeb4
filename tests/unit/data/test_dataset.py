"""Packing, speaker-disjoint splits and the windowed dataset: one window, the same time in every modality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from talkhead.config import DatasetConfig
from talkhead.data.dataset import WindowDataset, collate
from talkhead.data.featurefile import read_features, write_features
from talkhead.data.metadata import metadata_table
from talkhead.data.pack import pack_clip
from talkhead.data.splits import SplitError, assign_splits


def test_pack_refuses_a_misaligned_modality(tmp_path, make_modalities):
    files = make_modalities(tmp_path, "c1", 10)
    write_features(files[0], {"mel": np.zeros((39, 80), np.float32)},  # one mel row short
                   {"clip": "c1", "frames": 10, "version": "t", "checkpoint": "", "modality": "audio_mel",
                    "rate_hz": 100, "extractor": "m"})
    with pytest.raises(ValueError, match="audio_mel: 39 rows, expected 40"):
        pack_clip(files, np.zeros((8, 8, 3), np.uint8), np.array([[0, 10]]), tmp_path / "p.safetensors",
                  {"clip": "c1", "frames": 10, "fps": 25, "speaker": "s", "split": "train", "emotion": "none"})


def test_windows_are_aligned_inside_segments_and_deterministic(tmp_path, make_packed):
    paths = [make_packed(tmp_path, f"c{i}", speaker=f"s{i}") for i in range(3)]
    table = metadata_table(paths, tmp_path, DatasetConfig.from_dict({}))
    table.to_parquet(tmp_path / "metadata.parquet", index=False)
    ds = WindowDataset(tmp_path / "metadata.parquet", "train", window=20, keys=["audio_mel/mel", "face_mesh/points"],
                       seed=3)
    assert len(ds) == 3
    starts = set()
    for i in range(len(ds)):
        for epoch in range(5):
            ds.set_epoch(epoch)
            item = ds[i]
            t0 = item["start"]
            starts.add(t0)
            assert t0 + 20 <= 30 or t0 >= 30, "a window never spans a segment border (scene cut)"
            assert item["face_mesh/points"][:, 0, 0].tolist() == list(range(t0, t0 + 20))
            assert torch.allclose(4 * item["audio_mel/mel"][::4, 0], torch.arange(t0, t0 + 20, dtype=torch.float32))
    assert len(starts) > 3
    again = WindowDataset(tmp_path / "metadata.parquet", "train", 20, ["face_mesh/points"], seed=3)
    again.set_epoch(4)
    assert again[1]["start"] == ds[1]["start"]
    batch = collate([ds[0], ds[1]])
    assert batch["face_mesh/points"].shape == (2, 20, 478, 3) and batch["audio_mel/mel"].shape == (2, 80, 80)


def test_clips_without_a_long_enough_segment_are_left_out(tmp_path, make_packed):
    paths = [make_packed(tmp_path, "short", segments=((0, 10), (10, 19))), make_packed(tmp_path, "long", speaker="s2")]
    table = metadata_table(paths, tmp_path, DatasetConfig.from_dict({}))
    table.to_parquet(tmp_path / "metadata.parquet", index=False)
    assert list(WindowDataset(tmp_path / "metadata.parquet", "train", 20,
                              ["face_mesh/points"]).clips["clip"]) == ["long"]


def test_splits_are_speaker_disjoint():
    table = pd.DataFrame({"speaker": ["a", "a", "b", "c"], "split": ["train", "val", "train", "test"]})
    with pytest.raises(SplitError, match="a"):
        assign_splits(table, "manifest", 0.1, 0.1, 0)
    many = pd.DataFrame({"speaker": [f"spk{i // 3}" for i in range(300)], "split": "train"})
    split = assign_splits(many, "speakers", 0.2, 0.2, 0)
    assert (many.assign(split=split).groupby("speaker")["split"].nunique() == 1).all()
    shares = split.value_counts(normalize=True)
    assert 0.1 < shares["val"] < 0.3 and 0.1 < shares["test"] < 0.3
    first = assign_splits(many.iloc[:150], "speakers", 0.2, 0.2, 0)
    assert first.equals(split.iloc[:150]), "adding speakers never moves existing ones"


def test_packed_file_keeps_every_modality_and_its_provenance(tmp_path, make_packed):
    tensors, meta = read_features(make_packed(tmp_path))
    assert {"audio_mel/mel", "face_mesh/points", "face_mesh/found", "reference/image", "segments"} <= set(tensors)
    assert meta["speaker"] == "s1" and "face_mesh" in meta["modalities"]


def test_per_clip_tensors_come_whole(tmp_path, make_packed):
    path = make_packed(tmp_path, "c0", frames=40, segments=((0, 40),))
    metadata_table([path], tmp_path, DatasetConfig.from_dict({})).to_parquet(tmp_path / "metadata.parquet")
    ds = WindowDataset(tmp_path / "metadata.parquet", "train", 5, ["face_mesh/points", "face_mesh/clip_rest"], seed=1)
    item = ds[0]
    assert item["face_mesh/points"].shape == (5, 478, 3)
    assert item["face_mesh/clip_rest"].tolist() == [7.0, 8.0]
    assert collate([item, item])["face_mesh/clip_rest"].shape == (2, 2)
