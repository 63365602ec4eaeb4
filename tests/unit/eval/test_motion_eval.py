"""Motion DiT evaluation: exact helper identities, rendered LMD on a real face, and the stage end to end."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from talkhead.config import DatasetConfig
from talkhead.data.featurefile import write_features
from talkhead.data.metadata import metadata_table
from talkhead.data.pack import pack_clip
from talkhead.demo.portrait import PortraitAnimator
from talkhead.eval import motion as ev
from talkhead.eval.landmarks import extract_landmarks, lmd
from talkhead.features.motion import KEYPOINTS
from talkhead.features.motion_stats import motion_stats
from talkhead.render import make_renderer
from talkhead.stages import evaluate_motion_dit
from talkhead.train.motion_dit import train
from talkhead.train.syncnet import train_selftrained_syncnet
from tests.unit.train.test_motion_train import FRAMES, _cfg, _clip

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

SIZE = 128  # the workflow test's crop size
OUTPUTS = ("metrics.json", "tracks.csv", "plots/mouth.png")


@pytest.fixture(scope="module")
def face():
    """(the demo portrait at the crop size, its own motion (70,), its MediaPipe mesh (478, 3))."""
    image = PortraitAnimator(SIZE).render()
    renderer = make_renderer("mesh_warp", blink="motion")
    own = renderer.prepare(image).motion
    return image, own, extract_landmarks([image])[0]


def test_mouth_opening_is_lower_minus_upper_inner_lip():
    assert (KEYPOINTS[ev.UPPER_LIP], KEYPOINTS[ev.LOWER_LIP]) == (13, 14)
    motion = np.zeros((3, 70), np.float32)
    motion[:, 3 * 15 + 1] = [0.5, 0.25, 0.0]  # lower inner lip y (down)
    motion[:, 3 * 14 + 1] = 0.125  # upper inner lip y
    motion[:, 3 * 15] = 9.0  # x and z do not count
    assert np.array_equal(ev.mouth_opening(motion), [0.375, 0.125, -0.125])


def test_envelope_is_log_of_the_mean_row_power():
    rows = np.array([1.0, 2.0, 3.0, 6.0, 0.5, 0.5, 0.5, 0.5])  # summed power of each mel row, 2 frames
    mel = np.repeat(np.log(rows / 80)[:, None], 80, axis=1)  # (8, 80): each band holds 1/80 of the power
    assert np.allclose(ev.speech_envelope(mel), np.log([3.0, 0.5]), atol=1e-12)


@pytest.mark.parametrize("shift", [-3, -1, 0, 2, 3])
def test_best_lag_r_of_a_shifted_copy_is_one_at_its_lag(shift):
    env = np.random.default_rng(0).normal(size=60)
    mouth = np.roll(env, shift)  # mouth[t + shift] = env[t] inside the clip
    r, lag = ev.best_lag_r(mouth, env, max_lag=3)
    assert lag == shift and r == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(ev.best_lag_r(np.ones(60), env)[0])  # a still mouth has no correlation


def test_means_are_weighted_and_skip_nan():
    acc = ev.Means()
    acc.add("a", 1.0, 3)
    acc.add("a", 3.0, 1)
    acc.add("a", float("nan"), 5)
    acc.add("b", float("nan"))
    assert acc.result() == {"a": 1.5}


def _clip_of(image: np.ndarray, motion: np.ndarray, mesh: np.ndarray) -> ev.MotionClip:
    frames = len(motion)
    return ev.MotionClip("c", np.zeros((4 * frames, 80), np.float32), motion, mesh, image, "none")


def test_lmd_on_the_demo_portrait(face):
    image, own, still = face
    closed = np.repeat(own[None], 12, axis=0)  # (12, 70) the portrait's own motion, held
    opened = closed.copy()
    opened[:, 3 * 15 + 1] += 0.15  # lower inner lip down
    opened[:, 3 * 13 + 1] += 0.15  # lower outer lip with it
    static = np.repeat(still[None], 12, axis=0)
    renderer = make_renderer("mesh_warp", blink="motion")
    frames, shut_mesh, got_still = ev.rendered(renderer, _clip_of(image, closed, static), closed)
    assert frames.shape == (12, SIZE, SIZE, 3) and np.array_equal(got_still, still)
    _, open_mesh, _ = ev.rendered(renderer, _clip_of(image, opened, static), opened)
    assert lmd(static, static) == 0.0
    assert lmd(open_mesh, static) > 0.02 > lmd(shut_mesh, static)
    blank = np.zeros_like(image)
    reason = ev.rendered(renderer, _clip_of(blank, closed, static), closed)
    assert isinstance(reason, str) and reason.startswith("c: ") and "face" in reason


def _repack(root, face) -> tuple:
    """Train (a1, a2) and val (b1: the demo portrait, b2: a blank image) clips with face-like motion and a mesh."""
    image, own, still = face
    gain = np.random.default_rng(99).normal(size=(1, 70)) * 0.02
    gain[0, 3 * 15 + 1], gain[0, 3 * 14 + 1] = 0.04, -0.01  # the mouth opens with the loudness
    packed, motions = [], []
    for clip, speaker, seed in (("a1", "s1", 1), ("a2", "s1", 2), ("b1", "s2", 3), ("b2", "s2", 4)):
        split = "train" if speaker == "s1" else "val"
        _, motion_file = _clip(root, clip, speaker, split, "happiness", seed)  # its mel file is kept
        loud = np.cumsum(np.random.default_rng(seed).normal(size=(4 * FRAMES, 80)), axis=0).reshape(FRAMES, -1)
        loud = (loud.mean(1, keepdims=True) - loud.mean()) / loud.mean(1).std()  # (T, 1), the helper's loudness
        motion = (own[None] + gain * loud).astype(np.float32)  # (T, 70): the portrait's motion, audio-driven
        base = {"clip": clip, "frames": FRAMES, "version": "t", "checkpoint": "", "rate_hz": 25}
        write_features(motion_file, {"motion": motion}, {**base, "modality": "motion", "extractor": "mo"})
        mesh_file = root / f"{clip}_mesh.safetensors"
        write_features(mesh_file, {"points": np.repeat(still[None], FRAMES, axis=0)},
                       {**base, "modality": "face_mesh", "extractor": "mp"})
        reference = np.zeros_like(image) if clip == "b2" else image
        out = root / "clips" / f"{clip}.safetensors"
        pack_clip([root / f"{clip}_mel.safetensors", motion_file, mesh_file], reference, np.array([[0, FRAMES]]),
                  out, {"clip": clip, "frames": FRAMES, "fps": 25, "speaker": speaker, "split": split,
                        "emotion": "happiness"})
        packed.append(out)
        motions.append(motion_file)
    metadata_table(packed, root, DatasetConfig.from_dict({})).to_parquet(root / "metadata.parquet", index=False)
    motion_stats(motions[:2], root / "motion_stats.safetensors")
    return root / "metadata.parquet", root / "motion_stats.safetensors"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, face):
    """(metadata, motion DiT folder, self-trained scorer folder) on the face dataset."""
    root = tmp_path_factory.mktemp("motion_eval")
    (root / "data").mkdir()
    metadata, stats = _repack(root / "data", face)
    train(metadata, stats, _cfg(epochs=2), root / "model")
    train_selftrained_syncnet(metadata, root / "syncnet", {"steps": 4, "batch": 2, "window": 20, "max_shift": 3,
                                                          "hidden": 8, "dim": 8})
    return metadata, root / "model", root / "syncnet"


def _run(metadata, model, out, *extra: str) -> dict:
    assert evaluate_motion_dit.main(["--model", str(model), "--metadata", str(metadata), "--out", str(out),
                                     *extra]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_stage_without_scorers_records_why(trained, tmp_path):
    metadata, model, _ = trained
    m = _run(metadata, model, tmp_path / "eval")
    assert (m["split"], m["clips"], m["frames"], m["plotted_clip"]) == ("val", 2, 2 * FRAMES, "b1")
    assert m["cfg_scale"] == 1.2 and m["max_lag_frames"] == 3
    for key in ("val_l1", "val_l1_exp", "val_l1_pose", "val_l1_cfg0", "val_l1_silence", "val_l1_static"):
        assert m[key] > 0, key
    for source in ("guided", "cfg0", "silence", "ground_truth"):
        assert -1 <= m[f"mouth_env_r_{source}"] <= 1
    assert m["mouth_env_r_ground_truth"] > 0.5  # the fixture's mouth follows its loudness
    assert (m["lmd_clips"], m["lmd_skipped"]) == (1, 1) and m["lmd_skipped_reason"].startswith("b2: ")
    assert m["lmd_mediapipe"] > 0 and m["lmd_mediapipe_static"] >= 0
    absent = m["absent"]
    assert absent["fid_inception"] == "inception_path is not set" and absent["fvd_i3d"] == "i3d_path is not set"
    assert absent["sync_c_syncnet"] == "syncnet_path is not set"
    assert "--syncnet" in absent["sync_c_selftrained"] and "sync_c_selftrained_ground_truth" not in m
    assert "speaking_images" in absent["speaking_gap_std_median"] and not (tmp_path / "eval" / "speaking.csv").exists()
    assert not set(absent) & set(m)
    table = (tmp_path / "eval" / "tracks.csv").read_text().splitlines()
    assert table[0] == "frame,envelope,mouth_ground_truth,mouth_guided,mouth_cfg0,mouth_silence"
    assert len(table) == FRAMES + 1


def test_stage_with_the_selftrained_scorer_is_deterministic(trained, tmp_path):
    metadata, model, syncnet = trained
    runs = [_run(metadata, model, tmp_path / f"eval{i}", "--syncnet", str(syncnet)) for i in range(2)]
    m = runs[0]
    for suffix in ("", "_static", "_ground_truth"):
        assert m[f"sync_d_selftrained{suffix}"] >= 0 and isinstance(m[f"av_offset_selftrained{suffix}"], float)
    assert "sync_c_selftrained" not in m["absent"]
    for name in OUTPUTS:
        assert (tmp_path / "eval0" / name).read_bytes() == (tmp_path / "eval1" / name).read_bytes(), name


class _MomentNet(torch.nn.Module):
    """A stand-in feature network for the wiring test: per-channel mean and std of images or clips."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = list(range(2, x.dim()))
        return torch.cat([x.mean(dims), x.std(dims)], dim=1)  # (N, 6)


def test_stage_scores_fid_fvd_and_syncnet_when_configured(trained, face, tmp_path):
    import soundfile as sf

    from talkhead.media.encode import VideoWriter
    from talkhead.models.syncnet import SyncNetOfficial

    metadata, model, _ = trained
    net = tmp_path / "moments.pt"
    torch.jit.save(torch.jit.script(_MomentNet()), str(net))
    torch.manual_seed(0)
    torch.save(SyncNetOfficial().state_dict(), tmp_path / "syncnet_v2.model")
    (tmp_path / "crop" / "b1").mkdir(parents=True)
    with VideoWriter(tmp_path / "crop" / "b1" / "crop.mp4", 25, (SIZE, SIZE)) as writer:
        for _ in range(FRAMES):
            writer.write_frame(face[0])
    (tmp_path / "quality" / "b1").mkdir(parents=True)
    noise = (np.random.default_rng(0).normal(size=FRAMES * 640) * 3000).astype(np.int16)
    sf.write(tmp_path / "quality" / "b1" / "audio.wav", noise, 16000, subtype="PCM_16")
    cfg = {"inception_path": str(net), "i3d_path": str(net), "syncnet_path": str(tmp_path / "syncnet_v2.model")}
    m = _run(metadata, model, tmp_path / "eval", "--crop-root", str(tmp_path / "crop"),
             "--quality-root", str(tmp_path / "quality"), "--cfg", json.dumps(cfg))
    assert m["fid_inception"] >= 0 and m["fid_inception_samples"] == FRAMES  # b1's frames (b2 has no face)
    assert m["fvd_i3d"] >= 0 and m["fvd_i3d_samples"] == FRAMES // 16
    assert m["sync_d_syncnet"] >= 0 and -15 <= m["av_offset_syncnet"] <= 15
    assert not {"fid_inception", "fvd_i3d", "sync_c_syncnet"} & set(m["absent"])
    digest = hashlib.sha256(net.read_bytes()).hexdigest()  # every network-backed metric names its file
    assert m["fid_inception_sha256"] == m["fvd_i3d_sha256"] == digest
    assert m["syncnet_sha256"] == hashlib.sha256((tmp_path / "syncnet_v2.model").read_bytes()).hexdigest()
    assert m["sync_d_syncnet_ground_truth"] >= 0  # the real crop frames with the same audio and network
    assert "36 frames" in m["absent"]["fvd_i3d_latentsync"]  # the fixture's clips are shorter than LatentSync's
    m = _run(metadata, model, tmp_path / "eval2", "--cfg", json.dumps(cfg))  # networks given, data folders not
    assert "--crop-root" in m["absent"]["fid_inception"] and "--quality-root" in m["absent"]["sync_c_syncnet"]


def test_stage_makes_portraits_speak_recordings_when_configured(trained, tmp_path):
    import pandas as pd
    from PIL import Image

    from talkhead.media.encode import write_wav

    metadata, model, _ = trained
    (tmp_path / "portraits").mkdir()
    Image.fromarray(PortraitAnimator(256).render()).save(tmp_path / "portraits" / "astronaut.png")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "portraits" / "grey.png")  # no face
    (tmp_path / "portraits" / "notes.txt").write_text("not an image")
    t = np.arange(16000) / 16000
    write_wav(tmp_path / "speech.wav", (0.3 * np.sin(2 * np.pi * 200 * t) * (np.sin(2 * np.pi * 2 * t) > 0))
              .astype(np.float32), 16000)
    cfg = {"speaking_images": str(tmp_path / "portraits"), "speaking_audio": str(tmp_path / "speech.wav")}
    m = _run(metadata, model, tmp_path / "eval", "--cfg", json.dumps(cfg))
    assert (m["speaking_videos"], m["speaking_skipped_portraits"]) == (1, 1)
    assert m["speaking_gap_std_min"] == m["speaking_gap_std_median"] >= 0 and 0 <= m["speaking_meets_target"] <= 1
    assert "speaking_gap_std_median" not in m["absent"]
    rows = pd.read_csv(tmp_path / "eval" / "speaking.csv")
    assert rows["portrait"].tolist() == ["astronaut.png", "grey.png"] and rows["frames"].iloc[0] == 25
    assert "no face" in rows["skipped"].iloc[1].lower() and rows["mouth"].iloc[0] == "dit"  # no V3 Face beside it


def test_stage_scores_the_mouth_driver_when_a_v3face_model_is_beside_the_motion_model(trained, tmp_path):
    import shutil

    from talkhead.models.mouth_map import MAP_FILE, save_mouth_map
    from tests.unit.infer.test_mouth_driver import _v3face

    metadata, model, _ = trained
    assert "val_l1_driven" in _run(metadata, model, tmp_path / "plain")["absent"]
    models = tmp_path / "models"
    shutil.copytree(model, models / "motion_dit")
    _v3face(models / "v3face" / "lipsync")
    assert "val_l1_driven" in _run(metadata, models / "motion_dit", tmp_path / "no_map")["absent"]  # trained before it
    weight = np.random.default_rng(0).normal(scale=0.5, size=(31, 33)).astype(np.float32)
    save_mouth_map(models / "motion_dit" / MAP_FILE, {"weight": weight})
    m = _run(metadata, models / "motion_dit", tmp_path / "eval")
    assert m["val_l1_driven"] > 0 and -1 <= m["mouth_env_r_driven"] <= 1
    assert m["val_l1_driven"] != m["val_l1"]  # the driven mouth is not the DiT's
    assert not {"val_l1_driven", "mouth_env_r_driven"} & set(m["absent"])
    header = (tmp_path / "eval" / "tracks.csv").read_text().splitlines()[0]
    assert header == "frame,envelope,mouth_ground_truth,mouth_guided,mouth_cfg0,mouth_silence,mouth_driven"
