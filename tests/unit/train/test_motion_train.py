"""Motion DiT training: files and metrics, exact resume, the stage CLI, and generation from the trained folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from talkhead.config import DatasetConfig, MotionDitConfig
from talkhead.data.featurefile import write_features
from talkhead.data.metadata import metadata_table
from talkhead.data.pack import pack_clip
from talkhead.features.mel import speech_level
from talkhead.features.motion_stats import motion_stats
from talkhead.infer.motion import generate_motion
from talkhead.models.arkit_channels import LIPSYNC_INDEX
from talkhead.models.mouth_map import MAP_FILE as MOUTH_MAP_FILE
from talkhead.models.mouth_map import MOUTH_DIMS
from talkhead.models.motion_dit import load_model
from talkhead.stages import train_motion
from talkhead.train.motion_dit import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

FRAMES = 80
CFG = {"size": "tiny", "n_pred": 16, "n_prev": 4, "batch_size": 4, "steps_per_epoch": 4, "lr": 0.01, "epochs": 3,
       "sample_steps": 2}
OUTPUTS = ("config.json", "motion_stats.safetensors", "best.safetensors", "last.safetensors", "state.safetensors",
           "state.json", "metrics.csv", "metrics.json")


def _clip(root, clip: str, speaker: str, split: str, emotion: str, seed: int, blendshapes: bool = True):
    """A packed clip (as in test_v3face_train) whose motion is a fixed function of its smooth random mel, and
    (`blendshapes`) blendshapes whose lipsync channels move with the motion's mouth."""
    rng = np.random.default_rng(seed)
    mel = np.cumsum(rng.normal(size=(4 * FRAMES, 80)), axis=0).astype(np.float32) * 0.2
    loud = mel.reshape(FRAMES, 4 * 80).mean(1, keepdims=True)  # (T, 1)
    gain = np.random.default_rng(99).normal(size=(1, 70))
    motion = (gain * loud + np.linspace(0, 3, 70)).astype(np.float32)  # (T, 70)
    base = {"clip": clip, "frames": FRAMES, "version": "t", "checkpoint": ""}
    files = [root / f"{clip}_mel.safetensors", root / f"{clip}_motion.safetensors"]
    write_features(files[0], {"mel": mel}, {**base, "modality": "audio_mel", "rate_hz": 100, "extractor": "m"})
    write_features(files[1], {"motion": motion}, {**base, "modality": "motion", "rate_hz": 25, "extractor": "mo"})
    if blendshapes:
        coefficients = np.zeros((FRAMES, 52), np.float32)
        coefficients[:, list(LIPSYNC_INDEX)] = motion[:, MOUTH_DIMS[:31]] * 0.1 + 0.2
        files.append(root / f"{clip}_blend.safetensors")
        write_features(files[-1], {"coefficients": coefficients},
                       {**base, "modality": "blendshapes", "rate_hz": 25, "extractor": "bs"})
    out = root / "clips" / f"{clip}.safetensors"
    out.parent.mkdir(exist_ok=True)
    pack_clip(files, np.zeros((8, 8, 3), np.uint8), np.array([[0, FRAMES]]), out,
              {"clip": clip, "frames": FRAMES, "fps": 25, "speaker": speaker, "split": split, "emotion": emotion})
    return out, files[1]


def _dataset(root, with_val: bool = True, blendshapes: bool = True):
    """(metadata.parquet, motion_stats of the train clips): 2 train clips (speaker s1), with_val one val clip (s2)."""
    root.mkdir(parents=True, exist_ok=True)
    clips = [_clip(root, "a1", "s1", "train", "happiness", 1, blendshapes),
             _clip(root, "a2", "s1", "train", "none", 2, blendshapes)]
    if with_val:
        clips.append(_clip(root, "b1", "s2", "val", "sadness", 3, blendshapes))
    metadata_table([c for c, _ in clips], root, DatasetConfig.from_dict({})).to_parquet(root / "metadata.parquet",
                                                                                          index=False)
    motion_stats([m for _, m in clips[:2]], root / "motion_stats.safetensors")
    return root / "metadata.parquet", root / "motion_stats.safetensors"


def _cfg(**over) -> MotionDitConfig:
    return MotionDitConfig.from_dict({**CFG, **over})


@pytest.fixture(scope="module")
def trained(one_thread, tmp_path_factory):
    """(metadata, stats, folder after 3 epochs)."""
    root = tmp_path_factory.mktemp("motion_dit")
    metadata, stats = _dataset(root / "data")
    train(metadata, stats, _cfg(), root / "model")
    return metadata, stats, root / "model"


def _rows(folder):
    lines = (folder / "metrics.csv").read_text().splitlines()
    return [dict(zip(lines[0].split(","), map(float, line.split(",")))) for line in lines[1:]]


def test_training_writes_the_folder_and_metrics(trained):
    metadata, stats, folder = trained
    assert all((folder / name).is_file() for name in OUTPUTS)
    rows = _rows(folder)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert min(r["train_loss"] for r in rows[1:]) < rows[0]["train_loss"]
    assert all(r["val_l1_exp"] > 0 and r["val_l1_pose"] > 0 for r in rows)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["val_split"] == "val"
    assert metrics["best_val_l1"] == pytest.approx(min(r["val_l1"] for r in rows), abs=1e-6)
    config = json.loads((folder / "config.json").read_text())
    assert config["clips"] == {"train": ["a1", "a2"], "val": ["b1"]} and config["spec_name"] == "tiny"
    assert (config["n_pred"], config["n_prev"], config["audio_layers"]) == (16, 4, 0)
    assert (folder / "motion_stats.safetensors").read_bytes() == stats.read_bytes()
    assert config["mouth_map"]["r2_train"] > 0.99 and config["mouth_map"]["r2_held_out"] > 0.99  # exactly linear
    levels = [speech_level(load_file(metadata.parent / f"{c}_mel.safetensors")["mel"]) for c in ("a1", "a2")]
    assert config["mouth_map"]["speech_level"] == pytest.approx(np.median(levels), abs=1e-4)
    assert load_file(folder / MOUTH_MAP_FILE)["weight"].shape == (31, 33)


def test_audio_statistics_come_from_the_train_clips(trained):
    metadata, _, folder = trained
    tensors = load_file(folder / "best.safetensors")
    mels = np.concatenate([load_file(metadata.parent / f"{c}_mel.safetensors")["mel"] for c in ("a1", "a2")])
    np.testing.assert_allclose(tensors["audio_mean"], mels.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tensors["audio_std"], mels.std(0), rtol=1e-4, atol=1e-4)


def test_interrupted_run_resumes_to_identical_files(trained, tmp_path):
    metadata, stats, folder = trained
    train(metadata, stats, _cfg(epochs=2), tmp_path)  # "interrupted" after 2 epochs
    assert len(_rows(tmp_path)) == 2
    (tmp_path / "best.safetensors").unlink()  # as Snakemake deletes a failed job's declared outputs
    assert train(metadata, stats, _cfg(), tmp_path)["resumed_after"] == 2
    for name in OUTPUTS:
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name


def test_trained_folder_generates_motion(trained):
    _, _, folder = trained
    model, meta, stats = load_model(folder)
    audio = torch.randn(4 * 50, 80, generator=torch.Generator().manual_seed(0))
    out = generate_motion(model, meta, stats, audio, stats["mean"], emotion=4)
    assert out.shape == (50, 70) and np.isfinite(out).all()
    assert np.array_equal(out, generate_motion(model, meta, stats, audio, stats["mean"], emotion=4))


def test_stage_runs_without_val_clips_or_blendshapes_and_rejects_bad_config(tmp_path):
    metadata, stats = _dataset(tmp_path / "data", with_val=False, blendshapes=False)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / MOUTH_MAP_FILE).write_bytes(b"a map of an earlier dataset")
    cfg = json.dumps({**CFG, "epochs": 1, "steps_per_epoch": 2})
    args = ["--metadata", str(metadata), "--stats", str(stats), "--out", str(tmp_path / "model")]
    assert train_motion.main([*args, "--cfg", cfg]) == 0
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["val_split"] == "train (no val clips)"
    assert json.loads((tmp_path / "model" / "config.json").read_text())["mouth_map"] is None
    assert not (tmp_path / "model" / MOUTH_MAP_FILE).exists()  # no stale map drives a mouth it was not fitted for
    assert train_motion.main([*args, "--cfg", json.dumps({**CFG, "size": "huge"})]) == 2
    assert train_motion.main([*args, "--cfg", json.dumps({**CFG, "n_pred": 90})]) == 2  # no 94-frame segment
