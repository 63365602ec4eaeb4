"""Sync-C / Sync-D / AV offset: the shared offset search, the official scorer end to end, the self-trained one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from talkhead.config import DatasetConfig
from talkhead.data.featurefile import write_features
from talkhead.data.metadata import metadata_table
from talkhead.data.pack import pack_clip
from talkhead.eval.landmarks import EYE_OUTER_L, EYE_OUTER_R, MOUTH
from talkhead.eval.mfcc import syncnet_mfcc
from talkhead.eval.sync import (distance_curve, load_selftrained, score_selftrained, score_syncnet,
                                selftrained_windows, sync_scores, syncnet_embeddings)
from talkhead.train.syncnet import train_selftrained_syncnet
from talkhead.models.syncnet import SyncNetOfficial


def _shifted_pair(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(video, audio, mask): video[i] = audio[i + k] where i + k is inside the clip, random elsewhere."""
    rng = np.random.default_rng(seed)
    audio, video = rng.normal(size=(n, 8)), rng.normal(size=(n, 8))
    i = np.arange(n)
    inside = (i + k >= 0) & (i + k < n)
    video[inside] = audio[i[inside] + k]
    return video, audio, inside


@pytest.mark.parametrize("k", [-4, 0, 3, 7])
def test_video_equal_to_audio_shifted_by_k_gives_offset_k(k):
    video, audio, inside = _shifted_pair(40, k)
    valid = sync_scores(video, audio, max_offset=15, edges="valid")
    assert valid.av_offset == k and valid.sync_d == 0.0  # every compared window matches exactly
    assert valid.sync_c == pytest.approx(np.median(valid.curve))
    zeros = sync_scores(video, audio, max_offset=15)  # syncnet_python: zero audio outside the clip
    edge = np.linalg.norm(video[~inside], axis=1).sum() / 40  # windows compared with a zero vector
    assert zeros.av_offset == k and zeros.sync_d == pytest.approx(edge, rel=1e-12)
    assert zeros.metrics("selftrained") == {"sync_c_selftrained": zeros.sync_c, "sync_d_selftrained": zeros.sync_d,
                                            "av_offset_selftrained": k}


def test_curve_is_the_mean_distance_at_each_offset():
    video, audio = np.eye(3), np.eye(3)[[1, 2, 0]]  # video[i] = audio[i − 1] (audio one frame early)
    curve = distance_curve(video, audio, max_offset=1)
    r2 = np.sqrt(2)
    assert np.allclose(curve, [1 / 3, r2, (r2 + r2 + 1) / 3])  # s = −1: frames 1, 2 match, frame 0 meets zeros
    assert sync_scores(video, audio, max_offset=1, edges="valid").av_offset == -1


def test_syncnet_mfcc_has_4_rows_per_frame_and_log_energy_in_c0():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, 16000).astype(np.float32)  # 1 s
    m = syncnet_mfcc(x)
    assert m.shape == (13, 1 + int(np.ceil((16000 - 400) / 160)))  # 99: python_speech_features' frame count
    s = x.astype(np.float64) * 32768
    pre = np.append(s[0], s[1:] - 0.97 * s[:-1])
    frame3 = pre[480:880]
    assert m[0, 3] == pytest.approx(np.log(np.sum(np.abs(np.fft.rfft(frame3, 512)) ** 2) / 512), rel=1e-6)
    assert np.allclose(syncnet_mfcc((s).astype(np.int16)), m, atol=2e-3)  # int16 input is the same signal


def test_official_syncnet_runs_end_to_end_on_a_tiny_clip():
    torch.manual_seed(0)
    model = SyncNetOfficial().eval()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(7, 48, 48, 3), dtype=np.uint8)
    samples = rng.uniform(-0.3, 0.3, 7 * 640).astype(np.float32)
    video, audio = syncnet_embeddings(model, frames, samples, batch_size=1)
    assert video.shape == audio.shape == (2, 1024)  # 7 frames -> 7 − 5 windows, as syncnet_python
    result = score_syncnet(model, frames, samples)
    assert result.curve.shape == (31,) and np.isfinite(result.curve).all() and -15 <= result.av_offset <= 15
    assert result.sync_d == result.curve.min() and result.windows == 2
    with pytest.raises(ValueError, match="at least 6 frames"):
        syncnet_embeddings(model, frames[:5], samples)


def _synthetic_clip(rng: np.random.Generator, frames: int, pattern: np.ndarray, dirs: np.ndarray):
    """(mesh (T, 478, 3), mel (4T, 80)) whose lip opening is the same signal as the mel energy."""
    opening = gaussian_filter1d(rng.normal(size=frames), 1.0)  # (T,)
    mesh = np.tile(rng.uniform(80, 180, size=(1, 478, 3)), (frames, 1, 1)).astype(np.float32)
    mesh[:, EYE_OUTER_R, :2], mesh[:, EYE_OUTER_L, :2] = (100, 100), (160, 100)
    mesh[:, MOUTH, :2] = np.float32(130) + dirs[None] * 10 + 6 * opening[:, None, None] * dirs[None]
    mel = np.repeat(opening, 4)[:, None] * pattern[None] + 0.05 * rng.normal(size=(4 * frames, 80))
    return mesh, mel.astype(np.float32)


def _packed_dataset(root, clips: int = 4, frames: int = 60):
    rng = np.random.default_rng(0)
    pattern, dirs = rng.normal(size=80), rng.normal(size=(40, 2))
    (root / "clips").mkdir()
    paths, data = [], []
    for c in range(clips):
        mesh, mel = _synthetic_clip(rng, frames, pattern, dirs)
        base = {"clip": f"c{c}", "frames": frames, "version": "t", "checkpoint": ""}
        write_features(root / f"c{c}_mel.safetensors", {"mel": mel}, {**base, "modality": "audio_mel", "rate_hz": 100,
                                                                       "extractor": "m"})
        write_features(root / f"c{c}_mesh.safetensors", {"points": mesh, "found": np.ones(frames, np.uint8)},
                       {**base, "modality": "face_mesh", "rate_hz": 25, "extractor": "f"})
        info = {"clip": f"c{c}", "frames": frames, "fps": 25, "speaker": f"s{c}", "split": "val" if c == 0 else "train",
                "emotion": "none"}
        paths.append(root / "clips" / f"c{c}.safetensors")
        pack_clip([root / f"c{c}_mel.safetensors", root / f"c{c}_mesh.safetensors"], np.zeros((8, 8, 3), np.uint8),
                  np.array([[0, frames]]), paths[-1], info)
        data.append((mesh, mel))
    metadata_table(paths, root, DatasetConfig.from_dict({})).to_parquet(root / "metadata.parquet", index=False)
    return root / "metadata.parquet", data


def test_selftrained_windows_align_mouth_frames_with_mel_rows():
    mesh = np.zeros((9, 478, 3), np.float32)
    mesh[:, EYE_OUTER_L, 0] = 1.0  # eye distance 1, eye midpoint at x = 0.5
    mesh[:, MOUTH, 0] = np.arange(9, dtype=np.float32)[:, None]  # lip x encodes the frame
    mel = np.repeat(np.arange(36, dtype=np.float32)[:, None], 80, 1)  # row r holds r
    mouth, audio = selftrained_windows(mesh, mel)
    assert mouth.shape == (5, 5, 40, 2) and audio.shape == (5, 20, 80)
    assert mouth[2, :, 0, 0].tolist() == [1.5, 2.5, 3.5, 4.5, 5.5]  # frames 2..6, minus the eye midpoint
    assert audio[2, :, 0].tolist() == list(range(8, 28))  # rows 4·2 .. 4·2 + 19


def test_selftrained_scorer_trains_saves_loads_and_finds_a_delay(tmp_path):
    metadata, data = _packed_dataset(tmp_path)
    cfg = {"steps": 25, "batch": 3, "window": 20, "max_shift": 3, "hidden": 16, "dim": 16, "check_shift": 4}
    metrics = train_selftrained_syncnet(metadata, tmp_path / "selfsync", cfg)
    out = tmp_path / "selfsync"
    files = {"config.json", "model.safetensors", "loss.csv", "loss.png", "metrics.json",  # + the run's resume files:
             "best.safetensors", "last.safetensors", "state.safetensors", "state.json", "resume_best.safetensors"}
    assert {p.name for p in out.iterdir()} == files
    assert json.loads((out / "config.json").read_text())["format"] == "talkhead-selfsync-1"
    assert len((out / "loss.csv").read_text().splitlines()) == 26 and metrics["split"] == "val"
    assert metrics["loss_last"] < 0.5 * metrics["loss_first"]
    assert metrics["av_offset_selftrained_audio_late_4"] == 4.0 and metrics["av_offset_selftrained_mean_abs"] == 0.0
    model = load_selftrained(out)
    mesh, mel = data[0]
    late = np.concatenate([np.repeat(mel[:1], 8, 0), mel[:-8]])  # audio 2 frames late
    assert score_selftrained(model, mesh, late).av_offset == 2


def test_selftrained_window_too_short_for_the_shifts_is_a_config_error(tmp_path):
    from talkhead.config import ConfigError
    from talkhead.train.syncnet import train_selftrained_syncnet

    with pytest.raises(ConfigError, match=r"syncnet.window 10 < 5 \+ 2·syncnet.max_shift = 11"):
        train_selftrained_syncnet(tmp_path / "metadata.parquet", tmp_path / "out", {"window": 10, "max_shift": 3})
