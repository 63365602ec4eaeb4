"""Video latents: the video VAE trains and is reproducible, clips encode in batches, both backends load."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from talkhead.config import ConfigError, VideoLatentsConfig, VideoVaeConfig
from talkhead.data.featurefile import read_features
from talkhead.features.video_latents import encode_clip, encode_clips, load_autoencoder_kl, load_video_vae, to_tensor
from talkhead.media.encode import VideoWriter
from talkhead.models.video_vae import VideoVAESpec
from talkhead.stages import video_latents as latents_stage
from talkhead.stages import video_vae as vae_stage
from talkhead.train.video_vae import _window_starts, train_video_vae

FRAMES, PX = 20, 64
TINY = {"size": 32, "levels": 2, "channels": 8, "latent_channels": 4, "steps": 30, "batch_size": 4, "frames": 3,
        "lr": 0.003, "seed": 0}


def _frames(phase: float) -> np.ndarray:
    """(FRAMES, PX, PX, 3) uint8: a gradient background with a disc and a bar moving across it."""
    out = np.zeros((FRAMES, PX, PX, 3), np.uint8)
    ramp = np.linspace(40, 200, PX, dtype=np.float32)
    for t in range(FRAMES):
        img = np.stack([np.broadcast_to(ramp, (PX, PX)), np.broadcast_to(ramp[:, None], (PX, PX)),
                        np.full((PX, PX), 90.0)], axis=-1).astype(np.uint8).copy()
        x = int(12 + 40 * ((t / FRAMES + phase) % 1.0))
        cv2.circle(img, (x, 32), 9, (250, 60, 40), -1)
        cv2.rectangle(img, (8, 50 - t), (20, 56 - t), (20, 20, 230), -1)
        out[t] = img
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """data/crop/{clip}/crop.mp4 and data/quality/{clip}/quality.json for two accepted 20-frame clips (the video
    VAE trains on them) and a 13-frame one."""
    root = tmp_path_factory.mktemp("data")
    for clip, phase, frames in (("clip_a", 0.0, FRAMES), ("clip_b", 0.5, FRAMES), ("clip_c", 0.25, 13)):
        with VideoWriter(root / "crop" / clip / "crop.mp4", 25, (PX, PX)) as writer:
            for frame in _frames(phase)[:frames]:
                writer.write_frame(frame)
        quality = {"clip": clip, "verdict": "accept", "reasons": [], "measures": {"frames": frames, "fps": 25}}
        (root / "quality" / clip).mkdir(parents=True)
        (root / "quality" / clip / "quality.json").write_text(json.dumps(quality))
    return root


@pytest.fixture(scope="module")
def model_dir(data) -> Path:
    """The tiny video VAE trained by the stage CLI on both clips."""
    out = data / "models" / "video_vae"
    rc = vae_stage.main(["--out", str(out), "--cfg", json.dumps(TINY), "--log-every", "5",
                         str(data / "crop" / "clip_a"), str(data / "crop" / "clip_b")])
    assert rc == 0
    return out


def test_training_lowers_the_loss_and_writes_the_model_folder(model_dir):
    assert sorted(p.name for p in model_dir.iterdir()) == ["config.json", "loss.csv", "model.safetensors"]
    rows = list(csv.DictReader((model_dir / "loss.csv").open()))
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20, 25, 30]
    first, last = float(rows[0]["loss"]), float(rows[-1]["loss"])
    assert last < 0.7 * first, (first, last)
    config = json.loads((model_dir / "config.json").read_text())
    assert config["spec"] == VideoVAESpec(32, 2, 8, 4).to_dict()
    assert config["data"]["clips"] == ["clip_a", "clip_b"]
    assert config["train"]["steps"] == 30 and config["losses"]["loss"] == pytest.approx(last, abs=1e-5)
    assert config["scaling_factor"] > 0


def test_training_twice_gives_identical_weights(data, model_dir, tmp_path):
    crops = [data / "crop" / c / "crop.mp4" for c in ("clip_a", "clip_b")]
    summary = train_video_vae(crops, VideoVAESpec(32, 2, 8, 4), VideoVaeConfig.from_dict(TINY), tmp_path, 5)
    assert summary["steps"] == 30 and summary["windows"] == 2 * (FRAMES - 3 + 1)
    for name in ("model.safetensors", "config.json", "loss.csv"):
        assert (tmp_path / name).read_bytes() == (model_dir / name).read_bytes(), name


def test_window_starts_are_capped_and_evenly_spaced():
    assert _window_starts(10, 4, 250).tolist() == list(range(7))
    starts = _window_starts(10_000, 4, 250)
    assert len(starts) == 250 and starts[0] == 0 and starts[-1] == 10_000 - 4
    assert np.ptp(np.diff(starts)) <= 1


def test_batched_encoding_equals_one_pass(data, model_dir):
    encoder = load_video_vae(model_dir)
    assert encoder.context == 2 and encoder.size == 32
    crop = data / "crop" / "clip_a" / "crop.mp4"
    whole, first = encode_clip(encoder, crop, 25, FRAMES, batch_frames=FRAMES)
    batched, _ = encode_clip(encoder, crop, 25, FRAMES, batch_frames=3)
    assert whole.shape == (FRAMES, 4, 8, 8) and whole.dtype == np.float16
    assert np.allclose(whole.astype(np.float32), batched.astype(np.float32), atol=2e-3)
    assert np.array_equal(first, whole[0])


@pytest.mark.parametrize("frames", [FRAMES - 1, FRAMES + 1])
def test_a_wrong_frame_count_is_refused(data, model_dir, frames):
    with pytest.raises(ValueError, match="frames"):
        encode_clip(load_video_vae(model_dir), data / "crop" / "clip_a" / "crop.mp4", 25, frames, 8)


def test_stage_writes_the_same_valid_feature_file_twice(data, model_dir, tmp_path):
    args = ["--crop", str(data / "crop" / "clip_b"), "--quality", str(data / "quality" / "clip_b"),
            "--model", str(model_dir), "--cfg", json.dumps({"batch_frames": 6})]
    outs = [tmp_path / f"run{i}" / "video_latents.safetensors" for i in range(2)]
    for out in outs:
        assert latents_stage.main([*args, "--out", str(out)]) == 0
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert not torch.are_deterministic_algorithms_enabled()  # the stage restores torch's global setting
    tensors, meta = read_features(outs[0])
    assert tensors["latents"].shape == (FRAMES, 4, 8, 8) and tensors["latents"].dtype == np.float16
    assert np.array_equal(tensors["clip_first_frame"], tensors["latents"][0])
    digest = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()[:16]
    assert meta["checkpoint"] == f"sha256:{digest}"
    assert (meta["clip"], meta["modality"], meta["rate_hz"], meta["frames"]) == ("clip_b", "video_latents", "25", "20")
    assert meta["extractor"] == "talkhead-video-vae" and meta["latent_shape"] == "4,8,8"


# --- the diffusers AutoencoderKL backend ------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_kl():
    """A tiny random diffusers AutoencoderKL (downsampling factor 2)."""
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    return diffusers.AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                                   up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4,
                                   norm_num_groups=4, sample_size=32).eval()


@pytest.mark.parametrize("layout", ["flat", "vae_subfolder"])
def test_autoencoder_kl_latents_are_scaled_posterior_means(tiny_kl, tmp_path, layout):
    tiny_kl.save_pretrained(tmp_path / "vae" if layout == "vae_subfolder" else tmp_path)
    encoder = load_autoencoder_kl(tmp_path, 32)
    frames = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = tiny_kl.encode(to_tensor(frames)).latent_dist.mean * tiny_kl.config.scaling_factor
    got = torch.from_numpy(encoder.encode(frames))
    assert got.shape == (5, 4, 16, 16)
    assert torch.allclose(got, expected, atol=1e-5)
    assert encoder.identity.startswith("sha256:") and len(encoder.identity) == 7 + 16 and encoder.context == 0


def test_autoencoder_kl_stage_ignores_the_model_folder(tiny_kl, data, tmp_path):
    tiny_kl.save_pretrained(tmp_path / "kl")
    out = tmp_path / "video_latents.safetensors"
    cfg = json.dumps({"backend": "autoencoder_kl", "checkpoint": str(tmp_path / "kl"), "size": 32})
    assert latents_stage.main(["--crop", str(data / "crop" / "clip_a"), "--quality", str(data / "quality" / "clip_a"),
                               "--model", str(tmp_path / "nowhere"), "--out", str(out), "--cfg", cfg]) == 0
    tensors, meta = read_features(out)
    assert tensors["latents"].shape == (FRAMES, 4, 16, 16) and meta["extractor"] == "diffusers-autoencoder-kl"


def test_a_missing_autoencoder_kl_checkpoint_is_a_clear_error(tmp_path, data, capsys):
    missing = tmp_path / "no_such_vae"
    with pytest.raises(ConfigError, match="no_such_vae"):
        load_autoencoder_kl(missing, 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="config.json"):
        load_autoencoder_kl(tmp_path / "empty", 32)
    cfg = VideoLatentsConfig.from_dict({"backend": "autoencoder_kl", "checkpoint": str(missing)})
    rc = latents_stage.main(["--crop", str(data / "crop" / "clip_a"), "--quality", str(data / "quality" / "clip_a"),
                             "--out", str(tmp_path / "x.safetensors"), "--cfg", cfg.to_json()])
    assert rc == 2 and "no_such_vae" in capsys.readouterr().err


def test_a_killed_training_resumes_to_the_uninterrupted_files(data, model_dir, tmp_path, monkeypatch):
    import talkhead.train.video_vae as vae_train

    monkeypatch.setattr(vae_train, "STEPS_PER_BLOCK", 10)  # 30 steps: checkpoints after 10 and 20
    real_step, calls = vae_train.optimizer_step, []

    def dies_at_step_15(opt, loss):
        calls.append(1)
        if len(calls) == 15:
            raise KeyboardInterrupt("killed")
        return real_step(opt, loss)

    monkeypatch.setattr(vae_train, "optimizer_step", dies_at_step_15)
    out = tmp_path / "models" / "video_vae"
    args = ["--out", str(out), "--cfg", json.dumps(TINY), "--log-every", "5", str(data / "crop" / "clip_a"),
            str(data / "crop" / "clip_b")]
    with pytest.raises(KeyboardInterrupt):
        vae_stage.main(args)
    assert (tmp_path / "models" / ".video_vae.run" / "state.json").is_file() and not out.exists()
    monkeypatch.setattr(vae_train, "optimizer_step", real_step)
    assert vae_stage.main(args) == 0
    for name in ("model.safetensors", "config.json", "loss.csv"):
        assert (out / name).read_bytes() == (model_dir / name).read_bytes(), name
    assert not (tmp_path / "models" / ".video_vae.run").exists()  # removed once the model folder is complete


# --- several clips per forward pass (a shard job's video_latents.batch_clips) ---------------------------------

# Latents are stored as float16, 2^-10 of their magnitude apart: a float32 rounding difference of the batched
# pass (other batch sizes, other conv kernels) may move a value to the neighbouring float16. We allow two steps,
# 2^-9 · scale ≈ 2e-3 relative; measured ≤ 1.7e-4 · scale (video VAE and AutoencoderKL).
F16_TOL = 2.0 ** -9
BATCH = ("clip_a", "clip_c", "clip_b")  # 20, 13 and 20 frames


def _close(got: np.ndarray, ref: np.ndarray) -> bool:
    got, ref = got.astype(np.float32), ref.astype(np.float32)
    return np.abs(got - ref).max() <= F16_TOL * np.abs(ref).max()


@pytest.mark.parametrize("batch_frames", [6, 32])
def test_clips_of_different_lengths_encoded_together_equal_each_alone(data, model_dir, tiny_kl, tmp_path,
                                                                       batch_frames):
    tiny_kl.save_pretrained(tmp_path / "kl")
    clips = [(data / "crop" / c / "crop.mp4", 25, json.loads((data / "quality" / c / "quality.json").read_text())
              ["measures"]["frames"]) for c in BATCH]
    for encoder in (load_video_vae(model_dir), load_autoencoder_kl(tmp_path / "kl", 32)):
        together = encode_clips(encoder, clips, batch_frames)
        for (latents, first), clip in zip(together, clips):
            ref, ref_first = encode_clip(encoder, *clip, batch_frames)
            assert latents.shape == ref.shape and latents.dtype == np.float16 and _close(latents, ref)
            assert np.array_equal(first, latents[0])


def test_a_shard_job_batches_video_latents_and_isolates_a_broken_crop(data, model_dir, tmp_path):
    import shutil

    from talkhead.data.shards import LIST_COLUMNS
    from talkhead.stages.feature_shard import record_path, run_group
    from talkhead.stages.feature_steps import StepContext

    root = tmp_path / "data"
    for phase in ("crop", "quality"):
        shutil.copytree(data / phase, root / phase)
    shutil.copytree(root / "crop" / "clip_c", root / "crop" / "clip_x")  # a crop that does not decode
    (root / "crop" / "clip_x" / "crop.mp4").write_bytes(b"not a video")
    shutil.copytree(root / "quality" / "clip_c", root / "quality" / "clip_x")
    rows = [{c: "" for c in LIST_COLUMNS} | {"clip": c, "ok": "1"} for c in (*BATCH, "clip_x")]
    ctx = StepContext(root, {"video_vae": model_dir})
    one = run_group("learned", rows, ctx, {"video_latents": '{"batch_frames": 6}'}, ["video_latents"])
    ref = {c: read_features(root / "features" / c / "video_latents.safetensors")[0]["latents"] for c in BATCH}
    # batch_clips=1 is today's per-clip stage, byte for byte.
    assert (root / "features/clip_b/video_latents.safetensors").read_bytes() == \
        _stage_file(data, model_dir, "clip_b", tmp_path).read_bytes()
    assert one.errors == ["clip_x"] and one.ran == list(BATCH)
    shutil.rmtree(root / "features")
    # Batches of 2: (clip_a, clip_c) encoded together; (clip_b, clip_x) raises, so its clips run one by one.
    two = run_group("learned", rows, ctx, {"video_latents": '{"batch_frames": 6, "batch_clips": 2}'},
                    ["video_latents"])
    assert two.errors == ["clip_x"] and two.ran == list(BATCH) and two.rows[-1]["reasons"] == "stage_error"
    for clip in BATCH:
        assert _close(read_features(root / "features" / clip / "video_latents.safetensors")[0]["latents"], ref[clip])
        assert record_path(root / "features" / clip / "video_latents.safetensors").is_file()
    assert not (root / "features" / "clip_x").exists()


def _stage_file(data: Path, model_dir: Path, clip: str, tmp_path: Path) -> Path:
    out = tmp_path / "stage" / clip / "video_latents.safetensors"
    assert latents_stage.main(["--crop", str(data / "crop" / clip), "--quality", str(data / "quality" / clip),
                               "--model", str(model_dir), "--out", str(out),
                               "--cfg", json.dumps({"batch_frames": 6})]) == 0
    return out
