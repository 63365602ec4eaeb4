"""The mouth driver: which V3 Face model and map `--mouth` picks, the deltas it gives, and where they land."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from talkhead.features import mel
from talkhead.infer import motion as im
from talkhead.infer.mouth_driver import load_driver
from talkhead.models.motion_dit import MOTION_DIT_SIZES, MotionDiT
from talkhead.models.mouth_map import MAP_FILE, MOUTH_DIMS, save_mouth_map
from talkhead.models.v3face import V3FACE_SIZES, V3Face
from talkhead.models.v3face import MODEL_FORMAT

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _v3face(folder, audio: str = "audio_mel"):
    """A tiny untrained V3 Face folder (config.json + best.safetensors), randomised so its output moves."""
    torch.manual_seed(3)
    model = V3Face(V3FACE_SIZES["tiny"], 80, 4, 8, 2)
    folder.mkdir(parents=True)
    save_file(model.state_dict(), str(folder / "best.safetensors"))
    (folder / "config.json").write_text(json.dumps({
        "format": MODEL_FORMAT, "spec": V3FACE_SIZES["tiny"].to_dict(), "audio": audio, "audio_dim": 80,
        "audio_rows": 4, "cond_dim": 8, "lookahead": 2}))
    return folder


@pytest.fixture
def models(tmp_path):
    """data/models-like folder: motion_dit/ with a mouth map, v3face/lipsync/ beside it."""
    motion = tmp_path / "models" / "motion_dit"
    motion.mkdir(parents=True)
    weight = np.random.default_rng(0).normal(scale=0.1, size=(31, 33)).astype(np.float32)
    save_mouth_map(motion / MAP_FILE, {"weight": weight, "r2_train": np.array([0.9], np.float32)})
    _v3face(tmp_path / "models" / "v3face" / "lipsync")
    return motion


def test_none_auto_and_a_folder(models, tmp_path, caplog):
    assert load_driver("none", models) is None
    auto = load_driver("auto", models)
    assert auto is not None and auto.weight.shape == (31, 33) and auto.rest.shape == (52,)
    explicit = load_driver(str(tmp_path / "models" / "v3face" / "lipsync"), models)
    assert np.array_equal(explicit.rest, auto.rest)


def test_auto_falls_back_to_the_dit_with_a_warning_and_an_explicit_choice_errors(models, tmp_path, caplog):
    lonely = tmp_path / "elsewhere" / "motion_dit"  # a map, but no V3 Face beside it
    lonely.mkdir(parents=True)
    (lonely / MAP_FILE).write_bytes((models / MAP_FILE).read_bytes())
    with caplog.at_level(logging.WARNING):
        assert load_driver("auto", lonely) is None
    assert "no V3 Face model" in caplog.text
    old = tmp_path / "old" / "motion_dit"  # trained before the map existed
    old.mkdir(parents=True)
    with caplog.at_level(logging.WARNING):
        assert load_driver("auto", old) is None
    assert MAP_FILE in caplog.text
    lipsync = str(tmp_path / "models" / "v3face" / "lipsync")
    with pytest.raises(FileNotFoundError, match=MAP_FILE):
        load_driver(lipsync, old)
    with pytest.raises(FileNotFoundError, match="no trained V3 Face model"):
        load_driver(str(tmp_path / "missing"), models)
    with pytest.raises(ValueError, match="audio_hubert"):
        load_driver(str(_v3face(tmp_path / "hubert", "audio_hubert")), models)


def test_silence_gives_the_rest_and_speech_moves_the_mouth(models):
    driver = load_driver("auto", models)
    frames = 50
    silence = mel.log_mel(np.zeros(frames * 640, np.float32), frames)  # (4T, 80)
    t = np.arange(frames * 640) / 16000
    speech = mel.log_mel((0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32),
                         frames)
    still, moving = driver.delta(silence), driver.delta(speech)
    assert still.shape == moving.shape == (frames, 33)
    inner = slice(10, -10)  # away from the edges, where padding makes even silence differ from its mean
    assert np.abs(still[inner]).max() < 0.2 * np.abs(moving[inner]).max()


def test_the_driven_mouth_replaces_the_dit_s_and_nothing_else():
    torch.manual_seed(0)
    model = MotionDiT(MOTION_DIT_SIZES["tiny"], 80, 4).eval()
    stats = {"mean": np.linspace(0, 5, 70).astype(np.float32), "std": np.full(70, 2.0, np.float32)}
    meta = {"n_pred": 32, "n_prev": 8, "sample_steps": 2, "cfg_scale": 1.2, "time_shift": 1.0}
    audio, ref = torch.randn(4 * 40, 80, generator=torch.Generator().manual_seed(1)) - 5, stats["mean"] + 1.0
    delta = np.random.default_rng(2).normal(scale=0.3, size=(40, 33)).astype(np.float32)
    plain = im.generate_motion(model, meta, stats, audio, ref, 4)
    driven = im.generate_motion(model, meta, stats, audio, ref, 4, mouth_delta=delta)
    others = np.setdiff1d(np.arange(70), MOUTH_DIMS)
    assert np.array_equal(driven[:, others], plain[:, others])
    gain = np.where(np.isin(MOUTH_DIMS, im.LIP_DIMS), 1.4, 1.0)  # lip modulation still acts on the lips
    np.testing.assert_allclose(driven[:, MOUTH_DIMS] - ref[MOUTH_DIMS], gain * delta, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="mouth track"):
        im.generate_motion(model, meta, stats, audio, ref, 4, mouth_delta=delta[:30])


def test_a_quiet_recording_is_brought_to_the_training_level(models):
    import dataclasses

    driver = load_driver("auto", models)
    frames = 50
    t = np.arange(frames * 640) / 16000
    noise = np.random.default_rng(0).normal(scale=0.01, size=len(t))  # broadband: no band at the log floor
    loud = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0) + noise
    speech, quiet = mel.log_mel(loud.astype(np.float32), frames), mel.log_mel((0.1 * loud).astype(np.float32), frames)
    leveled = dataclasses.replace(driver, level=mel.speech_level(speech))
    assert leveled.level_shift(speech) == pytest.approx(0.0, abs=1e-6)
    assert leveled.level_shift(quiet) == pytest.approx(2 * np.log(10), rel=1e-3)  # −20 dB of amplitude: ×100 power
    np.testing.assert_allclose(leveled.delta(quiet), leveled.delta(speech), atol=1e-4)
    unleveled = dataclasses.replace(driver, level=None)
    assert np.abs(unleveled.delta(quiet) - unleveled.delta(speech)).max() > 1e-2
    far = dataclasses.replace(driver, level=mel.speech_level(speech) + 50.0)  # bounded to +20 dB of power
    assert far.level_shift(speech) == pytest.approx(20 / 10 * np.log(10))
