"""Normalize: one clip → its constant-frame-rate video plan, mono 16-bit PCM audio, and probe.json.

In quality (layer 3), not media (layer 1): picking an audio stream measures speech with quality.audio.

The video is not re-encoded: `video.json` (talkhead.media.clip_video) records the source file, the
[start, end) window from the manifest, the fps and the exact number of constant-rate frames,
counted from packet timestamps without decoding. Later stages decode the source once each through
that record (variable frame rate, rotation and the window applied while decoding). Audio is
resampled to the target rate and padded or trimmed to exactly frames / fps, and the difference is
recorded, and so are the frames whose audio is missing (a refused packet or a timestamp jump, filled
with silence in place so nothing after it moves; a padded tail longer than two frames): the quality
gate keeps those frames out of training. A file that cannot be read becomes a status record with
reason `unreadable`. A source
without an audio stream is normalized (video only, `has_audio: false`) so that the quality gate can
list `no_audio` with every other reason. A source with several audio streams (a second language, a
commentary track) has each one measured (loudness, Silero VAD speech fraction); the one with most
speech is used, and `status.json` records which (`audio_stream`) and every stream's measures.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from talkhead.atomic import atomic_dir, write_json
from talkhead.config import NormalizeConfig
from talkhead.data.status import ClipStatus, ingested_file, read_status
from talkhead.media.clip_video import ClipVideo
from talkhead.media.decode import DecodeReport, count_frames_cfr, decode_audio
from talkhead.media.encode import write_wav
from talkhead.media.probe import MediaError, probe

log = logging.getLogger(__name__)


def _fit_audio(samples: np.ndarray, n_frames: int, cfg: NormalizeConfig) -> tuple[np.ndarray, int]:
    """Pad with silence or trim to n_frames / fps seconds; return (samples, padded (+) or trimmed (-) count)."""
    target = int(round(n_frames * cfg.sample_rate / cfg.fps))
    delta = target - len(samples)
    if delta > 0:
        samples = np.concatenate([samples, np.zeros(delta, np.float32)])
    return samples[:target], delta


def _speech_stream(src: Path, info: dict, cfg: NormalizeConfig, start: float,
                   end: float | None) -> tuple[int, list[dict]]:
    """(index, per-stream measures) of the audio stream to use: the one with most speech when there are several."""
    streams = info.get("audio_streams") or []
    if len(streams) <= 1:
        return 0, []
    from talkhead.quality.audio import loudness_db, speech_fraction, speech_segments

    measured = []
    for k, meta in enumerate(streams):
        samples = decode_audio(src, cfg.sample_rate, start, end, stream_index=k)
        duration = max(len(samples), 1) / cfg.sample_rate
        measured.append({"index": k, "codec": meta.get("codec"), "language": meta.get("language"),
                         "loudness_db": round(loudness_db(samples), 2),
                         "speech_fraction": round(speech_fraction(speech_segments(samples, cfg.sample_rate),
                                                                  duration), 4)})
    best = max(measured, key=lambda m: (m["speech_fraction"], m["loudness_db"]))["index"]
    log.info("%s: %d audio streams; using stream %d (most speech): %s", src.name, len(streams), best, measured)
    return best, measured


def _audio_damage(report: DecodeReport, padded: int, start: float, n_frames: int,
                  cfg: NormalizeConfig) -> list[tuple[int, int]]:
    """[first, end) video frames whose audio is missing: decoding gaps, and a padded tail longer than two frames."""
    ranges = report.damaged_frames(cfg.fps, start, n_frames)
    per_frame = cfg.sample_rate / cfg.fps
    if padded > 2 * per_frame:
        ranges.append((max(0, n_frames - int(np.ceil(padded / per_frame))), n_frames))
    return ranges


def normalize_clip(ingest_dir: Path, out: Path, cfg: NormalizeConfig) -> ClipStatus:
    """Normalize the clip ingested in `ingest_dir` into `out` (written atomically)."""
    upstream = read_status(ingest_dir)
    clip = upstream.clip
    with atomic_dir(out) as tmp:
        if not upstream.ok:
            status = ClipStatus(clip, "normalize", False, upstream.reasons, f"upstream: {upstream.message}")
            status.write(tmp)
            return status
        start, end = float(upstream.details.get("start") or 0.0), upstream.details.get("end")
        try:
            src = ingested_file(ingest_dir, upstream)
        except (OSError, ValueError) as exc:  # a referenced original removed or changed since ingest
            status = ClipStatus(clip, "normalize", False, ["unavailable"], f"source: {exc}")
            status.write(tmp)
            return status
        try:
            info = probe(src)
            write_json(tmp / "probe.json", info)
            if info["video"] is None:
                raise MediaError(f"{src.name}: no video stream")
            n_frames = count_frames_cfr(src, cfg.fps, start, end)
            rotated = info["video"].get("rotation", 0) in (90, 270)
            size = (info["video"]["height"], info["video"]["width"]) if rotated else (
                info["video"]["width"], info["video"]["height"])
            video = ClipVideo(str(src), cfg.fps, start, None if end is None else float(end), n_frames, *size)
            video.write(tmp, final=out)
            stream, candidates = _speech_stream(src, info, cfg, start, end)
            audio_decode = DecodeReport()
            samples = decode_audio(src, cfg.sample_rate, start, end, report=audio_decode, stream_index=stream)
        except MediaError as exc:
            status = ClipStatus(clip, "normalize", False, [exc.reason], str(exc))
            status.write(tmp)
            return status
        details = {"frames": n_frames, "fps": cfg.fps, "width": size[0], "height": size[1],
                   "duration_s": n_frames / cfg.fps, "sample_rate": cfg.sample_rate,
                   "source_fps": info["video"]["fps"], "source_size": [info["video"]["width"], info["video"]["height"]]}
        if samples is None:  # not fatal here: the quality gate reports no_audio beside any other reason
            details.update(has_audio=False)
            status = ClipStatus(clip, "normalize", True, [], "the source has no audio stream", details)
        else:
            fitted, delta = _fit_audio(samples, n_frames, cfg)
            write_wav(tmp / "audio.wav", fitted, cfg.sample_rate)
            details.update(has_audio=True, audio_samples=len(fitted), audio_padded_samples=max(delta, 0),
                           audio_trimmed_samples=max(-delta, 0), audio_decode=audio_decode.summary(),
                           audio_stream=stream, audio_streams=candidates,
                           audio_damaged_frames=_audio_damage(audio_decode, delta, start, n_frames, cfg))
            status = ClipStatus(clip, "normalize", True, [], "", details)
        status.write(tmp)
    return status
