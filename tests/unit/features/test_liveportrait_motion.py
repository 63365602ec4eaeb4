"""The `liveportrait` motion backend: a folder of random-weight official checkpoints → (T, 70) motion, MoDA's layout.

The motion extractor here has the real architecture with seeded weights (tests/parity/seeded.py),
saved as the release's `base_models/motion_extractor.pth`; the crop is a short synthetic 512² video.
With `liveportrait.dir` empty the motion step is the mesh-derived one, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from talkhead.config import ConfigError, LiveportraitConfig
from talkhead.data.featurefile import read_features, write_features
from talkhead.features import canonical, pose
from talkhead.features import liveportrait_motion as lpm
from talkhead.features.motion import motion_clip
from talkhead.media.decode import iter_frames_cfr
from talkhead.media.encode import VideoWriter
from talkhead.models.checkpoint import file_digest
from talkhead.models.liveportrait.keypoints import headpose_degrees
from talkhead.models.liveportrait.motion_extractor import MotionExtractor
from talkhead.stages import motion as motion_stage
from talkhead.stages.feature_shard import liveportrait_weights
from talkhead.stages.feature_steps import STEPS, ClipEntry, StepContext
from tests.parity.seeded import seeded_state_dict

FRAMES, PX, SEED = 4, 512, 5


def _frame(t: int) -> np.ndarray:
    """(PX, PX, 3) uint8: a skin-toned disc (a face stand-in) with a mouth bar that opens over time."""
    img = np.full((PX, PX, 3), (200, 210, 220), np.uint8)
    cv2.ellipse(img, (PX // 2 + 4 * t, PX // 2), (150, 190), 0, 0, 360, (225, 180, 150), -1)
    cv2.circle(img, (PX // 2 - 60, PX // 2 - 50), 18, (40, 30, 30), -1)
    cv2.circle(img, (PX // 2 + 60, PX // 2 - 50), 18, (40, 30, 30), -1)
    cv2.rectangle(img, (PX // 2 - 50, PX // 2 + 80), (PX // 2 + 50, PX // 2 + 86 + 6 * t), (120, 40, 50), -1)
    return img


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A LivePortrait folder in the release layout holding a seeded motion extractor (real architecture, .pth)."""
    root = tmp_path_factory.mktemp("liveportrait")
    (root / "base_models").mkdir()
    state = seeded_state_dict(MotionExtractor().state_dict(), SEED)
    torch.save(state, root / "base_models" / "motion_extractor.pth")
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """data/crop/clip_a/crop.mp4 (FRAMES × 512²) and data/quality/clip_a/quality.json (accepted)."""
    root = tmp_path_factory.mktemp("data")
    with VideoWriter(root / "crop" / "clip_a" / "crop.mp4", 25, (PX, PX)) as writer:
        for t in range(FRAMES):
            writer.write_frame(_frame(t))
    quality = {"clip": "clip_a", "verdict": "accept", "reasons": [], "measures": {"frames": FRAMES, "fps": 25}}
    (root / "quality" / "clip_a").mkdir(parents=True)
    (root / "quality" / "clip_a" / "quality.json").write_text(json.dumps(quality))
    return root


def test_motion_step_writes_liveportrait_motion(weights, data):
    cfg = LiveportraitConfig.from_dict({"dir": str(weights), "batch_size": 3})  # 4 frames: batches of 3 and 1
    ctx, entry = StepContext(data, {"liveportrait": liveportrait_weights(cfg.to_json())}), ClipEntry("clip_a")
    out = STEPS["motion"].output(ctx, "clip_a")
    STEPS["motion"].run(ctx, entry, out, cfg)
    tensors, meta = read_features(out)
    motion, kp_c = tensors["motion"], tensors["clip_kp_canonical"]
    assert motion.shape == (FRAMES, 70) and motion.dtype == np.float32 and kp_c.shape == (21, 3)
    assert meta["extractor"] == lpm.EXTRACTOR and meta["version"] == lpm.VERSION and meta["backend"] == "liveportrait"
    assert meta["checkpoint"] == file_digest([weights / "base_models" / "motion_extractor.pth"])
    assert meta["names"].split(",")[63:] == ["scale", "tx", "ty", "tz", "pitch", "yaw", "roll"]
    extractor = ctx.cache["liveportrait_motion"]  # loaded once, kept for the job's next clips

    # The documented layout, from the extractor run directly on the decoded frames in one batch.
    frames = np.stack(list(iter_frames_cfr(data / "crop" / "clip_a" / "crop.mp4", 25)))  # (T, 512, 512, 3)
    x = torch.from_numpy(np.stack([cv2.resize(f, (256, 256)) for f in frames]).astype(np.float32) / 255.0)
    with torch.no_grad():
        raw = extractor.model(x.permute(0, 3, 1, 2))
    expected = np.concatenate([raw["exp"], raw["scale"], raw["t"],
                               *(headpose_degrees(raw[a])[:, None] for a in ("pitch", "yaw", "roll"))], axis=1)
    tol = 1e-4 * np.abs(expected).max()  # batches of 3 and 1 against one of 4
    np.testing.assert_allclose(motion, expected, rtol=0, atol=tol)
    np.testing.assert_allclose(kp_c, raw["kp"][0].reshape(21, 3).numpy(), rtol=0, atol=tol)  # the first frame's
    assert np.ptp(motion[:, :63], axis=0).max() > 0  # the frames differ, so does their motion

    # The stage CLI computes the same file on its own (loading the weights itself).
    again = data / "features" / "clip_a" / "motion_cli.safetensors"
    assert motion_stage.main(["--crop", str(data / "crop" / "clip_a"), "--quality", str(data / "quality" / "clip_a"),
                              "--out", str(again), "--cfg", cfg.to_json()]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_without_a_folder_motion_is_the_mesh_one(tmp_path):
    face = canonical.canonical_face().astype(np.float64)
    rng = np.random.default_rng(0)
    points = np.stack([(200 + 10 * i) * face @ pose.matrix_from_euler(np.array([[5.0 * i, -3.0, 2.0]]))[0].T
                       + np.array([256.0, 250.0, 0.0]) + rng.normal(0, 0.3, face.shape) for i in range(4)])
    meta = {"clip": "c", "modality": "face_mesh", "rate_hz": 25, "frames": 4, "extractor": "x", "version": "1",
            "checkpoint": ""}
    ctx = StepContext(tmp_path)
    write_features(ctx.feature("face_mesh", "c"), {"points": points.astype(np.float32)}, meta)
    pose.head_pose_clip(ctx.feature("face_mesh", "c"), ctx.feature("head_pose", "c"))
    before = tmp_path / "before.safetensors"  # what the step wrote before the liveportrait backend existed
    motion_clip(ctx.feature("face_mesh", "c"), ctx.feature("head_pose", "c"), before)
    out = STEPS["motion"].output(ctx, "c")
    STEPS["motion"].run(ctx, ClipEntry("c"), out, LiveportraitConfig.from_dict({}))
    assert out.read_bytes() == before.read_bytes()
    assert liveportrait_weights(LiveportraitConfig.from_dict({}).to_json()) is None


def test_a_folder_without_the_motion_extractor_is_a_config_error(tmp_path):
    cfg = LiveportraitConfig.from_dict({"dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="base_models/motion_extractor.pth"):
        liveportrait_weights(cfg.to_json())
    with pytest.raises(ConfigError, match="official release layout"):
        lpm.load_extractor(cfg)


def test_features_job_writes_motion_through_the_extractor(weights, demo_dataset, tmp_path):
    """The `features` shard job (its CLI, as features_shard runs it) on the demo's accepted clip, with
    liveportrait.dir set."""
    from talkhead.atomic import write_text
    from talkhead.data.manifest import read_manifest
    from talkhead.data.shards import LIST_COLUMNS, read_rows, rows_text
    from talkhead.stages import feature_shard
    from talkhead.stages import shard as shard_stage
    from talkhead.stages.shard_phases import PHASES

    data = tmp_path / "data"
    cfgs = {"faces": '{"stride": 5}', "crop": '{"size": 128, "preset": "ultrafast", "crf": 28}',
            "quality": '{"min_face_px": 40, "min_blur": 1.0}'}
    rows = read_manifest(demo_dataset)
    for phase in ("ingest", "normalize", "faces", "crop", "quality"):
        shard_stage.run_shard(PHASES[phase], rows, demo_dataset, data, cfgs.get(phase, ""),
                              data / phase / "_shards" / "shard00000.csv")
    clip = {"clip": "demo_s0_c0", "ok": "1", "reasons": "", "speaker": "demo_a", "split": "train", "emotion": ""}
    clips, index = data / "qc/_shards/shard00000.csv", data / "features/_shards/shard00000.csv"
    write_text(clips, rows_text([clip], LIST_COLUMNS))
    cfg = json.dumps({"liveportrait": {"dir": str(weights), "batch_size": 25}})
    args = ["features", "--clips", str(clips), "--data", str(data), "--index", str(index),
            "--modalities", "audio_mel,face_mesh,head_pose,motion", "--cfg", cfg]
    assert feature_shard.main(args) == 0
    assert read_rows(index, LIST_COLUMNS)[0]["ok"] == "1"
    tensors, meta = read_features(data / "features/demo_s0_c0/motion.safetensors")
    frames = int(meta["frames"])
    assert meta["backend"] == "liveportrait" and tensors["motion"].shape == (frames, 70)
    assert tensors["clip_kp_canonical"].shape == (21, 3) and np.isfinite(tensors["motion"]).all()
    # The weights file is part of the motion step's fingerprint: other weights, other motion.
    from talkhead.stages.feature_shard import _Digests, step_fingerprint

    entry, step = ClipEntry("demo_s0_c0"), STEPS["motion"]
    reads, lp = step.reads, LiveportraitConfig.from_json(json.dumps({"dir": str(weights)})).to_json()
    other = tmp_path / "other.pth"  # only its bytes matter to the fingerprint
    other.write_bytes(b"other weights")
    prints = {step_fingerprint(step, StepContext(data, {"liveportrait": path}), entry, lp, reads, _Digests())
              for path in (weights / "base_models/motion_extractor.pth", other)}
    assert len(prints) == 2
