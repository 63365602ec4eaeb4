"""`talkhead generate`: one portrait + speech → a speaking video with its audio (MoDA's path, offline).

    speech (an audio file of any format, or text spoken by espeak-ng from its wheel)
      → 16 kHz log-mel (4 rows per 25 fps frame, talkhead.features.mel)
      → the motion DiT (talkhead.infer.motion: 80-frame segments, 10 Euler steps, classifier-free
        guidance, Kalman-smoothed pose, lip modulation), driven from the portrait's own motion, its
        mouth moved by V3 Face's lipsync output (talkhead.infer.mouth_driver) when there is a model
      → a renderer (talkhead.render: the offline mesh warp by default, or LivePortrait's networks with
        `renderer="liveportrait"` and its weights folder) → H.264/AAC mp4 at 25 fps

The portrait is downscaled (area-averaged, even sides) to a long side of at most `max_size`
(1920) before anything else: the face is animated in a work crop of at most 512 px whatever the
photo's size, so more pixels would only make the video slower, larger, and, above H.264 level 5.1's
frame size, unplayable on many players.

The video has round(audio seconds × 25) frames, so it ends within half a frame of its audio.
The seed 001 notes' text → speech → video path is `--text`: the words are spoken offline and
drive the face like any recording.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample_poly

from talkhead.features import mel

log = logging.getLogger(__name__)

FPS = 25
MEL_RATE = 16000
DEFAULT_MODEL = Path("data/models/motion_dit")
MAX_SIZE = 1920  # default cap on the video's long side: a square video stays within H.264 level 5.1


@dataclass(frozen=True)
class GenerateRequest:
    """One `talkhead generate` call."""

    image: Path
    out: Path
    audio: Path | None = None
    text: str | None = None
    model: Path = DEFAULT_MODEL
    voice: str = "en-us"
    emotion: str = "none"
    cfg_scale: float | None = None  # None: the model's own default
    seed: int = 0
    renderer: str = "mesh_warp"
    max_size: int | None = MAX_SIZE  # long side of the video (the portrait is downscaled to it); None: no cap
    mouth: str = "auto"  # what moves the mouth: auto | none | a V3 Face folder (talkhead.infer.mouth_driver)
    renderer_options: dict | None = None  # keyword options of the renderer, e.g. liveportrait's directory, device


def check_text(text: str) -> str:
    """`text` itself if it has something to speak (a letter or digit of any script); ValueError otherwise."""
    if not any(ch.isalnum() for ch in text):
        raise ValueError(f"--text {text!r} has nothing to speak (no letters or digits)")
    return text


def speech(audio: Path | None, text: str | None, voice: str = "en-us") -> tuple[np.ndarray, int]:
    """(mono float32 samples, rate) of an audio file, or of `text` spoken by espeak-ng."""
    if (audio is None) == (text is None):
        raise ValueError("give exactly one of an audio file or a text to speak")
    if text is not None:
        from talkhead.demo.speech import synthesize

        return synthesize(check_text(text), voice=voice)
    from talkhead.render.video import load_audio

    samples, rate = load_audio(Path(audio))
    if len(samples) == 0:
        raise ValueError(f"{audio}: the audio is empty")
    return samples, rate


def speech_mel(samples: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """(log-mel (4T, 80), T frames) of speech at any rate: resampled to 16 kHz, T = round(seconds × 25)."""
    frames = max(1, int(round(len(samples) * FPS / rate)))
    if rate != MEL_RATE:
        g = gcd(rate, MEL_RATE)
        samples = resample_poly(samples.astype(np.float64), MEL_RATE // g, rate // g).astype(np.float32)
    return mel.log_mel(samples, frames), frames


def load_motion_model(model_dir: Path):
    """(model, config.json, stats) of a trained motion DiT folder, with a clear error when there is none."""
    from talkhead.models.motion_dit import load_model

    if not (Path(model_dir) / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no trained motion model there (train one with `make demo` or "
                                "`snakemake --cores 2 train_motion_dit`, or pass --model DIR)")
    model, meta, stats = load_model(model_dir)
    if meta["audio"] != "audio_mel":
        raise ValueError(f"{model_dir}: the model reads {meta['audio']} features; `talkhead generate` computes "
                         "log-mel only (train with motion_dit.audio: audio_mel)")
    return model, meta, stats


def settings_for(meta: dict, cfg_scale: float | None, seed: int):
    """The model's own sampling and post-processing settings, with the caller's guidance scale and seed."""
    from talkhead.config import MotionDitConfig
    from talkhead.infer.motion import GenerateSettings

    base = GenerateSettings.from_config(MotionDitConfig.from_dict(meta["train"]))
    return dataclasses.replace(base, seed=int(seed), **({} if cfg_scale is None else {"cfg_scale": float(cfg_scale)}))


def load_models(model_dir: Path, mouth: str = "auto") -> tuple:
    """(motion model, config.json, stats, mouth driver or None): what generate_video needs loaded, once for many
    requests with the same `model` and `mouth`."""
    from talkhead.infer.mouth_driver import load_driver

    return (*load_motion_model(model_dir), load_driver(mouth, model_dir))


def generate_video(req: GenerateRequest, models: tuple | None = None) -> dict:
    """Speech → motion → frames → req.out; returns a summary (frames, durations, settings). `models`:
    load_models(req.model, req.mouth) already loaded (loaded here when None)."""
    from talkhead.infer.motion import generate_motion
    from talkhead.vocab import EMOTIONS, emotion_id
    from talkhead.render import load_image, make_renderer, render_video

    if req.emotion.strip().lower() not in EMOTIONS:
        raise ValueError(f"unknown emotion {req.emotion!r}; choose one of {', '.join(EMOTIONS)}")
    if req.text is not None:
        check_text(req.text)
    image = load_image(req.image, req.max_size)  # ImageTooLargeError / ValueError; capped to the video's size
    model, meta, stats, driver = models or load_models(req.model, req.mouth)
    renderer = make_renderer(req.renderer, **(req.renderer_options or {}))
    source = renderer.prepare(image, name=str(req.image))  # NoFaceError / MultipleFacesError
    samples, rate = speech(req.audio, req.text, req.voice)
    mel_rows, frames = speech_mel(samples, rate)
    settings = settings_for(meta, req.cfg_scale, req.seed)
    log.info("motion for %d frames (%.2f s of speech), guidance %.2f, emotion %s", frames, len(samples) / rate,
             settings.cfg_scale, req.emotion)
    mouth = driver.delta(mel_rows) if driver else None  # (T, 33) raw
    motion = generate_motion(model, meta, stats, torch.from_numpy(mel_rows), source.motion,
                             emotion_id(req.emotion), settings, mouth)  # (T, 70) raw
    summary = render_video(renderer, source, motion, (samples, rate), req.out)
    renderer.close()
    return summary | {"emotion": req.emotion, "cfg_scale": settings.cfg_scale, "seed": settings.seed,
                      "model": str(req.model), "renderer": req.renderer, "mouth": "driver" if driver else "dit"}


def summary_line(summary: dict) -> str:
    """One line for the terminal."""
    keys = ("frames", "video_s", "audio_s", "size", "cfg_scale", "emotion", "mouth")
    return json.dumps({k: summary[k] for k in keys if k in summary})
