"""The bundled demo dataset: speaking-face clips of one photograph, with real synthesized speech.

`write_demo_dataset` writes, with no download, `<clip_id>.mp4` (H.264 + AAC), `<clip_id>.gt.csv`
(the per-frame values used to animate it), `manifest.csv` and `README.md`. Speech comes from
espeak-ng (`talkhead.demo.speech`), the face from `skimage.data.astronaut()` animated by
`talkhead.demo.portrait`; the mouth opening is the speech RMS envelope of the very frame it is
shown on (no lag), so audio and video are in sync. Source formats differ between speakers
(frame rate, sample rate, channels) so that the normalize stage has something to do. Everything
is seeded: the same config gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import resample_poly

from talkhead.atomic import write_text
from talkhead.config import DemoConfig
from talkhead.demo.portrait import Look, PortraitAnimator
from talkhead.demo.speech import synthesize
from talkhead.media.encode import VideoWriter

log = logging.getLogger(__name__)

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things.",
    "We will meet again at the station tomorrow morning.",
    "My favourite colour has always been a deep blue.",
    "The weather is lovely today, so let us walk.",
    "She sells sea shells by the sea shore.",
    "Open the window and let the fresh air in.",
    "A good book can take you anywhere you like.",
    "The rocket lifted off into a clear sky.",
    "Remember to water the plants every single day.",
    "Music makes a long journey feel much shorter.",
    "Thank you all for coming here this evening.",
)
SPEECH_RATE = 22050  # espeak-ng's native rate
LEAD_S = 0.3  # silence before the speech starts
PEAK = 0.85  # speech is scaled to this peak level
GT_COLUMNS = ("frame", "time_s", "mouth_open", "mouth_open_px", "blink", "roll_deg", "tx_px", "ty_px", "scale")
MANIFEST_COLUMNS = ("clip_id", "source", "start", "end", "speaker", "split", "emotion")
MAX_ROLL_DEG, MAX_SHIFT, MAX_SCALE = 4.0, 0.04, 0.03  # head-motion bounds (shift: fraction of size)
BLINK_S = 0.15


@dataclass(frozen=True)
class Speaker:
    """One demo speaker: a look of the same photograph, a voice, and the source file format."""

    name: str
    split: str
    look: Look
    voice: str
    pitch: int
    rate_wpm: int
    fps: int
    audio_rate: int
    channels: int


SPEAKERS = (
    Speaker("demo_a", "train", Look(), "en-us+f3", 55, 165, 25, 22050, 1),
    Speaker("demo_b", "val", Look(mirror=True, crop_side=265.0, shift=(4.0, 14.0), gains=(0.94, 1.0, 1.08)),
            "en+f4", 45, 150, 30, 44100, 2),
    Speaker("demo_c", "test", Look(crop_side=228.0, shift=(-5.0, 6.0), gains=(1.06, 1.0, 0.92)),
            "en-us+f2", 60, 175, 25, 48000, 1),
    Speaker("demo_d", "train", Look(mirror=True, crop_side=250.0, shift=(0.0, 12.0), gains=(1.0, 0.96, 1.0)),
            "en+f5", 50, 155, 30, 44100, 2),
)


@dataclass(frozen=True)
class Motion:
    """Per-frame animation values of one clip (all arrays (n_frames,) float64)."""

    mouth: np.ndarray
    blink: np.ndarray
    roll: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    scale: np.ndarray


def speech_track(text: str, speaker: Speaker, seconds: float) -> np.ndarray:
    """Speech at SPEECH_RATE, LEAD_S of leading silence, padded/trimmed (with a fade) to `seconds`."""
    speech, rate = synthesize(text, voice=speaker.voice, rate_wpm=speaker.rate_wpm, pitch=speaker.pitch)
    if rate != SPEECH_RATE:
        speech = resample_poly(speech, SPEECH_RATE, rate).astype(np.float32)
    speech = speech * (PEAK / max(float(np.abs(speech).max()), 1e-6))
    total = int(round(seconds * SPEECH_RATE))
    track = np.zeros(total, np.float32)  # (n,)
    lead = int(round(LEAD_S * SPEECH_RATE))
    part = speech[: max(total - lead, 0)]
    track[lead:lead + len(part)] = part
    if len(speech) > len(part):  # cut mid-sentence: fade out over 30 ms instead of clicking
        fade = min(int(0.03 * SPEECH_RATE), len(part))
        track[lead + len(part) - fade:lead + len(part)] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return track


def frame_rms(audio: np.ndarray, rate: int, fps: int, n_frames: int) -> np.ndarray:
    """RMS of mono `audio` over each video frame's own interval [k/fps, (k+1)/fps); (n_frames,)."""
    edges = np.round(np.arange(n_frames + 1) * rate / fps).astype(int)
    out = np.zeros(n_frames)
    for k in range(n_frames):
        seg = audio[edges[k]:edges[k + 1]].astype(np.float64)
        out[k] = float(np.sqrt(np.mean(seg * seg))) if len(seg) else 0.0
    return out


def mouth_from_audio(audio: np.ndarray, rate: int, fps: int, n_frames: int) -> np.ndarray:
    """Mouth opening 0..1 per frame from the speech envelope: zero-lag smoothing, per-clip normalisation."""
    rms = frame_rms(audio, rate, fps, n_frames)
    if rms.max() < 1e-4:
        return np.zeros(n_frames)
    smooth = np.convolve(np.pad(rms, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")  # centred: no lag
    ref = max(float(np.percentile(smooth, 95)), 1e-6)
    return np.clip(np.clip(smooth / ref - 0.03, 0.0, None) / 0.97, 0.0, 1.0) ** 0.8


def _walk(rng: np.random.Generator, n: int, fps: int, bound: float) -> np.ndarray:
    """A smooth bounded random walk (mean-reverting, low-passed), peak |value| within `bound`."""
    x, v = np.zeros(n), 0.0
    steps = rng.standard_normal(n)
    for k in range(1, n):
        v = 0.92 * v + 0.08 * steps[k]
        x[k] = 0.97 * x[k - 1] + v
    x = gaussian_filter1d(x, sigma=max(fps * 0.15, 1.0), mode="nearest")
    x -= x.mean()
    return x * (bound * rng.uniform(0.6, 1.0) / max(float(np.abs(x).max()), 1e-9))


def blinks(rng: np.random.Generator, n: int, fps: int) -> np.ndarray:
    """Blink closure 0..1 per frame: a ~150 ms blink every 2-4 s (the first within 0.4-2 s)."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    start, end = rng.uniform(0.4, 2.0), n / fps
    while start < end:
        phase = (t - start) / BLINK_S
        inside = (phase >= 0) & (phase <= 1)
        out[inside] = np.maximum(out[inside], np.sin(np.pi * phase[inside]))
        start += rng.uniform(2.0, 4.0)
    return out


def make_motion(rng: np.random.Generator, mouth: np.ndarray, fps: int, size: int) -> Motion:
    """Seeded head pose and blinks around a given mouth track."""
    n = len(mouth)
    return Motion(mouth=mouth, blink=blinks(rng, n, fps), roll=_walk(rng, n, fps, MAX_ROLL_DEG),
                  tx=_walk(rng, n, fps, MAX_SHIFT * size), ty=_walk(rng, n, fps, MAX_SHIFT * size),
                  scale=1.0 + _walk(rng, n, fps, MAX_SCALE))


def format_audio(track: np.ndarray, speaker: Speaker) -> np.ndarray:
    """The SPEECH_RATE mono track in the speaker's source format: (n,) mono or (n, 2) stereo."""
    g = int(np.gcd(speaker.audio_rate, SPEECH_RATE))
    out = track if speaker.audio_rate == SPEECH_RATE else resample_poly(track, speaker.audio_rate // g,
                                                                        SPEECH_RATE // g)
    out = np.clip(out, -1.0, 1.0).astype(np.float32)
    return np.stack([out, 0.9 * out], axis=1) if speaker.channels == 2 else out


def gt_csv(motion: Motion, fps: int, open_px: np.ndarray) -> str:
    """The ground-truth CSV text: one row per frame, fixed decimals."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(GT_COLUMNS)
    for k in range(len(motion.mouth)):
        writer.writerow([k, f"{k / fps:.4f}", f"{motion.mouth[k]:.4f}", f"{open_px[k]:.3f}", f"{motion.blink[k]:.4f}",
                         f"{motion.roll[k]:.3f}", f"{motion.tx[k]:.3f}", f"{motion.ty[k]:.3f}",
                         f"{motion.scale[k]:.4f}"])
    return buf.getvalue()


def encode_clip(path: Path, frames: Iterable[np.ndarray], audio: np.ndarray, speaker: Speaker, size: int) -> None:
    """Write RGB frames and the matching audio, interleaved: each frame with the samples it spans."""
    with VideoWriter(path, fps=speaker.fps, size=(size, size), audio_rate=speaker.audio_rate,
                     audio_channels=speaker.channels, crf=18, preset="veryfast", threads=1) as writer:
        lo = 0
        for k, frame in enumerate(frames):
            writer.write_frame(frame)
            hi = int(round((k + 1) * speaker.audio_rate / speaker.fps))
            writer.write_audio(audio[lo:hi])
            lo = hi
        if lo < len(audio):
            writer.write_audio(audio[lo:])


def face_clip(out_dir: Path, clip_id: str, speaker: Speaker, track: np.ndarray, rng: np.random.Generator,
              cfg: DemoConfig, size: int) -> float:
    """Animate the portrait to `track` (SPEECH_RATE mono) and write the clip and its ground truth."""
    n = int(round(cfg.seconds * speaker.fps))
    motion = make_motion(rng, mouth_from_audio(track, SPEECH_RATE, speaker.fps, n), speaker.fps, size)
    animator = PortraitAnimator(size, speaker.look)
    open_px = np.array([animator.mouth_open_px(m, s) for m, s in zip(motion.mouth, motion.scale)])
    frames = (animator.render(motion.mouth[k], motion.blink[k], motion.roll[k], motion.tx[k], motion.ty[k],
                              motion.scale[k]) for k in range(n))
    audio = format_audio(_fit(track, n / speaker.fps), speaker)
    encode_clip(out_dir / f"{clip_id}.mp4", frames, audio, speaker, size)
    write_text(out_dir / f"{clip_id}.gt.csv", gt_csv(motion, speaker.fps, open_px))
    return n / speaker.fps


def _fit(track: np.ndarray, seconds: float) -> np.ndarray:
    """Pad with zeros or trim to exactly `seconds` at SPEECH_RATE."""
    total = int(round(seconds * SPEECH_RATE))
    return np.pad(track, (0, max(total - len(track), 0)))[:total]


def noface_clip(out_dir: Path, clip_id: str, speaker: Speaker, track: np.ndarray, rng: np.random.Generator,
                cfg: DemoConfig, size: int) -> float:
    """A cat photo (skimage.data.chelsea, no human face) moving gently, with speech audio."""
    from skimage import data

    cat = data.chelsea()  # (300, 451, 3) uint8
    side = cat.shape[0]
    cat = np.ascontiguousarray(cat[:, cat.shape[1] - side:])  # right square: the cat's head and body
    n = int(round(cfg.seconds * speaker.fps))
    motion = make_motion(rng, np.zeros(n), speaker.fps, size)
    zoom = size / side

    def frames() -> Iterator[np.ndarray]:
        """The cat photo under the seeded head motion, frame by frame."""
        for k in range(n):
            m = cv2.getRotationMatrix2D((side / 2, side / 2), motion.roll[k], motion.scale[k] * zoom)
            m[:, 2] += (size / 2 - side / 2) + np.array([motion.tx[k], motion.ty[k]])
            yield cv2.warpAffine(cat, m, (size, size), flags=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT_101)  # (size, size, 3) uint8

    motion = Motion(np.zeros(n), np.zeros(n), motion.roll, motion.tx, motion.ty, motion.scale)
    encode_clip(out_dir / f"{clip_id}.mp4", frames(), format_audio(_fit(track, n / speaker.fps), speaker),
                speaker, size)
    write_text(out_dir / f"{clip_id}.gt.csv", gt_csv(motion, speaker.fps, np.zeros(n)))
    return n / speaker.fps


README = """# talkhead demo dataset

Written by `talkhead demo-data` (seed {seed}); nothing was downloaded.

These are synthetic animations of ONE photograph, `skimage.data.astronaut()`: every "speaker" is
that same face (some mirrored, with a different framing and colour balance). The mouth and jaw are
warped to follow real synthesized speech (espeak-ng), with seeded head motion and blinks. They are
a pipeline fixture, not training data.

- `manifest.csv`: one row per clip (speaker-disjoint splits).
- `<clip_id>.mp4`: H.264 + AAC; frame rate, sample rate and channels differ between speakers.
- `<clip_id>.gt.csv`: the per-frame values used to render the clip: `frame`, `time_s` (frame start),
  `mouth_open` (0..1, from the speech RMS envelope of that frame), `mouth_open_px` (opening height at
  mid-mouth in output pixels), `blink` (0 open .. 1 closed), `roll_deg`, `tx_px`, `ty_px`, `scale`
  (head pose about the face centre).
- `demo_noface`: a cat (skimage.data.chelsea) with speech — no human face; `demo_silent`: the
  animated face with all-zero audio and a still mouth. Both are for the quality gate to reject.
"""


def write_demo_dataset(out_dir: Path, cfg: DemoConfig) -> Path:
    """Write the demo clips, their ground truth, README.md and manifest.csv into `out_dir`; return the manifest."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = cfg.size - cfg.size % 2
    if size != cfg.size:
        log.warning("demo size %d is odd; using %d (H.264 yuv420p needs even sizes)", cfg.size, size)
    order = np.random.default_rng([cfg.seed, 7]).permutation(len(SENTENCES))
    rows: list[tuple] = []
    for s, speaker in enumerate(SPEAKERS[:cfg.speakers]):
        for k in range(cfg.clips_per_speaker):
            clip_id = f"demo_s{s}_c{k}"
            text = SENTENCES[order[(s * cfg.clips_per_speaker + k) % len(SENTENCES)]]
            track = speech_track(text, speaker, cfg.seconds)
            duration = face_clip(out_dir, clip_id, speaker, track, np.random.default_rng([cfg.seed, s, k]), cfg, size)
            rows.append((clip_id, f"{clip_id}.mp4", 0, f"{duration:.4f}", speaker.name, speaker.split, "neutral"))
            log.info("demo clip %s: %s %r", clip_id, speaker.voice, text)
    if cfg.negatives:
        rows.extend(_negatives(out_dir, cfg, size, order))
    write_text(out_dir / "README.md", README.format(seed=cfg.seed))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(rows)
    manifest = out_dir / "manifest.csv"
    write_text(manifest, buf.getvalue())
    log.info("demo dataset: %d clips in %s", len(rows), out_dir)
    return manifest


def _negatives(out_dir: Path, cfg: DemoConfig, size: int, order: np.ndarray) -> list[tuple]:
    """The clips the quality gate must reject: no face, and a face with silent audio."""
    speaker = SPEAKERS[0]
    track = speech_track(SENTENCES[order[-1]], speaker, cfg.seconds)
    d1 = noface_clip(out_dir, "demo_noface", speaker, track, np.random.default_rng([cfg.seed, 101]), cfg, size)
    silence = np.zeros(int(round(cfg.seconds * SPEECH_RATE)), np.float32)
    d2 = face_clip(out_dir, "demo_silent", speaker, silence, np.random.default_rng([cfg.seed, 102]), cfg, size)
    log.info("demo negatives: demo_noface, demo_silent")
    return [("demo_noface", "demo_noface.mp4", 0, f"{d1:.4f}", "demo_cat", "train", "neutral"),
            ("demo_silent", "demo_silent.mp4", 0, f"{d2:.4f}", speaker.name, "train", "neutral")]
