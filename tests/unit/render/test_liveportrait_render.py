"""The `liveportrait` renderer: motion → driving keypoints, paste-back geometry, and `talkhead generate
--renderer liveportrait` end to end on a folder of random-weight checkpoints in the official layout.

The end-to-end test uses the real architecture (F, M, W, G and the stitching MLPs, ~130 M weights,
seeded by tests/parity/seeded.py): one frame costs ~15 s on one CPU thread, so it renders 2 frames
(0.08 s of audio) and the motion generator is replaced by a fixed small motion around the portrait's
own (what is tested is the renderer and the command's path, not the motion model).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from talkhead.models.liveportrait.appearance import AppearanceFeatureExtractor
from talkhead.models.liveportrait.motion_extractor import MotionExtractor
from talkhead.models.liveportrait.spade import SPADEDecoder
from talkhead.models.liveportrait.stitching import StitchingRetargeting
from talkhead.models.liveportrait.warping import WarpingNetwork
from talkhead.models.liveportrait.weights import CHECKPOINT_FILES
from talkhead.render.liveportrait import CropPaster, LivePortraitRenderer, LivePortraitSource, feather_mask
from talkhead.render.portrait import WorkCrop
from tests.parity.seeded import seeded_state_dict

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _settle():
    """benchmarks/parity/liveportrait_render.py's `settle_spectral` (converged spectral-norm vectors)."""
    spec = importlib.util.spec_from_file_location("liveportrait_render", ROOT / "benchmarks" / "parity" /
                                                  "liveportrait_render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.settle_spectral


def write_random_liveportrait(directory: Path, seed: int = 7) -> Path:
    """A folder in the official release layout with seeded random weights of the real architecture (.pth)."""
    settle = _settle()
    nets = {"appearance_feature_extractor": AppearanceFeatureExtractor(), "motion_extractor": MotionExtractor(),
            "warping_module": WarpingNetwork(), "spade_generator": SPADEDecoder()}
    for name, net in nets.items():
        path = directory / CHECKPOINT_FILES[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(settle(seeded_state_dict(net.state_dict(), seed)), path)
    state = seeded_state_dict(StitchingRetargeting().state_dict(), seed)
    parts = {part: {f"module.{k.removeprefix(part + '.')}": v for k, v in state.items() if k.startswith(part + ".")}
             for part in ("retarget_shoulder", "retarget_mouth", "retarget_eye")}  # as released: DDP keys
    path = directory / CHECKPOINT_FILES["stitching_retargeting_module"]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(parts, path)
    return directory


def _bare_renderer(stitching: bool = False) -> LivePortraitRenderer:
    """A renderer without weights, for the keypoint arithmetic (no checkpoint needed)."""
    renderer = object.__new__(LivePortraitRenderer)
    renderer.device, renderer.exp_reference = torch.device("cpu"), "portrait"
    renderer.stitching = StitchingRetargeting().eval() if stitching else None
    return renderer


def _source(rng: np.random.Generator) -> LivePortraitSource:
    own = np.zeros(70, np.float32)
    own[:63] = 0.02 * rng.standard_normal(63)
    own[63], own[64:67], own[67:70] = 1.3, (0.02, -0.01, 0.0), (4.0, -7.0, 2.0)
    kp = torch.from_numpy(rng.uniform(-0.5, 0.5, (1, 21, 3)).astype(np.float32))
    kp_source = LivePortraitRenderer._drive(kp, torch.from_numpy(own)[None])
    return LivePortraitSource(image=np.zeros((8, 8, 3), np.uint8), motion=own, kp_canonical=kp, kp_source=kp_source)


def test_the_portraits_own_motion_drives_it_to_its_source_keypoints():
    source = _source(np.random.default_rng(0))
    renderer = _bare_renderer()
    driving = renderer.driving_keypoints(source, np.repeat(source.motion[None], 3, 0))
    assert torch.allclose(driving, source.kp_source.expand(3, -1, -1), atol=1e-5)


def test_motion_is_applied_relative_to_its_first_frame_in_any_units():
    """A motion in other units (scale 200, translation in pixels) moves the face as its ratios say."""
    source = _source(np.random.default_rng(1))
    motion = np.zeros((2, 70), np.float32)
    motion[:, :63] = source.motion[:63]
    motion[:, 63] = (200.0, 220.0)  # 10 % larger
    motion[:, 64:66] = ((100.0, 50.0), (120.0, 50.0))  # 20 px right = 0.1 of a scale unit
    motion[:, 67:70] = (10.0, 30.0, 0.0)  # pose held: the source's own pose is kept
    driving = _bare_renderer().driving_keypoints(source, motion)
    assert torch.allclose(driving[0], source.kp_source[0], atol=1e-5)
    s = float(source.motion[63])
    centred = source.kp_source[0, :, :2] - torch.from_numpy(source.motion[64:66])
    expected = centred * 1.1 + torch.from_numpy(source.motion[64:66]) + torch.tensor([0.1 * s, 0.0])
    assert torch.allclose(driving[1, :, :2], expected, atol=1e-5)


def test_stitching_changes_only_through_its_mlp():
    source = _source(np.random.default_rng(2))
    renderer = _bare_renderer(stitching=True)
    motion = np.repeat(source.motion[None], 2, 0)
    stitched = renderer.driving_keypoints(source, motion)
    expected = renderer.stitching.stitch(source.kp_source.expand(2, -1, -1), source.kp_source.expand(2, -1, -1))
    assert torch.allclose(stitched, expected.detach(), atol=1e-6)


def test_paste_back_puts_the_crop_where_it_was_cut():
    import cv2

    rng = np.random.default_rng(3)
    image = (rng.uniform(0, 255, (40, 60, 3))).astype(np.uint8)
    image = cv2.GaussianBlur(np.kron(image, np.ones((8, 8, 1), np.uint8)), (0, 0), 4)  # (320, 480, 3) smooth
    crop = WorkCrop(150.0, -40.0, 300.0, 512)  # past the top edge
    paster = CropPaster(image, crop)
    frame = paster.paste(crop.cut(image))
    inner = (slice(40, 200), slice(200, 400))  # well inside the crop, away from its feathered border
    error = np.abs(frame[inner].astype(int) - image[inner].astype(int)).mean()
    shifted = np.abs(frame[inner].astype(int) - np.roll(image, 1, axis=1)[inner].astype(int)).mean()
    assert error < 1.0 < shifted  # aligned to the pixel: one pixel off is clearly worse
    assert np.array_equal(frame[:, :140], image[:, :140])  # outside the crop: untouched
    mask = feather_mask(64)
    assert mask.max() == pytest.approx(1.0) and mask[0, 0] < 0.01 and mask[32, 32] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def lp_dir(tmp_path_factory) -> Path:
    return write_random_liveportrait(tmp_path_factory.mktemp("liveportrait"))


def test_generate_with_liveportrait_writes_a_playable_mp4(lp_dir, tmp_path, monkeypatch, capsys):
    from PIL import Image
    from skimage import data

    from talkhead.cli import main
    from talkhead.infer import generate, motion
    from talkhead.media.encode import write_wav
    from talkhead.media.probe import probe

    def fixed_motion(model, meta, stats, mel, ref, emotion, settings, mouth):  # two frames near the portrait's own
        out = np.repeat(np.asarray(ref, np.float32)[None], mel.shape[0] // 4, 0)
        out[-1, :63] += 0.01
        out[-1, 68] += 5.0  # yaw
        return out

    monkeypatch.setattr(generate, "load_models", lambda model_dir, mouth: (None, {}, None, None))
    monkeypatch.setattr(generate, "settings_for", lambda meta, cfg, seed: motion.GenerateSettings())
    monkeypatch.setattr(motion, "generate_motion", fixed_motion)
    image, wav, out = tmp_path / "astronaut.png", tmp_path / "speech.wav", tmp_path / "out.mp4"
    Image.fromarray(data.astronaut()).save(image)
    write_wav(wav, (0.2 * np.sin(2 * np.pi * 180 * np.arange(1280) / 16000)).astype(np.float32), 16000)  # 2 frames
    assert main(["generate", "--threads", "1", "--image", str(image), "--audio", str(wav), "--out", str(out),
                 "--renderer", "liveportrait", "--liveportrait-dir", str(lp_dir)]) == 0
    info = probe(out)
    assert info["video"]["codec"] == "h264" and info["video"]["frames"] == 2, info
    assert info["audio"] is not None and info["audio"]["codec"] == "aac", info
    assert main(["generate", "--image", str(image), "--audio", str(wav), "--out", str(out),
                 "--renderer", "liveportrait"]) == 2  # no weights folder
    assert main(["generate", "--image", str(image), "--audio", str(wav), "--out", str(tmp_path / "x.mp4"),
                 "--renderer", "liveportrait", "--liveportrait-dir", str(tmp_path)]) == 1  # not the release layout
    assert "appearance_feature_extractor" in capsys.readouterr().err and not (tmp_path / "x.mp4").exists()
