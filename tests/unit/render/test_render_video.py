"""render_video: an H.264/AAC mp4 at 25 fps whose length is the audio's, from a path or samples; the registry."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from talkhead.media.encode import write_wav
from talkhead.media.probe import probe
from talkhead.render import RENDERERS, Renderer, make_renderer, register, render_video
from talkhead.render.video import fit_motion


def _speech_like(seconds: float, rate: int) -> np.ndarray:
    """An amplitude-modulated tone, (n,) float32."""
    t = np.arange(int(round(seconds * rate))) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


@pytest.mark.parametrize(("seconds", "motion_frames"), [(1.23, 20), (0.97, 60)])  # padded, trimmed
def test_video_has_audio_25fps_and_the_audio_length(tmp_path, renderer, source, astronaut, open_jaw,
                                                    seconds, motion_frames):
    Image.fromarray(astronaut).save(tmp_path / "portrait.png")
    write_wav(tmp_path / "speech.wav", _speech_like(seconds, 16000), 16000)
    amount = 0.12 * (0.5 + 0.5 * np.sin(np.arange(motion_frames) / 3.0))
    motion = np.stack([open_jaw(source.motion, a) for a in amount])
    out = tmp_path / "out.mp4"
    summary = render_video(renderer, tmp_path / "portrait.png", motion, tmp_path / "speech.wav", out)
    info = probe(out)
    assert info["video"]["codec"] == "h264" and info["audio"]["codec"] == "aac"
    assert info["video"]["fps"] == 25.0
    assert (info["video"]["width"], info["video"]["height"]) == (512, 512)
    assert info["video"]["frames"] == summary["frames"] == round(seconds * 25)
    assert abs(info["video"]["duration_s"] - seconds) <= 1 / 25
    assert abs(info["audio"]["duration_s"] - seconds) <= 1 / 25


def test_video_from_samples_and_an_odd_sized_image(tmp_path, renderer, astronaut, source):
    rate = 44100
    out = tmp_path / "odd.mp4"
    summary = render_video(renderer, astronaut[:511, :509], np.repeat(source.motion[None], 5, 0),
                           (_speech_like(0.5, rate), rate), out)
    info = probe(out)
    assert (info["video"]["width"], info["video"]["height"]) == (508, 510)
    assert info["audio"]["sample_rate"] == rate and summary["frames"] == 12


def test_fit_motion_pads_with_the_last_frame_and_trims():
    motion = np.arange(6 * 70, dtype=np.float32).reshape(6, 70)
    padded = fit_motion(motion, 9)
    assert padded.shape == (9, 70)
    np.testing.assert_array_equal(padded[6:], np.repeat(motion[-1:], 3, 0))
    np.testing.assert_array_equal(fit_motion(motion, 4), motion[:4])


def test_registry_builds_by_name_and_accepts_new_renderers():
    assert "mesh_warp" in RENDERERS
    with pytest.raises(ValueError, match="unknown renderer"):
        make_renderer("nope")
    with pytest.raises(ValueError, match="module:Class"):
        register("bad", "no_colon")
    register("null_for_test", "render_null:NullRenderer")  # tests/unit/render is on sys.path
    try:
        built = make_renderer("null_for_test", weights="/nowhere.safetensors")
        assert isinstance(built, Renderer) and built.weights == "/nowhere.safetensors"
    finally:
        RENDERERS.pop("null_for_test")
