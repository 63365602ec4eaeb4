"""V3 Face training: learning, the frozen lipsync branch (bit for bit), exact resume and the stage CLIs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkhead.config import DatasetConfig, V3faceConfig
from talkhead.data.featurefile import write_features
from talkhead.data.metadata import metadata_table
from talkhead.data.pack import pack_clip
from talkhead.models.arkit_channels import LIPSYNC_INDEX
from talkhead.models.v3face import audio_features, load_model
from talkhead.stages import train_expression, train_lipsync
from talkhead.train.v3face import train_phase

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

FRAMES = 120
CFG = {"size": "tiny", "window": 16, "batch_size": 8, "steps_per_epoch": 8, "lr": 0.02, "epochs_lipsync": 3,
       "epochs_expression": 2, "velocity_warmup_epochs": 2, "cond_dim": 4, "lookahead": 1}
OUTPUTS = ("config.json", "best.safetensors", "last.safetensors", "state.safetensors", "state.json",
           "metrics.csv", "metrics.json")


def _clip(root, clip: str, speaker: str, split: str, emotion: str, seed: int):
    """A packed clip whose blendshapes are a fixed function of its (smooth, random) mel."""
    rng = np.random.default_rng(seed)
    mel = np.cumsum(rng.normal(size=(4 * FRAMES, 80)), axis=0).astype(np.float32) * 0.2
    mel = (mel - mel.mean(0)) / (mel.std(0) + 1e-6)
    loud = mel.reshape(FRAMES, 4 * 80).mean(1, keepdims=True)  # (T, 1) the frame's mean log-mel
    gain = np.random.default_rng(99).uniform(-3, 3, size=(1, 52))
    coef = (1 / (1 + np.exp(-gain * loud / loud.std()))).astype(np.float32)  # (T, 52) in (0, 1)
    base = {"clip": clip, "frames": FRAMES, "version": "t", "checkpoint": ""}
    files = [root / f"{clip}_mel.safetensors", root / f"{clip}_bs.safetensors"]
    write_features(files[0], {"mel": mel}, {**base, "modality": "audio_mel", "rate_hz": 100, "extractor": "m"})
    write_features(files[1], {"coefficients": coef, "targets": coef},
                   {**base, "modality": "blendshapes", "rate_hz": 25, "extractor": "b"})
    out = root / "clips" / f"{clip}.safetensors"
    out.parent.mkdir(exist_ok=True)
    pack_clip(files, np.zeros((8, 8, 3), np.uint8), np.array([[0, FRAMES]]), out,
              {"clip": clip, "frames": FRAMES, "fps": 25, "speaker": speaker, "split": split, "emotion": emotion})
    return out


def _dataset(root, with_val: bool = True):
    """metadata.parquet of 2 train clips (speaker s1) and, with_val, one val clip (speaker s2)."""
    root.mkdir(parents=True, exist_ok=True)
    packed = [_clip(root, "a1", "s1", "train", "happiness", 1), _clip(root, "a2", "s1", "train", "none", 2)]
    if with_val:
        packed.append(_clip(root, "b1", "s2", "val", "sadness", 3))
    metadata_table(packed, root, DatasetConfig.from_dict({})).to_parquet(root / "metadata.parquet", index=False)
    return root / "metadata.parquet"


def _cfg(**over) -> V3faceConfig:
    return V3faceConfig.from_dict({**CFG, **over})


@pytest.fixture(scope="module")
def trained(one_thread, tmp_path_factory):
    """(metadata, phase-1 folder after 3 epochs, phase-2 folder)."""
    root = tmp_path_factory.mktemp("v3face")
    metadata = _dataset(root / "data")
    train_phase(metadata, "lipsync", _cfg(), root / "lipsync", None)
    train_phase(metadata, "expression", _cfg(), root / "expression", root / "lipsync")
    return metadata, root / "lipsync", root / "expression"


def _rows(folder):
    lines = (folder / "metrics.csv").read_text().splitlines()
    return [dict(zip(lines[0].split(","), map(float, line.split(",")))) for line in lines[1:]]


def test_phase1_lowers_val_l1_and_writes_metrics(trained):
    _, lipsync, _ = trained
    rows = _rows(lipsync)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert min(r["val_l1_lipsync"] for r in rows[1:]) < rows[0]["val_l1_lipsync"]
    assert [r["velocity_weight"] for r in rows] == [0.0, 0.25, 0.5]  # the warm-up ramp
    metrics = json.loads((lipsync / "metrics.json").read_text())
    assert metrics["val_split"] == "val"
    assert metrics["best_val_l1"] == pytest.approx(min(r["val_l1_lipsync"] for r in rows), abs=1e-6)
    config = json.loads((lipsync / "config.json").read_text())
    assert config["clips"] == {"train": ["a1", "a2"], "val": ["b1"]} and config["spec_name"] == "tiny"


def test_phase2_keeps_lipsync_bit_for_bit_and_learns_expression(trained):
    metadata, lipsync, expression = trained
    rows = _rows(expression)
    assert min(r["val_l1_expression"] for r in rows[1:]) <= rows[0]["val_l1_expression"] + 1e-6
    m1, m2 = load_model(lipsync), load_model(expression)
    g = torch.Generator().manual_seed(5)
    audio = audio_features(torch.randn(2, 4 * 30, 80, generator=g), "audio_mel")
    labels = torch.tensor([4, 8])
    with torch.no_grad():
        out1, out2 = m1(audio, m1.emotion.cond(labels, 30)), m2(audio, m2.emotion.cond(labels, 30))
    lip = list(LIPSYNC_INDEX)
    assert torch.equal(out1[..., lip], out2[..., lip])
    assert not torch.equal(out1, out2)  # the expression channels did train


def test_interrupted_run_resumes_to_identical_files(trained, tmp_path):
    metadata, lipsync, _ = trained
    train_phase(metadata, "lipsync", _cfg(epochs_lipsync=2), tmp_path, None)  # "interrupted" after 2 epochs
    assert len(_rows(tmp_path)) == 2
    summary = train_phase(metadata, "lipsync", _cfg(), tmp_path, None)
    assert summary["resumed_after"] == 2
    for name in OUTPUTS:
        assert (tmp_path / name).read_bytes() == (lipsync / name).read_bytes(), name


def test_resume_restores_outputs_a_workflow_manager_deleted(trained, tmp_path):
    """Snakemake deletes a failed (or re-run) job's declared outputs; the resume copies bring them back."""
    metadata, lipsync, _ = trained
    train_phase(metadata, "lipsync", _cfg(epochs_lipsync=2), tmp_path, None)
    for name in ("best.safetensors", "metrics.csv", "metrics.json", "config.json"):
        (tmp_path / name).unlink()
    train_phase(metadata, "lipsync", _cfg(), tmp_path, None)
    for name in OUTPUTS:
        assert (tmp_path / name).read_bytes() == (lipsync / name).read_bytes(), name
    for name in ("best.safetensors", "metrics.json"):  # a finished run, its outputs deleted: restored as they were
        (tmp_path / name).unlink()
    assert train_phase(metadata, "lipsync", _cfg(), tmp_path, None)["resumed_after"] == 3
    assert (tmp_path / "best.safetensors").read_bytes() == (lipsync / "best.safetensors").read_bytes()
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads((lipsync / "metrics.json").read_text())


def test_stages_run_end_to_end_and_validate_on_train_without_val_clips(tmp_path):
    metadata = _dataset(tmp_path / "data", with_val=False)
    cfg = json.dumps({**CFG, "epochs_lipsync": 1, "epochs_expression": 1, "steps_per_epoch": 2})
    assert train_lipsync.main(["--metadata", str(metadata), "--out", str(tmp_path / "lip"), "--cfg", cfg]) == 0
    assert train_expression.main(["--metadata", str(metadata), "--init", str(tmp_path / "lip"),
                                  "--out", str(tmp_path / "expr"), "--cfg", cfg]) == 0
    for folder in ("lip", "expr"):
        assert all((tmp_path / folder / name).is_file() for name in OUTPUTS)
        assert json.loads((tmp_path / folder / "metrics.json").read_text())["val_split"] == "train (no val clips)"
    bad = json.dumps({**CFG, "lookahead": 3})  # differs from the lipsync model's
    assert train_expression.main(["--metadata", str(metadata), "--init", str(tmp_path / "lip"),
                                  "--out", str(tmp_path / "expr2"), "--cfg", bad]) == 2


def test_a_window_longer_than_every_clip_is_a_config_error_exit_2(tmp_path, capsys):
    metadata = _dataset(tmp_path / "data", with_val=False)
    cfg = json.dumps({**CFG, "window": FRAMES + 1})
    assert train_lipsync.main(["--metadata", str(metadata), "--out", str(tmp_path / "lip"), "--cfg", cfg]) == 2
    assert f"no train clip has a {FRAMES + 1}-frame segment (v3face.window)" in capsys.readouterr().err
    assert not (tmp_path / "lip" / "best.safetensors").exists()
