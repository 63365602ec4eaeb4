"""DualForce training on a packed dataset: decreasing loss, exact resume, the stage CLI, long generation to mp4."""

from __future__ import annotations

import json

import numpy as np
import pytest

from talkhead.config import DatasetConfig, DualforceConfig
from talkhead.data.featurefile import write_features
from talkhead.data.metadata import metadata_table
from talkhead.data.pack import pack_clip
from talkhead.features.motion_stats import motion_stats
from talkhead.models.video_df import load_model
from talkhead.stages import train_dualforce
from talkhead.train.dualforce import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

FRAMES, C, LAT = 40, 4, 8
CFG = {"size": "tiny", "bridge_layers": 1, "window": 8, "stride": 4, "batch_size": 4, "steps_per_epoch": 5,
       "lr": 0.003, "epochs": 3, "sample_steps": 2, "eval_lengths": [16, 24]}
OUTPUTS = ("config.json", "motion_stats.safetensors", "best.safetensors", "last.safetensors", "state.safetensors",
           "state.json", "metrics.csv", "metrics.json")


def packed_clip(root, clip: str, speaker: str, split: str, seed: int):
    """A packed clip whose motion and video latents follow its smooth random mel (learnable from audio)."""
    rng = np.random.default_rng(seed)
    mel = np.cumsum(rng.normal(size=(4 * FRAMES, 80)), axis=0).astype(np.float32) * 0.2
    loud = mel.reshape(FRAMES, 4 * 80).mean(1)  # (T,)
    fixed = np.random.default_rng(99)
    motion = (fixed.normal(size=(1, 70)) * loud[:, None] + np.linspace(0, 3, 70)).astype(np.float32)
    pattern, face = fixed.normal(size=(C, LAT, LAT)), rng.normal(size=(C, LAT, LAT))  # speech pattern, identity
    latents = (face + 0.3 * np.tanh(loud)[:, None, None, None] * pattern).astype(np.float16)  # (T, C, h, w)
    base = {"clip": clip, "frames": FRAMES, "version": "t", "checkpoint": ""}
    files = [root / f"{clip}_{m}.safetensors" for m in ("mel", "motion", "latents")]
    write_features(files[0], {"mel": mel}, {**base, "modality": "audio_mel", "rate_hz": 100, "extractor": "m"})
    write_features(files[1], {"motion": motion}, {**base, "modality": "motion", "rate_hz": 25, "extractor": "mo"})
    write_features(files[2], {"latents": latents, "clip_first_frame": latents[0].copy()},
                   {**base, "modality": "video_latents", "rate_hz": 25, "extractor": "v"})
    out = root / "clips" / f"{clip}.safetensors"
    out.parent.mkdir(exist_ok=True)
    pack_clip(files, np.zeros((16, 16, 3), np.uint8), np.array([[0, FRAMES]]), out,
              {"clip": clip, "frames": FRAMES, "fps": 25, "speaker": speaker, "split": split, "emotion": "none"})
    return out, files[1]


def packed_dataset(root, with_val: bool = True):
    """(metadata.parquet, motion_stats): 2 train clips (speaker s1) and, with_val, one val clip (s2)."""
    root.mkdir(parents=True, exist_ok=True)
    clips = [packed_clip(root, "a1", "s1", "train", 1), packed_clip(root, "a2", "s1", "train", 2)]
    if with_val:
        clips.append(packed_clip(root, "b1", "s2", "val", 3))
    metadata_table([c for c, _ in clips], root, DatasetConfig.from_dict({})).to_parquet(root / "metadata.parquet",
                                                                                          index=False)
    motion_stats([m for _, m in clips[:2]], root / "motion_stats.safetensors")
    return root / "metadata.parquet", root / "motion_stats.safetensors"


def _cfg(**over) -> DualforceConfig:
    return DualforceConfig.from_dict({**CFG, **over})


@pytest.fixture(scope="module")
def trained(one_thread, tmp_path_factory):
    """(metadata, stats, folder after 3 epochs)."""
    root = tmp_path_factory.mktemp("dualforce")
    metadata, stats = packed_dataset(root / "data")
    train(metadata, stats, _cfg(), root / "model")
    return metadata, stats, root / "model"


def _rows(folder):
    lines = (folder / "metrics.csv").read_text().splitlines()
    return [dict(zip(lines[0].split(","), map(float, line.split(",")))) for line in lines[1:]]


def test_training_lowers_the_loss_below_the_initial_one(trained):
    _, stats, folder = trained
    assert all((folder / name).is_file() for name in OUTPUTS)
    rows = _rows(folder)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["loss_decreased"] is True
    assert metrics["best_val_loss"] < 0.9 * metrics["initial_val_loss"]  # the untrained model's validation loss
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert all(r["val_video"] > 0 and r["val_struct"] > 0 and r["val_lip"] > 0 for r in rows)
    config = json.loads((folder / "config.json").read_text())
    assert config["clips"] == {"train": ["a1", "a2"], "val": ["b1"]} and metrics["val_split"] == "val"
    assert (config["latent_channels"], config["latent_size"], config["bridge_layers"]) == (C, LAT, 1)
    assert (folder / "motion_stats.safetensors").read_bytes() == stats.read_bytes()


def test_interrupted_run_resumes_to_identical_files(trained, tmp_path):
    metadata, stats, folder = trained
    train(metadata, stats, _cfg(epochs=2), tmp_path)  # "interrupted" after 2 epochs
    assert len(_rows(tmp_path)) == 2
    (tmp_path / "best.safetensors").unlink()  # as Snakemake deletes a failed job's declared outputs
    assert train(metadata, stats, _cfg(), tmp_path)["resumed_after"] == 2
    for name in OUTPUTS:
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name


def test_generation_runs_past_the_training_window(trained):
    from talkhead.infer.dualforce import extend_audio, generate_latents

    metadata, _, folder = trained
    model, meta, stats = load_model(folder)
    from talkhead.data.featurefile import read_features

    t, _ = read_features(metadata.parent / "clips" / "b1.safetensors",
                         keys=["audio_mel/mel", "video_latents/clip_first_frame", "motion/motion"])
    frames = 3 * meta["window"] + 1
    audio = extend_audio(t["audio_mel/mel"], 4, frames)
    lat, mot = generate_latents(model, meta, stats, t["video_latents/clip_first_frame"], t["motion/motion"][0],
                                audio, frames, seed=1)
    assert lat.shape == (frames, C, LAT, LAT) and mot.shape == (frames, 70)
    assert np.isfinite(lat).all() and np.isfinite(mot).all()
    np.testing.assert_allclose(mot[0], t["motion/motion"][0], rtol=1e-5, atol=1e-4)  # frame 0 = the reference
    again, _ = generate_latents(model, meta, stats, t["video_latents/clip_first_frame"], t["motion/motion"][0],
                                audio, frames, seed=1, use_cache=False)
    np.testing.assert_allclose(again, lat, rtol=1e-4, atol=1e-4)


def test_stage_runs_without_val_clips_and_rejects_bad_config(tmp_path):
    metadata, stats = packed_dataset(tmp_path / "data", with_val=False)
    cfg = json.dumps({**CFG, "epochs": 1, "steps_per_epoch": 1})
    args = ["--metadata", str(metadata), "--stats", str(stats), "--out", str(tmp_path / "model")]
    assert train_dualforce.main([*args, "--cfg", cfg]) == 0
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["val_split"] == "train (no val clips)"
    assert train_dualforce.main([*args, "--cfg", json.dumps({**CFG, "size": "huge"})]) == 2
    assert train_dualforce.main([*args, "--cfg", json.dumps({**CFG, "window": 41})]) == 2  # no 41-frame segment
    assert train_dualforce.main([*args, "--cfg", json.dumps({**CFG, "bridge_layers": 3})]) == 2  # tiny has 2 layers


def _vae_folder(path):
    """A tiny random video VAE folder (16 px frames → 4 × 8 × 8 latents), as the video_vae rule writes it."""
    import torch
    from safetensors.torch import save_file

    from talkhead.atomic import write_json
    from talkhead.models.video_vae import MODEL_FORMAT
    from talkhead.models.video_vae import VideoVAE, VideoVAESpec

    torch.manual_seed(0)
    spec = VideoVAESpec(size=16, levels=1, channels=8, latent_channels=C)
    path.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in VideoVAE(spec).state_dict().items()}, str(path / "model.safetensors"))
    write_json(path / "config.json", {"format": MODEL_FORMAT, "spec": spec.to_dict()})
    return path


def test_evaluate_stage_writes_metrics_drift_and_a_long_video_with_audio(trained, tmp_path):
    import soundfile as sf

    from talkhead.media.probe import probe
    from talkhead.stages import evaluate_dualforce

    metadata, _, folder = trained
    quality = tmp_path / "quality" / "b1"
    quality.mkdir(parents=True)
    sf.write(quality / "audio.wav", (0.1 * np.sin(np.arange(FRAMES * 640) / 9.0)).astype(np.float32), 16000)
    out = tmp_path / "eval"
    args = ["--model", str(folder), "--vae", str(_vae_folder(tmp_path / "vae")), "--metadata", str(metadata),
            "--out", str(out), "--quality-root", str(tmp_path / "quality"),
            "--dualforce-cfg", json.dumps({"eval_lengths": [16, 48], "eval_clips": 1})]
    assert evaluate_dualforce.main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert (m["split"], m["clips"], m["generated_frames"], m["sample_clip"]) == ("val", 1, 48, "b1")
    for key in ("latent_l1", "structure_l1", "lmd_structure", "landmark_shape_drift_ground_truth",
                "consistency_landmark_shape_drift_16",
                "consistency_first_frame_psnr_48", "consistency_first_frame_latent_cos_change"):
        assert np.isfinite(m[key]), key
    assert {"fid_inception", "fvd_i3d", "lmd_mediapipe", "sync_c_selftrained"} <= set(m["absent"])
    lines = (out / "consistency.csv").read_text().splitlines()
    assert lines[0] == "length,landmark_shape_drift,first_frame_psnr,first_frame_latent_cos"
    assert [line.split(",")[0] for line in lines[1:]] == ["16", "48"]
    assert (out / "plots" / "consistency.png").stat().st_size > 1000
    info = probe(out / "samples" / "b1.mp4")  # 48 frames: 6 × the 8-frame training window, past the clip's 40
    assert info["video"]["frames"] == 48 and info["audio"] is not None
    assert abs(info["audio"]["duration_s"] - 48 / 25) < 0.1
    bad = [*args[:-1], json.dumps({"eval_lengths": [8]})]
    assert evaluate_dualforce.main(bad) == 2  # schema: lengths > 8 frames


def test_cli_drives_a_clip_reference_with_other_speech(trained, tmp_path):
    import soundfile as sf

    from talkhead.infer import dualforce as infer
    from talkhead.media.probe import probe

    metadata, _, folder = trained
    sf.write(tmp_path / "speech.wav", (0.1 * np.sin(np.arange(16000) / 7.0)).astype(np.float32), 16000)  # 1 s
    out = tmp_path / "talk.mp4"
    assert infer.main(["--model", str(folder), "--vae", str(_vae_folder(tmp_path / "vae")), "--clip",
                       str(metadata.parent / "clips" / "a1.safetensors"), "--audio", str(tmp_path / "speech.wav"),
                       "--frames", "30", "--out", str(out)]) == 0
    info = probe(out)
    assert info["video"]["frames"] == 30 and abs(info["audio"]["duration_s"] - 1.2) < 0.1
