"""Streaming decode: constant-frame-rate RGB frames and mono float audio at a chosen rate.

Frames are resampled to a constant rate by presentation time (each output instant takes the
source frame shown at that instant), which is correct for variable-frame-rate sources; display
rotation is applied. Frames are yielded one at a time, so memory does not grow with clip length.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from talkhead.media.probe import MediaError
from talkhead.media.yuv import quarter_turns

log = logging.getLogger(__name__)


def _open(path: str | Path) -> av.container.InputContainer:
    """Open a media file for reading; MediaError(unreadable) if FFmpeg cannot."""
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: cannot open ({exc})") from None


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Even output size no larger than `max_side` on the long side (0 keeps the size), aspect kept."""
    scale = min(1.0, max_side / max(width, height)) if max_side else 1.0
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def _cfr_plan(times: Iterator[float], fps: int, start: float, end: float | None) -> Iterator[tuple[int, bool]]:
    """The constant-rate mapping shared by decoding and counting, driven by presentation times in order.

    Output instant k (at start + k/fps) shows the last source frame presented at or before it. For
    each source time t this yields (n, adopt): emit the held frame n more times (the instants
    before t), then hold the frame at t if `adopt`. It stops at the first instant at or past `end`.
    """
    step = Fraction(1, fps)
    k = 0
    held = False
    for t in times:
        n = 0
        while held and start + float((k + n) * step) < t - 1e-6:
            if end is not None and start + float((k + n) * step) >= end - 1e-6:
                yield n, False
                return
            n += 1
        k += n
        if end is not None and t >= end - 1e-6 and held:
            yield n, False
            return
        yield n, True
        held = True


def _tail(k: int, fps: int, start: float, stop: float) -> int:
    """Instants still owed to the last frame after k were emitted (it shows until `stop`; at least one frame in all)."""
    step = Fraction(1, fps)
    n = 0
    while start + float((k + n) * step) < stop - 1e-6 or k + n == 0:
        n += 1
    return n


def to_rgb(max_side: int = 0) -> Callable[[av.VideoFrame], np.ndarray]:
    """A converter: decoded frame → RGB uint8 (H, W, 3), rotation applied, downscaled to `max_side`."""
    size: list[tuple[int, int]] = []

    def convert(frame: av.VideoFrame) -> np.ndarray:
        rgb, turns = frame.to_ndarray(format="rgb24"), quarter_turns(frame)
        if turns:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=turns))  # display rotation applied
        if not size:
            size.append(fit_size(rgb.shape[1], rgb.shape[0], max_side))
        if (rgb.shape[1], rgb.shape[0]) != size[0]:
            rgb = cv2.resize(rgb, size[0], interpolation=cv2.INTER_AREA)
        return rgb

    return convert


@dataclass
class DecodeReport:
    """What one decoding pass met: refused packets, frames FFmpeg flagged corrupt, bad timestamps, and where.

    Times are source seconds. A damaged stretch starts at a refused packet or a corrupt frame and
    lasts until the next keyframe (frames in between are predicted from damaged ones); a decode
    that ends before the stream does leaves its tail damaged.
    """

    packets: int = 0
    errors: int = 0  # packets the decoder refused
    corrupt_frames: int = 0  # frames FFmpeg marked corrupt (concealed errors)
    bad_timestamps: int = 0  # packets without a timestamp, or with a decode time not after the previous one
    decoded: int = 0  # frames that came out of the decoder
    bad_times: list[float] = field(default_factory=list)
    keyframes: list[float] = field(default_factory=list)
    last_time: float | None = None
    stopped_early: bool = False  # the demuxer gave up before the end of the file
    gaps: list[tuple[float, float]] = field(default_factory=list)  # audio: stretches the stream lacks

    def damaged_spans(self, stream_end: float) -> list[tuple[float, float]]:
        """[(start, end)) source-time stretches whose frames are missing or built on damaged data."""
        spans = []
        for t in sorted(self.bad_times):
            nxt = next((k for k in sorted(self.keyframes) if k > t + 1e-6), stream_end)
            spans.append((t, nxt))
        if self.stopped_early and self.last_time is not None:
            spans.append((self.last_time + 1e-6, stream_end))
        spans.extend(self.gaps)
        merged: list[tuple[float, float]] = []
        for a, b in sorted(spans):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return merged

    def damaged_frames(self, fps: int, start: float, n_frames: int) -> list[tuple[int, int]]:
        """The damaged spans as [first, end) ranges of the n constant-rate output frames from `start`."""
        out = []
        for a, b in self.damaged_spans(start + n_frames / fps):
            first = max(0, int(math.floor((a - start) * fps + 1e-6)))
            last = min(n_frames, int(math.ceil((b - start) * fps - 1e-6)))
            if last > first:
                out.append((first, last))
        return out

    def summary(self) -> dict:
        """The counts, for a stage's JSON."""
        return {"packets": self.packets, "decode_errors": self.errors, "corrupt_frames": self.corrupt_frames,
                "bad_timestamps": self.bad_timestamps, "decoded_frames": self.decoded,
                "stopped_early": self.stopped_early, "gaps": len(self.gaps)}


# Threading for a decode whose damage is counted. With frame threading FFmpeg now and then hands out a
# concealed frame without its corrupt flag (the frame leaves one thread while another is still finishing the
# picture): with two busy processes beside it, the same damaged file gave no corrupt frame in 7 of 60 decodes.
# Slice threading flagged it in 60 of 60 under the same load, at ~1.35x the decode time of a 1080p frame
# (2.3 vs 1.7 ms, 2 cores); an undamaged stream's frames are the same either way.
DAMAGE_THREADS = "SLICE"

SEEK_AFTER_S = 2.0  # a clip starting later than this into its video decodes from the keyframe before its start


def _packets_from(container: av.container.InputContainer, stream, start: float) -> Iterator[av.Packet]:
    """The video packets to decode for a clip starting at `start` (source seconds): from the last keyframe at or
    before it when the container can seek there, else from the beginning.

    A segment of a long video (HDTF-style manifests cut many clips from one source) then costs its own length,
    not everything before it. The frames decoded from that keyframe are the ones a decode from the beginning
    gives (a keyframe starts a fresh decode); when the seek lands after `start` (a container without an index)
    or the keyframe has no timestamp, the stream is read from the beginning instead."""
    if start > SEEK_AFTER_S:
        try:
            container.seek(int(math.floor(start / stream.time_base)), stream=stream, backward=True, any_frame=False)
            packets = container.demux(stream)
            first = next((p for p in packets if p.size), None)
        except av.FFmpegError:
            first = None
        if (first is not None and first.is_keyframe and first.pts is not None
                and first.pts * stream.time_base <= start + 1e-6):
            yield first
            yield from packets  # a demuxing error from here on is the caller's, as without seeking
            return
        try:
            container.seek(0, stream=stream, backward=True, any_frame=False)  # back to the start, decoder reset
        except av.FFmpegError as exc:
            raise MediaError(f"{container.name}: cannot seek back to the start after seeking to {start:.3f} s "
                             f"({exc})", reason="unreadable") from None
        stream.codec_context.flush_buffers()
    yield from container.demux(stream)


def _decode_packets(container: av.container.InputContainer, stream, report: DecodeReport,
                    path: str | Path, start: float = 0.0) -> Iterator[av.VideoFrame | av.AudioFrame]:
    """Every frame of `stream` (from the keyframe before `start` where the container can seek: _packets_from),
    decoding packet by packet: a refused packet is counted and skipped, not fatal."""
    last_dts = None
    packets = _packets_from(container, stream, start) if start > 0 else container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            log.warning("%s: demuxing stopped (%s) after %d frames", path, exc, report.decoded)
            report.stopped_early = True
            return
        if packet.size:
            report.packets += 1
            if packet.dts is None or (last_dts is not None and packet.dts <= last_dts):
                report.bad_timestamps += 1
            last_dts = packet.dts if packet.dts is not None else last_dts
            if packet.is_keyframe and packet.pts is not None:
                report.keyframes.append(float(packet.pts * stream.time_base))
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            report.errors += 1
            when = packet.pts if packet.pts is not None else packet.dts
            report.bad_times.append(float(when * stream.time_base) if when is not None else (report.last_time or 0.0))
            log.debug("%s: packet refused (%s)", path, exc)
            continue
        for frame in frames:
            report.decoded += 1
            if frame.time is not None:
                report.last_time = float(frame.time)
                if frame.is_corrupt:
                    report.corrupt_frames += 1
                    report.bad_times.append(float(frame.time))
            yield frame


def iter_decoded_cfr(
    path: str | Path, fps: int, start: float = 0.0, end: float | None = None, frames: int | None = None,
    report: DecodeReport | None = None,
) -> Iterator[av.VideoFrame]:
    """Yield decoded frames at exactly `fps` for [start, end) (a frame repeats when the source is slower).

    With `frames` given, exactly that many are yielded: a decode that ends early repeats its last
    frame, one that runs long is cut (so every stage sees the count normalize recorded). Damage is
    counted in `report` (a packet the decoder refuses is skipped, and the frame before it held):
    read it with `DecodeReport.damaged_frames` after the loop. With a report the decoder threads
    by slice, not by frame (DAMAGE_THREADS), so the damage found does not depend on machine load;
    the frames of an undamaged stream are the same either way.
    """
    counting_damage = report is not None
    report = report if report is not None else DecodeReport()
    emitted = 0
    last: av.VideoFrame | None = None
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream", reason="unreadable")
        stream = container.streams.video[0]
        stream.thread_type = DAMAGE_THREADS if counting_damage else "AUTO"
        pending: list[av.VideoFrame] = []

        def times() -> Iterator[float]:
            for frame in _decode_packets(container, stream, report, path, start):
                if frame.time is not None:
                    pending.append(frame)
                    yield float(frame.time)

        for n, adopt in _cfr_plan(times(), fps, start, end):
            for _ in range(n):
                if frames is not None and emitted >= frames:
                    return
                yield last
                emitted += 1
            if adopt:
                last = pending[-1]
            pending.clear()
        if last is None:
            raise MediaError(f"{path}: no decodable video frame")
        stream_end = _stream_end(stream, end)
        if report.last_time is not None and stream_end - report.last_time > 2.0 / fps:
            report.stopped_early = True  # frames the stream promised never came out of the decoder
        owed = _tail(emitted, fps, start, stream_end) if frames is None else frames - emitted
        for _ in range(max(owed, 0)):
            yield last
            emitted += 1


def iter_frames_cfr(
    path: str | Path, fps: int, start: float = 0.0, end: float | None = None, max_side: int = 0,
    frames: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames (H, W, 3) at exactly `fps` for [start, end) of the first video stream.

    Each source frame is converted once, however often it repeats, and only if it is shown.
    """
    convert = to_rgb(max_side)
    held: tuple[av.VideoFrame, np.ndarray] | None = None
    for frame in iter_decoded_cfr(path, fps, start, end, frames):
        if held is None or held[0] is not frame:
            held = (frame, convert(frame))
        yield held[1]


def count_frames_cfr(path: str | Path, fps: int, start: float = 0.0, end: float | None = None) -> int:
    """How many frames iter_frames_cfr yields for a cleanly decodable file — from packet timestamps, no decoding."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream", reason="unreadable")
        stream = container.streams.video[0]
        pts = sorted(float(p.pts * stream.time_base) for p in _packets_from(container, stream, start)
                     if p.pts is not None and p.size)  # from the keyframe before `start`, as iter_decoded_cfr
        if not pts:
            raise MediaError(f"{path}: no video packets")
        k = sum(n for n, _ in _cfr_plan(iter(pts), fps, start, end))
        return k + _tail(k, fps, start, _stream_end(stream, end))


def _stream_end(stream: av.video.stream.VideoStream, end: float | None) -> float:
    """End time of the video stream in seconds, clipped to `end`."""
    duration = float(stream.duration * stream.time_base) if stream.duration else None
    begin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    total = begin + duration if duration else 0.0
    return min(total, end) if end is not None else total


AUDIO_GAP_S = 0.02  # a jump in audio timestamps beyond this is a gap, filled with silence in place
AUDIO_TAIL_S = 1.0  # audio decoded past a clip's end (the resampler's filter reaches ms past a sample), then stop


def decode_audio(path: str | Path, sample_rate: int, start: float = 0.0, end: float | None = None,
                 report: DecodeReport | None = None, stream_index: int = 0) -> np.ndarray | None:
    """Mono float32 samples of audio stream `stream_index` at `sample_rate`, or None if there is no audio stream.

    Samples stay on the container clock: audio that starts late gets leading silence, and a stretch
    the stream lacks (a refused packet, a timestamp jump) becomes silence in place, counted in
    `report` (its `gaps`), so that nothing after a gap moves earlier. Decoding starts at the stream's
    beginning (the samples' positions come from counting them) and stops AUDIO_TAIL_S after `end`.
    """
    report = report if report is not None else DecodeReport()
    with _open(path) as container:
        if not container.streams.audio:
            return None
        if not 0 <= stream_index < len(container.streams.audio):
            raise MediaError(f"{path}: no audio stream {stream_index} (it has {len(container.streams.audio)})")
        stream = container.streams.audio[stream_index]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        expected: float | None = None  # source time at which the next frame should start
        for frame in _decode_packets(container, stream, report, path):
            if end is not None and frame.time is not None and frame.time > end + AUDIO_TAIL_S:
                break  # the resampler has what it needs for every sample before `end`
            if frame.time is not None and expected is not None and frame.time - expected > AUDIO_GAP_S:
                report.gaps.append((expected, float(frame.time)))
                chunks.append(np.zeros(int(round((frame.time - expected) * sample_rate)), np.float32))
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
            if frame.time is not None:
                expected = float(frame.time) + frame.samples / frame.sample_rate
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
        first = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if first > 0:
        samples = np.concatenate([np.zeros(int(round(first * sample_rate)), np.float32), samples])
    lo = int(round(start * sample_rate))
    hi = None if end is None else int(round(end * sample_rate))
    return samples[lo:hi]
